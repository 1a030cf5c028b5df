import { Between, In, LessThan, MoreThan } from 'typeorm';
import { beforeEach, describe, expect, it } from 'vitest';
import { InvalidLensError, InvalidSelectorError, UnknownLensKeyError, looseLens } from '../../lib/index.js';
import { Account } from '../../sample-app/src/billing/account.entity.js';
import { Invoice } from '../../sample-app/src/billing/invoice.entity.js';
import { CreateBilling1764000000000 } from '../../sample-app/src/database/migrations/1764000000000-create-billing.js';
import { seedBilling } from '../../sample-app/src/database/seed.js';
import { Accounts } from '../../sample-app/src/receivables/accounts.projection.js';
import { AccountsReceivable } from '../../sample-app/src/receivables/accounts-receivable.projection.js';
import { Invoices } from '../../sample-app/src/receivables/invoices.projection.js';
import { OrgReceivables } from '../../sample-app/src/receivables/org-receivables.projection.js';
import { useTestApp } from '../support/test-app.js';
import { orgReceivablesOf, receivablesOf, truthOrgReceivables, truthReceivables } from '../support/receivables.js';

const ORGS = 6;

describe('receivables graph on PostgreSQL', () => {
  const { t } = useTestApp('receivables', (db) => ({
    dataSources: [{ url: db.url, entities: [Account, Invoice], migrations: [CreateBilling1764000000000] }],
    projections: [Accounts, Invoices, AccountsReceivable, OrgReceivables],
    cinema: { allowEmptyLens: true },
  }));
  const ds = () => t.dataSource();

  /** Pays every open invoice of `orgs`: their slices go stale until refreshed. */
  async function payInvoices(orgs: number[]) {
    await ds().query(`UPDATE invoices SET status = 'paid' WHERE org_id = ANY($1) AND status = 'open'`, [orgs]);
  }

  /** Which orgs' receivables match the ground truth now. */
  async function freshOrgs(): Promise<number[]> {
    const fresh: number[] = [];
    for (let org = 1; org <= ORGS; org++) {
      const ar = (await receivablesOf(ds(), 'org_id = $1', [org])).join() === (await truthReceivables(ds(), 'org_id = $1', [org])).join();
      if (ar) fresh.push(org);
    }
    return fresh;
  }

  beforeEach(async () => {
    await seedBilling(ds(), { orgs: ORGS, accountsPerOrg: 8, invoicesPerAccount: 10, seed: 7 });
    await t.cinema.project(OrgReceivables, {});
  });
  it('rebuilds the whole graph with an empty lens, inside PostgreSQL', async () => {
    await ds().query(`TRUNCATE accounts_receivable, org_receivables`);
    const run = await t.cinema.project(OrgReceivables, {}, { async: true });
    const rows = await run.result;
    expect(rows).toHaveLength((await truthOrgReceivables(ds())).length);
    expect(await receivablesOf(ds())).toEqual(await truthReceivables(ds()));
    expect(await orgReceivablesOf(ds())).toEqual(await truthOrgReceivables(ds()));
    expect(run.nodes.map((node) => [node.projection, node.status, node.paths])).toEqual([
      ['Accounts', 'succeeded', []],
      ['Invoices', 'succeeded', []],
      ['AccountsReceivable', 'succeeded', ['insert-select']],
      ['OrgReceivables', 'succeeded', ['insert-select']],
    ]);
    expect(run.nodes[2].written).toBe(ORGS * 8);
  });

  it('rebuilds only the lens slice of every table on the way, and returns it', async () => {
    await payInvoices([2, 3, 4]);
    const rows = await t.cinema.project(OrgReceivables, { orgId: 3 });
    expect(new Set(rows.map((row) => row.orgId))).toEqual(new Set([3]));
    expect(rows[0]).toBeInstanceOf(OrgReceivables);
    // Hydrated the way TypeORM hydrates: a date column is a 'YYYY-MM-DD' string in any time zone.
    expect(rows.every((row) => /^\d{4}-\d{2}-\d{2}$/.test(row.day))).toBe(true);
    const [stored] = await ds()
      .getRepository(OrgReceivables)
      .find({ where: { orgId: 3 }, order: { day: 'ASC' }, take: 1 });
    expect(rows.find((row) => row.day === stored.day)).toEqual(stored);
    expect(await orgReceivablesOf(ds(), 'org_id = 3')).toEqual(await truthOrgReceivables(ds(), 'org_id = 3'));
    expect(await freshOrgs()).toEqual([1, 3, 5, 6]);
  });

  it.each([
    ['a list', { orgId: [2, 4] }, [1, 2, 4, 5, 6]],
    ['In()', { orgId: In([2, 3]) }, [1, 2, 3, 5, 6]],
    ['Between()', { orgId: Between(3, 4) }, [1, 3, 4, 5, 6]],
    ['MoreThan()', { orgId: MoreThan(3) }, [1, 4, 5, 6]],
    ['LessThan()', { orgId: LessThan(3) }, [1, 2, 5, 6]],
    [
      'a reducer',
      {
        $reduce: (qb: any, _lens: unknown, target: { columns: readonly string[] }) =>
          target.columns.includes('orgId') ? qb.andWhere('"src"."orgId" IN (2, 4)') : qb,
      },
      [1, 2, 4, 5, 6],
    ],
  ])('applies %s to every input and table', async (_label, lens, fresh) => {
    await payInvoices([2, 3, 4]);
    await t.cinema.project(AccountsReceivable, looseLens(lens));
    expect(await freshOrgs()).toEqual(fresh);
  });

  it('slices by a key that only some inputs expose', async () => {
    const [{ id }] = await ds().query(`SELECT id FROM accounts WHERE org_id = 2 ORDER BY id LIMIT 1`);
    await payInvoices([2]);
    const rows = await t.cinema.project(AccountsReceivable, { accountId: id });
    expect(rows.map((row) => row.accountId)).toEqual([id]);
    expect(await receivablesOf(ds(), 'account_id = $1', [id])).toEqual(await truthReceivables(ds(), 'account_id = $1', [id]));
    expect(await receivablesOf(ds(), 'org_id = 2 AND account_id <> $1', [id])).not.toEqual(
      await truthReceivables(ds(), 'org_id = 2 AND account_id <> $1', [id]),
    );
  });

  describe('refuses a lens before deleting anything', () => {
    let before: string[];
    beforeEach(async () => {
      await payInvoices([1, 2, 3, 4, 5, 6]);
      before = await receivablesOf(ds());
    });

    it('with a key no projection has, suggesting the right one', async () => {
      const error = await t.cinema.project(AccountsReceivable, looseLens({ orgid: 1 })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnknownLensKeyError);
      expect((error as Error).message).toContain('no projection in its graph has a column "orgid" (did you mean "orgId"?)');
      expect(await receivablesOf(ds())).toEqual(before);
    });

    it('with a key a materialized projection of the run cannot be sliced by', async () => {
      const error = await t.cinema.project(OrgReceivables, looseLens({ accountId: 3 })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidLensError);
      expect((error as Error).message).toMatch(/OrgReceivables has no column "accountId"/);
      expect(await receivablesOf(ds())).toEqual(before);
    });

    it.each([
      [{ orgId: '1; DELETE FROM accounts_receivable' }, /is not an integer \(column org_id\)/],
      [{ orgId: [1, 'x'] }, /"x" is not an integer/],
      [{ orgId: 2_147_483_648 }, /2147483648 is out of range for integer \(column org_id\)/],
      [{ orgId: undefined }, /undefined/],
      [{ orgId: { not: 1 } }, /object \(Object\)/],
    ])('with a value that does not fit: %o', async (lens, message) => {
      await expect(t.cinema.project(AccountsReceivable, looseLens(lens))).rejects.toThrow(message);
      expect(await receivablesOf(ds())).toEqual(before);
    });
  });

  it('binds values, so an injection attempt is only a value that matches nothing', async () => {
    const before = await receivablesOf(ds());
    const rows = await t.cinema.project(AccountsReceivable, { name: "x' OR '1'='1" });
    expect(rows).toEqual([]);
    expect(await receivablesOf(ds())).toEqual(before);
  });

  it('rebuilds only the requested projection with skipDependencies', async () => {
    await payInvoices([5]);
    const run = await t.cinema.project(OrgReceivables, { orgId: 5 }, { async: true, skipDependencies: true });
    await run.result;
    expect(run.nodes.map((node) => node.projection)).toEqual(['OrgReceivables']);
    // AccountsReceivable was not rebuilt, so the aging counts still read its stale rows.
    expect(await receivablesOf(ds(), 'org_id = 5')).not.toEqual(await truthReceivables(ds(), 'org_id = 5'));
  });

  it('ends twenty concurrent overlapping refreshes with exactly the ground truth', async () => {
    await payInvoices([1, 2, 3, 4, 5, 6]);
    await ds().query(`UPDATE invoices SET status = 'open' WHERE id % 7 = 0 AND status <> 'void'`);
    const lenses = [{}, { orgId: 1 }, { orgId: [1, 2] }, { orgId: 2 }, { orgId: In([2, 3, 4]) }, { orgId: MoreThan(3) }, { orgId: 6 }];
    const calls = Array.from({ length: 20 }, (_, i) => {
      const lens = lenses[i % lenses.length];
      return i % 3 === 0
        ? t.cinema.project(AccountsReceivable, lens, { fetch: false })
        : t.cinema.project(OrgReceivables, lens, { fetch: false });
    });
    const outcomes = await Promise.allSettled(calls);
    expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toEqual([]);
    expect(await receivablesOf(ds())).toEqual(await truthReceivables(ds()));
    expect(await orgReceivablesOf(ds())).toEqual(await truthOrgReceivables(ds()));
  });

  it('plans without running, and draws the graph', async () => {
    await payInvoices([1]);
    const plan = await t.cinema.plan(OrgReceivables, { orgId: 1 });
    expect(plan.steps.map((step) => [step.projection, step.depth, step.after])).toEqual([
      ['Accounts', 0, []],
      ['Invoices', 0, []],
      ['AccountsReceivable', 1, ['Accounts', 'Invoices']],
      ['OrgReceivables', 2, ['Invoices', 'AccountsReceivable']],
    ]);
    expect(plan.toString()).toContain('3. AccountsReceivable after Accounts, Invoices -> delete slice, derive into "default"');
    expect(await freshOrgs()).not.toContain(1);
    await expect(t.cinema.plan(OrgReceivables, looseLens({ orgid: 1 }))).rejects.toBeInstanceOf(UnknownLensKeyError);
    expect(t.cinema.graph().toMermaid()).toContain('AccountsReceivable --> OrgReceivables');
  });

  it('selects projections in dbt style, by name, tag, direction and exclusion', async () => {
    const names = (selector: string, exclude?: string) => t.cinema.select(selector, { exclude }).map((target) => target.name);
    expect(names('Invoices+')).toEqual(expect.arrayContaining(['Invoices', 'AccountsReceivable', 'OrgReceivables']));
    expect(names('Invoices+')).not.toContain('Accounts');
    expect(names('+AccountsReceivable').sort()).toEqual(['Accounts', 'AccountsReceivable', 'Invoices']);
    expect(names('tag:receivables', 'OrgReceivables')).toEqual(['AccountsReceivable']);
    expect(names('tag:billing,+AccountsReceivable').sort()).toEqual(['Accounts', 'Invoices']);
    expect(() => t.cinema.select('OrgReceivable+')).toThrow(InvalidSelectorError);
    // What it selects is what refresh() takes.
    await payInvoices([1]);
    expect(await freshOrgs()).not.toContain(1);
    const run = await t.cinema.refresh(t.cinema.select('AccountsReceivable+'), { orgId: 1 });
    expect(run.nodes.map((node) => node.projection)).toContain('OrgReceivables');
    expect(await freshOrgs()).toContain(1);
  });
});
