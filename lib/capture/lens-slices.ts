import type { NormalizedLens } from '../lens/lens.js';

/** The slices a lens names, as the freshness ledger and the change log can compare them. */
export interface LensSlices {
  /** Each key's values in canonical text (`'3'`, `'acme'`, `'true'`): `{ orgId: ['3', '4'] }`. */
  values: Record<string, string[]>;
  /** Every combination of the values, as given (what the ledger records): `[{ orgId: 3 }, { orgId: 4 }]`; `[{}]` for the empty lens. */
  slices: Record<string, unknown>[];
  /** The same combinations in canonical text. */
  canonical: Record<string, string>[];
}

/** More slices than this in one lens: not worth checking one by one, the lens rebuilds. */
const MAX_SLICES = 1_000;

/**
 * The slices of an equality or list lens (`{ orgId: 3 }`, `{ orgId: [3, 4] }`); `undefined` for
 * any other shape (operators other than equality and In, negation, a reducer, dates, numbers
 * PostgreSQL would print otherwise): such a lens is never taken as fresh.
 */
export function lensSlices(lens: NormalizedLens): LensSlices | undefined {
  if (lens.reducer) return undefined;
  const values: Record<string, string[]> = {};
  let slices: { given: Record<string, unknown>; canonical: Record<string, string> }[] = [{ given: {}, canonical: {} }];
  for (const condition of lens.conditions) {
    if (condition.negate || (condition.op !== 'eq' && condition.op !== 'in')) return undefined;
    const given = [...new Set(condition.op === 'eq' ? [condition.value] : (condition.value as unknown[]))];
    const texts = given.map(canonicalText);
    if (given.length === 0 || texts.some((text) => text === undefined)) return undefined;
    values[condition.key] = [...new Set(texts as string[])];
    if (slices.length * given.length > MAX_SLICES) return undefined;
    slices = slices.flatMap((slice) =>
      given.map((value, i) => ({
        given: { ...slice.given, [condition.key]: value },
        canonical: { ...slice.canonical, [condition.key]: texts[i]! },
      })),
    );
  }
  return { values, slices: slices.map((slice) => slice.given), canonical: slices.map((slice) => slice.canonical) };
}

/**
 * A lens value as `canonicalSql` prints the captured column value: numbers in plain decimal
 * notation, strings as they are, booleans as `true`/`false`; `undefined` when it may not match.
 */
export function canonicalText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (typeof value === 'number') {
    const text = String(Object.is(value, -0) ? 0 : value);
    return /^-?\d+(\.\d+)?$/.test(text) ? text : undefined;
  }
  return undefined;
}

/** The canonical text of a jsonb scalar (`v`): numbers without trailing zeros, as JavaScript prints them. */
export function canonicalSql(v: string): string {
  return `(CASE jsonb_typeof(${v}) WHEN 'number' THEN trim_scale((${v} #>> '{}')::numeric)::text ELSE ${v} #>> '{}' END)`;
}
