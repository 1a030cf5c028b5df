import { FindOperator } from 'typeorm';
import { LENS_REDUCER_KEY } from '../cinema.constants.js';
import { InvalidLensError } from '../errors/invalid-lens.error.js';
import type { LensReducer } from '../interfaces/lens.interface.js';

export type LensOp = 'eq' | 'in' | 'between' | 'gt' | 'gte' | 'lt' | 'lte' | 'isNull' | 'like' | 'ilike';

/** One lens key turned into a comparison. Values are only ever bound as parameters. */
export interface LensCondition {
  key: string;
  op: LensOp;
  /** The operand: a scalar, an array (`in`) or a pair (`between`). */
  value?: unknown;
  negate: boolean;
}

export interface NormalizedLens {
  /** The lens as given, without its reducer: what contexts and messages show. */
  readonly values: Readonly<Record<string, unknown>>;
  /** The lens as messages show it: the values, and `$reduce` when there is a reducer. */
  readonly display: Readonly<Record<string, unknown>>;
  readonly conditions: readonly LensCondition[];
  readonly keys: readonly string[];
  readonly reducer?: LensReducer;
  readonly empty: boolean;
}

const KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const OPERATORS: Partial<Record<string, LensOp>> = {
  equal: 'eq',
  in: 'in',
  any: 'in',
  between: 'between',
  moreThan: 'gt',
  moreThanOrEqual: 'gte',
  lessThan: 'lt',
  lessThanOrEqual: 'lte',
  isNull: 'isNull',
  like: 'like',
  ilike: 'ilike',
};

/** Checks the lens's shape and turns it into conditions; throws `InvalidLensError`. */
export function normalizeLens(projection: string, lens: unknown): NormalizedLens {
  if (lens === undefined || lens === null) {
    return { values: {}, display: {}, conditions: [], keys: [], empty: true };
  }
  // A Map, a Date or an array has no own keys to read: taken as `{}`, it would rebuild everything.
  if (typeof lens !== 'object' || Object.prototype.toString.call(lens) !== '[object Object]') {
    throw new InvalidLensError(projection, {}, undefined, `a lens is a plain object, got ${typeName(lens)}`);
  }
  const source = lens as Record<string, unknown>;
  for (const key in source) {
    if (!Object.hasOwn(source, key)) {
      throw new InvalidLensError(projection, {}, key, "the key is inherited from the lens's prototype; a lens key is an own property");
    }
  }
  const values: Record<string, unknown> = Object.create(null);
  const conditions: LensCondition[] = [];
  let reducer: LensReducer | undefined;
  for (const key of Object.keys(source)) {
    const value = source[key];
    if (key === LENS_REDUCER_KEY) {
      if (typeof value !== 'function') {
        throw new InvalidLensError(
          projection,
          source,
          key,
          `${LENS_REDUCER_KEY} must be a function (queryBuilder, lens, target) => queryBuilder`,
        );
      }
      reducer = value as LensReducer;
      continue;
    }
    if (FORBIDDEN_KEYS.has(key) || !KEY_PATTERN.test(key)) {
      throw new InvalidLensError(projection, source, key, 'a lens key is a column property name (letters, digits and _)');
    }
    values[key] = value;
    conditions.push(toCondition(projection, source, key, value, false));
  }
  const keys = conditions.map((condition) => condition.key);
  const plain = { ...values };
  const display = reducer ? { ...plain, [LENS_REDUCER_KEY]: reducer } : plain;
  return { values: plain, display, conditions, keys, reducer, empty: keys.length === 0 && !reducer };
}

