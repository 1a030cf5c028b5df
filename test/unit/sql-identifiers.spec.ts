import fc from 'fast-check';
import { DataSource } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { InvalidLensError } from '../../lib/index.js';
import { lockExpressions } from '../../lib/dialect/postgres/advisory-locks.js';
import { postgresDialect } from '../../lib/dialect/postgres/postgres.dialect.js';
import type { TableModel } from '../../lib/model/projection.model.js';
import { narrow } from '../../lib/read/slice.queries.js';
import { hash64, inlineIntegers, quoteIdent, quoteTable } from '../../lib/dialect/postgres/sql.js';
import { normalizeLens, positionalBinder, renderConditions } from '../../lib/lens/lens.js';

const HOSTILE = [`x"; DROP TABLE accounts; --`, `"`, `""`, `a""b`, `org id); DELETE FROM t; --`, `$1`, `:name`, `'quoted'`, `\\`, `select`];

/** Splits SQL into double-quoted identifiers and what lies between them. */
function identifiers(sql: string): { quoted: string[]; rest: string } {
  const quoted: string[] = [];
  const rest = sql.replace(/"((?:[^"]|"")*)"/g, (_m, inner: string) => {
    quoted.push(inner.replaceAll('""', '"'));
    return '<id>';
  });
  return { quoted, rest };
}

const seed = Number(process.env.CINEMA_PROPERTY_SEED ?? 20_261_125);

describe('identifiers and values in the SQL Cinema writes', () => {
  it.each(HOSTILE)('quotes %j as one identifier', (name) => {
    const quoted = quoteIdent(name);
    expect(identifiers(quoted)).toEqual({ quoted: [name], rest: '<id>' });
    expect(identifiers(quoteTable(name, name))).toEqual({ quoted: [name, name], rest: '<id>.<id>' });
  });

  it('quotes any string as exactly one identifier', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (name) => {
        expect(identifiers(quoteIdent(name))).toEqual({ quoted: [name], rest: '<id>' });
      }),
      { seed, numRuns: 500 },
    );
  });

  it('refuses every lens key that is not a plain identifier, and binds every value', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary' }),
        fc.oneof(fc.string(), fc.integer(), fc.array(fc.string(), { maxLength: 5 })),
        (key, value) => {
          let lens: ReturnType<typeof normalizeLens>;
          try {
            lens = normalizeLens('P', { [key]: value });
          } catch (error) {
            expect(error).toBeInstanceOf(InvalidLensError);
            expect(/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) && !['constructor', 'prototype'].includes(key)).toBe(false);
            return;
          }
          const params: unknown[] = [];
          // The key reaches SQL only through the caller's column mapping, which quotes it.
          const sql = renderConditions(lens.conditions, (k) => `"src".${quoteIdent(k)}`, positionalBinder(params)).join(' AND ');
          const { quoted, rest } = identifiers(sql);
          expect(quoted).toEqual(['src', key]);
          expect(rest).toMatch(/^<id>\.<id> (= \$1|= ANY\(\$1\))$/);
          expect(params).toEqual([value]);
        },
      ),
      { seed, numRuns: 500 },
    );
  });

  it('narrows a query by quoted column names and parameters named after a sanitized projection name', () => {
    const dataSource = new DataSource({ type: 'postgres' });
    const qb = dataSource.createQueryBuilder().select('1', 'orgId').from('(SELECT 1)', 'x');
    const projection = `P"; DROP TABLE accounts; --`;
    const narrowed = narrow(
      { kind: 'query', qb, columns: ['orgId', `we"ird`] },
      normalizeLens(projection, { orgId: ["1'; --", 2] }),
      projection,
    );
    const [sql, params] = narrowed.getQueryAndParameters();
    expect(sql).toContain(`WHERE "src"."orgId" = ANY($1)`);
    expect(params).toEqual([["1'; --", 2]]);
    expect(Object.keys(narrowed.getParameters())).toEqual(['cinema_P___DROP_TABLE_accounts_____0']);
    expect(sql).not.toContain('DROP');
  });

  it('binds advisory lock keys, whatever the table and partition values', () => {
    const params: unknown[] = [];
    const locks = lockExpressions(
      quoteTable(HOSTILE[0], HOSTILE[4]),
      'orgId',
      normalizeLens('P', { orgId: [`1'); SELECT pg_sleep(10); --`, 2] }),
      params,
    );
    expect(locks.join(', ')).toMatch(
      /^pg_advisory_xact_lock_shared\(\$1::int4, \$2::int4\), pg_advisory_xact_lock\(\$3::int8\), pg_advisory_xact_lock\(\$4::int8\)$/,
    );
    expect(params).toHaveLength(4);
  });

  it('quotes the columns of an ON CONFLICT clause', () => {
    const table = { conflictTarget: [HOSTILE[0]], onConflict: 'replace' } as unknown as TableModel;
    const clause = postgresDialect.conflictClause(table, [HOSTILE[0], HOSTILE[4]]);
    const { quoted, rest } = identifiers(clause);
    expect(quoted).toEqual([HOSTILE[0], HOSTILE[4], HOSTILE[4]]);
    expect(rest).toBe('ON CONFLICT (<id>) DO UPDATE SET <id> = EXCLUDED.<id>');
  });
});

describe('integers inlined into the BEGIN message', () => {
  it('inlines computed integers, each in parentheses', () => {
    expect(
      inlineIntegers('SELECT f($1::text), g($2::int4, $3::int8), h($10)', [
        60250,
        -2000732102,
        '-9223372036854775808',
        0,
        0,
        0,
        0,
        0,
        0,
        7n,
      ]),
    ).toBe('SELECT f((60250)::text), g((-2000732102)::int4, (-9223372036854775808)::int8), h((7))');
  });

  it.each([[`1); DROP TABLE accounts; --`], ['1.5'], [1.5], [Number.NaN], [null], [undefined], [{ toString: () => '1' }]])(
    'refuses %s',
    (value) => {
      expect(() => inlineIntegers('SELECT $1', [value])).toThrow(/only integers Cinema computed are inlined/);
    },
  );
});

describe('hash64 (advisory lock keys)', () => {
  /** 64-bit FNV-1a on BigInts, as the lock keys were first computed: processes must agree on them. */
  const reference = (text: string): string => {
    let hash = 0xcbf29ce484222325n;
    for (let i = 0; i < text.length; i++) {
      hash ^= BigInt(text.charCodeAt(i));
      hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
    }
    return BigInt.asIntN(64, hash).toString();
  };

  it('is 64-bit FNV-1a of the UTF-16 code units, as a signed decimal', () => {
    expect(hash64('')).toBe('-3750763034362895579');
    expect(hash64('a')).toBe(reference('a'));
    expect(hash64('"public"."accounts_receivable"\u0000orgId\u000042')).toBe(
      reference('"public"."accounts_receivable"\u0000orgId\u000042'),
    );
  });

  it('equals the BigInt computation for any text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (text) => hash64(text) === reference(text)),
      { numRuns: 2_000 },
    );
  });
});
