import { Logger } from '@nestjs/common';
import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InvalidRowError, KeyConflictError, ProjectionFailedError } from '../../lib/index.js';
import { bootApp, type TestApp } from '../support/app.js';
import { CapturingLogger } from '../support/capturing-logger.js';
import { createDatabase } from '../support/database.js';
import { connect } from '../support/postgres.js';
import {
  PIPE_CONFLICT_TABLES,
  PIPE_CONFLICTS,
  PIPE_KEYS_SOURCE_DDL,
  PipeKeyed,
  PipeKeyedNotNull,
  PipeKeyedStaged,
  PipeKeyedStrict,
} from '../fixtures/pipe-conflicts.fixture.js';

/** Every statement that inserts into a logged table, as the client sent it. */
const STATEMENT_LOG = `
  CREATE TABLE pipe_statements (seq serial, tbl text, query text);
  CREATE FUNCTION pipe_log() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO pipe_statements (tbl, query) VALUES (TG_TABLE_NAME, current_query()); RETURN NULL; END $$;
  CREATE TRIGGER pipe_log AFTER INSERT ON pipe_keyed FOR EACH STATEMENT EXECUTE FUNCTION pipe_log();
  CREATE TRIGGER pipe_log AFTER INSERT ON pipe_keyed_staged FOR EACH STATEMENT EXECUTE FUNCTION pipe_log();`;

