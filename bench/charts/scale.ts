/** Maps data values to pixels along one axis, and picks the values its ticks are drawn at. */

export type ScaleKind = 'linear' | 'log';

export interface Scale {
  kind: ScaleKind;
  /** The values at the two ends of the axis (nice round numbers around the data). */
  domain: readonly [number, number];
  /** The pixels of the two ends: `range[0]` is where `domain[0]` is drawn. */
  range: readonly [number, number];
  /** The pixel of `value` (a log scale clamps values at or below zero to its start). */
  map(value: number): number;
  ticks: readonly number[];
}

/**
 * A scale that holds every one of `values`. Linear starts at zero (bars and rates compare from
 * nothing) and ends at a round step. Log spans whole powers of ten, or with `tight` the nearest
 * 1, 2 or 5 times a power of ten around the data (points, unlike bars, need no common origin).
 */
export function scaleFor(
  kind: ScaleKind,
  values: readonly number[],
  range: readonly [number, number],
  options: { tight?: boolean } = {},
): Scale {
  return kind === 'log' ? logScale(values, range, options.tight ?? false) : linearScale(values, range);
}

/** Log when the values span more than `ratio` (20 by default): small ones would be invisible on a linear axis. */
export function suggestedScale(values: readonly number[], ratio = 20): ScaleKind {
  const positive = values.filter((v) => v > 0);
  if (positive.length < 2) return 'linear';
  return Math.max(...positive) / Math.min(...positive) > ratio ? 'log' : 'linear';
}

function linearScale(values: readonly number[], range: readonly [number, number]): Scale {
  const max = Math.max(0, ...values.filter(Number.isFinite));
  const step = niceStep(max > 0 ? max / 5 : 0.2);
  const top = Math.max(step, Math.ceil(max / step - 1e-9) * step);
  const ticks = Array.from({ length: Math.round(top / step) + 1 }, (_, i) => tidy(i * step));
  const map = (value: number) => range[0] + (value / top) * (range[1] - range[0]);
  return { kind: 'linear', domain: [0, top], range, map, ticks };
}

function logScale(values: readonly number[], range: readonly [number, number], tight: boolean): Scale {
  const positive = values.filter((v) => v > 0 && Number.isFinite(v));
  if (positive.length === 0) return logScale([1, 10], range, false);
  const min = Math.min(...positive);
  const max = Math.max(...positive);
  let lo = tight ? niceBelow(min) : 10 ** Math.floor(Math.log10(min));
  let hi = tight ? niceAbove(max) : 10 ** Math.ceil(Math.log10(max));
  if (hi <= lo) [lo, hi] = tight ? [niceBelow(lo * 0.99), niceAbove(hi * 1.01)] : [lo, lo * 10];
  const decades = Math.log10(hi / lo);
  // Within two decades or so, 2 and 5 ticks between the powers of ten keep the axis readable.
  const steps = decades <= 2.5 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let p = Math.floor(Math.log10(lo)); p <= Math.ceil(Math.log10(hi)); p++) {
    for (const step of steps) {
      const tick = tidy(step * 10 ** p);
      if (tick >= lo * (1 - 1e-9) && tick <= hi * (1 + 1e-9)) ticks.push(tick);
    }
  }
  const map = (value: number) => range[0] + (Math.log10(Math.max(value, lo) / lo) / decades) * (range[1] - range[0]);
  return { kind: 'log', domain: [lo, hi], range, map, ticks };
}

/** The largest 1, 2 or 5 times a power of ten at or below `value`. */
function niceBelow(value: number): number {
  const power = 10 ** Math.floor(Math.log10(value));
  const mantissa = tidy(value / power);
  return tidy((mantissa >= 5 ? 5 : mantissa >= 2 ? 2 : 1) * power);
}

/** The smallest 1, 2 or 5 times a power of ten at or above `value`. */
function niceAbove(value: number): number {
  const power = 10 ** Math.floor(Math.log10(value));
  const mantissa = tidy(value / power);
  return tidy((mantissa <= 1 ? 1 : mantissa <= 2 ? 2 : mantissa <= 5 ? 5 : 10) * power);
}

/** 1, 2 or 5 times a power of ten, at least `rough`. */
function niceStep(rough: number): number {
  const power = 10 ** Math.floor(Math.log10(rough));
  const mantissa = rough / power;
  return tidy((mantissa <= 1 ? 1 : mantissa <= 2 ? 2 : mantissa <= 5 ? 5 : 10) * power);
}

/** 0.30000000000000004 → 0.3: ticks are printed. */
function tidy(value: number): number {
  return Number(value.toPrecision(12));
}
