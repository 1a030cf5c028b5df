import { describe, expect, it } from 'vitest';
import { InvalidRowError, ProjectionFailedError } from '../../lib/index.js';
import { useTestApp } from '../support/test-app.js';
import { DagOrgs } from '../fixtures/dag.fixture.js';
import { CopyKeyed, CopyKeyedSql, CopyValues, derived } from '../fixtures/copy.fixture.js';

const TRICKY = `tab\there, new line\nreturn\r, back\\slash \\N "double" 'single' ☃`;

describe('rows copied from Node and keys that conflict', () => {
  const { t } = useTestApp('copy', (db) => ({
    dataSources: [{ url: db.url, synchronize: true }],
    projections: [DagOrgs, CopyValues, CopyKeyed, CopyKeyedSql],
    // Two rows per COPY: every stream below crosses several batches.
    cinema: { allowEmptyLens: true, batchSize: 2 },
  }));

  it('writes text, arrays, bytes, JSON, instants and NULLs exactly; left-out fields get their default', async () => {
    derived.values = [
      {
        id: 1,
        label: TRICKY,
        tags: ['a,b', '{c}', '"d"', 'back\\slash', null, '', 'NULL'],
        grid: [
          [1, 2],
          [3, 4],
        ],
        blob: Buffer.from([0, 1, 92, 9, 255]),
        doc: { text: TRICKY, list: [1, '\\', null] },
        at: new Date('2026-03-04T05:06:07.089Z'),
        big: 9_007_199_254_740_993n,
        flag: false,
      },
      { id: 2, label: null, tags: null, grid: null, blob: null, doc: null, at: null, big: null, flag: null },
      { id: 3, label: '\\N', doc: 'a JSON string', note: 'set' },
      { id: 4, doc: [1, 2, 3], tags: [] },
    ];
    const run = await t.cinema.project(CopyValues, {}, { async: true, fetch: false });
    await run.result;
    expect(run.nodes.find((node) => node.projection === 'CopyValues')).toMatchObject({ written: 4, paths: ['stream'] });
    const rows = await t.dataSource().query(
      `SELECT id, label, tags, grid::text AS grid, encode(blob, 'hex') AS blob, doc, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS at,
         big::text AS big, flag, note FROM copy_values ORDER BY id`,
    );
    expect(rows).toEqual([
      {
        id: 1,
        label: TRICKY,
        tags: ['a,b', '{c}', '"d"', 'back\\slash', null, '', 'NULL'],
        grid: '{{1,2},{3,4}}',
        blob: '00015c09ff',
        doc: { text: TRICKY, list: [1, '\\', null] },
        at: '2026-03-04 05:06:07.089',
        big: '9007199254740993',
        flag: false,
        note: 'fallback',
      },
      { id: 2, label: null, tags: null, grid: null, blob: null, doc: null, at: null, big: null, flag: null, note: 'fallback' },
      { id: 3, label: '\\N', tags: null, grid: null, blob: null, doc: 'a JSON string', at: null, big: null, flag: null, note: 'set' },
      { id: 4, label: null, tags: [], grid: null, blob: null, doc: [1, 2, 3], at: null, big: null, flag: null, note: 'fallback' },
    ]);
  });

  it('takes over a key that a row outside the slice holds, on the streamed path', async () => {
    await t.dataSource().query(`TRUNCATE copy_keyed`);
    await t.dataSource().query(`INSERT INTO copy_keyed (id, org_id, version) VALUES (1, 1, 1), (2, 1, 1), (3, 2, 1), (4, 2, 1)`);
    derived.keyed = [
      { id: 1, orgId: 1, version: 2 },
      { id: 3, orgId: 1, version: 2 },
    ];
    const run = await t.cinema.project(CopyKeyed, { orgId: 1 }, { async: true });
    expect(await run.result).toHaveLength(2);
    // Rebuilt a second time with ON CONFLICT: counted once.
    expect(run.nodes.find((node) => node.projection === 'CopyKeyed')).toMatchObject({ deleted: 2, written: 2, paths: ['stream'] });
    expect(await t.dataSource().query(`SELECT id, org_id, version FROM copy_keyed ORDER BY id`)).toEqual([
      { id: 1, org_id: 1, version: 2 },
      { id: 3, org_id: 1, version: 2 },
      { id: 4, org_id: 2, version: 1 },
    ]);
  });

  it('keeps the last of the rows a stream derives for one key', async () => {
    derived.keyed = [
      { id: 5, orgId: 1, version: 1 },
      { id: 6, orgId: 1, version: 1 },
      { id: 5, orgId: 1, version: 2 },
      { id: 7, orgId: 1, version: 1 },
      { id: 5, orgId: 1, version: 3 },
    ];
    await t.cinema.project(CopyKeyed, { orgId: 1 }, { fetch: false });
    expect(await t.dataSource().query(`SELECT id, version FROM copy_keyed WHERE org_id = 1 ORDER BY id`)).toEqual([
      { id: 5, version: 3 },
      { id: 6, version: 1 },
      { id: 7, version: 1 },
    ]);
  });

  it('takes over a key that a row outside the slice holds, on the INSERT ... SELECT path', async () => {
    await t.dataSource().query(`INSERT INTO copy_keyed_sql (id, org_id, version) VALUES (1, 1, 1), (2, 2, 1)`);
    derived.keyedSql = `SELECT 1 AS id, 1 AS "orgId", 2 AS version UNION ALL SELECT 2, 1, 2`;
    const run = await t.cinema.project(CopyKeyedSql, { orgId: 1 }, { async: true, fetch: false });
    await run.result;
    expect(run.nodes.find((node) => node.projection === 'CopyKeyedSql')).toMatchObject({ written: 2, paths: ['insert-select'] });
    expect(await t.dataSource().query(`SELECT id, org_id, version FROM copy_keyed_sql ORDER BY id`)).toEqual([
      { id: 1, org_id: 1, version: 2 },
      { id: 2, org_id: 1, version: 2 },
    ]);
  });

  it('names the projection when its query derives one key twice, and keeps the slice', async () => {
    derived.keyedSql = `SELECT 1 AS id, 1 AS "orgId", 3 AS version UNION ALL SELECT 1, 1, 4`;
    const error = await t.cinema.project(CopyKeyedSql, { orgId: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProjectionFailedError);
    expect((error as ProjectionFailedError).cause).toBeInstanceOf(InvalidRowError);
    expect((error as Error).message).toMatch(/CopyKeyedSql: its query derives more than one row for the same key \(id\)/);
    expect(await t.dataSource().query(`SELECT id, org_id, version FROM copy_keyed_sql ORDER BY id`)).toEqual([
      { id: 1, org_id: 1, version: 2 },
      { id: 2, org_id: 1, version: 2 },
    ]);
  });
});
