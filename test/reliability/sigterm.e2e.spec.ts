import { spawn, type ChildProcess } from 'node:child_process';
import type pg from 'pg';
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
import { buildPrivateCopy, type Build } from '../support/build.js';
import { createDatabase } from '../support/database.js';
import { connect, lockTable, writerWaitingOnLock } from '../support/postgres.js';
import { orgReceivablesOf, receivablesOf, truthOrgReceivables, truthReceivables } from '../support/receivables.js';

const EXIT_WITHIN_MS = 10_000;

/** The sample app's own entry point (`npm start`), built and run as a separate process. */
function startSampleApp(
  main: string,
  databaseUrl: string,
): {
  child: ChildProcess;
  url: Promise<string>;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
} {
  const child = spawn(process.execPath, ['--enable-source-maps', main], {
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: '0', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', () => reject(new Error(`the sample app exited before listening:\n${output}`)));
  });
  url.catch(() => undefined);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, url, output: () => output, exited };
}

/**
 * SIGTERM in the middle of a refresh, to the real `npm start` process: Nest's shutdown hooks
 * roll back the write transaction, the previous slice stays, and the process exits promptly.
 */
describe('SIGTERM in the middle of a run', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let build: Build;
  let t: TestApp | undefined;
  let admin: pg.Client;
  let child: ChildProcess | undefined;

  const projections = [Accounts, Invoices, AccountsReceivable, OrgReceivables];

  beforeAll(async () => {
    db = await createDatabase('sigterm');
    build = await buildPrivateCopy(['lib', 'sample-app/src']);
    // The schema (the sample's own migration), data and every slice, from this process.
    t = await bootApp({
      dataSources: [{ url: db.url, entities: [Account, Invoice], migrations: [CreateBilling1764000000000] }],
      projections,
      cinema: { allowEmptyLens: true },
    });
    await seedBilling(t.dataSource(), { orgs: 5, accountsPerOrg: 10, invoicesPerAccount: 20, seed: 13 });
    await t.cinema.project(OrgReceivables, {}, { fetch: false });
    await t.close();
    t = undefined;
    admin = await connect(db.url, 'cinema-test-admin');
  });
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await admin?.end();
    await t?.close();
    await build?.remove();
    await db?.drop();
  });

  it('rolls back the refresh in flight and exits within 10 seconds', async () => {
    await admin.query(`UPDATE invoices SET status = 'paid' WHERE org_id = 3 AND status = 'open'`);
    const before = { receivables: await receivablesOf(admin), orgs: await orgReceivablesOf(admin) };

    const app = startSampleApp(build.path('sample-app/src/main.ts'), db.url);
    child = app.child;
    const base = await app.url;

    // The refresh deletes org 3's receivables, then its INSERT waits on a lock held here.
    const blocker = await lockTable(db.url, 'invoices');
    let exit: { code: number | null; signal: NodeJS.Signals | null };
    let elapsed: number;
    let response: Promise<number | string>;
    try {
      response = fetch(`${base}/orgs/3/refresh`, { method: 'POST' }).then(
        (r) => r.status,
        (e: Error) => e.message,
      );
      await writerWaitingOnLock(admin, 'accounts_receivable');
      const started = performance.now();
      child.kill('SIGTERM');
      exit = await Promise.race([
        app.exited,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`no exit within ${EXIT_WITHIN_MS} ms:\n${app.output()}`)), EXIT_WITHIN_MS),
        ),
      ]);
      elapsed = performance.now() - started;
    } finally {
      await blocker.release();
    }

    console.log(`SIGTERM: exit ${JSON.stringify(exit)} after ${Math.round(elapsed)} ms; request in flight: ${await response}`);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(elapsed).toBeLessThan(EXIT_WITHIN_MS);
    // The request in flight was answered with the rollback, or cut off with the connection.
    expect([500, 'fetch failed']).toContain(await response);
    expect(app.output()).not.toMatch(/UnhandledPromiseRejection|Closing after SIGTERM failed/);

    // No partial slice: every table is as it was, and nothing of the process is left connected.
    expect({ receivables: await receivablesOf(admin), orgs: await orgReceivablesOf(admin) }).toEqual(before);
    const { rows } = await admin.query(
      `SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
    expect(rows[0].n).toBe(0);

    // The next run (a new process of the application) succeeds.
    t = await bootApp({ dataSources: [{ url: db.url, entities: [Account, Invoice] }], projections });
    await t.cinema.project(OrgReceivables, { orgId: 3 }, { fetch: false });
    expect(await receivablesOf(t.dataSource())).toEqual(await truthReceivables(t.dataSource()));
    expect(await orgReceivablesOf(t.dataSource())).toEqual(await truthOrgReceivables(t.dataSource()));
  });
});
