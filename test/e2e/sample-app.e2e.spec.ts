import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SchedulerRegistry } from '@nestjs/schedule';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppModule } from '../../sample-app/src/app.module.js';
import { seedBilling } from '../../sample-app/src/database/seed.js';
import { NIGHTLY_REBUILD_JOB, ReceivablesScheduler } from '../../sample-app/src/receivables/receivables.scheduler.js';
import { createDatabase } from '../support/database.js';
import { orgReceivablesOf, receivablesOf, truthOrgReceivables, truthReceivables } from '../support/receivables.js';

const SIZE = { orgs: 5, accountsPerOrg: 6, invoicesPerAccount: 8, seed: 11 };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface ReceivableJson {
  accountId: number;
  orgId: number;
  name: string;
  openCents: string;
  openInvoices: number;
  oldestOpenOn: string | null;
}

/** HTTP rows in the shape of the ground-truth rows (snake_case JSON lines, sorted). */
function asTruthRows(rows: ReceivableJson[]): string[] {
  return rows
    .map((r) =>
      JSON.stringify({
        account_id: r.accountId,
        org_id: r.orgId,
        name: r.name,
        open_cents: r.openCents,
        open_invoices: r.openInvoices,
        oldest_open_on: r.oldestOpenOn,
      }),
    )
    .sort();
}

