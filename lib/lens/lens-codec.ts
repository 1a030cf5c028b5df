import { FindOperator, type FindOperatorType } from 'typeorm';
import { LENS_REDUCER_KEY } from '../cinema.constants.js';
import { InvalidLensError } from '../errors/invalid-lens.error.js';

/**
 * A lens as JSON, for a run that another process executes: scalars as they are, dates, bigints
 * and TypeORM operators tagged. A `$reduce` function cannot cross processes.
 */
export function encodeLens(projection: string, lens: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const encoded: Record<string, unknown> = {};
  for (const key of Object.keys(lens)) {
    if (key === LENS_REDUCER_KEY) {
      throw new InvalidLensError(
        projection,
        lens,
        key,
        `a ${LENS_REDUCER_KEY} function cannot be sent to another process; run it with engine: 'inline', or express the slice with lens keys`,
      );
    }
    encoded[key] = encodeValue(lens[key]);
  }
  return encoded;
}

/** The lens {@link encodeLens} encoded. */
export function decodeLens(encoded: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const lens: Record<string, unknown> = {};
  for (const key of Object.keys(encoded)) lens[key] = decodeValue(encoded[key]);
  return lens;
}

function encodeValue(value: unknown): unknown {
  if (value instanceof Date) return { $date: value.toISOString() };
  if (typeof value === 'bigint') return { $bigint: value.toString() };
  if (value instanceof FindOperator) {
    const inner = value.child ?? value.value;
    return { $op: value.type, value: encodeValue(inner) };
  }
  if (Array.isArray(value)) return value.map(encodeValue);
  return value;
}

function decodeValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decodeValue);
  if (value !== null && typeof value === 'object') {
    const tagged = value as { $date?: string; $bigint?: string; $op?: FindOperatorType; value?: unknown };
    if (tagged.$date !== undefined) return new Date(tagged.$date);
    if (tagged.$bigint !== undefined) return BigInt(tagged.$bigint);
    if (tagged.$op !== undefined) {
      const inner = decodeValue(tagged.value);
      if (tagged.$op === 'isNull') return new FindOperator('isNull', undefined, false);
      const multiple = tagged.$op === 'in' || tagged.$op === 'any' || tagged.$op === 'between';
      return new FindOperator(tagged.$op, inner as never, true, multiple);
    }
  }
  return value;
}
