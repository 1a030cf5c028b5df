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
import { waitFor } from '../support/postgres.js';
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

/** A request with an optional JSON body. */
async function request<T = any>(base: string, method: 'GET' | 'POST', path: string, json?: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(`${base}${path}`, {
    method,
    ...(json === undefined ? {} : { body: JSON.stringify(json), headers: { 'content-type': 'application/json' } }),
  });
  return { status: response.status, body: (await response.json()) as T };
}

// Explicit refreshes only: these tests look at slices nobody refreshed, so the watcher is off here.
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
    app = await NestFactory.create(AppModule.forRoot({ databaseUrl: db.url, poolSize: 6, capture: false }), {
      logger: false,
      abortOnError: false,
    });
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

  it('GET /health is down, naming the projections, when a change is pending past freshness.errorAfter', async () => {
    // Nothing pending: up.
    await dataSource.query(`DELETE FROM cinema.changes`);
    const up = await call('GET', '/health');
    expect(up.status).toBe(200);
    expect(up.body).toMatchObject({ status: 'ok', info: { cinema: { status: 'up', projections: 2 } } });

    // A change to org 3's invoices that no watcher took (this app runs none), ten minutes old.
    await dataSource.query(
      `INSERT INTO cinema.changes (projection, lens, at) VALUES ('Invoices', '{"orgId": 3}', now() - interval '10 minutes')`,
    );
    try {
      const down = await call('GET', '/health');
      expect(down.status).toBe(503);
      expect(down.body.status).toBe('error');
      expect(down.body.error.cinema.status).toBe('down');
      expect(down.body.error.cinema.stale.map((s: { projection: string }) => s.projection).sort()).toEqual([
        'AccountsReceivable',
        'OrgReceivables',
      ]);
      expect(down.body.error.cinema.stale[0].lagMs).toBeGreaterThan(600_000 - 1_000);
      expect(down.body.error.cinema.message).toContain('errorAfter');
    } finally {
      await dataSource.query(`DELETE FROM cinema.changes`);
    }
    expect((await call('GET', '/health')).status).toBe(200);
  });
});

