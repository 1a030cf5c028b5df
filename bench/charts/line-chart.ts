import { MARGIN, footnote, heading, horizontalAxis, textWidth, verticalAxis, type AxisSpec, type ChartText } from './chart-parts.js';
import { scaleFor } from './scale.js';
import { INK, PALETTE, element, round, svgDocument, text, textElement } from './svg.js';

export interface Point {
  x: number;
  y: number;
}

export interface Series {
  name: string;
  points: readonly Point[];
  color?: string;
  /** A dashed line: a reference (a whole-table refresh whose cost does not depend on x). */
  dashed?: boolean;
}

export interface LineChartSpec extends ChartText {
  x: AxisSpec;
  y: AxisSpec;
  series: readonly Series[];
  width?: number;
  /** Height of the plot area alone. */
  plotHeight?: number;
}

const LEGEND_ROW = 20;
/** Points at the ends of an axis stay this many pixels inside the frame, clear of the axis lines. */
const INSET = 12;
/** Told apart by shape as well as colour. */
const MARKERS = ['circle', 'square', 'triangle', 'diamond'] as const;

/** Lines through each series' points, with a marker at every point and a legend under the plot. */
export function lineChart(spec: LineChartSpec): string {
  const width = spec.width ?? 760;
  const head = heading(spec);
  const all = spec.series.flatMap((s) => s.points);
  const yProbe = scaleFor(
    spec.y.kind,
    all.map((p) => p.y),
    [0, 1],
    { tight: true },
  );
  const tickWidth = Math.max(...yProbe.ticks.map((t) => textWidth(spec.y.format(t))));
  const left = MARGIN + 24 + tickWidth + 8;
  const right = width - MARGIN - 24;
  const top = head.bottom + 6;
  const bottom = top + (spec.plotHeight ?? 260);
  const xScale = scaleFor(
    spec.x.kind,
    all.map((p) => p.x),
    [left + inset(spec.x), right - inset(spec.x)],
    { tight: true },
  );
  const yScale = scaleFor(
    spec.y.kind,
    all.map((p) => p.y),
    [bottom - inset(spec.y), top + inset(spec.y)],
    { tight: true },
  );

  const lines = spec.series.flatMap((series, i) => {
    const color = series.color ?? PALETTE[i % PALETTE.length];
    const coords = series.points.map((p) => [xScale.map(p.x), yScale.map(p.y)] as const);
    return [
      element('polyline', {
        points: coords.map(([x, y]) => `${round(x)},${round(y)}`).join(' '),
        fill: 'none',
        stroke: color,
        'stroke-width': 2.5,
        'stroke-dasharray': series.dashed ? '7 5' : undefined,
        'data-series': series.name,
      }),
      ...series.points.map((p, j) =>
        marker(
          MARKERS[i % MARKERS.length],
          coords[j][0],
          coords[j][1],
          color,
          `${series.name}: ${spec.x.format(p.x)}, ${spec.y.format(p.y)}`,
        ),
      ),
    ];
  });
  const legendTop = bottom + 58;
  const legend = spec.series.flatMap((series, i) => {
    const y = legendTop + i * LEGEND_ROW;
    const color = series.color ?? PALETTE[i % PALETTE.length];
    return [
      element('line', {
        x1: left,
        x2: left + 28,
        y1: y - 4,
        y2: y - 4,
        stroke: color,
        'stroke-width': 2.5,
        'stroke-dasharray': series.dashed ? '7 5' : undefined,
      }),
      marker(MARKERS[i % MARKERS.length], left + 14, y - 4, color),
      text(series.name, { x: left + 38, y, fill: INK }),
    ];
  });
  const legendBottom = legendTop + (spec.series.length - 1) * LEGEND_ROW;
  const note = footnote(spec, legendBottom + 26, width);
  return svgDocument({
    id: spec.id,
    width,
    height: legendBottom + (note.height ? 25 + note.height : 16),
    title: spec.title,
    description: spec.description,
    body: [
      ...head.markup,
      ...horizontalAxis(xScale, spec.x, { top, bottom, left, right }),
      ...verticalAxis(yScale, spec.y, { left, right, top, bottom, labelX: MARGIN + 10 }),
      ...lines,
      ...legend,
      ...note.markup,
    ],
  });
}

/** A linear axis starts at zero on its line; a log axis has no zero, so its first point stays clear of the line. */
function inset(axis: AxisSpec): number {
  return axis.kind === 'log' ? INSET : 0;
}

function marker(shape: (typeof MARKERS)[number], x: number, y: number, color: string, title?: string): string {
  const r = 4.5;
  const children = title ? [textElement('title', title)] : [];
  const common = { fill: color, stroke: '#ffffff', 'stroke-width': 1 };
  if (shape === 'circle') return element('circle', { cx: x, cy: y, r, ...common }, children);
  if (shape === 'square') return element('rect', { x: x - r, y: y - r, width: 2 * r, height: 2 * r, ...common }, children);
  const path =
    shape === 'triangle'
      ? `M${round(x)} ${round(y - r - 1)}L${round(x + r + 1)} ${round(y + r)}L${round(x - r - 1)} ${round(y + r)}Z`
      : `M${round(x)} ${round(y - r - 1)}L${round(x + r + 1)} ${round(y)}L${round(x)} ${round(y + r + 1)}L${round(x - r - 1)} ${round(y)}Z`;
  return element('path', { d: path, ...common }, children);
}
