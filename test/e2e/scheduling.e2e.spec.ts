import type { DataSource } from 'typeorm';
import { beforeEach, describe, expect, it } from 'vitest';
import { ProjectionFailedError, ProjectionTimeoutError, type NodeReport } from '../../lib/index.js';
import { useTestApp } from '../support/test-app.js';
import { behaviour, C, DAG, dagNode, DagOrgs, expectedValues, source, Z } from '../fixtures/dag.fixture.js';

const SLOW = dagNode('slow', () => [DagOrgs], { timeout: 300 });

async function values(dataSource: DataSource, name: string): Promise<number[]> {
  const rows: { value: number }[] = await dataSource.query(`SELECT value FROM dag_${name} ORDER BY org_id`);
  return rows.map((row) => row.value);
}

async function expectGraph(dataSource: DataSource, s: number, names = Object.keys(expectedValues(s))) {
  const expected = expectedValues(s);
  for (const name of names) {
    expect({ name, values: await values(dataSource, name) }).toEqual({ name, values: Array(source.orgs).fill(expected[name]) });
  }
}

describe('scheduling and failure', () => {
  const { t } = useTestApp('scheduling', (db) => ({
    dataSources: [{ url: db.url, synchronize: true }],
    projections: [...DAG, SLOW],
    cinema: { allowEmptyLens: true, concurrency: 4 },
  }));

  beforeEach(() => {
    for (const key of Object.keys(behaviour)) delete behaviour[key];
    source.value = 1;
  });

  it('derives every node of the example graph in dependency order', async () => {
    const run = await t.cinema.project(Z, {}, { async: true });
    await run.result;
    expect(run.status).toBe('succeeded');
    await expectGraph(t.dataSource(), 1);
    const node = (name: string) => run.nodes.find((n) => n.projection === name)!;
    const inputs: Record<string, string[]> = { c: ['a', 'b'], d: ['c'], e: ['b'], f: ['c', 'e'], z: ['d', 'f'] };
    for (const [name, deps] of Object.entries(inputs)) {
      for (const dep of deps) expect(node(dep).finishedAt!.getTime()).toBeLessThanOrEqual(node(name).startedAt!.getTime());
    }
  });

  it('starts a projection as soon as its own inputs are done, not level by level', async () => {
    Object.assign(behaviour, {
      a: { delayMs: 300 },
      b: { delayMs: 300 },
      c: { delayMs: 300 },
      d: { delayMs: 1800 },
      e: { delayMs: 1800 },
      f: { delayMs: 300 },
    });
    const started = performance.now();
    const run = await t.cinema.project(Z, {}, { async: true });
    await run.result;
    const wall = performance.now() - started;
    const node = (name: string): NodeReport => run.nodes.find((n) => n.projection === name)!;
    // d only needs c; by levels it would wait for e (same level as c) to finish.
    expect(node('d').startedAt!.getTime()).toBeLessThan(node('e').finishedAt!.getTime());
    // Critical path a -> c -> d (or b -> e -> f): 2,400 ms. Level by level: 300 + 1,800 + 1,800 = 3,900 ms.
    expect(wall).toBeGreaterThanOrEqual(2_400);
    expect(wall).toBeLessThan(3_300);
    await expectGraph(t.dataSource(), 1);
  });

  it('rolls back a failing projection, skips its dependents and finishes independent branches', async () => {
    await t.cinema.project(Z, {});
    source.value = 10;
    behaviour.c = { fail: 'ledger is closed' };
    const error = await t.cinema.project(Z, {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProjectionFailedError);
    const failure = error as ProjectionFailedError;
    expect(failure.projection).toBe('c');
    expect(failure.message).toContain('Projection c failed for lens {} (everything)');
    expect(failure.message).toContain('ledger is closed');
    expect(failure.skipped.sort()).toEqual(['d', 'f', 'z']);
    // c, and what reads it, keep the slices of the previous run; the rest moved on.
    await expectGraph(t.dataSource(), 1, ['c', 'd', 'f', 'z']);
    await expectGraph(t.dataSource(), 10, ['a', 'b', 'e']);
    // The next run succeeds.
    delete behaviour.c;
    await t.cinema.project(Z, {});
    await expectGraph(t.dataSource(), 10);
  });

  it('rolls back a failing slice without touching other slices', async () => {
    await t.cinema.project(C, {});
    source.value = 5;
    behaviour.c = { fail: 'boom' };
    await expect(t.cinema.project(C, { orgId: 2 })).rejects.toThrow(/Projection c failed for lens \{ orgId: 2 \}.*boom/);
    expect(await values(t.dataSource(), 'c')).toEqual([5, 5, 5]);
  });

  it('cancels a projection that runs past its timeout inside PostgreSQL', async () => {
    await t.cinema.project(SLOW, {});
    expect(await values(t.dataSource(), 'slow')).toEqual([2, 2, 2]);
    source.value = 7;
    behaviour.slow = { delayMs: 10_000 };
    const started = performance.now();
    const error = await t.cinema.project(SLOW, { orgId: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProjectionTimeoutError);
    expect((error as Error).message).toMatch(/Projection slow timed out after 300 ms for lens \{ orgId: 1 \}/);
    // The sleeping statement was cancelled, not waited for.
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(await values(t.dataSource(), 'slow')).toEqual([2, 2, 2]);
    delete behaviour.slow;
    await t.cinema.project(SLOW, { orgId: 1 });
    expect(await values(t.dataSource(), 'slow')).toEqual([8, 2, 2]);
  });

  it('times out a derivation stuck outside the database and frees its connection', async () => {
    behaviour.slow = { hang: true };
    await expect(t.cinema.project(SLOW, { orgId: 3 })).rejects.toBeInstanceOf(ProjectionTimeoutError);
    const [{ open }] = await t
      .dataSource()
      .query(`SELECT COUNT(*)::int AS open FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`);
    expect(open).toBe(0);
  });

  it('gives up a whole run at its own timeout', async () => {
    behaviour.a = { delayMs: 5_000 };
    const error = await t.cinema.project(Z, {}, { timeout: 400 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProjectionTimeoutError);
    expect((error as ProjectionFailedError).projection).toBe('a');
    expect((error as ProjectionFailedError).skipped).toEqual(expect.arrayContaining(['c', 'd', 'f', 'z']));
  });
});