describe('a query of another database copied straight into the table, and the rows it refuses', () => {
  let app: Awaited<ReturnType<typeof createDatabase>>;
  let reporting: Awaited<ReturnType<typeof createDatabase>>;
  let t: TestApp;
  let source: pg.Client;
  let target: pg.Client;
  const logger = new CapturingLogger();

  const rows = async (table: string) => (await target.query(`SELECT id, key, note FROM ${table} ORDER BY id`)).rows;
  /** How each insert into `table` was made: `copy` (straight into it) or `insert` (from a staging table). */
  const statements = async (table: string) =>
    (await target.query(`SELECT query FROM pipe_statements WHERE tbl = $1 ORDER BY seq`, [table])).rows.map(
      ({ query }: { query: string }) =>
        /^COPY /.test(query) ? 'copy' : /^INSERT INTO .* FROM pg_temp\."cinema_stage_\d+"/s.test(query) ? 'insert' : query,
    );

  beforeAll(async () => {
    app = await createDatabase('pipe_keys_app');
    reporting = await createDatabase('pipe_keys_reporting');
    source = await connect(app.url);
    target = await connect(reporting.url);
    await source.query(PIPE_KEYS_SOURCE_DDL);
    t = await bootApp({
      dataSources: [
        { name: 'app', url: app.url },
        { name: 'reporting', url: reporting.url, synchronize: true },
      ],
      projections: PIPE_CONFLICTS,
      featureDataSources: ['reporting'],
      cinema: { readDataSource: 'reporting', writeDataSource: 'reporting', allowEmptyLens: true },
    });
    await target.query(STATEMENT_LOG);
    t.app.useLogger(logger);
    Logger.overrideLogger(logger);
  });
  beforeEach(async () => {
    await source.query('TRUNCATE pipe_keys_source');
    await target.query(`TRUNCATE pipe_statements, ${PIPE_CONFLICT_TABLES.join(', ')}`);
  });
  afterAll(async () => {
    Logger.overrideLogger(['error']);
    await t?.close();
    await source?.end();
    await target?.end();
    await app?.drop();
    await reporting?.drop();
  });

  it('copies into the table itself, with no staging table, when the table checks what a staging table would', async () => {
    await source.query(`INSERT INTO pipe_keys_source (id, key, note) VALUES (1, 'a', 'one'), (2, 'b', 'two'), (3, 'a', 'three')`);
    for (const projection of [PipeKeyed, PipeKeyedStaged]) {
      const run = await t.cinema.project(projection, {}, { async: true, fetch: false });
      await run.result;
      expect(run.nodes.at(-1)).toMatchObject({ written: 3, paths: ['copy-pipe'] });
    }
    await source.query(`UPDATE pipe_keys_source SET note = note || ' again'`);
    await t.cinema.project(PipeKeyed, { key: 'a' }, { fetch: false });
    expect(await statements('pipe_keyed')).toEqual(['copy', 'copy']);
    // A required field the table lets be NULL: staged, checked there, then inserted.
    expect(await statements('pipe_keyed_staged')).toEqual(['insert']);
    expect(await rows('pipe_keyed')).toEqual([
      { id: 1, key: 'a', note: 'one again' },
      { id: 2, key: 'b', note: 'two' },
      { id: 3, key: 'a', note: 'three again' },
    ]);
  });

  it('on a key held outside the slice or derived twice, warns and keeps the rows exactly as the staging path does', async () => {
    await source.query(`INSERT INTO pipe_keys_source (id, key, note) VALUES (1, 'b', 'old'), (2, 'a', 'gone'), (4, 'b', 'stays')`);
    for (const projection of [PipeKeyed, PipeKeyedStaged]) await t.cinema.project(projection, {}, { fetch: false });
    // Row 1 moves from slice b to slice a, and slice a derives id 3 twice: the last one must win.
    await source.query(`TRUNCATE pipe_keys_source`);
    await source.query(
      `INSERT INTO pipe_keys_source (id, key, note) VALUES (1, 'a', 'moved'), (3, 'a', 'first'), (4, 'b', 'stays'), (3, 'a', 'last')`,
    );
    await target.query('TRUNCATE pipe_statements');
    const warnings = logger.warnings.length;
    const debugs = logger.debugs.length;
    const direct = await t.cinema.project(PipeKeyed, { key: 'a' }, { async: true, fetch: false });
    await direct.result;
    const staged = await t.cinema.project(PipeKeyedStaged, { key: 'a' }, { async: true, fetch: false });
    await staged.result;

    expect(direct.nodes.at(-1)).toMatchObject({ deleted: 1, written: 2, paths: ['copy-pipe'] });
    expect(staged.nodes.at(-1)).toMatchObject({ deleted: 1, written: 2, paths: ['copy-pipe'] });
    // Every copy in binary (the same types on both ends): the refused direct copy, the staged one
    // that meets the conflict, and the staged one of the rebuild in upsert mode.
    const formats = logger.debugs.slice(debugs).map((line) => /^(\w+): copy pipe in (\w+)/.exec(line)?.slice(1).join(' '));
    expect(formats).toEqual([...Array(3).fill('PipeKeyed binary'), ...Array(2).fill('PipeKeyedStaged binary')]);
    const expected = [
      { id: 1, key: 'a', note: 'moved' },
      { id: 3, key: 'a', note: 'last' },
      { id: 4, key: 'b', note: 'stays' },
    ];
    expect(await rows('pipe_keyed')).toEqual(expected);
    expect(await rows('pipe_keyed_staged')).toEqual(expected);

    const [warning, stagedWarning, ...more] = logger.warnings.slice(warnings);
    expect(more).toEqual([]);
    expect(warning).toContain('PipeKeyed { key: "a" }');
    expect(warning).toContain('Key (id)=(1) already exists');
    expect(warning).toMatch(/held by \{"id":1,"key":"b","note":"old"\}, outside the slice/);
    expect(warning.replaceAll('PipeKeyed', 'P')).toBe(stagedWarning.replaceAll('PipeKeyedStaged', 'P'));
    // The direct copy was undone; only the rebuild with ON CONFLICT, from a staging table, is left.
    expect(await statements('pipe_keyed')).toEqual(['insert']);
    expect(await statements('pipe_keyed_staged')).toEqual(['insert']);

    // From now on it upserts through a staging table, as after any conflict.
    await target.query('TRUNCATE pipe_statements');
    await t.cinema.project(PipeKeyed, { key: 'a' }, { fetch: false });
    expect(await statements('pipe_keyed')).toEqual(['insert']);
    expect(await rows('pipe_keyed')).toEqual(expected);
    expect(logger.warnings.length).toBe(warnings + 2);
  });

  it("with keyConflicts: 'error' fails with the key and the row holding it, and keeps the table", async () => {
    await source.query(`INSERT INTO pipe_keys_source (id, key, note) VALUES (1, 'b', 'old'), (2, 'a', 'kept')`);
    await t.cinema.project(PipeKeyedStrict, {}, { fetch: false });
    const before = await rows('pipe_keyed_strict');
    await source.query(`UPDATE pipe_keys_source SET key = 'a', note = 'moved' WHERE id = 1`);
    const error = await t.cinema.project(PipeKeyedStrict, { key: 'a' }, { fetch: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProjectionFailedError);
    const cause = (error as ProjectionFailedError).cause as KeyConflictError;
    expect(cause).toBeInstanceOf(KeyConflictError);
    expect(cause).toMatchObject({ projection: 'PipeKeyedStrict', lens: { key: 'a' }, key: ['id'] });
    expect(cause.detail).toBe('Key (id)=(1) already exists.');
    expect(cause.row).toEqual({ id: 1, key: 'b', note: 'old' });
    expect(await rows('pipe_keyed_strict')).toEqual(before);
  });

  it('in a whole-table rebuild by swap, copies into the fresh table; a key derived twice fails there as on the staging path', async () => {
    await source.query(`INSERT INTO pipe_keys_source (id, key, note) VALUES (1, 'a', 'one'), (2, 'b', 'two')`);
    const run = await t.cinema.project(PipeKeyedStrict, {}, { async: true, fetch: false });
    await run.result;
    expect(run.nodes.at(-1)).toMatchObject({ written: 2, paths: ['copy-pipe', 'swap'] });
    const before = await rows('pipe_keyed_strict');
    expect(before).toEqual([
      { id: 1, key: 'a', note: 'one' },
      { id: 2, key: 'b', note: 'two' },
    ]);
    await source.query(`INSERT INTO pipe_keys_source (id, key, note) VALUES (2, 'c', 'again')`);
    const error = await t.cinema.project(PipeKeyedStrict, {}, { fetch: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProjectionFailedError);
    const cause = (error as ProjectionFailedError).cause as KeyConflictError;
    expect(cause).toBeInstanceOf(KeyConflictError);
    expect(cause).toMatchObject({ projection: 'PipeKeyedStrict', key: ['id'] });
    expect(cause.detail).toMatch(/^Key \(id\)=\(2\)/);
    expect(await rows('pipe_keyed_strict')).toEqual(before);
  });

  it('in a whole-table rebuild by swap, a NULL the fresh table refuses is named as in place', async () => {
    await source.query(`INSERT INTO pipe_keys_source (id, key, note) VALUES (1, 'a', 'one'), (2, 'b', NULL)`);
    const error = await t.cinema.project(PipeKeyedNotNull, {}, { fetch: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProjectionFailedError);
    const cause = (error as ProjectionFailedError).cause as InvalidRowError;
    expect(cause).toBeInstanceOf(InvalidRowError);
    expect(cause.message).toMatch(/^PipeKeyedNotNull: row 1 lacks the required field "note"/);
    expect(await rows('pipe_keyed_not_null')).toEqual([]);
  });

  it('on a NULL in a required field that the table refuses, undoes the copy and names the row, keeping the slice', async () => {
    await source.query(`INSERT INTO pipe_keys_source (id, key, note) VALUES (1, 'a', 'first'), (2, 'a', 'second'), (3, 'b', 'other')`);
    await t.cinema.project(PipeKeyedNotNull, {}, { fetch: false });
    const before = await rows('pipe_keyed_not_null');
    await source.query(`UPDATE pipe_keys_source SET note = NULL WHERE id = 2`);
    const error = await t.cinema.project(PipeKeyedNotNull, { key: 'a' }, { fetch: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProjectionFailedError);
    const cause = (error as ProjectionFailedError).cause as InvalidRowError;
    expect(cause).toBeInstanceOf(InvalidRowError);
    expect(cause.field).toBe('note');
    expect(cause.message).toMatch(/^PipeKeyedNotNull: row 1 lacks the required field "note"/);
    expect(await rows('pipe_keyed_not_null')).toEqual(before);
  });
});
