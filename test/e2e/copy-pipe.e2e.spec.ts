import fc from 'fast-check';
import type pg from 'pg';
import { In, Like } from 'typeorm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { postgresDialect } from '../../lib/dialect/postgres/postgres.dialect.js';
import { InvalidRowError, ProjectionFailedError, ProjectionTimeoutError } from '../../lib/index.js';
import { bootApp, type TestApp } from '../support/app.js';
import { createDatabase } from '../support/database.js';
import { connect, rowsOf, waitFor } from '../support/postgres.js';
import { COPY_PIPE, PIPE_SOURCE_DDL, PipeBuffer, PipeCopy, PipeRequired, PipeSlow } from '../fixtures/copy-pipe.fixture.js';

/** Every column as PostgreSQL prints it: what must arrive unchanged. */
const AS_TEXT = `SELECT id, key, note, meta::text, tags::text, amount::text, day::text, flag::text FROM`;

/** Keys that would break SQL text if a lens value ever reached it unquoted. */
const HOSTILE_KEYS = [
  `x'); DROP TABLE pipe_copy; --`,
  `$1`,
  `\\' OR TRUE --`,
  `$$ OR TRUE $$`,
  `E'\\''`,
  `*/ OR TRUE /*`,
  `line\nbreak -- $2`,
  `"quoted" ident`,
  `plain`,
];

/** Text COPY has to escape or that PostgreSQL prints in surprising ways. */
const AWKWARD_TEXTS = [
  'tab\there',
  'new\nline',
  'carriage\rreturn',
  'back\\slash',
  '\\N',
  '\\.',
  "it's",
  '"quoted"',
  'unicode: é ñ 中文 🎬 \u202Eright-to-left\u202C e\u0301',
  '',
  ' leading and trailing ',
];