describe('sample application (AppModule over HTTP)', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let app: INestApplication;
  let base: string;
  let dataSource: DataSource;

  const call = async <T = any>(method: 'GET' | 'POST', path: string): Promise<{ status: number; body: T }> => {
    const response = await fetch(`${base}${path}`, { method });
    return { status: response.status, body: (await response.json()) as T };
  };

  beforeAll(async () => {
    db = await createDatabase('sample_app');
    // logger: false keeps the deliberate 500 below out of the output; failures still throw.
    app = await NestFactory.create(AppModule.forRoot({ databaseUrl: db.url, poolSize: 6 }), { logger: false, abortOnError: false });
    await app.listen(0, '127.0.0.1');
    base = await app.getUrl();
    dataSource = app.get(DataSource);
    await seedBilling(dataSource, SIZE);
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('GET /orgs/:orgId/receivables rebuilds and returns exactly that org', async () => {
    expect(await receivablesOf(dataSource)).toEqual([]);

    const { status, body } = await call<ReceivableJson[]>('GET', '/orgs/2/receivables');

    expect(status).toBe(200);
    expect(body).toHaveLength(SIZE.accountsPerOrg);
    expect(asTruthRows(body)).toEqual(await truthReceivables(dataSource, 'org_id = $1', [2]));
    // Only the org's slice was materialized.
    expect(await receivablesOf(dataSource)).toEqual(await truthReceivables(dataSource, 'org_id = $1', [2]));
  });

  it('answers 400 to an org id that is not a positive PostgreSQL integer', async () => {
    for (const orgId of ['abc', '1.5', '0', '-3', '2147483648']) {
      const get = await call('GET', `/orgs/${orgId}/receivables`);
      const post = await call('POST', `/orgs/${orgId}/refresh`);
      expect([orgId, get.status, post.status]).toEqual([orgId, 400, 400]);
      expect(get.body.message).toMatch(/numeric string|orgId must be an integer/);
    }
  });

  it('POST /orgs/:orgId/refresh rebuilds only that org and reports the run', async () => {
    expect((await call('POST', '/orgs/4/refresh')).status).toBe(200);
    const paid = await dataSource.query(`UPDATE invoices SET status = 'paid' WHERE org_id IN (3, 4) AND status = 'open' AND id % 2 = 0`);
    expect(paid[1]).toBeGreaterThan(0);

    const { status, body } = await call('POST', '/orgs/3/refresh');

    expect(status).toBe(200);
    const truth3 = await truthOrgReceivables(dataSource, 'org_id = $1', [3]);
    expect(body).toMatchObject({ projection: 'OrgReceivables', lens: { orgId: 3 }, status: 'succeeded', rows: truth3.length });
    expect(body.runId).toMatch(UUID);
    expect(body.durationMs).toBeGreaterThan(0);
    const nodes = Object.fromEntries(body.nodes.map((n: { projection: string }) => [n.projection, n]));
    expect(nodes.AccountsReceivable).toMatchObject({ status: 'succeeded', written: SIZE.accountsPerOrg });
    expect(nodes.OrgReceivables).toMatchObject({ status: 'succeeded', written: truth3.length });
    expect(await orgReceivablesOf(dataSource, 'org_id = $1', [3])).toEqual(truth3);
    expect(await receivablesOf(dataSource, 'org_id = $1', [3])).toEqual(await truthReceivables(dataSource, 'org_id = $1', [3]));
    // Org 4 changed too but was not refreshed: it still shows what it showed.
    expect(await orgReceivablesOf(dataSource, 'org_id = $1', [4])).not.toEqual(await truthOrgReceivables(dataSource, 'org_id = $1', [4]));

    const run = await call('GET', `/projections/runs/${body.runId}`);
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({ runId: body.runId, projection: 'OrgReceivables', status: 'succeeded' });
    expect(run.body.nodes).toEqual(body.nodes);
    expect((await call('GET', '/projections/runs/00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });

  it("answers 400 with Cinema's message to a lens the graph cannot apply", async () => {
    const bad = await call('GET', '/receivables/plan?orgid=3');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('UnknownLensKeyError');
    expect(bad.body.message).toContain('did you mean "orgId"?');

    const good = await call('GET', '/receivables/plan?orgId=3');
    expect(good.status).toBe(200);
    expect(good.body.steps.map((s: { projection: string }) => s.projection)).toEqual([
      'Accounts',
      'Invoices',
      'AccountsReceivable',
      'OrgReceivables',
    ]);
    expect(good.body.text).toContain('Plan for OrgReceivables with lens { orgId: "3" }');
  });

  it('answers 500 with the failure when a rebuild fails, and keeps the previous slice', async () => {
    expect((await call('POST', '/orgs/5/refresh')).status).toBe(200);
    const before = await orgReceivablesOf(dataSource, 'org_id = $1', [5]);
    expect(before.length).toBeGreaterThan(0);
    await dataSource.query(`UPDATE invoices SET status = 'paid' WHERE org_id = 5 AND status = 'open'`);
    // NOT VALID: existing rows stay, every new row is refused.
    await dataSource.query(`ALTER TABLE org_receivables ADD CONSTRAINT sample_app_refuse_writes CHECK (false) NOT VALID`);
    try {
      const { status, body } = await call('POST', '/orgs/5/refresh');

      expect(status).toBe(500);
      expect(body).toMatchObject({ statusCode: 500, error: 'ProjectionFailedError', projection: 'OrgReceivables' });
      expect(body.message).toContain('rolled back');
      expect(body.message).toContain('sample_app_refuse_writes');
      expect(await orgReceivablesOf(dataSource, 'org_id = $1', [5])).toEqual(before);
    } finally {
      await dataSource.query(`ALTER TABLE org_receivables DROP CONSTRAINT sample_app_refuse_writes`);
    }
  });

  it('GET /projections/graph returns the graph and its Mermaid chart', async () => {
    const { status, body } = await call('GET', '/projections/graph');

    expect(status).toBe(200);
    expect(body.nodes).toEqual([
      { name: 'Accounts', virtual: true, inputs: [] },
      { name: 'Invoices', virtual: true, inputs: [] },
      { name: 'AccountsReceivable', virtual: false, inputs: ['Accounts', 'Invoices'] },
      { name: 'OrgReceivables', virtual: false, inputs: ['Invoices', 'AccountsReceivable'] },
    ]);
    expect(body.edges).toContainEqual({ from: 'AccountsReceivable', to: 'OrgReceivables' });
    expect(body.mermaid.split('\n')).toContain('  AccountsReceivable --> OrgReceivables');
  });

  it('schedules the nightly rebuild, which brings every org back to ground truth', async () => {
    const job = app.get(SchedulerRegistry).getCronJob(NIGHTLY_REBUILD_JOB);
    expect(job.cronTime.source).toBe('0 3 * * *');
    expect(job.isActive).toBe(true);
    expect(job.nextDate().hour).toBe(3);

    const stale = async () => {
      await dataSource.query(
        `UPDATE invoices SET status = CASE status WHEN 'open' THEN 'paid' ELSE 'open' END WHERE id % 5 = 0 AND status <> 'void'`,
      );
      expect(await orgReceivablesOf(dataSource)).not.toEqual(await truthOrgReceivables(dataSource));
    };
    const atGroundTruth = async () => {
      expect(await receivablesOf(dataSource)).toEqual(await truthReceivables(dataSource));
      expect(await orgReceivablesOf(dataSource)).toEqual(await truthOrgReceivables(dataSource));
      const [{ orgs }] = await dataSource.query(`SELECT COUNT(DISTINCT org_id)::int AS orgs FROM org_receivables`);
      expect(orgs).toBe(SIZE.orgs);
    };

    // Through the registered job itself (waitForCompletion: fireOnTick awaits the rebuild)...
    await stale();
    await job.fireOnTick();
    await atGroundTruth();

    // ...and by calling the scheduler's method, which reports the run.
    await stale();
    const summary = await app.get(ReceivablesScheduler).rebuildAll();
    await atGroundTruth();
    expect(summary).toMatchObject({ projection: 'OrgReceivables', lens: {}, status: 'succeeded' });
    expect(summary.nodes.find((n) => n.projection === 'AccountsReceivable')?.written).toBe(SIZE.orgs * SIZE.accountsPerOrg);
  });
});
