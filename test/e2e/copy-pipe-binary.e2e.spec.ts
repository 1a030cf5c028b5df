import { Logger } from '@nestjs/common';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { ProjectionFailedError } from '../../lib/index.js';
import { bootApp, type TestApp } from '../support/app.js';
import { CapturingLogger } from '../support/capturing-logger.js';
import { createDatabase } from '../support/database.js';
import { connect, waitFor } from '../support/postgres.js';
import {
  COLUMNS,
  TYPED_PROJECTIONS,
  TYPED_SOURCE_DDL,
  TYPED_TABLES,
  TYPED_TARGET_DDL,
  TypedCopy,
  TypedDomain,
  TypedEnum,
  TypedNarrow,
  TypedSlow,
  TypedStaged,
  TypedWidened,
} from '../fixtures/copy-pipe-binary.fixture.js';

/** Every column as PostgreSQL prints it: what must arrive unchanged. */
const AS_TEXT = COLUMNS.map((column) => `"${column}"::text AS "${column}"`).join(', ');

/** Each COPY into a logged table, as the write connection sent it. */
const STATEMENT_LOG = `
  CREATE TABLE typed_statements (seq serial, tbl text, query text);
  CREATE FUNCTION typed_log() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO typed_statements (tbl, query) VALUES (TG_TABLE_NAME, current_query()); RETURN NULL; END $$;
  CREATE TRIGGER typed_log AFTER INSERT ON typed_copy FOR EACH STATEMENT EXECUTE FUNCTION typed_log();
  CREATE TRIGGER typed_log AFTER INSERT ON typed_widened FOR EACH STATEMENT EXECUTE FUNCTION typed_log();`;

/**
 * Edge values of every column, a row of NULLs, and enough generated rows to span many of COPY's
 * data messages. `text`: the odd text of the rows (the encoding test keeps to Latin-1).
 */
function seed(text: string): string {
  return `
    INSERT INTO typed_source (id, key, i2, i8, num, num_p, f8, flag, note, code, day, "at", at_tz, span, uid, blob, doc, docb, ints, texts)
    VALUES
      (1, 'a', -32768, 9223372036854775807, '123456789012345678901234567890.000000000000000001', 123456789.567, 0.1, true,
       ${text}, 'abcdefgh', '0044-03-15 BC', '2026-02-28 13:45:56.123456', '2026-02-28 13:45:56.123456+05:30',
       '1 year 2 mons 3 days 04:05:06.789', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff0a5c5c4e', '{"b": 1,  "a": [1, 2], "a": 3}',
       '{"b": 1, "a": [1, 2.50, null], "s": "tab\\t"}', '{{1,NULL},{-3,2147483647}}', ${`ARRAY['a,b', NULL, '', '"q"', 'NULL', ${text}]`}),
      (2, 'b', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
      (3, 'a', 32767, -9223372036854775808, 'NaN', -0.001, '-Infinity', false, '', '', 'infinity', '-infinity', 'infinity',
       '-1 days -00:00:01', '00000000-0000-0000-0000-000000000000', '\\x', '[]', '{}', '{}', '{}'),
      (4, 'b', 0, 0, '-0.0000', 0, '5e-324', NULL, ${text}, NULL, '2000-02-29', NULL, '1970-01-01 00:00:00+00', '0', NULL,
       NULL, 'null', 'null', '{NULL}', '{NULL}');
    INSERT INTO typed_source
    SELECT i, 'k' || (i % 4), (i % 30000)::int2, i::int8 * 1000003, i / 7.0, (i * 1.001)::numeric(12,3), i * 1.1e-5, i % 3 = 0,
           repeat(chr(97 + i % 26), i % 40) || E'\\t' || i, left(md5(i::text), i % 9), DATE '2026-01-01' + i,
           TIMESTAMP '2026-01-01' + i * INTERVAL '1 second 1 microsecond', TIMESTAMPTZ '2026-01-01 00:00:00+00' + i * INTERVAL '1 minute',
           i * INTERVAL '1 hour 1 microsecond', md5(i::text)::uuid, decode(md5(i::text), 'hex'), json_build_object('i', i, 'x', 'y'),
           jsonb_build_object('i', i, 'list', jsonb_build_array(i, NULL, 'z')), ARRAY[i, NULL, -i], ARRAY['t' || i, NULL]
    FROM generate_series(5, 3004) AS i`;
}

