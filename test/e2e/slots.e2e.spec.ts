import { afterAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../support/test-app.js';
import { deferred } from '../support/deferred.js';
import { A, behaviour, dagNode, DagOrgs } from '../fixtures/dag.fixture.js';

const Quick = dagNode('quick', () => [DagOrgs], { timeout: 300 });

describe('write transactions shared by all runs', () => {
  const { t } = useTestApp('slots', (db) => ({
    dataSources: [{ url: db.url, synchronize: true }],
    projections: [DagOrgs, A, Quick],
    cinema: { allowEmptyLens: true, maxConcurrentProjections: 1 },
  }));

  afterAll(async () => {
    delete behaviour.a;
  });

  it('queues projections of different runs for a slot, and times them from their own start', async () => {
    const entered = deferred();
    behaviour.a = { delayMs: 800, entered: () => entered.resolve() };
    const slow = await t.cinema.project(A, {}, { async: true });
    // a's derivation runs inside its write transaction: it holds the one slot from here on.
    await entered.promise;
    // Waits about 700 ms for the one slot, longer than its 300 ms timeout, and still succeeds.
    const quick = await t.cinema.project(Quick, {}, { async: true });
    await Promise.all([slow.result, quick.result]);
    const a = slow.nodes.find((node) => node.projection === 'a')!;
    const q = quick.nodes.find((node) => node.projection === 'quick')!;
    expect(q.status).toBe('succeeded');
    expect(q.startedAt!.getTime()).toBeGreaterThan(a.startedAt!.getTime() + 700);
    expect(await t.dataSource().query(`SELECT COUNT(*)::int AS n FROM dag_quick`)).toEqual([{ n: 3 }]);
  });
});
