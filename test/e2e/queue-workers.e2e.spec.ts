import 'reflect-metadata';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { spawn, type ChildProcess } from 'node:child_process';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CinemaService } from '../../lib/index.js';
import { AppModule } from '../../sample-app/src/app.module.js';
import { seedBilling } from '../../sample-app/src/database/seed.js';
import { OrgReceivables } from '../../sample-app/src/receivables/org-receivables.projection.js';
import { buildPrivateCopy, type Build } from '../support/build.js';
import { createDatabase } from '../support/database.js';
import { waitFor } from '../support/postgres.js';
import { orgReceivablesOf, receivablesOf, truthOrgReceivables, truthReceivables } from '../support/receivables.js';

const ORGS = 200;

interface Worker {
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
}

describe('the queue engine with worker processes (npm run worker)', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let build: Build;
  let api: INestApplicationContext;
  let cinema: CinemaService;
  let dataSource: DataSource;
  const workers: Worker[] = [];

  const startWorker = async (): Promise<Worker> => {
    const child = spawn(process.execPath, ['--enable-source-maps', build.path('sample-app/src/worker.ts')], {
      env: { ...process.env, DATABASE_URL: db.url, CINEMA_WORKER_CONCURRENCY: '2', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const ready = new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output.push(chunk.toString());
        if (output.join('').includes('Working queued projections')) resolve();
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      void exited.then((code) => reject(new Error(`worker exited with ${code}: ${output.join('')}`)));
    });
    const worker = { child, output, exited };
    workers.push(worker);
    await ready;
    return worker;
  };

  beforeAll(async () => {
    db = await createDatabase('workers');
    build = await buildPrivateCopy(['lib', 'sample-app/src']);
    api = await NestFactory.createApplicationContext(AppModule.forRoot({ databaseUrl: db.url, schedule: false, capture: false }), {
      logger: ['error'],
    });
    cinema = api.get(CinemaService);
    dataSource = api.get(DataSource);
    await seedBilling(dataSource, { orgs: ORGS, accountsPerOrg: 4, invoicesPerAccount: 5, seed: 5 });
    await Promise.all([startWorker(), startWorker(), startWorker()]);
  });
  afterAll(async () => {
    for (const worker of workers) worker.child.kill('SIGKILL');
    await Promise.all(workers.map((worker) => worker.exited));
    await api?.close();
    await build?.remove();
    await db?.drop();
  });

  it('completes 200 one-org runs enqueued at once on three workers; every table equals the ground truth', async () => {
    const runs = await Promise.all(
      Array.from({ length: ORGS }, (_, i) =>
        cinema.project(OrgReceivables, { orgId: i + 1 }, { engine: 'queue', async: true, fetch: false }),
      ),
    );
    await Promise.all(runs.map((run) => run.result));
    const [{ succeeded }] = await dataSource.query(
      `SELECT count(*) FILTER (WHERE status = 'succeeded')::int AS succeeded FROM cinema.runs`,
    );
    expect(succeeded).toBe(ORGS);
    expect(await receivablesOf(dataSource)).toEqual(await truthReceivables(dataSource));
    expect(await orgReceivablesOf(dataSource)).toEqual(await truthOrgReceivables(dataSource));
    // Every worker process took a share.
    const processes = await dataSource.query(`SELECT DISTINCT split_part(worker, '/', 2) AS pid FROM cinema.run_nodes WHERE NOT virtual`);
    expect(processes.map((row: { pid: string }) => Number(row.pid)).sort()).toEqual(workers.map((w) => w.child.pid).sort());
  });

  /**
   * Runs org `orgId` on the queue while `table` is locked; resolves once the worker running
   * `projection` waits on the lock. Invoices block AccountsReceivable's derivation; org_receivables
   * blocks OrgReceivables, which the worker that finished AccountsReceivable carries on to at once.
   */
  const blockedRun = async (blocker: pg.Client, orgId: number, table = 'invoices', projection = 'AccountsReceivable') => {
    await blocker.query('BEGIN');
    // The node's statements wait on this lock, inside PostgreSQL.
    await blocker.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
    const run = await cinema.project(OrgReceivables, { orgId }, { engine: 'queue', async: true, fetch: false });
    const holder = await waitFor(async () => {
      const [node] = await dataSource.query(
        `SELECT worker FROM cinema.run_nodes WHERE run_id = $1 AND projection = $2 AND status = 'running'`,
        [run.id, projection],
      );
      const [waiting] = await dataSource.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`,
      );
      return node && waiting.n > 0 ? (node.worker as string) : undefined;
    }, `a worker's ${projection} of org ${orgId} waiting on the ${table} lock`);
    return { run, holder, worker: workers.find((worker) => worker.child.pid === Number(holder.split('/')[1]))! };
  };

  /** The run's `projection` node finished on another worker after `attempts`, and org `orgId` equals the ground truth. */
  const expectFinishedElsewhere = async (
    runId: string,
    holder: string,
    attempts: number,
    orgId: number,
    projection = 'AccountsReceivable',
  ) => {
    const done = await cinema.awaitRun(runId);
    const receivables = done.nodes.find((node) => node.projection === projection)!;
    expect(receivables).toMatchObject({ status: 'succeeded', attempts });
    expect(receivables.worker).not.toBe(holder);
    const org = `org_id = ${orgId}`;
    expect(await receivablesOf(dataSource, org)).toEqual(await truthReceivables(dataSource, org));
    expect(await orgReceivablesOf(dataSource, org)).toEqual(await truthOrgReceivables(dataSource, org));
  };

  it('hands the node of a worker killed mid-derivation to another worker; the run completes with nothing lost or doubled', async () => {
    await dataSource.query(`UPDATE invoices SET status = 'paid' WHERE org_id = 7 AND status = 'open'`);
    const blocker = new pg.Client({ connectionString: db.url });
    await blocker.connect();
    try {
      const started = Date.now();
      const { run, holder, worker: victim } = await blockedRun(blocker, 7);
      victim.child.kill('SIGKILL');
      expect(await victim.exited).toBeNull();
      await blocker.query('ROLLBACK');

      await run.result;
      expect(Date.now() - started).toBeLessThan(60_000);
      await expectFinishedElsewhere(run.id, holder, 2, 7);
    } finally {
      await blocker.end();
    }
  });

  it('finishes a node that a killed worker had carried on to without a job of its own: the job that carried it resumes it elsewhere', async () => {
    await dataSource.query(`UPDATE invoices SET status = 'paid' WHERE org_id = 8 AND status = 'open'`);
    const blocker = new pg.Client({ connectionString: db.url });
    await blocker.connect();
    try {
      const { run, holder, worker: victim } = await blockedRun(blocker, 8, 'org_receivables', 'OrgReceivables');
      // OrgReceivables was taken by the worker that finished AccountsReceivable, in that node's transaction.
      const [carried] = await dataSource.query(`SELECT carrier FROM cinema.run_nodes WHERE run_id = $1 AND projection = 'OrgReceivables'`, [
        run.id,
      ]);
      expect(carried.carrier).not.toBeNull();
      const [{ jobs }] = await dataSource.query(
        `SELECT count(*)::int AS jobs FROM graphile_worker._private_jobs WHERE payload->>'runId' = $1 AND payload->>'projection' = 'OrgReceivables'`,
        [run.id],
      );
      expect(jobs).toBe(0);
      victim.child.kill('SIGKILL');
      expect(await victim.exited).toBeNull();
      // Keeps two workers for the next test.
      await startWorker();
      await blocker.query('ROLLBACK');

      await run.result;
      await expectFinishedElsewhere(run.id, holder, 2, 8, 'OrgReceivables');
    } finally {
      await blocker.end();
    }
  });

  it("puts the node of a worker stopped with SIGTERM back on the queue at no attempt's cost; the worker exits promptly", async () => {
    await dataSource.query(`UPDATE invoices SET status = 'paid' WHERE org_id = 9 AND status = 'open'`);
    const blocker = new pg.Client({ connectionString: db.url });
    await blocker.connect();
    try {
      const { run, holder, worker } = await blockedRun(blocker, 9);
      const signalled = Date.now();
      worker.child.kill('SIGTERM');
      // Nest's shutdown hooks roll the node back, requeue it, close the pools, then re-raise the signal.
      await worker.exited;
      expect(worker.child.signalCode).toBe('SIGTERM');
      expect(Date.now() - signalled).toBeLessThan(10_000);
      await blocker.query('ROLLBACK');

      await run.result;
      await expectFinishedElsewhere(run.id, holder, 1, 9);
    } finally {
      await blocker.end();
    }
  });
});