const ODD_TEXT = `E'tab\\there, new\\nline, back\\\\slash \\\\N \\\\. é ñ 中文 🎬 e\\u0301'`;

describe('the copy pipe in binary when both ends have the same built-in types', () => {
  let app: Awaited<ReturnType<typeof createDatabase>>;
  let reporting: Awaited<ReturnType<typeof createDatabase>>;
  let t: TestApp;
  let source: pg.Client;
  let target: pg.Client;
  const logger = new CapturingLogger();

  const rows = async (client: pg.Client, table: string, where = 'TRUE') =>
    (await client.query(`SELECT ${AS_TEXT} FROM ${table} WHERE ${where} ORDER BY id`)).rows;
  /** The format each projection's last copy ran in, from the debug log. */
  const formats = (from: number) =>
    logger.debugs.slice(from).flatMap((line) => {
      const match = /^(\w+): copy pipe in (binary|text): (.*)$/.exec(line);
      return match ? [{ projection: match[1], format: match[2], reason: match[3] }] : [];
    });
  const statements = async (table: string) =>
    (await target.query(`SELECT query FROM typed_statements WHERE tbl = $1 ORDER BY seq`, [table])).rows.map(
      ({ query }: { query: string }) => query,
    );

  beforeAll(async () => {
    app = await createDatabase('binary_app');
    reporting = await createDatabase('binary_reporting');
    source = await connect(app.url);
    target = await connect(reporting.url);
    await source.query(TYPED_SOURCE_DDL);
    await target.query(TYPED_TARGET_DDL);
    await target.query(STATEMENT_LOG);
    t = await bootApp({
      dataSources: [
        { name: 'app', url: app.url },
        { name: 'reporting', url: reporting.url },
      ],
      projections: TYPED_PROJECTIONS,
      featureDataSources: ['reporting'],
      cinema: { readDataSource: 'reporting', writeDataSource: 'reporting', allowEmptyLens: true },
    });
    Logger.overrideLogger(logger);
  });
  beforeEach(async () => {
    await source.query('TRUNCATE typed_source');
    await source.query(seed(ODD_TEXT));
    await target.query(`TRUNCATE typed_statements, ${TYPED_TABLES.join(', ')}`);
  });
  afterAll(async () => {
    Logger.overrideLogger(['error']);
    await t?.close();
    await source?.end();
    await target?.end();
    await app?.drop();
    await reporting?.drop();
  });

  it('copies every value, NULLs included, exactly, straight into the table and through a staging table', async () => {
    const from = logger.debugs.length;
    for (const projection of [TypedCopy, TypedStaged]) {
      const run = await t.cinema.project(projection, {}, { async: true, fetch: false });
      await run.result;
      expect(run.nodes.at(-1)).toMatchObject({ written: 3004, paths: ['copy-pipe'] });
    }
    const truth = await rows(source, 'typed_source');
    expect(truth).toHaveLength(3004);
    expect(await rows(target, 'typed_copy')).toEqual(truth);
    expect(await rows(target, 'typed_staged')).toEqual(truth);
    expect(formats(from)).toEqual([
      { projection: 'TypedCopy', format: 'binary', reason: 'every column has the same built-in type on both ends' },
      { projection: 'TypedStaged', format: 'binary', reason: 'every column has the same built-in type on both ends' },
    ]);
    expect(await statements('typed_copy')).toEqual([expect.stringMatching(/^COPY "typed_copy" \(.*\) FROM STDIN \(FORMAT binary\)$/)]);
  });

  it('in binary with a lens too (its values inlined), rebuilding exactly its slice', async () => {
    await t.cinema.project(TypedCopy, {}, { fetch: false });
    await source.query(`UPDATE typed_source SET note = 'changed', ints = ARRAY[id]`);
    const from = logger.debugs.length;
    const run = await t.cinema.project(TypedCopy, { key: 'a' }, { async: true, fetch: false });
    await run.result;
    expect(run.nodes.at(-1)).toMatchObject({ deleted: 2, written: 2, paths: ['copy-pipe'] });
    expect(formats(from).map(({ format }) => format)).toEqual(['binary']);
    expect(await rows(target, 'typed_copy', `key = 'a'`)).toEqual(await rows(source, 'typed_source', `key = 'a'`));
    expect((await rows(target, 'typed_copy', `key <> 'a'`)).every((row) => row.note !== 'changed')).toBe(true);
  });

  it('falls back to text, the rows still exact, when a column has another type here (wider, an enum, a domain)', async () => {
    await source.query(`UPDATE typed_source SET note = CASE WHEN id % 2 = 0 THEN 'calm' ELSE 'glad' END WHERE note IS NOT NULL`);
    const from = logger.debugs.length;
    for (const projection of [TypedWidened, TypedEnum, TypedDomain]) {
      const run = await t.cinema.project(projection, {}, { async: true, fetch: false });
      await run.result;
      expect(run.nodes.at(-1)).toMatchObject({ written: 3004, paths: ['copy-pipe'] });
    }
    const truth = await rows(source, 'typed_source');
    for (const table of ['typed_widened', 'typed_enum', 'typed_domain']) expect(await rows(target, table)).toEqual(truth);
    expect(formats(from)).toEqual([
      { projection: 'TypedWidened', format: 'text', reason: 'column "id" has another type there (type OID 23, here 20)' },
      {
        projection: 'TypedEnum',
        format: 'text',
        reason: 'the type of column "note" is not built in, or binary COPY does not carry it exactly',
      },
      {
        projection: 'TypedDomain',
        format: 'text',
        reason: 'the type of column "code" is not built in, or binary COPY does not carry it exactly',
      },
    ]);
    expect(await statements('typed_widened')).toEqual([expect.stringMatching(/FROM STDIN \(FORMAT text, ENCODING 'UTF8'\)$/)]);
  });

  it("applies the table's type modifiers as text would, and fails on a value too long, keeping the slice", async () => {
    await source.query(`UPDATE typed_source SET code = left(code, 3)`);
    const from = logger.debugs.length;
    await t.cinema.project(TypedNarrow, {}, { fetch: false });
    expect(formats(from).map(({ format }) => format)).toEqual(['binary']);
    // numeric(12,3) into numeric(12,1) rounds as a cast does, varchar(3) keeps what fits.
    const narrowed = `SELECT id, code, num_p::numeric(12,1)::text AS num_p FROM typed_source ORDER BY id`;
    const before = (await target.query(`SELECT id, code, num_p::text AS num_p FROM typed_narrow ORDER BY id`)).rows;
    expect(before).toEqual((await source.query(narrowed)).rows);
    expect(before[0]).toEqual({ id: 1, code: 'abc', num_p: '123456789.6' });

    await source.query(`UPDATE typed_source SET code = 'abcd', note = 'changed' WHERE id = 3`);
    const error = await t.cinema.project(TypedNarrow, { key: 'a' }, { fetch: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProjectionFailedError);
    expect((error as ProjectionFailedError).projection).toBe('TypedNarrow');
    expect(String(((error as ProjectionFailedError).cause as Error).message)).toMatch(/value too long for type character varying\(3\)/);
    expect((await target.query(`SELECT id, code, num_p::text AS num_p FROM typed_narrow ORDER BY id`)).rows).toEqual(before);
  });
  it('fails at once when the source connection dies mid-copy, keeping the slice', async () => {
    await target.query(`INSERT INTO typed_slow (id, key, note) VALUES (1, 'a', 'kept')`);
    const from = logger.debugs.length;
    const failed = t.cinema.project(TypedSlow, { key: 'a' }, { fetch: false }).catch((e: unknown) => e);
    const backend = await waitFor(async () => {
      const { rows } = await source.query(
        `SELECT pid FROM pg_stat_activity WHERE query LIKE 'COPY (%cinema binary slow%' AND pid <> pg_backend_pid()`,
      );
      return rows[0]?.pid as number | undefined;
    }, 'the source COPY to start');
    await source.query(`SELECT pg_terminate_backend($1)`, [backend]);
    const terminated = performance.now();
    const error = await failed;
    // The whole slice would take a minute at the source.
    expect(performance.now() - terminated).toBeLessThan(5_000);
    expect(error).toBeInstanceOf(ProjectionFailedError);
    expect(String(((error as ProjectionFailedError).cause as Error).message)).toMatch(/terminat/i);
    expect(formats(from).map(({ format }) => format)).toEqual(['binary']);
    expect((await target.query(`SELECT id, key, note FROM typed_slow`)).rows).toEqual([{ id: 1, key: 'a', note: 'kept' }]);
  });
});

describe('the copy pipe between databases of different encodings', () => {
  const server = () => new URL(inject('postgresUrl'));
  let latin1: { url: string; drop(): Promise<void> };
  let reporting: Awaited<ReturnType<typeof createDatabase>>;
  let t: TestApp;
  let source: pg.Client;
  let target: pg.Client;
  const logger = new CapturingLogger();

  beforeAll(async () => {
    const name = `cinema_binary_latin1_${process.pid}`;
    const admin = await connect(server().toString());
    await admin.query(`DROP DATABASE IF EXISTS ${name}`);
    await admin.query(`CREATE DATABASE ${name} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`);
    await admin.end();
    const url = server();
    url.pathname = `/${name}`;
    latin1 = {
      url: url.toString(),
      drop: async () => {
        const client = await connect(server().toString());
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await client.end();
      },
    };
    reporting = await createDatabase('binary_utf8');
    source = await connect(latin1.url);
    target = await connect(reporting.url);
    await source.query(TYPED_SOURCE_DDL);
    await target.query(TYPED_TARGET_DDL);
    t = await bootApp({
      dataSources: [
        { name: 'app', url: latin1.url },
        { name: 'reporting', url: reporting.url },
      ],
      projections: TYPED_PROJECTIONS,
      featureDataSources: ['reporting'],
      cinema: { readDataSource: 'reporting', writeDataSource: 'reporting', allowEmptyLens: true },
    });
    Logger.overrideLogger(logger);
  });
  afterAll(async () => {
    Logger.overrideLogger(['error']);
    await t?.close();
    await source?.end();
    await target?.end();
    await latin1?.drop();
    await reporting?.drop();
  });

  it('copies in text, converting the text exactly', async () => {
    await source.query(seed(`E'tab\\there, back\\\\slash \\\\N é ñ ß ÿ'`));
    const run = await t.cinema.project(TypedCopy, {}, { async: true, fetch: false });
    await run.result;
    expect(run.nodes.at(-1)).toMatchObject({ written: 3004, paths: ['copy-pipe'] });
    const query = `SELECT ${AS_TEXT} FROM %s ORDER BY id`;
    const truth = (await source.query(query.replace('%s', 'typed_source'))).rows;
    expect(truth[0].note).toBe('tab\there, back\\slash \\N é ñ ß ÿ');
    expect((await target.query(query.replace('%s', 'typed_copy'))).rows).toEqual(truth);
    expect(logger.debugs.filter((line) => line.includes('copy pipe'))).toEqual([
      `TypedCopy: copy pipe in text: the encodings differ (LATIN1/UTF8 there, UTF8/UTF8 here)`,
    ]);
  });
});