describe('sample application with change capture (the default)', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let app: INestApplication;
  let base: string;
  let dataSource: DataSource;
  const call = <T = any>(method: 'GET' | 'POST', path: string, json?: unknown) => request<T>(base, method, path, json);
  const count = async (sql: string) => (await dataSource.query<{ n: number }[]>(sql))[0].n;
  /** The org's stored slices equal the ground truth (read, never rebuilt). */
  const atGroundTruth = async (where = 'TRUE', params: unknown[] = []) =>
    JSON.stringify(await receivablesOf(dataSource, where, params)) === JSON.stringify(await truthReceivables(dataSource, where, params)) &&
    JSON.stringify(await orgReceivablesOf(dataSource, where, params)) ===
      JSON.stringify(await truthOrgReceivables(dataSource, where, params));

  beforeAll(async () => {
    db = await createDatabase('sample_app_capture');
    app = await NestFactory.create(AppModule.forRoot({ databaseUrl: db.url, poolSize: 6, schedule: false }), {
      logger: false,
      abortOnError: false,
    });
    await app.listen(0, '127.0.0.1');
    base = await app.getUrl();
    dataSource = app.get(DataSource);
    await seedBilling(dataSource, SIZE);
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('installs the capture triggers by migration, and the seed alone brings every org to ground truth', async () => {
    const { length } = await dataSource.query(
      `SELECT tgname FROM pg_trigger WHERE tgrelid IN ('invoices'::regclass, 'accounts'::regclass) AND tgname LIKE 'cinema_capture_%'`,
    );
    expect(length).toBe(8);
    // Nobody called project() or refresh: the watcher rebuilt what the seed's writes marked.
    await waitFor(
      async () => ((await atGroundTruth()) && (await count(`SELECT count(*)::int AS n FROM cinema.changes`)) === 0) || undefined,
      'every org at ground truth',
    );
    const [{ orgs }] = await dataSource.query(`SELECT COUNT(DISTINCT org_id)::int AS orgs FROM org_receivables`);
    expect(orgs).toBe(SIZE.orgs);
  });

  it('POST /orgs/:orgId/invoices: the org becomes equal to ground truth by itself; freshness says pass; /health is up', async () => {
    await waitFor(async () => (await call('GET', '/orgs/2/freshness')).body.fresh || undefined, 'org 2 fresh before the write');
    const before = await orgReceivablesOf(dataSource, 'org_id = $1', [2]);
    const [{ accountId }] = await dataSource.query(`SELECT min(id) AS "accountId" FROM accounts WHERE org_id = 2`);

    const { status, body } = await call('POST', '/orgs/2/invoices', {
      accountId,
      amountCents: 98_765,
      status: 'open',
      issuedOn: '2026-06-15',
    });

    expect(status).toBe(201);
    expect(body).toMatchObject({ orgId: 2, accountId, amountCents: '98765', status: 'open', issuedOn: '2026-06-15' });
    expect(await count(`SELECT count(*)::int AS n FROM invoices WHERE id = ${Number(body.id)} AND amount_cents = 98765`)).toBe(1);
    // The write changed the truth: the stored slice is stale until the watcher refreshes it.
    expect(await truthOrgReceivables(dataSource, 'org_id = $1', [2])).not.toEqual(before);
    await waitFor(async () => (await atGroundTruth('org_id = $1', [2])) || undefined, "org 2's receivables at ground truth");

    const fresh = await waitFor(async () => {
      const { body } = await call('GET', '/orgs/2/freshness');
      return body.fresh ? body : undefined;
    }, 'the freshness endpoint to say fresh');
    expect(fresh).toMatchObject({ orgId: 2, status: 'pass', fresh: true });
    expect(fresh.projections.map((p: { projection: string; pendingChanges: number }) => [p.projection, p.pendingChanges])).toEqual([
      ['AccountsReceivable', 0],
      ['OrgReceivables', 0],
    ]);
    for (const projection of fresh.projections)
      expect(new Date(projection.refreshedAt).getTime()).toBeGreaterThanOrEqual(new Date(body.writtenAt).getTime());
    const health = await call('GET', '/health');
    expect(health.status).toBe(200);
    expect(health.body.info.cinema).toEqual({ status: 'up', projections: 2 });
  });

  it('answers 400 to a bad invoice and writes nothing', async () => {
    const invoices = await count(`SELECT count(*)::int AS n FROM invoices`);
    const [{ accountId }] = await dataSource.query(`SELECT min(id) AS "accountId" FROM accounts WHERE org_id = 1`);
    const good = { accountId, amountCents: 100, status: 'open' };
    const bad: [string, string, unknown, RegExp][] = [
      ['bad org', '/orgs/abc/invoices', good, /numeric string/],
      ['not an object', '/orgs/1/invoices', [good], /JSON object/],
      ['missing account', '/orgs/1/invoices', { amountCents: 100, status: 'open' }, /accountId must be an integer/],
      ['amount zero', '/orgs/1/invoices', { ...good, amountCents: 0 }, /amountCents must be a positive/],
      ['amount fraction', '/orgs/1/invoices', { ...good, amountCents: '1.5' }, /amountCents must be a positive/],
      ['status', '/orgs/1/invoices', { ...good, status: 'overdue' }, /status must be one of open, paid, void/],
      ['date', '/orgs/1/invoices', { ...good, issuedOn: '2026-02-30' }, /issuedOn must be a date/],
      ['unknown field', '/orgs/1/invoices', { ...good, orgId: 2 }, /unknown field\(s\): orgId/],
      ['account of another org', '/orgs/2/invoices', good, new RegExp(`account ${accountId} is not an account of org 2`)],
    ];
    for (const [label, path, json, message] of bad) {
      const { status, body } = await call('POST', path, json);
      expect([label, status]).toEqual([label, 400]);
      expect(body.message).toMatch(message);
    }
    expect((await call('GET', '/orgs/0/freshness')).status).toBe(400);
    expect(await count(`SELECT count(*)::int AS n FROM invoices`)).toBe(invoices);
  });
});
