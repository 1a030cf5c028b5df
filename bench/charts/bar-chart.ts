import { MARGIN, footnote, heading, horizontalAxis, textWidth, type AxisSpec, type ChartText } from './chart-parts.js';
import { scaleFor } from './scale.js';
import { INK, PALETTE, element, svgDocument, text, textElement } from './svg.js';

export interface Bar {
  label: string;
  value: number;
  /** Printed at the end of the bar: the value with its unit. */
  valueLabel: string;
  color?: string;
}

export interface BarChartSpec extends ChartText {
  /** The value axis (horizontal: bars grow to the right, their labels on the left). */
  axis: AxisSpec;
  bars: readonly Bar[];
  width?: number;
}

const ROW = 30;
const BAR = 18;
/** Room right of the longest bar for its value label. */
const VALUE_ROOM = 90;
const MAX_LABEL_WIDTH = 340;

/**
 * Horizontal bars, one per contender, labelled on the left and valued at their end: long
 * contender names stay readable. On a log axis a bar starts at the axis's first power of ten.
 */
export function barChart(spec: BarChartSpec): string {
  const width = spec.width ?? 760;
  const head = heading(spec);
  const labelWidth = Math.min(MAX_LABEL_WIDTH, Math.max(...spec.bars.map((b) => textWidth(b.label)), 40));
  const left = MARGIN + labelWidth + 8;
  const right = width - VALUE_ROOM;
  const top = head.bottom;
  const bottom = top + spec.bars.length * ROW + 6;
  const scale = scaleFor(
    spec.axis.kind,
    spec.bars.map((b) => b.value),
    [left, right],
  );
  const bars = spec.bars.flatMap((bar, i) => {
    const y = top + 6 + i * ROW;
    const start = scale.range[0];
    const end = scale.map(bar.value);
    return [
      text(bar.label, { x: left - 8, y: y + BAR / 2 + 4, 'text-anchor': 'end', fill: INK }),
      element(
        'rect',
        {
          x: start,
          y,
          width: Math.max(1, end - start),
          height: BAR,
          fill: bar.color ?? PALETTE[i % PALETTE.length],
          'data-value': bar.value,
        },
        [textElement('title', `${bar.label}: ${bar.valueLabel}`)],
      ),
      text(bar.valueLabel, { x: end + 6, y: y + BAR / 2 + 4, fill: INK }),
    ];
  });
  const axis = horizontalAxis(scale, spec.axis, { top, bottom });
  const note = footnote(spec, bottom + 60, width);
  return svgDocument({
    id: spec.id,
    width,
    height: bottom + (note.height ? 59 + note.height : 48),
    title: spec.title,
    description: spec.description,
    body: [...head.markup, ...axis, ...bars, ...note.markup],
  });
}
