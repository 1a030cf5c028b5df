import { Logger, type LoggerService } from '@nestjs/common';
import { hostname } from 'node:os';
import { DataSource } from 'typeorm';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  CINEMA_QUEUE_MIGRATIONS,
  ProjectionFailedError,
  ProjectionTimeoutError,
  QueuedRunTimeoutError,
  RunWaitInterruptedError,
} from '../../lib/index.js';
import { createDatabase } from '../support/database.js';
import { useQueueApps } from '../support/test-app.js';
import { A, behaviour, DAG, source, Z } from '../fixtures/dag.fixture.js';

/** Every line Nest's logger receives while `work` runs, with its level. */
async function captureLogs<T>(work: () => Promise<T>): Promise<{ result: T; lines: { level: string; message: string }[] }> {
  const lines: { level: string; message: string }[] = [];
  const at = (level: string) => (message: unknown) => void lines.push({ level, message: String(message) });
  const capture: LoggerService = { log: at('log'), error: at('error'), warn: at('warn'), debug: at('debug'), verbose: at('verbose') };
  Logger.overrideLogger(capture);
  try {
    return { result: await work(), lines };
  } finally {
    Logger.overrideLogger(['error']);
  }
}

/** Polls `check` until it returns true, or fails after `ms`. */
async function eventually(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the queue engine: timings, timeouts, concurrency, errors and housekeeping', () => {
  const { api, boot } = useQueueApps('queue_housekeeping', DAG, { concurrency: 3, attempts: 1 });
  beforeEach(() => {
    source.value = 1;
    source.orgs = 3;
    for (const key of Object.keys(behaviour)) delete behaviour[key];
  });

  it('records when each node and the run really started and finished (the statement clock, not the transaction start)', async () => {
    behaviour.a = { delayMs: 400 };
    const run = await api.cinema.project(A, { orgId: 1 }, { engine: 'queue', async: true, fetch: false });
    await run.result;
    const seen = Date.now();
    const done = await api.cinema.awaitRun(run.id);
    const node = done.nodes.find((n) => n.projection === 'a')!;
    expect(node.durationMs).toBeGreaterThanOrEqual(400);
    expect(node.finishedAt!.getTime() - node.startedAt!.getTime()).toBeGreaterThanOrEqual(400);
    // Stamped just before the commit that this process was told about: not 400 ms earlier.
    expect(seen - node.finishedAt!.getTime()).toBeLessThan(250);
    expect(done.durationMs).toBeGreaterThanOrEqual(400);
    expect(done.finishedAt!.getTime()).toBeGreaterThanOrEqual(node.finishedAt!.getTime());
  });

  it('rejects the wait with a typed error after `timeout` on a queue nobody works; the run stays queued', async () => {
    const started = Date.now();
    const error = await api.cinema.project(A, { orgId: 1 }, { engine: 'queue', queue: 'idle', timeout: 500 }).catch((e: unknown) => e);
    const waited = Date.now() - started;
    expect(error).toBeInstanceOf(QueuedRunTimeoutError);
    expect((error as QueuedRunTimeoutError).message).toMatch(/Queued run .* of a .* did not finish within 500 ms/);
    expect(waited).toBeGreaterThanOrEqual(480);
    expect(waited).toBeLessThan(1_500);
    const [run] = await api
      .dataSource()
      .query(`SELECT status, timeout_ms FROM cinema.runs WHERE id = $1`, [(error as QueuedRunTimeoutError).runId]);
    expect(run).toEqual({ status: 'pending', timeout_ms: 500 });
  });

  it("bounds each node's transaction by the run's timeout: a slower node is rolled back and fails as a timeout", async () => {
    behaviour.a = { delayMs: 3_000 };
    const run = await api.cinema.project(A, { orgId: 2 }, { engine: 'queue', async: true, fetch: false, timeout: 500, attempts: 1 });
    await expect(run.result).rejects.toBeInstanceOf(QueuedRunTimeoutError);
    const done = await api.cinema.awaitRun(run.id);
    expect(done.status).toBe('failed');
    expect(done.error).toBeInstanceOf(ProjectionTimeoutError);
    const node = done.nodes.find((n) => n.projection === 'a')!;
    expect(node.durationMs).toBeLessThan(2_500);
  });

  it("runs at most `concurrency` nodes of a run at once, across the worker's slots", async () => {
    for (const name of ['a', 'b', 'e']) behaviour[name] = { delayMs: 300 };
    const run = await api.cinema.project(Z, { orgId: 1 }, { engine: 'queue', async: true, fetch: false, concurrency: 1 });
    await run.result;
    const done = await api.cinema.awaitRun(run.id);
    const spans = done.nodes
      .filter((n) => !n.virtual)
      .map((n) => [n.startedAt!.getTime(), n.finishedAt!.getTime()])
      .sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
    const [{ concurrency }] = await api.dataSource().query(`SELECT concurrency FROM cinema.runs WHERE id = $1`, [run.id]);
    expect(concurrency).toBe(1);
  });

  it("keeps the database error's SQLSTATE and detail on error.cause, as inline runs do", async () => {
    behaviour.a = { sql: `DO $$ BEGIN RAISE EXCEPTION 'ledger closed' USING ERRCODE = 'P0001', DETAIL = 'period 2026-01'; END $$` };
    const inline = (await api.cinema.project(A, { orgId: 1 }).catch((e: unknown) => e)) as ProjectionFailedError;
    const queued = (await api.cinema
      .project(A, { orgId: 1 }, { engine: 'queue', attempts: 1 })
      .catch((e: unknown) => e)) as ProjectionFailedError;
    expect(queued).toBeInstanceOf(ProjectionFailedError);
    const fields = (e: ProjectionFailedError) => {
      const cause = e.cause as { name: string; message: string; code?: string; detail?: string };
      return { name: cause.name, message: cause.message, code: cause.code, detail: cause.detail };
    };
    expect(fields(inline)).toMatchObject({ message: 'ledger closed', code: 'P0001', detail: 'period 2026-01' });
    expect(fields(queued)).toEqual(fields(inline));
    expect(queued.message).toBe(inline.message);
  });

  it("logs each failed attempt once (Cinema's warning, not graphile-worker's error as well)", async () => {
    behaviour.a = { fail: 'a broke once' };
    // Two attempts: the first is handed back to graphile-worker for a retry (the last one is not).
    const { result: error, lines } = await captureLogs(() =>
      api.cinema.project(A, { orgId: 3 }, { engine: 'queue', attempts: 2 }).catch((e: unknown) => e),
    );
    expect(error).toBeInstanceOf(ProjectionFailedError);
    const reported = lines.filter((line) => line.level !== 'debug' && line.message.includes('a broke once'));
    expect(reported.map((line) => line.level)).toEqual(['warn', 'warn']);
    expect(reported[0].message).toMatch(/a of run .* failed \(attempt 1 of 2\), will retry/);
    expect(reported[1].message).toMatch(/a of run .* failed \(attempt 2 of 2\)/);
  });

  it("names each process's queue connections in pg_stat_activity", async () => {
    const identity = `${hostname()}:${process.pid}`.slice(0, 40);
    const rows: { name: string }[] = await api
      .dataSource()
      .query(
        `SELECT DISTINCT application_name AS name FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'cinema-queue%'`,
      );
    const names = rows.map((row) => row.name);
    expect(names.some((name) => name.startsWith(`cinema-queue:${identity}`))).toBe(true);
    expect(names.some((name) => name.startsWith(`cinema-queue-listener:${identity}`))).toBe(true);
    expect(names).not.toContain('cinema-queue');
  });

  it('deletes runs that finished longer ago than `retention`, in the worker sweep; recent ones stay', async () => {
    const old = await api.cinema.project(A, { orgId: 1 }, { engine: 'queue', async: true, fetch: false });
    const recent = await api.cinema.project(A, { orgId: 2 }, { engine: 'queue', async: true, fetch: false });
    await Promise.all([old.result, recent.result]);
    await api.dataSource().query(`UPDATE cinema.runs SET finished_at = now() - interval '8 days' WHERE id = $1`, [old.id]);
    await eventually(async () => (await api.dataSource().query(`SELECT 1 FROM cinema.runs WHERE id = $1`, [old.id])).length === 0);
    const [{ nodes }] = await api.dataSource().query(`SELECT count(*)::int AS nodes FROM cinema.run_nodes WHERE run_id = $1`, [old.id]);
    expect(nodes).toBe(0);
    expect((await api.cinema.findRun(recent.id))?.status).toBe('succeeded');
  });

  it('logs no failure when an API process closes while it waits for queued runs; the wait ends with a typed error', async () => {
    const other = await boot({ worker: false });
    await other.app.init();
    const run = await other.cinema.project(A, { orgId: 1 }, { engine: 'queue', queue: 'idle', async: true, fetch: false });
    const { lines } = await captureLogs(() => other.close());
    expect(lines.filter((line) => line.level === 'error')).toEqual([]);
    await expect(run.result).rejects.toBeInstanceOf(RunWaitInterruptedError);
    const [stored] = await api.dataSource().query(`SELECT status FROM cinema.runs WHERE id = $1`, [run.id]);
    expect(stored.status).toBe('pending');
  });
});

