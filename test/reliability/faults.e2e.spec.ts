import type pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ProjectionFailedError, ProjectionTimeoutError } from '../../lib/index.js';
import { Account } from '../../sample-app/src/billing/account.entity.js';
import { Invoice } from '../../sample-app/src/billing/invoice.entity.js';
import { seedBilling } from '../../sample-app/src/database/seed.js';
import { Accounts } from '../../sample-app/src/receivables/accounts.projection.js';
import { AccountsReceivable } from '../../sample-app/src/receivables/accounts-receivable.projection.js';
import { Invoices } from '../../sample-app/src/receivables/invoices.projection.js';
import { OrgReceivables } from '../../sample-app/src/receivables/org-receivables.projection.js';
import { bootApp, type TestApp } from '../support/app.js';
import { createDatabase } from '../support/database.js';
import { applicationBackends, backendRunning, connect, lockTable, rowsOf, writerWaitingOnLock } from '../support/postgres.js';
import { orgReceivablesOf, receivablesOf, truthOrgReceivables, truthReceivables } from '../support/receivables.js';
import {
  clearFaults,
  faults,
  FaultInvoiceLines,
  FaultReceivables,
  TRUTH_FAULT_INVOICE_LINES,
  TRUTH_FAULT_RECEIVABLES,
} from './fixtures/faults.fixture.js';

const APP = 'cinema-faults';
const ORGS = 6;
const RECEIVABLES = 'SELECT account_id, org_id, open_cents, open_invoices FROM fault_receivables';
const LINES = 'SELECT invoice_id, org_id, account_id, amount_cents, is_open FROM fault_invoice_lines';

/**
 * Faults in the middle of a derivation: each must fail with an error that names the projection,
 * leave every table exactly as it was, and let the next run succeed on the same pool.
 */
