import type { LensCondition, NormalizedLens } from './lens.js';
import type { ValueKind } from './lens-values.js';

const INTEGER = /^-?\d+$/;

/**
 * A canonical form of a lens, equal for lenses that select the same rows: `{ orgId: 25 }`,
 * `{ orgId: [25] }`, `{ orgId: In([25]) }` and `{ orgId: '25' }` on an integer column. Values
 * are canonicalized only where the column's kind makes that exact; anything else stays as given
 * (two spellings then make two runs, never one run for two different slices).
 */
export function lensKey(lens: NormalizedLens, kindOf: (key: string) => ValueKind | undefined): string {
  const parts = lens.conditions.map((condition) => part(condition, kindOf(condition.key) ?? 'other'));
  parts.sort();
  return JSON.stringify(parts);
}

function part(condition: LensCondition, kind: ValueKind): string {
  const { key, negate } = condition;
  let op: string = condition.op;
  let value: unknown;
  if (op === 'eq' || op === 'in') {
    // One value or a list of them: the same set.
    const values = op === 'eq' ? [condition.value] : (condition.value as unknown[]);
    value = [...new Set(values.map((v) => canonical(v, kind)))].sort();
    op = 'in';
  } else if (op === 'between') {
    value = (condition.value as unknown[]).map((v) => canonical(v, kind));
  } else if (op !== 'isNull') {
    value = canonical(condition.value, kind);
  }
  return JSON.stringify([key, op, negate, value ?? null]);
}

/** A value as a tagged string: integers by their digits, UUIDs lower-cased, dates as instants. */
function canonical(value: unknown, kind: ValueKind): string {
  switch (kind) {
    case 'smallint':
    case 'integer':
    case 'bigint':
      if (typeof value === 'bigint') return `i:${value}`;
      if (typeof value === 'number' && Number.isSafeInteger(value)) return `i:${value}`;
      if (typeof value === 'string' && INTEGER.test(value)) return `i:${BigInt(value)}`;
      break;
    case 'number':
      if (typeof value === 'number') return `n:${value}`;
      // Only when the text is exactly what the number prints: '25' is 25, '25.0' stays as given.
      if (typeof value === 'string' && String(Number(value)) === value) return `n:${value}`;
      break;
    case 'uuid':
      if (typeof value === 'string') return `u:${value.toLowerCase()}`;
      break;
    case 'date':
      if (value instanceof Date) return `d:${value.toISOString()}`;
      break;
  }
  if (value instanceof Date) return `d:${value.toISOString()}`;
  return `${typeof value}:${String(value)}`;
}