function toCondition(projection: string, lens: Record<string, unknown>, key: string, value: unknown, negate: boolean): LensCondition {
  const fail = (reason: string): never => {
    throw new InvalidLensError(projection, lens, key, reason);
  };
  if (value === undefined) fail('the value is undefined; leave the key out to mean "every value"');
  if (value === null) return { key, op: 'isNull', negate };
  if (value instanceof FindOperator) {
    if (value.type === 'not') {
      const inner = value.child ?? value.value;
      return toCondition(projection, lens, key, inner, !negate);
    }
    const op = OPERATORS[value.type];
    if (!op) {
      fail(`the ${value.type}() operator is not supported in a lens; use ${LENS_REDUCER_KEY} for custom filters`);
    }
    if (op === 'isNull') return { key, op, negate };
    if (op === 'in') return { key, op, value: scalarList(value.value, fail), negate };
    if (op === 'between') {
      const pair = value.value as unknown;
      if (!Array.isArray(pair) || pair.length !== 2) fail('Between() takes two values');
      return { key, op, value: (pair as unknown[]).map((v) => scalar(v, fail)), negate };
    }
    if (value.value instanceof FindOperator) fail(`${value.type}() cannot wrap another operator`);
    return { key, op: op!, value: scalar(value.value, fail), negate };
  }
  if (Array.isArray(value)) return { key, op: 'in', value: scalarList(value, fail), negate };
  return { key, op: 'eq', value: scalar(value, fail), negate };
}

function scalarList(value: unknown, fail: (reason: string) => never): unknown[] {
  if (!Array.isArray(value)) return fail('In() takes an array');
  return value.map((item) => scalar(item, fail));
}

function scalar(value: unknown, fail: (reason: string) => never): unknown {
  switch (typeof value) {
    case 'string':
      // PostgreSQL refuses it in any text it receives: the statement would fail mid-run.
      return value.includes('\u0000') ? fail('a string with a NUL character cannot be sent to PostgreSQL') : value;
    case 'boolean':
    case 'bigint':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : fail(`${value} is not a finite number`);
    case 'object':
      if (value instanceof Date) {
        return Number.isNaN(value.getTime()) ? fail('the date is invalid') : value;
      }
      return fail(`${typeName(value)} is not a value a column can be compared with`);
    default:
      return fail(`${typeName(value)} is not a value a column can be compared with`);
  }
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'no prototype'})`;
  return `a ${typeof value}`;
}

/**
 * Renders conditions as SQL. `column` maps a key to a quoted column reference (or `undefined`
 * when the query does not expose it: that condition is skipped); `bind` adds a parameter and
 * returns its placeholder.
 */
export function renderConditions(
  conditions: readonly LensCondition[],
  column: (key: string) => string | undefined,
  bind: (value: unknown) => string,
): string[] {
  const parts: string[] = [];
  for (const condition of conditions) {
    const ref = column(condition.key);
    if (!ref) continue;
    let sql: string;
    switch (condition.op) {
      case 'eq':
        sql = `${ref} = ${bind(condition.value)}`;
        break;
      case 'in':
        sql = `${ref} = ANY(${bind(condition.value)})`;
        break;
      case 'between': {
        const [low, high] = condition.value as unknown[];
        sql = `${ref} BETWEEN ${bind(low)} AND ${bind(high)}`;
        break;
      }
      case 'gt':
        sql = `${ref} > ${bind(condition.value)}`;
        break;
      case 'gte':
        sql = `${ref} >= ${bind(condition.value)}`;
        break;
      case 'lt':
        sql = `${ref} < ${bind(condition.value)}`;
        break;
      case 'lte':
        sql = `${ref} <= ${bind(condition.value)}`;
        break;
      case 'isNull':
        sql = `${ref} IS NULL`;
        break;
      case 'like':
        sql = `${ref} LIKE ${bind(condition.value)}`;
        break;
      case 'ilike':
        sql = `${ref} ILIKE ${bind(condition.value)}`;
        break;
    }
    parts.push(condition.negate ? `NOT (${sql})` : sql);
  }
  return parts;
}

/** Binds positional parameters (`$n`) after the ones a statement already has. */
export function positionalBinder(params: unknown[]): (value: unknown) => string {
  return (value) => {
    params.push(value);
    return `$${params.length}`;
  };
}

/** Binds named QueryBuilder parameters under names that cannot collide with the user's. */
export function namedBinder(parameters: Record<string, unknown>, prefix: string): (value: unknown) => string {
  let index = 0;
  return (value) => {
    while (`${prefix}${index}` in parameters) index++;
    const name = `${prefix}${index++}`;
    parameters[name] = value;
    return `:${name}`;
  };
}
