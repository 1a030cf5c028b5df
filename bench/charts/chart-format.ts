/** Tick and value labels: units on every tick, so a log axis reads without counting decades. */

/** 0.5 ms, 20 ms, 1 s, 2.5 s. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  if (ms >= 1000) return `${trim(ms / 1000)} s`;
  return `${trim(ms)} ms`;
}

/** 500, 20k, 1.5M. */
export function formatCount(value: number): string {
  if (value >= 1_000_000) return `${trim(value / 1_000_000)}M`;
  if (value >= 1_000) return `${trim(value / 1_000)}k`;
  return trim(value);
}

/** A fraction as a percentage: 0.001 → 0.1%, 1 → 100%. */
export function formatPercent(fraction: number): string {
  if (fraction === 0) return '0';
  return `${trim(fraction * 100)}%`;
}

/** At most three significant digits, no trailing zeros, thousands separated. */
function trim(value: number): string {
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : value >= 1 ? 2 : 3;
  return Number(value.toFixed(digits)).toLocaleString('en-US', { maximumFractionDigits: digits });
}
