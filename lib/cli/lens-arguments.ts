import { InvalidCinemaOptionsError } from '../index.js';

/**
 * `--lens orgId=42 --lens region=eu,us` as a lens: `{ orgId: '42', region: ['eu', 'us'] }`.
 * Values stay text; Cinema checks them against each column's kind as it checks any lens.
 */
export function lensFromArguments(pairs: readonly string[] = []): Record<string, string | string[]> {
  const lens: Record<string, string | string[]> = {};
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    if (equals <= 0) throw new InvalidCinemaOptionsError('--lens', `expects KEY=VALUE or KEY=V1,V2, got "${pair}"`);
    const key = pair.slice(0, equals);
    const values = pair.slice(equals + 1).split(',');
    if (key in lens) throw new InvalidCinemaOptionsError('--lens', `names "${key}" twice; give one KEY=V1,V2 instead`);
    lens[key] = values.length === 1 ? values[0] : values;
  }
  return lens;
}

/** Collects a repeatable option's values (commander's reducer). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
