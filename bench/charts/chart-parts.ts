import type { Scale } from './scale.js';
import { GRID, INK, MUTED, element, text } from './svg.js';

/** What both kinds of chart print around the plot. */
export interface ChartText {
  /** Used for element ids: unique among the charts of one page. */
  id: string;
  title: string;
  /** One line under the title: what is compared, and how to read it. */
  subtitle?: string;
  /** The `<desc>` of the file: what the chart shows, for a screen reader. */
  description: string;
  /** One line under the chart: the run that measured it. */
  footnote?: string;
}

/** One axis: its scale kind is chosen by the caller, its ticks printed by `format`. */
export interface AxisSpec {
  /** Printed along the axis, with the unit: `median time (ms, log scale)`. */
  label: string;
  kind: 'linear' | 'log';
  format(value: number): string;
}

export const MARGIN = 16;
const FOOTNOTE_LINE = 15;

/** Title and subtitle; returns the markup and the y at which the plot may start. */
export function heading(chart: ChartText): { markup: string[]; bottom: number } {
  const markup = [text(chart.title, { x: MARGIN, y: 26, 'font-size': 16, 'font-weight': 'bold', fill: INK })];
  if (chart.subtitle) markup.push(text(chart.subtitle, { x: MARGIN, y: 46, fill: MUTED }));
  return { markup, bottom: chart.subtitle ? 64 : 44 };
}

/** The footnote's lines from `y` down, wrapped to `width`, and the height they take. */
export function footnote(chart: ChartText, y: number, width: number): { markup: string[]; height: number } {
  if (!chart.footnote) return { markup: [], height: 0 };
  const lines = wrap(chart.footnote, width - 2 * MARGIN, 11);
  return {
    markup: lines.map((line, i) => text(line, { x: MARGIN, y: y + i * FOOTNOTE_LINE, 'font-size': 11, fill: MUTED })),
    height: lines.length * FOOTNOTE_LINE,
  };
}

/**
 * Ticks, grid lines across the plot and the axis label, for a horizontal value axis at the plot's
 * bottom. The axis line runs from `left` to `right` (by default the scale's range; a line chart
 * keeps its end points a few pixels inside the frame).
 */
export function horizontalAxis(
  scale: Scale,
  axis: AxisSpec,
  plot: { top: number; bottom: number; left?: number; right?: number },
): string[] {
  const [left, right] = [plot.left ?? scale.range[0], plot.right ?? scale.range[1]];
  return [
    ...scale.ticks.flatMap((tick) => {
      const x = scale.map(tick);
      return [
        element('line', { x1: x, x2: x, y1: plot.top, y2: plot.bottom, stroke: GRID, 'stroke-width': 1 }),
        text(axis.format(tick), { x, y: plot.bottom + 16, 'text-anchor': 'middle', fill: INK }),
      ];
    }),
    element('line', { x1: left, x2: right, y1: plot.bottom, y2: plot.bottom, stroke: INK, 'stroke-width': 1 }),
    text(axis.label, { x: (left + right) / 2, y: plot.bottom + 36, 'text-anchor': 'middle', fill: INK, 'font-weight': 'bold' }),
  ];
}

/** Ticks, grid lines across the plot and the rotated axis label, for a vertical value axis at the plot's left. */
export function verticalAxis(
  scale: Scale,
  axis: AxisSpec,
  plot: { left: number; right: number; labelX: number; top?: number; bottom?: number },
): string[] {
  const [bottom, top] = [plot.bottom ?? scale.range[0], plot.top ?? scale.range[1]];
  return [
    ...scale.ticks.flatMap((tick) => {
      const y = scale.map(tick);
      return [
        element('line', { x1: plot.left, x2: plot.right, y1: y, y2: y, stroke: GRID, 'stroke-width': 1 }),
        text(axis.format(tick), { x: plot.left - 8, y: y + 4, 'text-anchor': 'end', fill: INK }),
      ];
    }),
    element('line', { x1: plot.left, x2: plot.left, y1: top, y2: bottom, stroke: INK, 'stroke-width': 1 }),
    text(axis.label, {
      x: plot.labelX,
      y: (top + bottom) / 2,
      'text-anchor': 'middle',
      fill: INK,
      'font-weight': 'bold',
      transform: `rotate(-90 ${plot.labelX} ${(top + bottom) / 2})`,
    }),
  ];
}

/**
 * About the pixels `label` takes in a sans-serif font of `size` px, a little wide rather than
 * narrow: capitals and digits are wider than lower case. SVG text cannot be measured without a
 * renderer, and a label cut off at the edge is worse than some blank space.
 */
export function textWidth(label: string, size = 12): number {
  let em = 0;
  for (const c of label) em += /[A-Z@%MW]/.test(c) ? 0.72 : /[0-9a-z]/.test(c) ? 0.58 : /[ .,:;'!|il()[\]-]/.test(c) ? 0.32 : 0.6;
  return Math.ceil(em * size);
}

/** `content` in lines no wider than `width`, broken at spaces. */
export function wrap(content: string, width: number, size = 12): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of content.split(/\s+/).filter(Boolean)) {
    const candidate = line ? `${line} ${word}` : word;
    if (line && textWidth(candidate, size) > width) {
      lines.push(line);
      line = word;
    } else {
      line = candidate;
    }
  }
  if (line) lines.push(line);
  return lines;
}