describe('a query of another database, piped COPY to COPY', () => {
  let app: Awaited<ReturnType<typeof createDatabase>>;
  let reporting: Awaited<ReturnType<typeof createDatabase>>;
  let t: TestApp;
  let source: pg.Client;
  let target: pg.Client;

  const table = (name: string, where = 'TRUE') => rowsOf(target, `${AS_TEXT} ${name} WHERE ${where} ORDER BY id`);
  const truth = (where = 'TRUE') => rowsOf(source, `${AS_TEXT} pipe_source WHERE ${where} ORDER BY id`);

  beforeAll(async () => {
    app = await createDatabase('pipe_app');
    reporting = await createDatabase('pipe_reporting');
    source = await connect(app.url);
    target = await connect(reporting.url);
    await source.query(PIPE_SOURCE_DDL);
    t = await bootApp({
      dataSources: [
        { name: 'app', url: app.url },
        { name: 'reporting', url: reporting.url, synchronize: true },
      ],
      projections: COPY_PIPE,
      featureDataSources: ['reporting'],
      cinema: { readDataSource: 'reporting', writeDataSource: 'reporting', allowEmptyLens: true },
    });
  });
  beforeEach(async () => {
    await source.query('TRUNCATE pipe_source');
    for (const name of ['pipe_copy', 'pipe_required', 'pipe_buffer', 'pipe_slow']) await target.query(`TRUNCATE ${name}`);
  });
  afterAll(async () => {
    await t?.close();
    await source?.end();
    await target?.end();
    await app?.drop();
    await reporting?.drop();
  });

  it('copies tabs, newlines, backslashes, NULLs, unicode, JSON and arrays exactly', async () => {
    await source.query(
      `INSERT INTO pipe_source (id, key, note, meta, tags, amount, day, flag)
       SELECT i, 'k' || (i % 3), t, jsonb_build_object('text', t, 'nested', jsonb_build_array(t, NULL)), ARRAY[t, NULL, 'a,b', '{}'],
              '123456789012345678901234567890.000000000000000001'::numeric * i, DATE '2026-02-28' + i::int, i % 2 = 0
       FROM unnest($1::text[]) WITH ORDINALITY AS u(t, i)`,
      [AWKWARD_TEXTS],
    );
    await source.query(`INSERT INTO pipe_source (id, key) VALUES (100, 'k-nulls')`);
    const run = await t.cinema.project(PipeCopy, {}, { async: true, fetch: false });
    await run.result;
    expect(run.nodes.at(-1)!.paths).toEqual(['copy-pipe']);
    expect(await table('pipe_copy')).toEqual(await truth());
    expect((await table('pipe_copy')).length).toBe(AWKWARD_TEXTS.length + 1);
  });

  it('rebuilds exactly the slice a hostile lens names, its values never SQL', async () => {
    await source.query(`INSERT INTO pipe_source (id, key, note) SELECT i, k, 'v1' FROM unnest($1::text[]) WITH ORDINALITY AS u(k, i)`, [
      HOSTILE_KEYS,
    ]);
    await t.cinema.project(PipeCopy, {}, { fetch: false });
    await source.query(`UPDATE pipe_source SET note = 'v2'`);
    for (const [i, key] of HOSTILE_KEYS.entries()) {
      const run = await t.cinema.project(PipeCopy, { key }, { async: true, fetch: false });
      await run.result;
      expect(run.nodes.at(-1)).toMatchObject({ deleted: 1, written: 1, paths: ['copy-pipe'] });
      const notes = (await target.query(`SELECT key, note FROM pipe_copy ORDER BY id`)).rows;
      // This key and the ones before it are rebuilt; the others still hold the old copy.
      expect(notes).toEqual(HOSTILE_KEYS.map((k, j) => ({ key: k, note: j <= i ? 'v2' : 'v1' })));
    }
    // A list and a pattern of hostile values: one array literal, one text literal.
    await source.query(`UPDATE pipe_source SET note = 'v3'`);
    await t.cinema.project(PipeCopy, { key: In(HOSTILE_KEYS.slice(0, 3)) }, { fetch: false });
    await t.cinema.project(PipeCopy, { key: Like(`$$%`) }, { fetch: false });
    const notes = (await target.query(`SELECT key, note FROM pipe_copy ORDER BY id`)).rows;
    expect(notes.filter((row) => row.note === 'v3').map((row) => row.key)).toEqual([...HOSTILE_KEYS.slice(0, 3), `$$ OR TRUE $$`]);
    expect(await target.query(`SELECT to_regclass('pipe_copy') IS NOT NULL AS kept`)).toMatchObject({ rows: [{ kept: true }] });
  });

  it('fails on a NULL in a required field, naming the projection, the field and the row, and keeps the slice', async () => {
    await source.query(`INSERT INTO pipe_source (id, key, note) VALUES (1, 'a', 'first'), (2, 'a', 'second'), (3, 'b', 'other')`);
    await t.cinema.project(PipeRequired, {}, { fetch: false });
    const before = await table('pipe_required');
    await source.query(`UPDATE pipe_source SET note = 'changed' WHERE id = 1; UPDATE pipe_source SET note = NULL WHERE id = 2`);
    const error = await t.cinema.project(PipeRequired, { key: 'a' }, { fetch: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProjectionFailedError);
    expect((error as ProjectionFailedError).projection).toBe('PipeRequired');
    const cause = (error as ProjectionFailedError).cause as InvalidRowError;
    expect(cause).toBeInstanceOf(InvalidRowError);
    expect(cause.field).toBe('note');
    expect(cause.message).toMatch(/^PipeRequired: row 1 lacks the required field "note"/);
    expect(await table('pipe_required')).toEqual(before);
  });

  it('reads through the cursor when a parameter has no exact literal (a Buffer, sent in binary)', async () => {
    await source.query(`INSERT INTO pipe_source (id, key, note, tags) VALUES (1, 'a', 'tab\there', '{x,NULL}'), (2, 'b', NULL, NULL)`);
    const run = await t.cinema.project(PipeBuffer, {}, { async: true, fetch: false });
    await run.result;
    expect(run.nodes.at(-1)!.paths).toEqual(['stream']);
    expect(await table('pipe_buffer')).toEqual(await truth());
  });

  it('stops both sides at the timeout: the slice kept, nothing left running at the source', async () => {
    await source.query(`INSERT INTO pipe_source (id, key, note) SELECT i, 'a', 'old' FROM generate_series(1, 3) i`);
    await t.dataSource('reporting').query(`INSERT INTO pipe_slow (id, key, note) VALUES (1, 'a', 'kept')`);
    const before = await table('pipe_slow');
    expect(before).toHaveLength(1);
    await source.query(`INSERT INTO pipe_source (id, key, note) SELECT i, 'a', 'new' FROM generate_series(4, 40) i`);
    const started = performance.now();
    const error = await t.cinema.project(PipeSlow, { key: 'a' }, { fetch: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProjectionTimeoutError);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(await table('pipe_slow')).toEqual(before);
    // The source connection was destroyed mid-COPY: its backend ends at its next write.
    await waitFor(async () => {
      const { rows } = await source.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%cinema pipe slow%' AND pid <> pg_backend_pid()`,
      );
      return rows[0].n === 0 ? true : undefined;
    }, 'the source COPY to end');
  });

  it('inlines parameters as literals that read exactly as the bound values (property)', async () => {
    // Parameter-like text in strings, identifiers, dollar quotes and comments must stay as it is.
    const select = `SELECT $1::text AS a, '$2 '' $1' AS b, E'\\\\'' $1' AS c, $q$ $1 $q$ AS d, "x$1".y /* $2 /* $1 */ */ AS e,
      $2 AS f, $3::text[] AS g, $4::float8 AS h, $5::jsonb AS i, $1 || $2 AS j, $3 = ARRAY[$1] AS k -- $3 ' "
      FROM (SELECT 1 AS y) AS "x$1" WHERE $4 > -1e300 OR $4 IS NOT NULL`;
    const text = { types: { getTypeParser: () => (value: string) => value } };
    let answered = 0;
    const value = fc.string({ unit: 'binary' }).filter((s) => !s.includes('\u0000'));
    await fc.assert(
      fc.asyncProperty(
        value,
        value,
        fc.array(fc.oneof(value, fc.constant(null)), { maxLength: 4 }),
        fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })),
        fc.oneof(fc.dictionary(fc.string(), fc.jsonValue()), fc.integer(), fc.string()),
        async (a, b, list, n, json) => {
          const values = [a, b, list, n, json];
          const statement = (await postgresDialect.copyOut(source, select, values))?.statement('text');
          expect(statement).toMatch(/^COPY \(/);
          const inlined = statement!.replace(/^COPY \(/, '').replace(/\) TO STDOUT \(FORMAT text, ENCODING 'UTF8'\)$/, '');
          expect(inlined).not.toMatch(/\$[1-5]::/);
          // Rows or the error: a value PostgreSQL refuses as a parameter is refused as a literal too.
          const outcome = (query: pg.QueryConfig) =>
            source.query({ ...query, rowMode: 'array', ...text }).then(
              (result) => result.rows,
              (error: { code?: string }) => error.code,
            );
          const bound = await outcome({ text: select, values });
          expect(await outcome({ text: inlined })).toEqual(bound);
          if (Array.isArray(bound)) answered++;
        },
      ),
      { numRuns: 150 },
    );
    // Most runs compare rows, not only errors.
    expect(answered).toBeGreaterThan(75);
  });
});
