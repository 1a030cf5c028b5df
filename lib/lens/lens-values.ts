import type { LensCondition } from './lens.js';

/** The kind of value a column holds, as far as checking a lens value goes. */
export type ValueKind = 'smallint' | 'integer' | 'bigint' | 'number' | 'boolean' | 'uuid' | 'date' | 'text' | 'other';

const INTEGER_RANGES = {
  smallint: [-32_768n, 32_767n],
  integer: [-2_147_483_648n, 2_147_483_647n],
  bigint: [-9_223_372_036_854_775_808n, 9_223_372_036_854_775_807n],
} as const;

const INTEGER = /^-?\d+$/;
const NUMBER = /^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** `YYYY-MM-DD`, then optionally a time and a zone, as PostgreSQL reads an ISO 8601 date. */
const ISO_DATE = /^(\d{4})-(\d{1,2})-(\d{1,2})([T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{1,2}(:?\d{2})?)?$/i;

/** Maps a TypeORM column type to the kind of value it accepts. */
export function valueKindOf(type: unknown): ValueKind {
  const name = typeof type === 'function' ? type.name.toLowerCase() : String(type).toLowerCase();
  if (/^(int2|smallint|smallserial)$/.test(name)) return 'smallint';
  if (/^(int|int4|integer|serial)$/.test(name)) return 'integer';
  if (/^(int8|bigint|bigserial)$/.test(name)) return 'bigint';
  if (/^(number|numeric|decimal|real|float|float4|float8|double precision|money)$/.test(name)) return 'number';
  if (/^(bool|boolean)$/.test(name)) return 'boolean';
  if (name === 'uuid') return 'uuid';
  if (/^(date|datetime|timestamp|timestamptz|timestamp with time zone|timestamp without time zone)$/.test(name)) return 'date';
  if (/^(string|text|varchar|character varying|char|character|citext)$/.test(name)) return 'text';
  return 'other';
}

/** Why a value does not fit a column of this kind, or `undefined` when it does. */
export function misfit(kind: ValueKind, condition: LensCondition): string | undefined {
  if (condition.op === 'isNull') return undefined;
  const values = Array.isArray(condition.value) ? condition.value : [condition.value];
  for (const value of values) {
    const reason = misfitOne(kind, value, condition.op);
    if (reason) return reason;
  }
  return undefined;
}

function misfitOne(kind: ValueKind, value: unknown, op: LensCondition['op']): string | undefined {
  const shown = typeof value === 'string' ? JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value) : String(value);
  switch (kind) {
    case 'smallint':
    case 'integer':
    case 'bigint': {
      const whole =
        typeof value === 'bigint'
          ? value
          : typeof value === 'number' && Number.isSafeInteger(value)
            ? BigInt(value)
            : typeof value === 'string' && INTEGER.test(value) && value.length < 40
              ? BigInt(value)
              : undefined;
      if (whole === undefined) return `${shown} is not an integer`;
      const [min, max] = INTEGER_RANGES[kind];
      return whole < min || whole > max ? `${shown} is out of range for ${kind}` : undefined;
    }
    case 'number':
      if (typeof value === 'number' || typeof value === 'bigint') return undefined;
      if (typeof value === 'string' && NUMBER.test(value) && value.length < 200) return undefined;
      return `${shown} is not a number`;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `${shown} is not a boolean`;
    case 'uuid':
      if (op === 'like' || op === 'ilike') return undefined;
      return typeof value === 'string' && UUID.test(value) ? undefined : `${shown} is not a UUID`;
    case 'date':
      if (value instanceof Date) return undefined;
      if (typeof value === 'string' && isDate(value)) return undefined;
      return `${shown} is not a date`;
    case 'text':
      return typeof value === 'string' ? undefined : `${shown} is not a string`;
    default:
      return undefined;
  }
}

/**
 * Whether PostgreSQL will read the string as a date. `Date.parse` alone takes `2026-02-30` (as
 * March 2nd) and `2026-01-01 anything`, which PostgreSQL refuses in the middle of a run.
 */
function isDate(text: string): boolean {
  if (/^\d{4}-/.test(text)) {
    const match = ISO_DATE.exec(text);
    if (!match) return false;
    const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
    return month >= 1 && month <= 12 && day >= 1 && day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
  }
  return !Number.isNaN(Date.parse(text));
}