describe('the queue migrations at first boot', () => {
  it('succeed when 8 processes run them at once against a fresh database', async () => {
    const fresh = await createDatabase('queue_migrations');
    const sources = Array.from(
      { length: 8 },
      () => new DataSource({ type: 'postgres', url: fresh.url, migrations: [...CINEMA_QUEUE_MIGRATIONS], poolSize: 2 }),
    );
    try {
      await Promise.all(sources.map((s) => s.initialize()));
      const outcomes = await Promise.allSettled(
        sources.map(async (s) => {
          const runner = s.createQueryRunner();
          try {
            await runner.startTransaction();
            for (const Migration of CINEMA_QUEUE_MIGRATIONS) await new Migration().up(runner);
            await runner.commitTransaction();
          } finally {
            await runner.release();
          }
        }),
      );
      expect(outcomes.filter((o) => o.status === 'rejected').map((o) => String(o.reason))).toEqual([]);
      const [{ parked }] = await sources[0].query(
        `SELECT count(*)::int AS parked FROM information_schema.columns WHERE table_schema = 'cinema' AND table_name = 'run_nodes' AND column_name = 'parked'`,
      );
      expect(parked).toBe(1);
    } finally {
      await Promise.all(sources.map((s) => (s.isInitialized ? s.destroy() : Promise.resolve())));
      await fresh.drop();
    }
  });
});
