import { Logger } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CinemaHealthIndicator, LogicalCaptureError } from '../../lib/index.js';
import { slotReaderHooks } from '../../lib/capture/logical/slot.reader.js';
import {
  CapInvoice,
  CapGrandTotal,
  CapOrgGrade,
  CapOrgTotals,
  captureApp,
  captureConverged,
  CreateCapInvoices1764450000000,
  dropSlot,
} from '../fixtures/capture.fixture.js';
import { bootApp, bootError, type TestApp } from '../support/app.js';
import { CapturingLogger } from '../support/capturing-logger.js';
import { createDatabase } from '../support/database.js';
import { deferred } from '../support/deferred.js';
import { connect, waitFor } from '../support/postgres.js';
import { useTestApp } from '../support/test-app.js';
import { CINEMA_CAPTURE_MIGRATIONS, installLogicalCapture } from '../../lib/index.js';
import type { MigrationInterface, QueryRunner } from 'typeorm';

type Client = Awaited<ReturnType<typeof connect>>;

/** The slot of the test database, as the server shows it. */
async function slotOf(client: Client, slot: string) {
  const { rows } = await client.query(
    `SELECT confirmed_flush_lsn::text AS confirmed, restart_lsn::text AS restart, wal_status FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  return rows[0] as { confirmed: string; restart: string; wal_status: string } | undefined;
}

/** Drops a slot the watcher may be reading at that moment (a peek holds it active). */
async function dropWhenIdle(client: Client, slot: string): Promise<void> {
  await waitFor(
    () =>
      client.query(`SELECT pg_drop_replication_slot($1)`, [slot]).then(
        () => true,
        (error: Error) => (/is active/.test(error.message) ? undefined : Promise.reject(error)),
      ),
    `slot ${slot} to be dropped`,
  );
}

describe('logical change capture: the slot, its crashes and its WAL', () => {
  const { db, t } = useTestApp('logical', (db) => captureApp(db, { interval: 20, mode: 'logical' }));
  let client: Client;
  const logger = new CapturingLogger();
  const converged = () => waitFor(() => captureConverged(client), 'every projection to equal its ground truth with no mark left');
  beforeAll(async () => {
    client = await connect(db.url);
    t.app.useLogger(logger);
    Logger.overrideLogger(logger);
    await client.query(`CREATE TABLE mark_log (projection text, lens jsonb)`);
    await client.query(`CREATE FUNCTION log_mark() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO mark_log VALUES (NEW.projection, NEW.lens); RETURN NULL; END $$`);
    await client.query(`CREATE TRIGGER log_mark AFTER INSERT ON cinema.changes FOR EACH ROW EXECUTE FUNCTION log_mark()`);
  });
  afterAll(async () => {
    slotReaderHooks.afterMarksCommitted = undefined;
    Logger.overrideLogger(['error']);
    await t.close();
    await dropSlot(client, db.name);
    await client?.end();
  });

  it('makes the slot at first start and marks every captured projection whole', async () => {
    expect(await slotOf(client, db.name)).toMatchObject({ wal_status: expect.any(String) });
    await converged();
    // The whole projection was rebuilt (its ledger row covers every slice).
    const { rows } = await client.query(`SELECT slice FROM cinema.freshness WHERE projection = 'CapOrgTotals'`);
    expect(rows).toContainEqual({ slice: {} });
  });

  it('a crash between committing the marks and advancing the slot writes them again: duplicates, no loss', async () => {
    const crashed = deferred();
    slotReaderHooks.afterMarksCommitted = (marks) => {
      if (!marks.slices.some((shape) => shape.rows.some((row) => row[0] === '61'))) return;
      slotReaderHooks.afterMarksCommitted = undefined;
      crashed.resolve();
      throw new Error('the process died before advancing the slot');
    };
    await client.query(`INSERT INTO cap_invoices (id, org_id, amount) VALUES (61001, 61, 700)`);
    await crashed.promise;
    // The slot did not move: the next cycle reads the same change and writes its mark again.
    const marked = `SELECT count(*)::int AS n FROM mark_log WHERE projection = 'CapOrgTotals' AND lens = '{"orgId": 61}'`;
    await waitFor(async () => ((await client.query(marked)).rows[0].n === 2 ? true : undefined), 'the mark written twice');
    await converged();
    expect((await client.query(marked)).rows[0].n).toBe(2);
    expect((await client.query(`SELECT total FROM cap_org_totals WHERE org_id = 61`)).rows).toEqual([{ total: 700 }]);
  });

  it('a slot dropped while the application runs is made again, every projection marked whole, with a warning', async () => {
    const wholeMarks = `SELECT count(*)::int AS n FROM mark_log WHERE projection = 'CapOrgTotals' AND lens IS NULL`;
    const before = (await client.query(wholeMarks)).rows[0].n;
    await dropWhenIdle(client, db.name);
    await client.query(`INSERT INTO cap_invoices (id, org_id, amount) VALUES (62001, 62, 5)`);
    await converged();
    expect(await slotOf(client, db.name)).toBeDefined();
    expect(logger.warnings.some((w) => w.includes(`replication slot "${db.name}" was dropped`) && w.includes('CapOrgTotals'))).toBe(true);
    expect((await client.query(wholeMarks)).rows[0].n).toBe(before + 1);
  });

  it('a slot lost between two runs: health is down until the next start makes it again and rebuilds everything', async () => {
    await t.close();
    const second = await bootApp(captureApp(db, { interval: 3_600_000, mode: 'logical' }));
    try {
      // Its first cycle has run; the next one is an hour away.
      await waitFor(
        async () => ((await second.app.get(CinemaHealthIndicator).isHealthy()).cinema.status === 'up' ? true : undefined),
        'health up',
      );
      await dropWhenIdle(client, db.name);
      const down = (await second.app.get(CinemaHealthIndicator).isHealthy()).cinema;
      expect(down).toMatchObject({ status: 'down', slot: { name: db.name, lost: true } });
      expect(down.message).toContain('missing or lost');
      await client.query(`UPDATE cap_invoices SET amount = amount + 1 WHERE org_id = 61`);
    } finally {
      await second.close();
    }
    const third = await bootApp(captureApp(db, { interval: 20, mode: 'logical' }));
    try {
      await converged();
      expect((await client.query(`SELECT total FROM cap_org_totals WHERE org_id = 61`)).rows).toEqual([{ total: 701 }]);
      expect((await third.app.get(CinemaHealthIndicator).isHealthy()).cinema).toMatchObject({ status: 'up', slot: { lost: false } });
    } finally {
      await third.close();
    }
  });

  it('reports the WAL the slot retains, down past capture.maxRetainedWal', async () => {
    const app = await bootApp({
      ...captureApp(db, { interval: 3_600_000, mode: 'logical' }),
      cinema: { capture: { interval: 3_600_000, mode: 'logical', slot: db.name, maxRetainedWal: 1 } },
    });
    try {
      await client.query(`INSERT INTO cap_invoices (id, org_id, amount) VALUES (63001, 63, 1)`);
      const health = (await app.app.get(CinemaHealthIndicator).isHealthy()).cinema;
      expect(health.status).toBe('down');
      expect(health.slot!.retainedWal).toBeGreaterThan(1);
      expect(health.message).toContain('more than capture.maxRetainedWal (1)');
    } finally {
      await app.close();
    }
  });
});

describe('logical change capture: an idle database while another one is written', () => {
  const { db, t } = useTestApp('logical_idle', (db) => captureApp(db, { interval: 20, mode: 'logical' }));
  let other: Awaited<ReturnType<typeof createDatabase>>;
  let client: Client;
  beforeAll(async () => {
    other = await createDatabase('logical_busy');
    client = await connect(db.url);
  });
  afterAll(async () => {
    await t.close();
    await dropSlot(client, db.name);
    await client?.end();
    await other?.drop();
  });

  it('moves its slot forward: it does not pin the WAL the other database writes', async () => {
    await waitFor(() => slotOf(client, db.name), 'the slot');
    const busy = await connect(other.url);
    let written: string;
    try {
      await busy.query(`CREATE TABLE filler AS SELECT i, repeat('x', 200) AS pad FROM generate_series(1, 20000) i`);
      written = (await busy.query(`SELECT pg_current_wal_lsn()::text AS lsn`)).rows[0].lsn;
      // A checkpoint logs the running transactions: the point from which restart_lsn may move.
      await busy.query(`CHECKPOINT`);
    } finally {
      await busy.end();
    }
    const moved = await waitFor(async () => {
      const { rows } = await client.query(
        `SELECT confirmed_flush_lsn >= $2::pg_lsn AND restart_lsn >= $2::pg_lsn AS moved FROM pg_replication_slots WHERE slot_name = $1`,
        [db.name, written],
      );
      return rows[0]?.moved ? true : undefined;
    }, "the idle slot to move past the other database's writes");
    expect(moved).toBe(true);
  });
});

/** The publication only: the table keeps its default replica identity. */
class PublishOnly1764500000001 implements MigrationInterface {
  name = 'PublishOnly1764500000001';
  async up(queryRunner: QueryRunner) {
    await installLogicalCapture(queryRunner, [CapOrgTotals]);
  }
  async down() {}
}

describe('logical change capture: startup checks', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let client: Client;
  beforeAll(async () => {
    db = await createDatabase('logical_checks');
    client = await connect(db.url);
  });
  afterAll(async () => {
    await dropSlot(client, db.name);
    await client?.end();
    await db?.drop();
  });
  const app = (migrations: (new () => MigrationInterface)[]) => ({
    dataSources: [{ url: db.url, synchronize: true, entities: [CapInvoice], migrations }],
    projections: [CapOrgTotals, CapOrgGrade, CapGrandTotal],
    cinema: { capture: { interval: 20, mode: 'logical' as const, slot: db.name } },
  });

  it('refuses to start without the publication, a table without a usable replica identity, and names the fix', async () => {
    const unpublished = await bootError(app([CreateCapInvoices1764450000000, ...CINEMA_CAPTURE_MIGRATIONS]));
    expect(unpublished).toBeInstanceOf(LogicalCaptureError);
    expect(unpublished.message).toContain('publication "cinema_capture" does not exist');
    expect(unpublished.message).toContain('installLogicalCapture(queryRunner');

    // A publication without the table (installLogicalCapture then adds it to this one).
    await client.query(`CREATE PUBLICATION cinema_capture`);
    const missing = await bootError(app([CreateCapInvoices1764450000000, ...CINEMA_CAPTURE_MIGRATIONS]));
    expect(missing).toBeInstanceOf(LogicalCaptureError);
    expect(missing.message).toContain(
      'table "cap_invoices", which feeds projection CapOrgTotals, is not in publication "cinema_capture". ' +
        'Add a migration that calls installLogicalCapture(queryRunner, [CapOrgTotals]), or run ALTER PUBLICATION "cinema_capture" ADD TABLE "cap_invoices".',
    );

    const identity = await bootError(app([CreateCapInvoices1764450000000, ...CINEMA_CAPTURE_MIGRATIONS, PublishOnly1764500000001]));
    expect(identity).toBeInstanceOf(LogicalCaptureError);
    expect(identity).toMatchObject({ projection: 'CapOrgTotals', table: '"cap_invoices"' });
    expect(identity.message).toBe(
      'Logical change capture cannot start: table "cap_invoices", which feeds projection CapOrgTotals, has the default replica identity, ' +
        'and its primary key lacks lens column(s) org_id: a DELETE or an UPDATE that moves a row would not carry the old lens values. ' +
        'Run ALTER TABLE "cap_invoices" REPLICA IDENTITY FULL, or ALTER TABLE "cap_invoices" REPLICA IDENTITY USING INDEX cap_invoices_org_id (in a migration).',
    );
    expect(await slotOf(client, db.name)).toBeUndefined();
  });

  it('starts with the replica identity an index that holds the lens columns gives', async () => {
    await client.query(`ALTER TABLE cap_invoices REPLICA IDENTITY USING INDEX cap_invoices_org_id`);
    const booted: TestApp = await bootApp(app([CreateCapInvoices1764450000000, ...CINEMA_CAPTURE_MIGRATIONS, PublishOnly1764500000001]));
    try {
      await client.query(`INSERT INTO cap_invoices (id, org_id, amount) VALUES (1, 1, 10), (2, 2, 20)`);
      await client.query(`UPDATE cap_invoices SET org_id = 3 WHERE id = 1`);
      await client.query(`DELETE FROM cap_invoices WHERE id = 2`);
      await waitFor(() => captureConverged(client), 'every projection to equal its ground truth');
    } finally {
      await booted.close();
    }
  });
});
