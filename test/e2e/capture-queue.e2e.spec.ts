import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChangeWatcher } from '../../lib/capture/change.watcher.js';
import { CAPTURE_TABLES, CAPTURE_TRUTH, CapOrgGrade, CapOrgTotals, captureApp } from '../fixtures/capture.fixture.js';
import { bootApp, type TestApp } from '../support/app.js';
import { createDatabase } from '../support/database.js';
import { connect, rowsOf, waitFor } from '../support/postgres.js';

/**
 * Change capture with the queue engine: a worker (in this process) runs the watcher and works
 * queued runs; the API process sets `capture: { watch: false }`.
 */
describe('change capture on the queue engine', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let worker: TestApp;
  let api: TestApp;
  let client: Awaited<ReturnType<typeof connect>>;
  beforeAll(async () => {
    db = await createDatabase('capture_queue');
    worker = await bootApp(captureApp(db, { interval: 20 }, { worker: true, concurrency: 2 }));
    api = await bootApp(captureApp(db, { watch: false }, { worker: false }));
    client = await connect(db.url);
  });
  afterAll(async () => {
    await client?.end();
    await api?.close();
    await worker?.close();
    await db?.drop();
  });

  const refreshedAt = async (projection: string, slice: Record<string, unknown>) =>
    (
      await client.query(`SELECT refreshed_at::text AS at FROM cinema.freshness WHERE projection = $1 AND slice = $2::jsonb`, [
        projection,
        JSON.stringify(slice),
      ])
    ).rows[0]?.at as string | undefined;

  it('runs the watcher in the worker, not in the process that sets watch: false', async () => {
    expect(worker.app.get(ChangeWatcher).watching).toBe(true);
    expect(api.app.get(ChangeWatcher).watching).toBe(false);
    await client.query(`INSERT INTO cap_invoices (id, org_id, amount) SELECT i, 1 + i % 7, i * 3 FROM generate_series(1, 70) i`);
    await waitFor(async () => {
      const [{ n }] = (await client.query(`SELECT count(*)::int AS n FROM cinema.changes`)).rows;
      if (n !== 0) return undefined;
      for (const key of ['totals', 'grades', 'grand'] as const) {
        if (JSON.stringify(await rowsOf(client, CAPTURE_TRUTH[key])) !== JSON.stringify(await rowsOf(client, CAPTURE_TABLES[key])))
          return undefined;
      }
      return true;
    }, 'the worker to refresh every marked slice');
  });

  it('a queued run records the freshness ledger of each projection it rebuilt, with its slice', async () => {
    // Org 77 has no invoice: no mark names it, only the queued run can record it.
    expect(await refreshedAt('CapOrgTotals', { orgId: 77 })).toBeUndefined();
    const run = await api.cinema.project(CapOrgGrade, { orgId: 77 }, { engine: 'queue', async: true });
    expect(await run.result).toEqual([]);
    expect(await refreshedAt('CapOrgTotals', { orgId: 77 })).toBeDefined();
    expect(await refreshedAt('CapOrgGrade', { orgId: 77 })).toBeDefined();
    const freshness = await api.cinema.freshness(CapOrgTotals, { orgId: 77 });
    expect(freshness).toMatchObject({ pendingChanges: 0, status: 'pass' });
    expect(freshness.refreshedAt).toBeInstanceOf(Date);
    // So a read with maxStaleness is served without a rebuild.
    const read = await api.cinema.project(CapOrgGrade, { orgId: 77 }, { maxStaleness: 60_000, async: true });
    await read.result;
    expect(read.fresh).toBe(true);
    // A list lens records one row per slice; the ledger row is rewritten by the next run.
    const before = await refreshedAt('CapOrgTotals', { orgId: 77 });
    await api.cinema.project(CapOrgTotals, { orgId: [77, 78] }, { engine: 'queue', fetch: false });
    expect((await refreshedAt('CapOrgTotals', { orgId: 77 }))! > before!).toBe(true);
    expect(await refreshedAt('CapOrgTotals', { orgId: 78 })).toBeDefined();
  });
});
