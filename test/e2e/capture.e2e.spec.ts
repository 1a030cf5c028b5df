import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Entity, PrimaryColumn } from 'typeorm';
import { InvalidProjectionError, Projection, Source } from '../../lib/index.js';
import { bootError } from '../support/app.js';
import {
  CAPTURE_MODES,
  CAPTURE_TABLES as tables,
  CAPTURE_TRUTH as truth,
  CapInvoice,
  CapOrgGrade,
  CapOrgTotals,
  captureApp,
  captureHooks,
  dropSlot,
} from '../fixtures/capture.fixture.js';
import { deferred } from '../support/deferred.js';
import { connect, rowsOf, waitFor } from '../support/postgres.js';
import { useTestApp } from '../support/test-app.js';

describe.each(CAPTURE_MODES)('change capture (%s): changes mark dirty slices, the watcher refreshes them in dependency order', (mode) => {
  const { db, t } = useTestApp(`capture_${mode}`, (db) => captureApp(db, { interval: 20, mode }));
  let client: Awaited<ReturnType<typeof connect>>;
  beforeAll(async () => {
    client = await connect(db.url);
  });
  // Before the database is dropped (a later afterAll runs first): the app, then its slot.
  afterAll(async () => {
    await t.close();
    if (mode === 'logical') await dropSlot(client, db.name);
    await client?.end();
  });

  /** Every projection equals its ground truth and no mark is left. */
  const converged = () =>
    waitFor(async () => {
      const [{ n }] = (await client.query(`SELECT count(*)::int AS n FROM cinema.changes`)).rows;
      if (n !== 0) return undefined;
      for (const key of ['totals', 'grades', 'grand'] as const) {
        const [want, have] = [await rowsOf(client, truth[key]), await rowsOf(client, tables[key])];
        if (JSON.stringify(want) !== JSON.stringify(have)) return undefined;
      }
      return true;
    }, 'every projection to equal its ground truth with no mark left');

  it('installs its capture by migration and keeps every projection fresh through inserts, updates, deletes', async () => {
    const { rows } = await client.query(
      `SELECT tgname FROM pg_trigger WHERE tgrelid = 'cap_invoices'::regclass AND NOT tgisinternal ORDER BY tgname`,
    );
    const published = await client.query(`SELECT tablename FROM pg_publication_tables WHERE pubname = 'cinema_capture'`);
    if (mode === 'triggers') {
      expect(rows.map((row) => row.tgname)).toEqual([
        'cinema_capture_delete',
        'cinema_capture_insert',
        'cinema_capture_truncate',
        'cinema_capture_update',
      ]);
      expect(published.rows).toEqual([]);
    } else {
      // The write path pays nothing but WAL.
      expect(rows).toEqual([]);
      expect(published.rows).toEqual([{ tablename: 'cap_invoices' }]);
    }
    await client.query(`INSERT INTO cap_invoices (id, org_id, amount) SELECT i, 1 + i % 5, i * 7 FROM generate_series(1, 200) i`);
    await converged();
    // One statement, one mark per slice.
    await client.query(`UPDATE cap_invoices SET amount = amount + 1 WHERE org_id = 2`);
    await converged();
    // A row moving between slices dirties both.
    await client.query(`UPDATE cap_invoices SET org_id = 6 WHERE id IN (1, 2, 3)`);
    await converged();
    await client.query(`DELETE FROM cap_invoices WHERE org_id = 3`);
    await converged();
    expect((await client.query(`SELECT count(*)::int AS n FROM cap_org_totals WHERE org_id = 3`)).rows[0].n).toBe(0);
  });

  it('captures INSERT ... ON CONFLICT DO UPDATE, COPY, a writable CTE and TRUNCATE', async () => {
    await client.query(
      `INSERT INTO cap_invoices (id, org_id, amount) VALUES (4, 7, 5000), (10000, 8, 10)
       ON CONFLICT (id) DO UPDATE SET org_id = EXCLUDED.org_id, amount = EXCLUDED.amount`,
    );
    await converged();
    const copy = client.query(copyFrom(`COPY cap_invoices (id, org_id, amount) FROM STDIN`));
    await pipeline(Readable.from(['20001\t9\t300\n20002\t9\t800\n20003\t1\t1\n']), copy);
    await converged();
    await client.query(
      `WITH moved AS (UPDATE cap_invoices SET org_id = 14 WHERE id = 20001 RETURNING id),
            gone AS (DELETE FROM cap_invoices WHERE id = 20003 RETURNING id)
       INSERT INTO cap_invoices (id, org_id, amount) SELECT 20004, 15, count(*) FROM moved, gone`,
    );
    await converged();
    expect((await client.query(`SELECT org_id, total FROM cap_org_totals WHERE org_id IN (9, 14, 15) ORDER BY org_id`)).rows).toEqual([
      { org_id: 9, total: 800 },
      { org_id: 14, total: 300 },
      { org_id: 15, total: 1 },
    ]);
    await client.query(`TRUNCATE cap_invoices`);
    await converged();
    expect((await client.query(`SELECT count(*)::int AS n FROM cap_org_totals`)).rows[0].n).toBe(0);
    await client.query(`INSERT INTO cap_invoices (id, org_id, amount) SELECT i, 1 + i % 5, i * 7 FROM generate_series(1, 100) i`);
    await converged();
  });

  it('keeps a mark committed while a refresh of the same slice runs, and applies it in the next cycle', async () => {
    await client.query(`INSERT INTO cap_invoices (id, org_id, amount) VALUES (31001, 1, 10), (31002, 4, 20)`);
    await converged();
    const first = { entered: deferred(), gate: deferred() };
    captureHooks.totalsEntered = first.entered;
    captureHooks.totalsGate = first.gate;
    // A writer whose transaction is open across the refresh, and one that commits during it.
    const writer = await connect(db.url);
    try {
      await writer.query(`BEGIN`);
      await writer.query(`UPDATE cap_invoices SET amount = amount + 1 WHERE id = 31001`);
      await client.query(`INSERT INTO cap_invoices (id, org_id, amount) VALUES (30001, 11, 100)`);
      // The refresh has read org 11's rows (one invoice) and waits.
      await first.entered.promise;
      expect(captureHooks.totalsSlices.at(-1)).toEqual([11]);
      await client.query(`INSERT INTO cap_invoices (id, org_id, amount) VALUES (30002, 11, 2000)`);
      await client.query(`UPDATE cap_invoices SET org_id = 11 WHERE id = 31002`);
      await writer.query(`COMMIT`);
    } finally {
      await writer.end();
    }
    // The next refresh of the totals waits too: the state between the two can be looked at.
    const second = { entered: deferred(), gate: deferred() };
    captureHooks.totalsEntered = second.entered;
    captureHooks.totalsGate = second.gate;
    let again = false;
    void second.entered.promise.then(() => (again = true));
    first.gate.resolve();
    await waitFor(async () => again || undefined, 'the surviving marks to cause another refresh of the totals');
    // The first refresh committed what it had read (one invoice) and deleted only the mark it had
    // read: the marks of the three writes committed during it are still there.
    expect((await client.query(`SELECT total, invoices FROM cap_org_totals WHERE org_id = 11`)).rows).toEqual([
      { total: 100, invoices: 1 },
    ]);
    const { rows: left } = await client.query(
      `SELECT DISTINCT lens->>'orgId' AS org FROM cinema.changes WHERE projection = 'CapOrgTotals' ORDER BY 1`,
    );
    expect(left.map((row) => Number(row.org)).sort((a, b) => a - b)).toEqual([1, 4, 11]);
    captureHooks.totalsGate = undefined;
    second.gate.resolve();
    await converged();
    expect((await client.query(`SELECT total, invoices FROM cap_org_totals WHERE org_id = 11`)).rows).toEqual([
      { total: 2120, invoices: 3 },
    ]);
  });

  it('captures a writable CTE that moves rows and inserts what it moved', async () => {
    await client.query(`INSERT INTO cap_invoices (id, org_id, amount) SELECT i, 20 + i % 3, i FROM generate_series(60001, 60030) i`);
    await converged();
    // One statement: the UPDATE moves org 20's invoices to org 23, the INSERT copies them to org 24.
    await client.query(
      `WITH moved AS (UPDATE cap_invoices SET org_id = 23, amount = amount * 2 WHERE org_id = 20 RETURNING id, amount)
       INSERT INTO cap_invoices (id, org_id, amount) SELECT id + 10000, 24, amount FROM moved`,
    );
    await converged();
    expect((await client.query(`SELECT org_id FROM cap_org_totals WHERE org_id BETWEEN 20 AND 24 ORDER BY 1`)).rows).toEqual([
      { org_id: 21 },
      { org_id: 22 },
      { org_id: 23 },
      { org_id: 24 },
    ]);
    // And a writable CTE that deletes from one slice what it inserts into another.
    await client.query(
      `WITH gone AS (DELETE FROM cap_invoices WHERE org_id = 21 RETURNING id, amount)
       INSERT INTO cap_invoices (id, org_id, amount) SELECT id, 25, amount + 1 FROM gone`,
    );
    await converged();
    expect((await client.query(`SELECT count(*)::int AS n FROM cap_org_totals WHERE org_id = 21`)).rows[0].n).toBe(0);
  });

  it('a failure between two projections of a chain leaves the downstream slice marked, and it converges', async () => {
    captureHooks.failGradesOnce = true;
    captureHooks.gradesEntered = deferred();
    captureHooks.gradesGate = deferred();
    const failuresBefore = captureHooks.gradeFailures;
    await client.query(`INSERT INTO cap_invoices (id, org_id, amount) VALUES (40001, 12, 5000)`);
    // The retry waits: the state after the failed attempt can be looked at.
    await captureHooks.gradesEntered.promise;
    expect(captureHooks.gradeFailures).toBe(failuresBefore + 1);
    const marks = await client.query(`SELECT projection, lens FROM cinema.changes WHERE projection = 'CapOrgGrade'`);
    expect(marks.rows).toContainEqual({ projection: 'CapOrgGrade', lens: { orgId: 12 } });
    expect((await client.query(`SELECT total FROM cap_org_totals WHERE org_id = 12`)).rows).toEqual([{ total: 5000 }]);
    expect((await client.query(`SELECT grade FROM cap_org_grades WHERE org_id = 12`)).rows).toEqual([]);
    const gate = captureHooks.gradesGate;
    captureHooks.gradesGate = undefined;
    gate.resolve();
    await converged();
  });

  it('freshness() reports the pending changes and a status, then pass once refreshed', async () => {
    captureHooks.totalsEntered = deferred();
    captureHooks.totalsGate = deferred();
    await client.query(`INSERT INTO cap_invoices (id, org_id, amount) VALUES (50001, 13, 10)`);
    await captureHooks.totalsEntered.promise;
    const totals = await t.cinema.freshness(CapOrgTotals, { orgId: 13 });
    expect(totals).toMatchObject({ projection: 'CapOrgTotals', pendingChanges: 1, status: 'warn' });
    expect(totals.oldestPendingChange).toBeInstanceOf(Date);
    // Downstream sees the change pending upstream of it.
    expect(await t.cinema.freshness(CapOrgGrade, { orgId: 13 })).toMatchObject({ pendingChanges: 1, status: 'pass' });
    expect((await t.cinema.freshness(CapOrgTotals, { orgId: 1 })).pendingChanges).toBe(0);
    const gate = captureHooks.totalsGate;
    captureHooks.totalsGate = undefined;
    gate.resolve();
    await converged();
    const fresh = await t.cinema.freshness(CapOrgTotals, { orgId: 13 });
    expect(fresh).toMatchObject({ pendingChanges: 0, lagMs: 0, status: 'pass' });
    expect(fresh.refreshedAt).toBeInstanceOf(Date);
    const [ledger] = (
      await client.query(
        `SELECT rows, snapshot_xmin IS NOT NULL AS has_xmin FROM cinema.freshness WHERE projection = 'CapOrgTotals' AND slice = '{"orgId": 13}'`,
      )
    ).rows;
    expect(ledger).toEqual({ rows: 1, has_xmin: true });
  });
});

describe('change capture: startup checks of the changes option', () => {
  const { db } = useTestApp('capture_startup', (db) => captureApp(db, { interval: 3_600_000 }));

  it('refuses at startup a changes option naming a column the table or the projection lacks, naming all three', async () => {
    const boot = async (lens: Record<string, string>) => {
      @Projection({ name: 'BadCapture', changes: [{ table: CapInvoice, lens }] })
      @Entity('cap_bad')
      class BadCapture {
        @PrimaryColumn({ name: 'org_id' }) orgId: number;
        @Source()
        rows() {
          return [];
        }
      }
      return bootError({ dataSources: [{ url: db.url, entities: [CapInvoice] }], projections: [BadCapture] });
    };
    const table = await boot({ orgId: 'organisation' });
    expect(table).toBeInstanceOf(InvalidProjectionError);
    expect(table.message).toMatch(/BadCapture.*"organisation", which is not a column of table CapInvoice.*orgId, amount/);
    const own = await boot({ tenant: 'orgId' });
    expect(own.message).toMatch(/BadCapture.*lens key "tenant" is not a column of the projection/);
  });
});
