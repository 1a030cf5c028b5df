import { In } from 'typeorm';
import { beforeEach, describe, expect, it } from 'vitest';
import { InvalidLensError, ProjectionFailedError, RunNotRetryableError, type CinemaRun } from '../../lib/index.js';
import type { TestApp } from '../support/app.js';
import { useQueueApps } from '../support/test-app.js';
import { waitFor } from '../support/postgres.js';
import { behaviour, DAG, DagOrgs, expectedValues, source, Z } from '../fixtures/dag.fixture.js';

const NODES = ['a', 'b', 'c', 'd', 'e', 'f', 'z'];

/** Every DAG table as `name: [values per org]`. */
async function tables(t: TestApp): Promise<Record<string, number[]>> {
  const result: Record<string, number[]> = {};
  for (const name of NODES) {
    const rows: { value: number }[] = await t.dataSource().query(`SELECT value FROM dag_${name} ORDER BY org_id`);
    result[name] = rows.map((row) => row.value);
  }
  return result;
}

function expected(value: number, orgs = 3): Record<string, number[]> {
  return Object.fromEntries(Object.entries(expectedValues(value)).map(([name, v]) => [name, Array(orgs).fill(v)]));
}

describe('the queue engine (graphile-worker), with a worker in this process', () => {
  const { api, boot } = useQueueApps('queue', DAG, { concurrency: 3, attempts: 2 });
  beforeEach(() => {
    source.value = 1;
    source.orgs = 3;
    for (const key of Object.keys(behaviour)) delete behaviour[key];
  });

  it('writes the same tables as the inline engine', async () => {
    const inlineRun = await api.cinema.project(Z, {}, { fetch: false, async: true });
    await inlineRun.result;
    expect(inlineRun.toJSON()).toMatchObject({ id: inlineRun.id, engine: 'inline', status: 'succeeded' });
    const inline = await tables(api);
    expect(inline).toEqual(expected(1));
    for (const name of NODES) await api.dataSource().query(`TRUNCATE dag_${name}`);
    const rows = await api.cinema.project(Z, {}, { engine: 'queue' });
    expect(rows.map((row) => row.value)).toEqual(expected(1).z);
    expect(await tables(api)).toEqual(inline);
  });

  it('records the run: each projection a job, done in dependency order, awaited from another process', async () => {
    source.value = 2;
    const run = await api.cinema.project(Z, { orgId: 2 }, { engine: 'queue', async: true, fetch: false });
    expect(run.status).toMatch(/pending|running/);
    await run.result;
    const found = (await api.cinema.awaitRun(run.id)) as CinemaRun & {
      nodes: { projection: string; status: string; attempts?: number; startedAt?: Date; finishedAt?: Date }[];
    };
    expect(found.status).toBe('succeeded');
    expect(found.toJSON()).toMatchObject({ id: run.id, engine: 'queue', status: 'succeeded', projection: 'z', lens: { orgId: 2 } });
    const byName = new Map(found.nodes.map((node) => [node.projection, node]));
    expect(byName.get('orgs')).toMatchObject({ virtual: true, status: 'succeeded' });
    for (const name of NODES) expect(byName.get(name)).toMatchObject({ status: 'succeeded', attempts: 1 });
    // c waited for a and b; z for d and f.
    expect(byName.get('c')!.startedAt!.getTime()).toBeGreaterThanOrEqual(byName.get('a')!.finishedAt!.getTime());
    expect(byName.get('c')!.startedAt!.getTime()).toBeGreaterThanOrEqual(byName.get('b')!.finishedAt!.getTime());
    expect(byName.get('z')!.startedAt!.getTime()).toBeGreaterThanOrEqual(byName.get('f')!.finishedAt!.getTime());
    const values = await tables(api);
    // Only org 2 was refreshed with the new source value.
    expect(values.z).toEqual([expectedValues(1).z, expectedValues(2).z, expectedValues(1).z]);
  });

  it('fails the run when a node fails for good, cancels its dependents, finishes the other branches; a retry redoes only those', async () => {
    await api.cinema.project(Z, {}, { fetch: false });
    source.value = 5;
    behaviour.c = { fail: 'c broke' };
    const run = await api.cinema.project(Z, {}, { engine: 'queue', async: true, fetch: false, attempts: 1 });
    const error = await run.result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProjectionFailedError);
    expect((error as Error).message).toMatch(/Projection c failed .* c broke/);
    expect((error as ProjectionFailedError).skipped.sort()).toEqual(['d', 'f', 'z']);
    const failed = await api.cinema.awaitRun(run.id);
    expect(failed.status).toBe('failed');
    const status = Object.fromEntries(failed.nodes.map((node) => [node.projection, node.status]));
    expect(status).toMatchObject({ a: 'succeeded', b: 'succeeded', e: 'succeeded', c: 'failed', d: 'skipped', f: 'skipped', z: 'skipped' });
    // Independent branches hold the new values; c rolled back to the old ones, and its dependents never ran.
    const after = await tables(api);
    expect(after.a).toEqual(expected(5).a);
    expect(after.e).toEqual(expected(5).e);
    expect(after.c).toEqual(expected(1).c);
    expect(after.z).toEqual(expected(1).z);
    const finishedBefore = new Map(failed.nodes.map((node) => [node.projection, node.finishedAt?.getTime()]));

    delete behaviour.c;
    await expect(api.cinema.retryRun('00000000-0000-4000-8000-000000000000')).rejects.toThrow(/No run/);
    const retried = await api.cinema.retryRun(run.id);
    await retried.result;
    const done = await api.cinema.awaitRun(run.id);
    expect(done.status).toBe('succeeded');
    for (const name of ['a', 'b', 'e']) {
      const node = done.nodes.find((n) => n.projection === name)!;
      expect(node.attempts).toBe(1);
      expect(node.finishedAt?.getTime()).toBe(finishedBefore.get(name));
    }
    // Attempts count again from the retry: c failed its one attempt, then succeeded at its first of the new generation.
    for (const name of ['c', 'd', 'f', 'z']) expect(done.nodes.find((n) => n.projection === name)!.attempts).toBe(1);
    expect(await tables(api)).toEqual(expected(5));
    await expect(api.cinema.retryRun(run.id)).rejects.toBeInstanceOf(RunNotRetryableError);
  });

  it('retries a failing attempt with backoff and succeeds when the cause goes away', async () => {
    behaviour.a = { fail: 'a flaked' };
    const run = await api.cinema.project(Z, { orgId: 1 }, { engine: 'queue', async: true, fetch: false, attempts: 2 });
    // Attempt 1 fails; graphile-worker waits exp(1) = 2.7 s before attempt 2: look in between.
    const during = await waitFor(async () => {
      const node = (await api.cinema.findRun(run.id))!.nodes.find((n) => n.projection === 'a')!;
      return node.error ? node : undefined;
    }, 'the failed first attempt of a');
    expect(during).toMatchObject({ status: 'pending', attempts: 1 });
    expect(during.error!.message).toMatch(/a flaked/);
    delete behaviour.a;
    await run.result;
    const done = await api.cinema.awaitRun(run.id);
    expect(done.nodes.find((node) => node.projection === 'a')).toMatchObject({ status: 'succeeded', attempts: 2 });
  });

  it('carries a node its input made ready straight on, in the same job; a carried node that fails gets a job of its own with the attempts left', async () => {
    // d waits for c alone: the worker that finishes c takes d at once, without a job.
    behaviour.d = { fail: 'd flaked' };
    const run = await api.cinema.project(Z, { orgId: 1 }, { engine: 'queue', async: true, fetch: false, attempts: 2 });
    const during = await waitFor(async () => {
      const node = (await api.cinema.findRun(run.id))!.nodes.find((n) => n.projection === 'd')!;
      return node.error ? node : undefined;
    }, 'the failed first attempt of d');
    expect(during).toMatchObject({ status: 'pending', attempts: 1 });
    // Its own job waits out graphile-worker's backoff, with one attempt left of the run's two.
    const [job] = await api
      .dataSource()
      .query(
        `SELECT attempts, max_attempts, run_at > now() AS later FROM graphile_worker._private_jobs WHERE payload->>'runId' = $1 AND payload->>'projection' = 'd'`,
        [run.id],
      );
    expect(job).toMatchObject({ attempts: 0, max_attempts: 1, later: true });
    delete behaviour.d;
    await run.result;
    const done = await api.cinema.awaitRun(run.id);
    expect(done.nodes.find((node) => node.projection === 'd')).toMatchObject({ status: 'succeeded', attempts: 2 });
    // Nodes were carried: fewer jobs than nodes ever existed for this run.
    const carried = await api
      .dataSource()
      .query(`SELECT projection FROM cinema.run_nodes WHERE run_id = $1 AND carrier IS NOT NULL`, [run.id]);
    expect(carried.length).toBeGreaterThan(0);
    expect(await api.dataSource().query(`SELECT value FROM dag_d WHERE org_id = 1`)).toEqual([{ value: expectedValues(1).d }]);
  });

  it('coalesces requests for the same projection and slice that wait at once: the most urgent priority, the most attempts', async () => {
    // Queue "held" has no worker yet: every request waits. Four spellings of one slice of an integer column.
    const held = { engine: 'queue', queue: 'held', async: true, fetch: false } as const;
    const first = await api.cinema.project(Z, { orgId: 3 }, { ...held, priority: 7, attempts: 4 });
    const second = await api.cinema.project(Z, { orgId: [3] }, { ...held, priority: 2, attempts: 6 });
    const third = await api.cinema.project(Z, { orgId: In([3, 3]) }, { ...held, priority: 5 });
    const fourth = await api.cinema.project(Z, { orgId: '3' } as never, { ...held, priority: 9, attempts: 1 });
    const other = await api.cinema.project(Z, { orgId: 1 }, held);
    const wider = await api.cinema.project(Z, { orgId: In([3, 1]) }, held);
    expect([second.id, third.id, fourth.id]).toEqual([first.id, first.id, first.id]);
    expect(new Set([first.id, other.id, wider.id]).size).toBe(3);
    // Lower runs first in graphile-worker: 2 is the most urgent asked for; 6 the most attempts.
    const [run] = await api.dataSource().query(`SELECT priority, attempts FROM cinema.runs WHERE id = $1`, [first.id]);
    expect(run).toEqual({ priority: 2, attempts: 6 });
    const jobs = await api
      .dataSource()
      .query(`SELECT task_identifier, priority, max_attempts FROM graphile_worker.jobs WHERE key LIKE $1 ORDER BY id`, [
        `cinema:${first.id}:%`,
      ]);
    expect(jobs).toEqual(['a', 'b'].map(() => ({ task_identifier: 'cinema:held', priority: 2, max_attempts: 6 })));
    const heldWorker = await boot({ worker: true, queues: ['held'] });
    await heldWorker.app.init();
    try {
      await Promise.all([first.result, second.result, third.result, fourth.result, other.result, wider.result]);
      expect((await api.cinema.awaitRun(first.id)).status).toBe('succeeded');
    } finally {
      await heldWorker.close();
    }
  });

  it('starts a run scheduled for later no sooner than asked', async () => {
    const runAt = new Date(Date.now() + 1_500);
    const run = await api.cinema.project(Z, { orgId: 1 }, { engine: 'queue', async: true, fetch: false, runAt });
    // The first jobs are queued for runAt, not before (the start times below show it was kept).
    const jobs = await api.dataSource().query(`SELECT run_at FROM graphile_worker.jobs WHERE key LIKE $1`, [`cinema:${run.id}:%`]);
    expect(jobs.length).toBeGreaterThan(0);
    for (const job of jobs) expect(new Date(job.run_at).getTime()).toBe(runAt.getTime());
    await run.result;
    const done = await api.cinema.awaitRun(run.id);
    const firstStart = Math.min(...done.nodes.filter((node) => node.startedAt).map((node) => node.startedAt!.getTime()));
    expect(firstStart).toBeGreaterThanOrEqual(runAt.getTime() - 50);
  });

  it('refuses what cannot cross processes, before anything is queued', async () => {
    const reducer = (qb: unknown) => qb;
    await expect(api.cinema.project(Z, { $reduce: reducer } as never, { engine: 'queue' })).rejects.toBeInstanceOf(InvalidLensError);
    await expect(api.cinema.project(Z, { orgId: 1 }, { engine: 'queue', queue: 'no spaces' })).rejects.toThrow(/queue name/);
    const [{ count }] = await api
      .dataSource()
      .query(`SELECT count(*)::int AS count FROM cinema.runs WHERE lens = '{}'::jsonb AND status = 'pending'`);
    expect(count).toBe(0);
  });

  it('keeps DagOrgs virtual: it is recorded, never queued', async () => {
    const run = await api.cinema.project(DagOrgs, {}, { engine: 'queue', async: true, fetch: false });
    await run.result;
    expect((await api.cinema.awaitRun(run.id)).nodes).toMatchObject([{ projection: 'orgs', virtual: true, status: 'succeeded' }]);
  });
});
