import { Between, In, IsNull, LessThan, Like, MoreThan, MoreThanOrEqual, Not, Raw } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { InvalidLensError } from '../../lib/errors/invalid-lens.error.js';
import { misfit, valueKindOf } from '../../lib/lens/lens-values.js';
import { normalizeLens, positionalBinder, renderConditions } from '../../lib/lens/lens.js';

function sql(lens: unknown) {
  const params: unknown[] = [];
  const where = renderConditions(normalizeLens('P', lens).conditions, (key) => `"${key}"`, positionalBinder(params));
  return { where: where.join(' AND '), params };
}

describe('lens', () => {
  it('binds every value as a parameter', () => {
    expect(sql({ orgId: 42 })).toEqual({ where: '"orgId" = $1', params: [42] });
    expect(sql({ orgId: [1, 2, 3] })).toEqual({ where: '"orgId" = ANY($1)', params: [[1, 2, 3]] });
    expect(sql({ orgId: In([4, 5]) })).toEqual({ where: '"orgId" = ANY($1)', params: [[4, 5]] });
    expect(sql({ day: Between('2026-01-01', '2026-02-01') })).toEqual({
      where: '"day" BETWEEN $1 AND $2',
      params: ['2026-01-01', '2026-02-01'],
    });
    expect(sql({ a: MoreThan(1), b: LessThan(9), c: MoreThanOrEqual(2) })).toEqual({
      where: '"a" > $1 AND "b" < $2 AND "c" >= $3',
      params: [1, 9, 2],
    });
    expect(sql({ closedOn: IsNull(), name: Like("x'; DROP TABLE t; --%") })).toEqual({
      where: '"closedOn" IS NULL AND "name" LIKE $1',
      params: ["x'; DROP TABLE t; --%"],
    });
    expect(sql({ orgId: Not(In([1])), x: null })).toEqual({ where: 'NOT ("orgId" = ANY($1)) AND "x" IS NULL', params: [[1]] });
  });

  it('keeps a lens of 100,000 values to one parameter', () => {
    const ids = Array.from({ length: 100_000 }, (_, i) => i);
    const { params } = sql({ accountId: ids });
    expect(params).toHaveLength(1);
    expect(params[0]).toHaveLength(100_000);
  });

  it('separates the reducer from the columns', () => {
    const reduce = () => undefined;
    const lens = normalizeLens('P', { orgId: 1, $reduce: reduce });
    expect(lens.keys).toEqual(['orgId']);
    expect(lens.reducer).toBe(reduce);
    expect(lens.values).toEqual({ orgId: 1 });
    expect(normalizeLens('P', {}).empty).toBe(true);
    expect(normalizeLens('P', undefined).empty).toBe(true);
  });

  it.each([
    ['undefined value', { orgId: undefined }, /undefined/],
    ['a function value', { orgId: () => 1 }, /function is not a value/],
    ['an object value', { orgId: { $gt: 1 } }, /object \(Object\)/],
    ['a SQL fragment as key', { 'orgId = 1 OR 1': 1 }, /property name/],
    ['a raw operator', { orgId: Raw('1=1') }, /raw\(\) operator is not supported/],
    ['NaN', { orgId: Number.NaN }, /finite/],
    ['a lens that is not an object', 'orgId=1', /plain object/],
    ['a non-function reducer', { $reduce: 'x' }, /must be a function/],
  ])('rejects %s', (_label, lens, message) => {
    expect(() => normalizeLens('Report', lens)).toThrow(InvalidLensError);
    expect(() => normalizeLens('Report', lens)).toThrow(message);
  });

  it.each([
    ['a Map', new Map([['orgId', 1]]), /a lens is a plain object, got an object \(Map\)/],
    ['a Date', new Date(), /a lens is a plain object, got an object \(Date\)/],
    ['an array', [1], /a lens is a plain object, got an array/],
    ['inherited keys', Object.create({ orgId: 1 }), /inherited/],
    ['a NUL in a string', { name: 'a\u0000b' }, /NUL/],
  ])('refuses what would read as another lens: %s', (_label, lens, message) => {
    // Each of these has no own keys to read: taken as {}, it would rebuild everything.
    expect(() => normalizeLens('Report', lens)).toThrow(message);
  });

  it('takes a class instance with own keys, such as a validated DTO', () => {
    class OrgLens {
      orgId = 3;
      describe() {
        return `org ${this.orgId}`;
      }
    }
    expect(normalizeLens('Report', new OrgLens()).values).toEqual({ orgId: 3 });
  });

  it.each(['__proto__', 'constructor', 'prototype'])('refuses the prototype key %s, even as an own key from parsed JSON', (key) => {
    // JSON.parse makes "__proto__" an own data key, as a request body would carry it.
    const lens = JSON.parse(`{"${key}": {"polluted": 1}}`);
    expect(Object.keys(lens)).toEqual([key]);
    let error: unknown;
    try {
      normalizeLens('Report', lens);
    } catch (e) {
      error = e;
    }
    // Accepted, the key would reach SQL as a column and its value would be read as a condition.
    expect(error).toBeInstanceOf(InvalidLensError);
    expect((error as InvalidLensError).key).toBe(key);
    expect((error as Error).message).toMatch(/a lens key is a column property name/);
  });

  it('keeps the normalized values plain: no key reaches their prototype', () => {
    const lens = normalizeLens('Report', JSON.parse('{"orgId": 1, "hasOwnProperty": 2}'));
    expect(Object.getPrototypeOf(lens.values)).toBe(Object.prototype);
    expect(Object.keys(lens.values)).toEqual(['orgId', 'hasOwnProperty']);
    expect(lens.keys).toEqual(['orgId', 'hasOwnProperty']);
  });

  it('tells values that do not fit a column', () => {
    const condition = (lens: unknown) => normalizeLens('P', lens).conditions[0];
    expect(misfit('integer', condition({ a: '1 OR 1=1' }))).toMatch(/not an integer/);
    expect(misfit('integer', condition({ a: '12' }))).toBeUndefined();
    expect(misfit('integer', condition({ a: [1, 2.5] }))).toMatch(/2.5 is not an integer/);
    expect(misfit('integer', condition({ a: 2_147_483_648 }))).toMatch(/out of range for integer/);
    expect(misfit('bigint', condition({ a: 2_147_483_648 }))).toBeUndefined();
    expect(misfit('bigint', condition({ a: '9223372036854775808' }))).toMatch(/out of range for bigint/);
    expect(misfit('smallint', condition({ a: 40_000n }))).toMatch(/out of range for smallint/);
    expect(misfit('uuid', condition({ a: 'nope' }))).toMatch(/not a UUID/);
    expect(misfit('date', condition({ a: 'yesterday-ish' }))).toMatch(/not a date/);
    expect(misfit('date', condition({ a: '2026-02-30' }))).toMatch(/not a date/);
    expect(misfit('date', condition({ a: '2026-01-01 junk' }))).toMatch(/not a date/);
    for (const ok of ['2028-02-29', '2026-12-31', '2026-01-01T10:00:00Z', '2026-01-01 10:00:00.123+02:00', 'Jan 5 2026']) {
      expect(misfit('date', condition({ a: ok }))).toBeUndefined();
    }
    expect(misfit('text', condition({ a: 5 }))).toMatch(/not a string/);
    expect(misfit('boolean', condition({ a: IsNull() }))).toBeUndefined();
  });

  it.each([
    ['smallint', [-32_768, '32767', 1n], [-32_769, 32_768, '1.0', 1.5, true], /out of range for smallint|not an integer/],
    [
      'integer',
      [0, '-2147483648', 2_147_483_647n],
      ['2147483648', Number.MAX_SAFE_INTEGER + 2, 'x'],
      /out of range for integer|not an integer/,
    ],
    [
      'bigint',
      ['-9223372036854775808', 9_007_199_254_740_991, 2n ** 63n - 1n],
      [2n ** 63n, '1'.repeat(40), 1e21, 'nine'],
      /out of range for bigint|not an integer/,
    ],
    ['number', [1.5, -2, 10n, '3.25', '-.5', '1e-3'], ['1,5', 'NaN', '', true, new Date(0)], /not a number/],
    ['boolean', [true, false], ['true', 1, 0], /not a boolean/],
    [
      'uuid',
      ['123e4567-e89b-12d3-a456-426614174000', 'ABCDEF00-0000-4000-8000-000000000000'],
      ['123e4567e89b12d3a456426614174000', 42, '{123e4567-e89b-12d3-a456-426614174000}'],
      /not a UUID/,
    ],
    ['date', [new Date(0), '2026-03-01', '2026-01-01T10:00:00+0200'], ['2026-13-01', '2026-02-29', 20_260_101, ''], /not a date/],
    ['text', ['', 'x'], [1, true, 5n], /not a string/],
  ] as const)('checks %s values', (kind, fitting, misfits, message) => {
    const condition = (value: unknown) => normalizeLens('P', { a: value }).conditions[0];
    for (const value of fitting) expect({ value, reason: misfit(kind, condition(value)) }).toEqual({ value, reason: undefined });
    for (const value of misfits) {
      expect({ value, reason: misfit(kind, condition(value)) }).toEqual({ value, reason: expect.stringMatching(message) });
    }
  });

  it('checks every value of a list, both ends of a range, and lets a pattern through on a UUID', () => {
    const condition = (lens: unknown) => normalizeLens('P', lens).conditions[0];
    expect(misfit('integer', condition({ a: In([1, 2, 'three']) }))).toBe('"three" is not an integer');
    expect(misfit('date', condition({ a: Between('2026-01-01', 'later') }))).toBe('"later" is not a date');
    expect(misfit('integer', condition({ a: Not(MoreThan(2 ** 31)) }))).toMatch(/out of range for integer/);
    expect(misfit('uuid', condition({ a: Like('123e%') }))).toBeUndefined();
    expect(misfit('other', condition({ a: 'anything' }))).toBeUndefined();
    expect(misfit('text', condition({ a: 7 }))).toBe('7 is not a string');
    // IS NULL fits every column.
    expect(misfit('integer', condition({ a: null }))).toBeUndefined();
    // A long value is cut short in the message.
    expect(misfit('integer', condition({ a: 'y'.repeat(100) }))).toBe(`"${'y'.repeat(40)}..." is not an integer`);
  });

  it.each([
    ['int2', 'smallint'],
    ['smallserial', 'smallint'],
    ['int', 'integer'],
    ['INTEGER', 'integer'],
    ['serial', 'integer'],
    ['int8', 'bigint'],
    ['bigserial', 'bigint'],
    [Number, 'number'],
    ['numeric', 'number'],
    ['double precision', 'number'],
    [Boolean, 'boolean'],
    ['uuid', 'uuid'],
    [Date, 'date'],
    ['timestamptz', 'date'],
    ['timestamp without time zone', 'date'],
    [String, 'text'],
    ['character varying', 'text'],
    ['citext', 'text'],
    ['jsonb', 'other'],
    ['int4range', 'other'],
    [undefined, 'other'],
  ] as const)('reads the column type %s as %s', (type, kind) => {
    expect(valueKindOf(type)).toBe(kind);
  });
});
