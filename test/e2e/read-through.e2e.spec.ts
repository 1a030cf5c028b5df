import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MoreThan } from 'typeorm';
import { InvalidCinemaOptionsError, type CinemaRun } from '../../lib/index.js';
import { ChangeWatcher } from '../../lib/capture/change.watcher.js';
import { CapGrandTotal, CapInvoice, CapOrgGrade, CapOrgTotals, captureApp, captureHooks } from '../fixtures/capture.fixture.js';
import { connect, rowsOf, waitFor } from '../support/postgres.js';
import { useTestApp } from '../support/test-app.js';

describe('project(P, lens, { maxStaleness }): the stored slice when it is fresh enough, else a rebuild', () => {
  const { db, t } = useTestApp('read-through', (db) => captureApp(db, { interval: 3_600_000 }));
  let client: Awaited<ReturnType<typeof connect>>;
  beforeAll(async () => {
    client = await connect(db.url);
    await client.query(`INSERT INTO cap_invoices (id, org_id, amount) SELECT i, 1 + i % 4, i * 10 FROM generate_series(1, 40) i`);
    await drain();
  });
  afterAll(async () => {
    await client?.end();
  });

  /** Runs the watcher's cycles until no mark is left. */
  const drain = () =>
    waitFor(async () => {
      await t.app.get(ChangeWatcher).cycle();
      const [{ n }] = (await client.query(`SELECT count(*)::int AS n FROM cinema.changes`)).rows;
      return n === 0 ? true : undefined;
    }, 'the watcher to leave no mark');
  /** The ledger's refreshed_at of a slice, as text (microseconds kept). */
  const refreshedAt = async (projection: string, slice: Record<string, unknown>) =>
    (
      await client.query(`SELECT refreshed_at::text AS at FROM cinema.freshness WHERE projection = $1 AND slice = $2::jsonb`, [
        projection,
        JSON.stringify(slice),
      ])
    ).rows[0]?.at as string | undefined;
  const totalsOf = (orgs: number[]) =>
    rowsOf(client, `SELECT org_id AS "orgId", total, invoices FROM cap_org_totals WHERE org_id = ANY('{${orgs.join(',')}}') ORDER BY 1`);
  const truthOf = (orgs: number[]) =>
    rowsOf(
      client,
      `SELECT org_id AS "orgId", SUM(amount)::int AS total, COUNT(*)::int AS invoices FROM cap_invoices
       WHERE org_id = ANY('{${orgs.join(',')}}') GROUP BY org_id ORDER BY 1`,
    );
  const project = (
    projection: typeof CapOrgTotals | typeof CapOrgGrade | typeof CapGrandTotal,
    lens: object,
    maxStaleness: number,
  ): Promise<CinemaRun<any>> => t.cinema.project(projection as typeof CapOrgTotals, lens, { maxStaleness, async: true });

  it('serves a fresh slice from the store: no derivation, no write, the ledger unchanged', async () => {
    const before = await refreshedAt('CapOrgTotals', { orgId: 1 });
    expect(before).toBeDefined();
    const derivations = captureHooks.totalsDerivations;
    const run = await project(CapOrgTotals, { orgId: 1 }, 60_000);
    expect(run.fresh).toBe(true);
    expect(run.status).toBe('succeeded');
    expect(run.nodes).toEqual([{ projection: 'CapOrgTotals', virtual: false, status: 'succeeded', deleted: 0, written: 0, paths: [] }]);
    expect(run.toJSON()).toMatchObject({ fresh: true, status: 'succeeded' });
    // The same rows a rebuild returns: read by the same readSlice, from the table.
    expect(await run.result).toEqual((await totalsOf([1])).map((row) => JSON.parse(row)));
    // The plain form returns the rows.
    expect(await t.cinema.project(CapOrgTotals, { orgId: 1 }, { maxStaleness: 60_000 })).toHaveLength(1);
    expect(captureHooks.totalsDerivations).toBe(derivations);
    expect(await refreshedAt('CapOrgTotals', { orgId: 1 })).toBe(before);
  });

  it('rebuilds a slice with a pending change, its own or upstream of it, and records the ledger with it', async () => {
    await client.query(`INSERT INTO cap_invoices (id, org_id, amount) VALUES (1001, 2, 5)`);
    const before = await refreshedAt('CapOrgTotals', { orgId: 2 });
    const derivations = captureHooks.totalsDerivations;
    const run = await project(CapOrgTotals, { orgId: 2 }, 60_000);
    await run.result;
    expect(run.fresh).toBeFalsy();
    expect(run.nodes[0].written).toBe(1);
    expect(captureHooks.totalsDerivations).toBe(derivations + 1);
    expect(await totalsOf([2])).toEqual(await truthOf([2]));
    expect((await refreshedAt('CapOrgTotals', { orgId: 2 }))! > before!).toBe(true);
    // A change to the totals is pending for the grades downstream of them too.
    await client.query(`INSERT INTO cap_invoices (id, org_id, amount) VALUES (1002, 3, 5000)`);
    const grades = await project(CapOrgGrade, { orgId: 3 }, 60_000);
    expect(await grades.result).toEqual([expect.objectContaining({ orgId: 3, grade: 'A' })]);
    expect(grades.fresh).toBeFalsy();
    expect(grades.nodes.map((node) => [node.projection, node.written])).toEqual([
      ['CapOrgTotals', 1],
      ['CapOrgGrade', 1],
    ]);
    await drain();
  });

  it('rebuilds a slice refreshed longer ago than maxStaleness', async () => {
    await drain();
    await t.cinema.project(CapOrgTotals, { orgId: 4 });
    // Wait until the ledger row is measurably older than the bound.
    await waitFor(async () => {
      const { rows } = await client.query(
        `SELECT clock_timestamp() - refreshed_at > interval '60 milliseconds' AS old FROM cinema.freshness WHERE projection = 'CapOrgTotals' AND slice = '{"orgId": 4}'`,
      );
      return rows[0]?.old ? true : undefined;
    }, 'the ledger row of org 4 to be 60 ms old');
    expect((await project(CapOrgTotals, { orgId: 4 }, 60_000)).fresh).toBe(true);
    const derivations = captureHooks.totalsDerivations;
    const stale = await project(CapOrgTotals, { orgId: 4 }, 50);
    await stale.result;
    expect(stale.fresh).toBeFalsy();
    expect(captureHooks.totalsDerivations).toBe(derivations + 1);
  });

  it('serves a list lens only when every value is fresh', async () => {
    await drain();
    const both = await project(CapOrgTotals, { orgId: [1, 4] }, 60_000);
    expect(both.fresh).toBe(true);
    expect((await both.result).map((row) => row.orgId).sort()).toEqual([1, 4]);
    await client.query(`INSERT INTO cap_invoices (id, org_id, amount) VALUES (1003, 4, 7)`);
    const derivations = captureHooks.totalsDerivations;
    const one = await project(CapOrgTotals, { orgId: [1, 4] }, 60_000);
    await one.result;
    expect(one.fresh).toBeFalsy();
    expect(captureHooks.totalsDerivations).toBe(derivations + 1);
    expect(await totalsOf([1, 4])).toEqual(await truthOf([1, 4]));
    await drain();
  });

  it('an explicit project() records the ledger of what it rebuilt, so a later read is served', async () => {
    // Org 9 has no invoice: no mark ever named it, only the explicit run can record it.
    expect(await refreshedAt('CapOrgGrade', { orgId: 9 })).toBeUndefined();
    const first = await project(CapOrgGrade, { orgId: 9 }, 60_000);
    expect(await first.result).toEqual([]);
    expect(first.fresh).toBeFalsy();
    expect(await refreshedAt('CapOrgTotals', { orgId: 9 })).toBeDefined();
    expect(await refreshedAt('CapOrgGrade', { orgId: 9 })).toBeDefined();
    expect((await project(CapOrgGrade, { orgId: 9 }, 60_000)).fresh).toBe(true);
  });

  it('never takes another lens shape as fresh; an empty lens only with a whole-projection ledger row', async () => {
    await drain();
    const derivations = captureHooks.totalsDerivations;
    // A reducer (any filter beyond equality and lists) names no slices the ledger can vouch for.
    const reduced = await project(CapOrgTotals, { orgId: [1, 2], $reduce: (qb: unknown) => qb }, 60_000);
    await reduced.result;
    expect(reduced.fresh).toBeFalsy();
    expect(captureHooks.totalsDerivations).toBe(derivations + 1);
    // A range on the grades (rebuilt alone: the totals' derivation takes lists only) rebuilds too.
    const range = await t.cinema.project(
      CapOrgGrade,
      { orgId: MoreThan(0) },
      { maxStaleness: 60_000, skipDependencies: true, async: true },
    );
    await range.result;
    expect(range.fresh).toBeFalsy();
    expect(range.nodes.map((node) => [node.projection, node.status])).toEqual([['CapOrgGrade', 'succeeded']]);
    await drain();
    // The watcher rebuilt the grand total whole (it has no orgId): its '{}' row covers the empty lens.
    expect(await refreshedAt('CapGrandTotal', {})).toBeDefined();
    const grand = await project(CapGrandTotal, {}, 60_000);
    expect(grand.fresh).toBe(true);
    expect(await grand.result).toEqual([expect.objectContaining({ id: 1 })]);
    // The totals were only ever rebuilt by slice (or by a range, which records nothing).
    expect(await refreshedAt('CapOrgTotals', {})).toBeUndefined();
    const whole = await project(CapOrgTotals, {}, 60_000);
    await whole.result;
    expect(whole.fresh).toBeFalsy();
  });

  it('refuses maxStaleness on refresh() and a negative or fractional bound', async () => {
    await expect(t.cinema.refresh([CapOrgTotals], { orgId: 1 }, { maxStaleness: 10 } as never)).rejects.toThrow(
      /maxStaleness.*project\(\) only/,
    );
    await expect(t.cinema.project(CapOrgTotals, { orgId: 1 }, { maxStaleness: -1 })).rejects.toThrow(InvalidCinemaOptionsError);
    await expect(t.cinema.project(CapOrgTotals, { orgId: 1 }, { maxStaleness: 1.5 })).rejects.toThrow(/maxStaleness/);
  });
});

describe('project(P, lens, { maxStaleness }) without change capture', () => {
  const { t } = useTestApp('read-through-off', (db) => ({
    dataSources: [{ url: db.url, synchronize: true, entities: [CapInvoice] }],
    projections: [CapOrgTotals, CapOrgGrade, CapGrandTotal],
  }));

  it('fails at call time with InvalidCinemaOptionsError saying capture is needed, and rebuilds nothing', async () => {
    const derivations = captureHooks.totalsDerivations;
    const error = await t.cinema.project(CapOrgTotals, { orgId: 1 }, { maxStaleness: 1_000 }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(InvalidCinemaOptionsError);
    expect((error as Error).message).toMatch(/"maxStaleness".*needs change capture.*capture: \{\}/);
    expect(captureHooks.totalsDerivations).toBe(derivations);
    // Without the option, project() works as always.
    expect(await t.cinema.project(CapOrgTotals, { orgId: 1 })).toEqual([]);
  });
});
