import { describe, expect, it } from 'vitest';
import { inlineParameters, inlineUntyped, parameterTokens, typedLiteral } from '../../lib/dialect/postgres/inline-parameters.js';

/** The parameter numbers the scanner finds, in order. */
const found = (sql: string) => parameterTokens(sql)?.map((token) => token.index);

describe('where PostgreSQL sees $n parameters (standard_conforming_strings on)', () => {
  it.each([
    ['SELECT $1, $2 FROM t WHERE a = $3', [1, 2, 3]],
    [`SELECT '$1', 'it''s $2', $3`, [3]],
    [`SELECT E'\\' $1', E'\\\\', $2`, [2]],
    [`SELECT e'$1\\'', $2`, [2]],
    [`SELECT '\\', $1`, [1]],
    [`SELECT U&'$1', U&"$2", $3`, [3]],
    [`SELECT B'01', X'$1', N'$2', $3`, [3]],
    [`SELECT "a$1", "x""$2", $3`, [3]],
    [`SELECT $$ $1 $$, $tag$ $2 $$ $tag$, $3`, [3]],
    ['SELECT a$1, abc$2$, $3', [3]],
    ['SELECT $1 -- $2\n, $3', [1, 3]],
    ['SELECT /* $1 /* $2 */ $3 */ $4', [4]],
    ['SELECT $1 <-- $2\n, $3', [1, 3]],
    ['SELECT $1::int, ARRAY[$2], ($3)', [1, 2, 3]],
    // A name ending in E is no E'' prefix: the string ends at its second quote.
    [`SELECT fooE'\\', $1 --'`, [1]],
    ['SELECT 1.5e3, 0x1F, $1', [1]],
    ['SELECT résumé$1, $2', [2]],
  ])('%s', (sql, expected) => {
    expect(found(sql)).toEqual(expected);
  });

  it.each([
    [`SELECT 'open`, 'an unterminated string'],
    [`SELECT E'\\'`, 'an extended string whose last quote is escaped'],
    [`SELECT "open`, 'an unterminated identifier'],
    ['SELECT $q$ never closed', 'an unterminated dollar quote'],
    ['SELECT /* /* */', 'an unterminated nested comment'],
    ['SELECT $', 'a lone dollar sign'],
    ['SELECT $1abc', 'a parameter glued to a name'],
    ['SELECT $1$', 'a parameter glued to a dollar sign'],
    [`SELECT 1E'x'`, 'a number glued to a quote (read differently across versions)'],
    ['SELECT 1$1', 'a number glued to a parameter'],
    ['SELECT 1; DROP TABLE t', 'a second statement'],
    ['SELECT 1\u0000', 'a NUL character'],
  ])('refuses %j: %s', (sql) => {
    expect(parameterTokens(sql)).toBeUndefined();
  });
});

describe('typed literals', () => {
  it.each([
    ['plain', 'text', `('plain'::text)`],
    [`it's`, 'text', `('it''s'::text)`],
    ['back\\slash', 'text', `(E'back\\\\slash'::text)`],
    [`\\'); DROP TABLE t; --`, 'text', `(E'\\\\''); DROP TABLE t; --'::text)`],
    [42, 'integer', `('42'::integer)`],
    [null, 'integer', '(NULL::integer)'],
    [['a', 'b"c', null], 'text[]', `(E'{"a","b\\\\"c",NULL}'::text[])`],
    [{ a: "'" }, 'jsonb', `('{"a":"''"}'::jsonb)`],
  ])('%j as %s', (value, type, literal) => {
    expect(typedLiteral(value, type)).toBe(literal);
  });

  it('has none for a Buffer (sent in binary) or text with NUL', () => {
    expect(typedLiteral(Buffer.from('x'), 'bytea')).toBeUndefined();
    expect(typedLiteral('a\u0000b', 'text')).toBeUndefined();
  });

  it('inlines every parameter, or nothing when the server counts them differently', () => {
    const sql = `SELECT $1, '$2', $2 WHERE x = $1`;
    const tokens = parameterTokens(sql)!;
    expect(inlineParameters(sql, tokens, ['a', 'b'], ['text', 'text'])).toBe(`SELECT ('a'::text), '$2', ('b'::text) WHERE x = ('a'::text)`);
    expect(inlineParameters(sql, tokens, ['a', 'b'], ['text', 'text', 'text'])).toBeUndefined();
    expect(inlineParameters(sql, tokens, ['a'], ['text', 'text'])).toBeUndefined();
    expect(inlineParameters(sql, tokens, ['a', Buffer.from('b')], ['text', 'bytea'])).toBeUndefined();
  });
});

describe('untyped literals (a slice DELETE sent with BEGIN)', () => {
  it.each([
    [42, `'42'`],
    [-7, `'-7'`],
    [12345678901234567890n, `'12345678901234567890'`],
    [true, `'true'`],
    ['eu-west', `'eu-west'`],
    [`it's`, `'it''s'`],
    ['back\\slash', `E'back\\\\slash'`],
  ])('%s as %s', (value, literal) => {
    expect(inlineUntyped('DELETE FROM "t" WHERE "k" = $1', [value])).toBe(`DELETE FROM "t" WHERE "k" = ${literal}`);
  });

  it('replaces parameters only, in any order and repeated', () => {
    expect(inlineUntyped(`SELECT $2, '$1', "a$1", $1 -- $1`, [1, 'b'])).toBe(`SELECT 'b', '$1', "a$1", '1' -- $1`);
  });

  it.each([
    ['NULL', null],
    ['a Date', new Date(0)],
    ['an array', [1, 2]],
    ['a Buffer', Buffer.from('x')],
    ['an object', { a: 1 }],
    ['NaN', Number.NaN],
    ['text with NUL', 'a\u0000b'],
  ])('keeps the parameter for %s', (_, value) => {
    expect(inlineUntyped('DELETE FROM "t" WHERE "k" = $1', [value])).toBeUndefined();
  });

  it('keeps the parameters when the text is not one it can read, or a value is missing', () => {
    expect(inlineUntyped(`DELETE FROM "t" WHERE "k" = 'open`, [])).toBeUndefined();
    expect(inlineUntyped('DELETE FROM "t" WHERE "k" = $2', [1])).toBeUndefined();
  });
});