describe('faults in the middle of a derivation', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let t: TestApp;
  let admin: pg.Client;
  let before: Record<string, string[]>;
  const ds = () => t.dataSource();

  /** Every table the tests touch, as sorted rows. */
  async function tables(): Promise<Record<string, string[]>> {
    return {
      receivables: await receivablesOf(ds()),
      orgReceivables: await orgReceivablesOf(ds()),
      faultReceivables: await rowsOf(ds(), RECEIVABLES),
      lines: await rowsOf(ds(), LINES),
    };
  }

  async function expectAtGroundTruth(): Promise<void> {
    expect(await receivablesOf(ds())).toEqual(await truthReceivables(ds()));
    expect(await orgReceivablesOf(ds())).toEqual(await truthOrgReceivables(ds()));
    expect(await rowsOf(ds(), RECEIVABLES)).toEqual(await rowsOf(ds(), `SELECT * FROM (${TRUTH_FAULT_RECEIVABLES}) t`));
    expect(await rowsOf(ds(), LINES)).toEqual(await rowsOf(ds(), `SELECT * FROM (${TRUTH_FAULT_INVOICE_LINES}) t`));
  }

  /** The next runs succeed: more of them than the pool has connections, so a dead one would surface. */
  async function expectRecovery(): Promise<void> {
    clearFaults();
    for (let org = 1; org <= ORGS; org++) {
      await t.cinema.project(OrgReceivables, { orgId: org }, { fetch: false });
      await t.cinema.project(FaultReceivables, { orgId: org }, { fetch: false });
      await t.cinema.project(FaultInvoiceLines, { orgId: org }, { fetch: false });
    }
    await expectAtGroundTruth();
    const idle = (await applicationBackends(admin, APP)).filter((b) => b.state.startsWith('idle in transaction'));
    expect(idle).toEqual([]);
  }

  beforeAll(async () => {
    db = await createDatabase('faults');
    t = await bootApp({
      dataSources: [{ url: db.url, entities: [Account, Invoice], synchronize: true, poolSize: 6, applicationName: APP }],
      projections: [Accounts, Invoices, AccountsReceivable, OrgReceivables, FaultReceivables, FaultInvoiceLines],
      // Small batches: the streamed derivation writes several statements before a fault.
      cinema: { allowEmptyLens: true, batchSize: 200, streamBatchSize: 100 },
    });
    admin = await connect(db.url, 'cinema-test-admin');
  });
  beforeEach(async () => {
    clearFaults();
    await seedBilling(ds(), { orgs: ORGS, accountsPerOrg: 8, invoicesPerAccount: 30, seed: 5 });
    await t.cinema.project(OrgReceivables, {}, { fetch: false });
    await t.cinema.project(FaultReceivables, {}, { fetch: false });
    await t.cinema.project(FaultInvoiceLines, {}, { fetch: false });
    // Every slice goes stale: a rebuild that went through would change each table.
    await ds().query(
      `UPDATE invoices SET status = CASE status WHEN 'open' THEN 'paid' ELSE 'open' END WHERE id % 3 = 0 AND status <> 'void'`,
    );
    before = await tables();
  });
  afterEach(() => clearFaults());
  afterAll(async () => {
    await admin?.end();
    await t?.close();
    await db?.drop();
  });

  describe('the write connection is killed (pg_terminate_backend)', () => {
    it('in the middle of an INSERT ... SELECT, after the slice was deleted', async () => {
      const blocker = await lockTable(db.url, 'invoices');
      let error: unknown;
      try {
        const run = t.cinema.project(OrgReceivables, { orgId: 3 }).catch((e: unknown) => e);
        const pid = await writerWaitingOnLock(admin, 'accounts_receivable');
        await admin.query('SELECT pg_terminate_backend($1)', [pid]);
        error = await run;
      } finally {
        await blocker.release();
      }
      expect(error).toBeInstanceOf(ProjectionFailedError);
      const failure = error as ProjectionFailedError;
      expect(failure.projection).toBe('AccountsReceivable');
      expect(failure.message).toMatch(
        /^Projection AccountsReceivable failed for lens \{ orgId: 3 \} and was rolled back: terminating connection due to administrator command/,
      );
      expect(failure.skipped).toEqual(['OrgReceivables']);
      expect(await tables()).toEqual(before);
      await expectRecovery();
    });

    it('while a streamed derivation waits on it', async () => {
      faults.before = (ctx) => ctx.write.query(`SELECT pg_sleep(60) /* cinema-fault: terminate */`);
      const run = t.cinema.project(FaultInvoiceLines, { orgId: 2 }).catch((e: unknown) => e);
      const pid = await backendRunning(admin, 'cinema-fault: terminate');
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      const error = await run;
      expect(error).toBeInstanceOf(ProjectionFailedError);
      expect((error as Error).message).toMatch(
        /^Projection FaultInvoiceLines failed for lens \{ orgId: 2 \} and was rolled back: terminating connection due to administrator command/,
      );
      expect(await tables()).toEqual(before);
      await expectRecovery();
    });
  });

  describe('timeouts', () => {
    it('the projection timeout fires while its INSERT waits on a lock', async () => {
      const blocker = await lockTable(db.url, 'invoices');
      let error: unknown;
      try {
        error = await t.cinema.project(FaultReceivables, { orgId: 2 }).catch((e: unknown) => e);
      } finally {
        await blocker.release();
      }
      expect(error).toBeInstanceOf(ProjectionTimeoutError);
      expect((error as Error).message).toMatch(
        /^Projection FaultReceivables timed out after 1500 ms for lens \{ orgId: 2 \} and was rolled back/,
      );
      expect(await tables()).toEqual(before);
      await expectRecovery();
    });

    it('the statement_timeout backstop fires while the event loop is blocked', async () => {
      let observed: (Error & { code?: string }) | undefined;
      faults.before = async (ctx) => {
        const sleeping = ctx.write.query('SELECT pg_sleep(10)');
        sleeping.catch((e: Error) => (observed = e));
        // The statement must be running in PostgreSQL before the event loop stops.
        await backendRunning(admin, 'pg_sleep(10)');
        // Blocks the event loop past the projection's 1,500 ms timeout and the 1,750 ms
        // statement_timeout behind it: only PostgreSQL can stop the statement now.
        const until = Date.now() + 2_200;
        while (Date.now() < until);
        await sleeping;
      };
      const error = await t.cinema.project(FaultReceivables, { orgId: 4 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProjectionTimeoutError);
      expect((error as Error).message).toMatch(/^Projection FaultReceivables timed out after 1500 ms/);
      expect(observed?.code).toBe('57014');
      expect(observed?.message).toMatch(/statement timeout/);
      expect(await tables()).toEqual(before);
      await expectRecovery();
    });

    it('a statement timeout the derivation set itself fails the projection, not as its own timeout', async () => {
      faults.before = async (ctx) => {
        await ctx.write.query(`SET LOCAL statement_timeout = 200`);
        await ctx.write.query('SELECT pg_sleep(5)');
      };
      const error = await t.cinema.project(FaultReceivables, { orgId: 5 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProjectionFailedError);
      expect(error).not.toBeInstanceOf(ProjectionTimeoutError);
      expect((error as Error).message).toMatch(
        /^Projection FaultReceivables failed for lens \{ orgId: 5 \} and was rolled back: canceling statement due to statement timeout/,
      );
      expect(await tables()).toEqual(before);
      // SET LOCAL ended with the rollback: a statement longer than 200 ms runs on the same pool.
      faults.before = async (ctx) => void (await ctx.write.query('SELECT pg_sleep(0.4)'));
      await t.cinema.project(FaultReceivables, { orgId: 5 }, { fetch: false });
      await expectRecovery();
    });
  });

  describe('a derivation throws after writing part of its rows', () => {
    it('rows streamed from Node, written in batches, then a throw', async () => {
      let inside = 0;
      let written = 0;
      faults.after = async (ctx, count) => {
        written = count;
        [{ inside }] = await ctx.write.query(`SELECT COUNT(*)::int AS inside FROM fault_invoice_lines`);
        throw new Error('the ledger closed after the rows were written');
      };
      const error = await t.cinema.project(FaultInvoiceLines, {}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProjectionFailedError);
      expect((error as Error).message).toMatch(
        /^Projection FaultInvoiceLines failed for lens \{\} \(everything\) and was rolled back: the ledger closed/,
      );
      // The transaction had written every row before the throw; none of them survived it.
      const [{ truth }] = await ds().query(`SELECT COUNT(*)::int AS truth FROM (${TRUTH_FAULT_INVOICE_LINES}) t`);
      expect([written, inside]).toEqual([truth, truth]);
      expect(await tables()).toEqual(before);
      await expectRecovery();
    });

    it('a cursor stream that errors after several batches', async () => {
      faults.errorAtRow = 900;
      const error = await t.cinema.project(FaultInvoiceLines, {}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProjectionFailedError);
      expect((error as Error).message).toMatch(/the ledger closed at row 900/);
      expect(await tables()).toEqual(before);
      await expectRecovery();
    });

    it('an INSERT ... SELECT, then a throw', async () => {
      let written = 0;
      faults.after = async (_ctx, count) => {
        written = count;
        throw new Error('posting period is locked');
      };
      const error = await t.cinema.project(FaultReceivables, { orgId: [1, 2] }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProjectionFailedError);
      expect((error as Error).message).toMatch(
        /^Projection FaultReceivables failed for lens \{ orgId: \[1, 2\] \} and was rolled back: posting period is locked/,
      );
      expect(written).toBe(16);
      expect(await tables()).toEqual(before);
      await expectRecovery();
    });
  });
});
