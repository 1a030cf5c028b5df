import pg from 'pg';
import { beforeEach, describe, expect, it } from 'vitest';
import { InvalidRowError, ProjectionFailedError } from '../../lib/index.js';
import { useTestApp } from '../support/test-app.js';
import { deferred } from '../support/deferred.js';
import { A, behaviour, dagNode, DagOrgs, source } from '../fixtures/dag.fixture.js';
import { bulk, BulkRows, Numbers } from '../fixtures/bulk.fixture.js';

const Keep = dagNode('keep', () => [DagOrgs], { dematerialize: false });

const CHECKSUM = `SELECT COUNT(*)::int AS rows, SUM(id)::bigint::text AS ids, SUM(big::numeric)::text AS big,
  COUNT(*) FILTER (WHERE even)::int AS even, MIN(day)::text AS first_day, MAX(day)::text AS last_day,
  COUNT(DISTINCT label)::int AS labels, SUM((meta->>'n')::int)::bigint::text AS meta FROM bulk_rows`;

describe('materialization', () => {
  const { db, t } = useTestApp('materialize', (db) => ({
    dataSources: [{ url: db.url, synchronize: true }],
    projections: [Numbers, BulkRows, DagOrgs, A, Keep],
    // 20,000 rows of 7 columns per statement: 140,000 values, twice PostgreSQL's 65,535 bind parameters.
    cinema: { allowEmptyLens: true, batchSize: 20_000 },
  }));

  beforeEach(() => {
    bulk.rows = 100_000;
    bulk.shape = 'ok';
    source.value = 1;
    source.orgs = 3;
    for (const key of Object.keys(behaviour)) delete behaviour[key];
  });
  it('writes rows built in Node in batches beyond the bind-parameter limit, values intact', async () => {
    const run = await t.cinema.project(BulkRows, {}, { async: true, fetch: false });
    await run.result;
    expect(run.nodes[1]).toMatchObject({ projection: 'BulkRows', written: 100_000, paths: ['stream'] });
    const [sum] = await t.dataSource().query(CHECKSUM);
    expect(sum).toEqual({
      rows: 100_000,
      ids: '5000050000',
      big: '50000500000000000000',
      even: 50_000,
      first_day: '2026-01-01',
      last_day: '2026-12-31',
      labels: 100_000,
      meta: '5000050000',
    });
    const [row] = await t.dataSource().query(`SELECT label, meta FROM bulk_rows WHERE id = 7`);
    expect(row).toEqual({ label: `row 7 'quoted' "twice" \\ back`, meta: { n: 7, tags: ['a', 'b'] } });
  });

  it.each([
    ['missing-required', /BulkRows: row 499 lacks the required field "orgId"/],
    ['extra-field', /BulkRows: row 699 has a field "colour", which is not a column of "bulk_rows"/],
  ] as const)('rejects rows of the wrong shape (%s) and keeps the slice', async (shape, message) => {
    bulk.rows = 1_000;
    await t.cinema.project(BulkRows, {}, { fetch: false });
    bulk.rows = 2_000;
    bulk.shape = shape;
    const error = await t.cinema.project(BulkRows, {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProjectionFailedError);
    expect((error as ProjectionFailedError).cause).toBeInstanceOf(InvalidRowError);
    expect((error as Error).message).toMatch(message);
    const [{ count }] = await t.dataSource().query(`SELECT COUNT(*)::int AS count FROM bulk_rows`);
    expect(count).toBe(1_000);
  });

  it('only upserts when dematerialize is false', async () => {
    await t.cinema.project(Keep, {});
    source.orgs = 2;
    source.value = 4;
    await t.cinema.project(Keep, {});
    const rows = await t.dataSource().query(`SELECT org_id, value FROM dag_keep ORDER BY org_id`);
    // Org 3 is no longer derived, and nothing deleted it.
    expect(rows).toEqual([
      { org_id: 1, value: 5 },
      { org_id: 2, value: 5 },
      { org_id: 3, value: 2 },
    ]);
  });

  it('never shows readers a half-built slice', async () => {
    await t.cinema.project(A, {});
    source.value = 9;
    const deleted = deferred<number>();
    const resume = deferred();
    behaviour.a = {
      entered: async (ctx) => {
        // Runs after the slice's DELETE on the same transaction: what the rebuild itself sees.
        const [{ n }] = await ctx.write.query(`SELECT COUNT(*)::int AS n FROM dag_a`);
        deleted.resolve(n);
        await resume.promise;
      },
    };
    const run = await t.cinema.project(A, {}, { async: true });
    const reader = new pg.Client({ connectionString: db.url });
    await reader.connect();
    try {
      try {
        // The rebuild has deleted its slice and is paused in its derivation...
        expect(await deleted.promise).toBe(0);
        // ...while a reader still sees every old row.
        const during = await reader.query(`SELECT org_id, value FROM dag_a ORDER BY org_id`);
        expect(run.status).toBe('running');
        expect(during.rows).toEqual([1, 2, 3].map((org_id) => ({ org_id, value: 2 })));
      } finally {
        resume.resolve();
      }
      await run.result;
      const after = await reader.query(`SELECT org_id, value FROM dag_a ORDER BY org_id`);
      expect(after.rows).toEqual([1, 2, 3].map((org_id) => ({ org_id, value: 10 })));
    } finally {
      await reader.end();
    }
  });
});
