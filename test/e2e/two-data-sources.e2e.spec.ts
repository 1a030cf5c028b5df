import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { CreateBilling1764000000000 } from '../../sample-app/src/database/migrations/1764000000000-create-billing.js';
import { seedBilling } from '../../sample-app/src/database/seed.js';
import { bootApp, type TestApp } from '../support/app.js';
import { createDatabase } from '../support/database.js';
import { AccountBalances, AppInvoicesOnReplica, BalancesFromReplica, InvoiceFacts, REPORTING } from '../fixtures/reporting.fixture.js';

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
    expect(run.nodes.find((node) => node.projection === 'AccountBalances')!.paths).toEqual(['stream']);
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
    expect(await rows(t.dataSource('reporting'), FACTS, 'org_id = 5')).not.toEqual(await rows(t.dataSource('app'), TRUTH_FACTS, 'org_id = 5'));
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
      ],
      projections: [AppInvoicesOnReplica, BalancesFromReplica],
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
});
