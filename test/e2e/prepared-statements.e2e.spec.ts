import { beforeEach, describe, expect, it } from 'vitest';
import { A, behaviour, DagOrgs, source } from '../fixtures/dag.fixture.js';
import { useTestApp } from '../support/test-app.js';

interface Prepared {
  name: string;
  statement: string;
}

/** Refreshes org 1, 2 and 3 of `a`, then reads the statements prepared on the connection of a fourth refresh. */
async function preparedAfterRefreshes(t: ReturnType<typeof useTestApp>['t']): Promise<Prepared[]> {
  for (const orgId of [1, 2, 3]) await t.cinema.project(A, { orgId });
  let prepared: Prepared[] = [];
  behaviour.a = {
    // On the refresh's own connection, after its DELETE: what that connection has prepared.
    entered: async (ctx) => {
      prepared = await ctx.write.query(`SELECT name, statement FROM pg_prepared_statements ORDER BY statement`);
    },
  };
  const rows = await t.cinema.project(A, { orgId: 2 });
  expect(rows).toEqual([expect.objectContaining({ orgId: 2, value: 2 })]);
  return prepared;
}

describe('prepared statements', () => {
  beforeEach(() => {
    for (const key of Object.keys(behaviour)) delete behaviour[key];
    source.value = 1;
    source.orgs = 3;
  });

  describe('by default', () => {
    const { t } = useTestApp('prepared_on', (db) => ({ dataSources: [{ url: db.url, synchronize: true }], projections: [DagOrgs, A] }));

    it("sends a slice's DELETE with BEGIN, the org written in, so there is no DELETE to prepare", async () => {
      const prepared = await preparedAfterRefreshes(t);
      expect(prepared.filter((p) => p.statement.startsWith('DELETE FROM "dag_a"'))).toEqual([]);
    });

    it('prepares nothing for a list lens: a plan for two orgs is no plan for a thousand', async () => {
      for (let i = 0; i < 3; i++) await t.cinema.project(A, { orgId: [1, 2] });
      let prepared: Prepared[] = [];
      behaviour.a = {
        entered: async (ctx) => {
          prepared = await ctx.write.query(`SELECT name, statement FROM pg_prepared_statements`);
        },
      };
      await t.cinema.project(A, { orgId: [1, 3] });
      expect(prepared.filter((p) => p.statement.includes('ANY('))).toEqual([]);
    });
  });

  describe('with preparedStatements: false', () => {
    const { t } = useTestApp('prepared_off', (db) => ({
      dataSources: [{ url: db.url, synchronize: true }],
      projections: [DagOrgs, A],
      cinema: { preparedStatements: false },
    }));

    it('prepares nothing', async () => {
      expect((await preparedAfterRefreshes(t)).filter((p) => p.name.startsWith('cinema_'))).toEqual([]);
    });
  });
});
