import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProjectionFailedError } from '../../lib/index.js';
import { Account } from '../../sample-app/src/billing/account.entity.js';
import { Invoice } from '../../sample-app/src/billing/invoice.entity.js';
import { startPostgres, type PostgresServer } from '../../sample-app/src/database/postgres-server.js';
import { seedBilling } from '../../sample-app/src/database/seed.js';
import { Accounts } from '../../sample-app/src/receivables/accounts.projection.js';
import { AccountsReceivable } from '../../sample-app/src/receivables/accounts-receivable.projection.js';
import { Invoices } from '../../sample-app/src/receivables/invoices.projection.js';
import { OrgReceivables } from '../../sample-app/src/receivables/org-receivables.projection.js';
import { bootApp, type TestApp } from '../support/app.js';
import { backendRunning, connect } from '../support/postgres.js';
import { orgReceivablesOf, receivablesOf, truthOrgReceivables, truthReceivables } from '../support/receivables.js';
import { clearFaults, faults, FaultReceivables } from './fixtures/faults.fixture.js';

/**
 * PostgreSQL restarts between runs (and under one). The shared server of the test run cannot be
 * restarted, so this file always starts an embedded server of its own, DATABASE_URL or not.
 */
describe('the database restarts', () => {
  let server: PostgresServer;
  let url: string;
  let t: TestApp;
  const ds = () => t.dataSource();

  async function expectAtGroundTruth(): Promise<void> {
    expect(await receivablesOf(ds())).toEqual(await truthReceivables(ds()));
    expect(await orgReceivablesOf(ds())).toEqual(await truthOrgReceivables(ds()));
  }

  beforeAll(async () => {
    server = await startPostgres({ embedded: true, stopOnSignal: false });
    url = await server.createDatabase('cinema_restart');
    t = await bootApp({
      dataSources: [{ url, entities: [Account, Invoice], synchronize: true, poolSize: 6 }],
      projections: [Accounts, Invoices, AccountsReceivable, OrgReceivables, FaultReceivables],
      cinema: { allowEmptyLens: true },
    });
    // Stopping the server ends the pool's idle connections; the pool reports that, it must not crash.
    await seedBilling(ds(), { orgs: 4, accountsPerOrg: 6, invoicesPerAccount: 20, seed: 9 });
    await t.cinema.project(OrgReceivables, {}, { fetch: false });
    await t.cinema.project(FaultReceivables, {}, { fetch: false });
  });
  afterAll(async () => {
    clearFaults();
    await t?.close();
    await server?.stop();
  });

  it('fails a run in flight and the runs while it is down, then the next run reconnects and succeeds', async () => {
    await ds().query(`UPDATE invoices SET status = 'paid' WHERE org_id = 2 AND status = 'open'`);
    const before = { receivables: await receivablesOf(ds()), orgs: await orgReceivablesOf(ds()) };

    // A run whose transaction is open (its slice deleted) when the server goes down.
    const admin = await connect(url);
    faults.before = (ctx) => ctx.write.query(`SELECT pg_sleep(60) /* cinema-fault: restart */`);
    const inFlight = t.cinema.project(FaultReceivables, { orgId: 2 }).catch((e: unknown) => e);
    await backendRunning(admin, 'cinema-fault: restart');
    await admin.end();
    clearFaults();

    let whileDown: unknown;
    await server.restart(async () => {
      whileDown = await t.cinema.project(OrgReceivables, { orgId: 2 }).catch((e: unknown) => e);
    });

    const interrupted = await inFlight;
    expect(interrupted).toBeInstanceOf(ProjectionFailedError);
    expect((interrupted as Error).message).toMatch(/^Projection FaultReceivables failed for lens \{ orgId: 2 \} and was rolled back: /);
    expect(whileDown).toBeInstanceOf(ProjectionFailedError);
    expect((whileDown as Error).message).toMatch(
      /^Projection AccountsReceivable failed for lens \{ orgId: 2 \} and was rolled back: .*(ECONNREFUSED|connect)/,
    );
    expect((whileDown as ProjectionFailedError).skipped).toEqual(['OrgReceivables']);

    // Nothing of either run reached the tables.
    expect({ receivables: await receivablesOf(ds()), orgs: await orgReceivablesOf(ds()) }).toEqual(before);
    const [{ n }] = await ds().query(`SELECT COUNT(*)::int AS n FROM fault_receivables WHERE org_id = 2`);
    expect(n).toBe(6);

    // The pool replaced its dead connections: every org rebuilds, more runs than connections.
    for (let org = 1; org <= 4; org++) {
      await t.cinema.project(OrgReceivables, { orgId: org }, { fetch: false });
      await t.cinema.project(FaultReceivables, { orgId: org }, { fetch: false });
    }
    await expectAtGroundTruth();
  });

  it('restarts while idle: the very next run succeeds', async () => {
    await ds().query(`UPDATE invoices SET status = 'open' WHERE org_id = 3 AND status = 'paid' AND id % 2 = 0`);
    await server.restart();
    const rows = await t.cinema.project(OrgReceivables, { orgId: 3 });
    expect(rows.length).toBeGreaterThan(0);
    await expectAtGroundTruth();
  });
});
