import { beforeEach, describe, expect, it } from 'vitest';
import { InvalidCinemaOptionsError, ProjectionFailedError, UnknownLensKeyError } from '../../lib/index.js';
import { useTestApp } from '../support/test-app.js';
import { behaviour, D, DAG, E, expectedValues, F, source } from '../fixtures/dag.fixture.js';

describe('refresh(): several projections, or the whole graph, in one run', () => {
  const { t } = useTestApp('refresh_many', (db) => ({
    dataSources: [{ url: db.url, synchronize: true }],
    projections: DAG,
    cinema: { allowEmptyLens: true },
  }));
  const valuesOf = async (name: string, orgId?: number) =>
    (
      await t
        .dataSource()
        .query<{ value: number }[]>(`SELECT value FROM dag_${name} WHERE $1::int IS NULL OR org_id = $1 ORDER BY org_id`, [orgId ?? null])
    ).map((row) => row.value);

  beforeEach(() => {
    for (const key of Object.keys(behaviour)) delete behaviour[key];
    source.value = 1;
  });

  it('plans the union of what each needs and rebuilds each shared projection once', async () => {
    source.value = 5;
    const run = await t.cinema.refresh([D, F], { orgId: 2 });
    expect(run.status).toBe('succeeded');
    expect(run.projection).toBe('d, f');
    // d needs a, b, c; f needs a, b, c, e: one node each, z (needed by neither) left out.
    expect(run.nodes.map((node) => node.projection).sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'orgs']);
    expect(run.nodes.filter((node) => !node.virtual).every((node) => node.status === 'succeeded' && node.written === 1)).toBe(true);
    const expected = expectedValues(5);
    for (const name of ['a', 'b', 'c', 'd', 'e', 'f'])
      expect({ name, values: await valuesOf(name, 2) }).toEqual({ name, values: [expected[name]] });
    expect(await valuesOf('z')).toEqual([]);
  });

  it("rebuilds every projection with '*'", async () => {
    source.value = 7;
    const run = await t.cinema.refresh('*', {});
    expect(run.nodes.filter((node) => !node.virtual)).toHaveLength(7);
    const expected = expectedValues(7);
    for (const name of Object.keys(expected)) expect(await valuesOf(name)).toEqual(Array(source.orgs).fill(expected[name]));
  });

  it('returns the handle at once with async, and rejects with the first failure otherwise', async () => {
    const run = await t.cinema.refresh([E], { orgId: 1 }, { async: true });
    expect(['pending', 'running']).toContain(run.status);
    await run.result;
    expect(run.status).toBe('succeeded');
    behaviour.b = { fail: 'b is broken' };
    const error = await t.cinema.refresh([D, E], { orgId: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProjectionFailedError);
    expect((error as ProjectionFailedError).projection).toBe('b');
    expect((error as ProjectionFailedError).skipped.sort()).toEqual(['c', 'd', 'e']);
  });

  it('checks the lens and the list before anything runs', async () => {
    await expect(t.cinema.refresh([D, F], { nope: 1 })).rejects.toBeInstanceOf(UnknownLensKeyError);
    await expect(t.cinema.refresh([], {})).rejects.toBeInstanceOf(InvalidCinemaOptionsError);
  });
});
