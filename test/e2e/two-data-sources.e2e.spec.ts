import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { CreateBilling1764000000000 } from '../../sample-app/src/database/migrations/1764000000000-create-billing.js';
import { seedBilling } from '../../sample-app/src/database/seed.js';
import { bootApp, type TestApp } from '../support/app.js';
import { createDatabase } from '../support/database.js';
import { ProjectionReadError } from '../../lib/index.js';
import {
  AccountBalances,
  AppInvoicesOnReplica,
  BalancesFromReplica,
  BalancesReadFromCopy,
  InvoiceFacts,
  OrgOpenTotals,
  REPORTING,
} from '../fixtures/reporting.fixture.js';

const FACTS = `SELECT invoice_id::text, org_id, account_id, amount_cents::text, issued_on::text, is_open FROM invoice_facts`;
const TRUTH_FACTS = `SELECT id::text AS invoice_id, org_id, account_id, amount_cents::text, issued_on::text, status = 'open' AS is_open FROM invoices`;
const BALANCES = `SELECT account_id, org_id, open_cents::text FROM account_balances`;
const TRUTH_BALANCES = `SELECT account_id, MIN(org_id) AS org_id, COALESCE(SUM(amount_cents) FILTER (WHERE status = 'open'), 0)::text AS open_cents FROM invoices GROUP BY account_id`;

async function rows(dataSource: DataSource, sql: string, where = 'TRUE'): Promise<string[]> {
  const result: unknown[] = await dataSource.query(`SELECT * FROM (${sql}) t WHERE ${where}`);
  return result.map((row) => JSON.stringify(row)).sort();
}

describe('a read data source and a different write data source', () => {
  let app: Awaited<ReturnType<typeof createDatabase>>;
  let reporting: Awaited<ReturnType<typeof createDatabase>>;
  let t: TestApp;

  beforeAll(async () => {
    app = await createDatabase('app');
    reporting = await createDatabase('reporting');
    t = await bootApp({
      dataSources: [
        { name: 'app', url: app.url, migrations: [CreateBilling1764000000000] },
        { name: 'reporting', url: reporting.url, synchronize: true },
      ],
      projections: REPORTING,
      featureDataSources: ['reporting'],
      // Small batches: 24,000 rows cross in many statements, with the cursor paused in between.
      cinema: { readDataSource: 'reporting', writeDataSource: 'reporting', allowEmptyLens: true, batchSize: 1_000, streamBatchSize: 500 },
    });
    await seedBilling(t.dataSource('app'), { orgs: 20, accountsPerOrg: 30, invoicesPerAccount: 40, seed: 3 });
  });
  afterAll(async () => {
    await t?.close();
    await app?.drop();
    await reporting?.drop();
  });

  it('streams rows reshaped in Node from one database into the other', async () => {
    const run = await t.cinema.project(InvoiceFacts, {}, { async: true, fetch: false });
    await run.result;
    expect(run.nodes.find((node) => node.projection === 'InvoiceFacts')).toMatchObject({ written: 24_000, paths: ['stream'] });
    expect(await rows(t.dataSource('reporting'), FACTS)).toEqual(await rows(t.dataSource('app'), TRUTH_FACTS));
  });

  it('streams a query of the read database into the write database', async () => {
    const run = await t.cinema.project(AccountBalances, {}, { async: true, fetch: false });
    await run.result;
    expect(run.nodes.find((node) => node.projection === 'AccountBalances')!.paths).toEqual(['copy-pipe']);
    expect(await rows(t.dataSource('reporting'), BALANCES)).toEqual(await rows(t.dataSource('app'), TRUTH_BALANCES));
  });

  it('refreshes one org slice across the two databases and reads it back from the read side', async () => {
    await t.dataSource('app').query(`UPDATE invoices SET status = 'paid' WHERE org_id IN (4, 5) AND status = 'open'`);
    const balances = await t.cinema.project(AccountBalances, { orgId: 4 });
    expect(balances).toHaveLength(30);
    expect(balances.every((row) => row.openCents === '0' && row.orgId === 4)).toBe(true);
    await t.cinema.project(InvoiceFacts, { orgId: 4 }, { fetch: false });
    expect(await rows(t.dataSource('reporting'), FACTS, 'org_id = 4')).toEqual(await rows(t.dataSource('app'), TRUTH_FACTS, 'org_id = 4'));
    // Org 5 was not in the lens: still the old rows.
    expect(await rows(t.dataSource('reporting'), FACTS, 'org_id = 5')).not.toEqual(
      await rows(t.dataSource('app'), TRUTH_FACTS, 'org_id = 5'),
    );
  });
});

