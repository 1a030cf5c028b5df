import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Account } from '../../sample-app/src/billing/account.entity.js';
import { Invoice } from '../../sample-app/src/billing/invoice.entity.js';
import { CreateBilling1764000000000 } from '../../sample-app/src/database/migrations/1764000000000-create-billing.js';
import { seedBilling } from '../../sample-app/src/database/seed.js';
import { Accounts } from '../../sample-app/src/receivables/accounts.projection.js';
import { AccountsReceivable } from '../../sample-app/src/receivables/accounts-receivable.projection.js';
import { Invoices } from '../../sample-app/src/receivables/invoices.projection.js';
import { OrgReceivables } from '../../sample-app/src/receivables/org-receivables.projection.js';
import { bootApp, type TestApp } from '../support/app.js';
import { createDatabase } from '../support/database.js';
import { orgReceivablesOf, receivablesOf, truthOrgReceivables, truthReceivables } from '../support/receivables.js';

describe('receivables graph on PostgreSQL', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let t: TestApp;

  beforeAll(async () => {
    db = await createDatabase('receivables');
    t = await bootApp({
      dataSources: [{ url: db.url, entities: [Account, Invoice], migrations: [CreateBilling1764000000000] }],
      projections: [Accounts, Invoices, AccountsReceivable, OrgReceivables],
      cinema: { allowEmptyLens: true },
    });
    await seedBilling(t.dataSource(), { orgs: 6, accountsPerOrg: 8, invoicesPerAccount: 10, seed: 7 });
  });

  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  it('rebuilds the whole graph with an empty lens', async () => {
    const rows = await t.cinema.project(AccountsReceivable, {});
    expect(rows).toHaveLength(48);
    expect(await receivablesOf(t.dataSource())).toEqual(await truthReceivables(t.dataSource()));
  });

  it('rebuilds one org slice and returns its rows', async () => {
    await t.cinema.project(OrgReceivables, {});
    await t.dataSource().query(`UPDATE invoices SET status = 'paid' WHERE org_id = 3 AND status = 'open'`);
    const rows = await t.cinema.project(OrgReceivables, { orgId: 3 });
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((row) => row.orgId === 3)).toBe(true);
    expect(await orgReceivablesOf(t.dataSource())).toEqual(await truthOrgReceivables(t.dataSource()));
    expect(await receivablesOf(t.dataSource())).toEqual(await truthReceivables(t.dataSource()));
  });
});