describe('the module reads the application from one database and writes projections to another', () => {
  let app: Awaited<ReturnType<typeof createDatabase>>;
  let reporting: Awaited<ReturnType<typeof createDatabase>>;
  let t: TestApp;

  beforeAll(async () => {
    app = await createDatabase('app_side');
    reporting = await createDatabase('reporting_side');
    t = await bootApp({
      dataSources: [
        { name: 'app', url: app.url, migrations: [CreateBilling1764000000000] },
        { name: 'reporting', url: reporting.url, synchronize: true },
      ],
      projections: [...REPORTING, OrgOpenTotals],
      featureDataSources: ['reporting'],
      // The configuration the options table suggests: sources on 'app', projections on 'reporting'.
      cinema: { readDataSource: 'app', writeDataSource: 'reporting' },
    });
    await seedBilling(t.dataSource('app'), { orgs: 5, accountsPerOrg: 4, invoicesPerAccount: 5, seed: 7 });
  });
  afterAll(async () => {
    await t?.close();
    await app?.drop();
    await reporting?.drop();
  });

  it("returns a projection's rows from the database that holds its table", async () => {
    const run = await t.cinema.project(InvoiceFacts, { orgId: 3 }, { async: true });
    const facts = await run.result;
    expect(run.status).toBe('succeeded');
    expect(facts).toHaveLength(20);
    expect(facts.every((fact) => fact instanceof InvoiceFacts && fact.orgId === 3)).toBe(true);
    const truth = await rows(t.dataSource('app'), TRUTH_FACTS, 'org_id = 3');
    const returned = facts.map((f) =>
      JSON.stringify({
        invoice_id: f.invoiceId,
        org_id: f.orgId,
        account_id: f.accountId,
        amount_cents: f.amountCents,
        issued_on: f.issuedOn,
        is_open: f.isOpen,
      }),
    );
    expect(returned.sort()).toEqual(truth);
    expect(await rows(t.dataSource('reporting'), FACTS, 'org_id = 3')).toEqual(truth);
    const plan = await t.cinema.plan(OrgOpenTotals, { orgId: 3 });
    expect(plan.steps.map((step) => [step.projection, step.readDataSource, step.writeDataSource])).toEqual([
      ['AppInvoices', 'app', undefined],
      ['InvoiceFacts', 'reporting', 'reporting'],
      ['OrgOpenTotals', 'reporting', 'reporting'],
    ]);
  });

  it('lets dependents read the table where it was written, in one INSERT ... SELECT', async () => {
    await t.dataSource('app').query(`UPDATE invoices SET status = 'paid' WHERE org_id = 2 AND id % 3 = 0 AND status = 'open'`);
    const run = await t.cinema.project(OrgOpenTotals, { orgId: 2 }, { async: true });
    const totals = await run.result;
    expect(run.nodes.map((node) => [node.projection, node.status])).toEqual([
      ['AppInvoices', 'succeeded'],
      ['InvoiceFacts', 'succeeded'],
      ['OrgOpenTotals', 'succeeded'],
    ]);
    expect(run.nodes.at(-1)!.paths).toEqual(['insert-select']);
    const [truth] = await t.dataSource('app').query(
      `SELECT org_id AS "orgId", COALESCE(SUM(amount_cents) FILTER (WHERE status = 'open'), 0)::text AS "openCents", COUNT(*)::int AS invoices
       FROM invoices WHERE org_id = 2 GROUP BY org_id`,
    );
    expect(totals.map((row) => ({ ...row }))).toEqual([truth]);
  });
});

describe('a replicated read data source over the write database', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let t: TestApp;

  beforeAll(async () => {
    db = await createDatabase('replicated');
    t = await bootApp({
      dataSources: [
        { url: db.url, migrations: [CreateBilling1764000000000], synchronize: true },
        { name: 'replica', url: db.url, replicated: true },
        { name: 'copy', url: db.url },
      ],
      projections: [AppInvoicesOnReplica, BalancesFromReplica, BalancesReadFromCopy],
      cinema: { readDataSource: 'replica', allowEmptyLens: true },
    });
    await seedBilling(t.dataSource(), { orgs: 4, accountsPerOrg: 5, invoicesPerAccount: 6, seed: 9 });
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  it('reads through the replica and still writes in one INSERT ... SELECT on the primary', async () => {
    const run = await t.cinema.project(BalancesFromReplica, { orgId: 2 }, { async: true });
    const balances = await run.result;
    expect(run.nodes.at(-1)!.paths).toEqual(['insert-select']);
    expect(balances).toHaveLength(5);
    const truth = await rows(t.dataSource(), `${TRUTH_BALANCES} HAVING MIN(org_id) = 2`);
    expect(await rows(t.dataSource(), BALANCES)).toEqual(truth);
  });

  it('reports a read that fails after the commit apart from the refresh, which stays succeeded', async () => {
    expect(await t.cinema.project(BalancesReadFromCopy, { orgId: 3 })).toHaveLength(5);
    // The data source the rows are read back from goes away; the write side is untouched.
    await t.dataSource('copy').destroy();
    await t.dataSource().query(`UPDATE invoices SET status = 'paid' WHERE org_id = 3 AND status = 'open'`);
    const run = await t.cinema.project(BalancesReadFromCopy, { orgId: 3 }, { async: true });
    const error = await run.result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProjectionReadError);
    expect((error as Error).message).toMatch(/BalancesReadFromCopy .*committed.* data source "copy"/);
    expect(run.status).toBe('succeeded');
    expect(run.error).toBeUndefined();
    expect(t.cinema.getRun(run.id)!.status).toBe('succeeded');
    expect(await t.dataSource().query(`SELECT DISTINCT open_cents::text FROM account_balances_copy WHERE org_id = 3`)).toEqual([
      { open_cents: '0' },
    ]);
  });
});
