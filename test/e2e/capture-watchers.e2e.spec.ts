import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChangeWatcher, watcherHooks } from '../../lib/capture/change.watcher.js';
import { CAPTURE_TABLES, CAPTURE_TRUTH, captureApp, captureHooks } from '../fixtures/capture.fixture.js';
import { bootApp, type TestApp } from '../support/app.js';
import { createDatabase } from '../support/database.js';
import { deferred } from '../support/deferred.js';
import { connect, rowsOf, waitFor } from '../support/postgres.js';

const ORGS = 60;
const BURSTS = 12;

/** Two applications with `capture` on one database: two watchers, in one process. */
function useTwoWatchers(label: string, interval: number) {
  const state: { db?: Awaited<ReturnType<typeof createDatabase>>; a?: TestApp; b?: TestApp; client?: Awaited<ReturnType<typeof connect>> } =
    {};
  beforeAll(async () => {
    state.db = await createDatabase(label);
    state.a = await bootApp(captureApp(state.db, { interval }));
    state.b = await bootApp(captureApp(state.db, { interval }));
    state.client = await connect(state.db.url);
  });
  afterAll(async () => {
    await state.client?.end();
    await state.a?.close();
    await state.b?.close();
    await state.db?.drop();
  });
  const client = () => state.client!;
  /** Every projection equals its ground truth and no mark is left. */
  const converged = () =>
    waitFor(async () => {
      const [{ n }] = (await client().query(`SELECT count(*)::int AS n FROM cinema.changes`)).rows;
      if (n !== 0) return undefined;
      for (const key of ['totals', 'grades', 'grand'] as const) {
        const [want, have] = [await rowsOf(client(), CAPTURE_TRUTH[key]), await rowsOf(client(), CAPTURE_TABLES[key])];
        if (JSON.stringify(want) !== JSON.stringify(have)) return undefined;
      }
      return true;
    }, 'every projection to equal its ground truth with no mark left');
  return { state, client, converged, watcher: (app: 'a' | 'b') => state[app]!.app.get(ChangeWatcher) };
}

/**
 * Holds the next refresh of the totals inside its derivation (with their watcher lock taken):
 * `entered` once it is there, `release()` lets it go, `slices()` the orgs derived since.
 */
function holdTotals() {
  const entered = deferred();
  const gate = deferred();
  captureHooks.totalsEntered = entered;
  captureHooks.totalsGate = gate;
  const derivations = captureHooks.totalsSlices.length;
  return {
    entered: entered.promise,
    release: () => {
      captureHooks.totalsGate = undefined;
      gate.resolve();
    },
    slices: () => captureHooks.totalsSlices.slice(derivations),
  };
}

describe('two watchers on one database: one refreshes a projection, the other leaves it', () => {
  // Cycles run when the test calls them (the loops' first cycle finds nothing, the next is an hour away).
  const { client, converged, watcher } = useTwoWatchers('capture_two_watchers', 3_600_000);

  it('a watcher leaves a projection another watcher is refreshing, and takes the others', async () => {
    await client().query(`INSERT INTO cap_invoices (id, org_id, amount) SELECT i, 1 + i % 20, i FROM generate_series(1, 100) i`);
    const held = holdTotals();
    const first = watcher('a').cycle();
    // A holds the totals' lock, inside their derivation.
    await held.entered;
    const second = await watcher('b').cycle();
    expect(second).toEqual({ refreshed: 0, failed: 0, skipped: 1 });
    held.release();
    // A refreshed the totals, then, in later rounds, the grades and the grand total they marked.
    expect(await first).toEqual({ refreshed: 3, failed: 0, skipped: 0 });
    expect(held.slices()).toEqual([Array.from({ length: 20 }, (_, i) => i + 1)]);
    await converged();
    // Marks left by B's skipped round are gone: another cycle of either finds nothing.
    expect(await watcher('b').cycle()).toEqual({ refreshed: 0, failed: 0, skipped: 0 });
  });

  it('two cycles of one watcher at once take turns: each slice is refreshed once, not by both', async () => {
    await converged();
    await client().query(`INSERT INTO cap_invoices (id, org_id, amount) SELECT i, 1 + i % 5, i FROM generate_series(1001, 1010) i`);
    const held = holdTotals();
    const first = watcher('a').cycle();
    await held.entered;
    // The watcher's lock connection would grant its locks to a second cycle as well.
    const second = watcher('a').cycle();
    await new Promise((resolve) => setTimeout(resolve, 200));
    held.release();
    expect(await first).toEqual({ refreshed: 3, failed: 0, skipped: 0 });
    expect(await second).toEqual({ refreshed: 0, failed: 0, skipped: 0 });
    expect(held.slices()).toEqual([[1, 2, 3, 4, 5]]);
    await converged();
  });

  it('a watcher claims every projection of its round, and the other leaves them all to it', async () => {
    await converged();
    await client().query(`UPDATE cap_invoices SET amount = amount + 1 WHERE org_id = 1`);
    // As a refresh of the totals' org 2 would have handed on (a mark read along with org 1's).
    await client().query(`INSERT INTO cinema.changes (projection, lens) VALUES ('CapOrgGrade', '{"orgId": 2}')`);
    const held = holdTotals();
    // B has read both marks, claimed the totals and the grades, and refreshes the totals first (graph order).
    const second = watcher('b').cycle();
    await held.entered;
    // A leaves both to B.
    expect(await watcher('a').cycle()).toEqual({ refreshed: 0, failed: 0, skipped: 2 });
    held.release();
    // B: the totals (org 1), the grades' org 2 it claimed, then, in the next round, what the totals
    // handed on (the grades' org 1, the grand total: its hand-off from the grades is covered by the
    // grand total's own mark, claimed in the same round).
    expect(await second).toEqual({ refreshed: 4, failed: 0, skipped: 0 });
    await converged();
  });

  it('a watcher whose marks another settled between its read and its claim refreshes nothing', async () => {
    await converged();
    await client().query(`UPDATE cap_invoices SET amount = amount + 1 WHERE org_id = 3`);
    const derivations = captureHooks.totalsSlices.length;
    // A reads the mark; before A claims the totals, B runs a whole cycle and settles it.
    watcherHooks.afterRead = async (reader) => {
      if (reader !== watcher('a')) return;
      watcherHooks.afterRead = undefined;
      expect(await watcher('b').cycle()).toEqual({ refreshed: 3, failed: 0, skipped: 0 });
    };
    try {
      expect(await watcher('a').cycle()).toEqual({ refreshed: 0, failed: 0, skipped: 0 });
    } finally {
      watcherHooks.afterRead = undefined;
    }
    expect(captureHooks.totalsSlices.slice(derivations)).toEqual([[3]]);
    await converged();
  });

  it('a cycle leaves writes committed after its first read to the next cycle, except what it handed on', async () => {
    await converged();
    await client().query(`UPDATE cap_invoices SET amount = amount + 1 WHERE org_id = 4`);
    const derivations = captureHooks.totalsSlices.length;
    // Right after the cycle's first read, a write to org 5: without a bound, the cycle would take it too.
    watcherHooks.afterRead = async () => {
      watcherHooks.afterRead = undefined;
      await client().query(`UPDATE cap_invoices SET amount = amount + 1 WHERE org_id = 5`);
    };
    try {
      // The totals (org 4), then what they handed on: the grades and the grand total.
      expect(await watcher('a').cycle()).toEqual({ refreshed: 3, failed: 0, skipped: 0 });
    } finally {
      watcherHooks.afterRead = undefined;
    }
    expect(captureHooks.totalsSlices.slice(derivations)).toEqual([[4]]);
    const { rows } = await client().query(`SELECT projection, lens FROM cinema.changes ORDER BY id`);
    expect(rows).toEqual([{ projection: 'CapOrgTotals', lens: { orgId: 5 } }]);
    // The next cycle takes it.
    expect(await watcher('a').cycle()).toEqual({ refreshed: 3, failed: 0, skipped: 0 });
    await converged();
  });

  it('both watchers cycling at once refresh each dirty slice once', async () => {
    for (let i = 0; i < 5; i++) {
      const derivations = captureHooks.totalsSlices.length;
      const orgs = [1 + i, 6 + i, 11 + i];
      await client().query(`UPDATE cap_invoices SET amount = amount + 1 WHERE org_id = ANY($1)`, [orgs]);
      const [a, b] = await Promise.all([watcher('a').cycle(), watcher('b').cycle()]);
      // Three groups (totals, grades, grand total) refreshed in all, each by one of the two.
      expect(a.refreshed + b.refreshed).toBe(3);
      expect(captureHooks.totalsSlices.slice(derivations)).toEqual([orgs]);
      await converged();
    }
  });
});

describe('two watchers on one database, their loops running, under bursts of writes over many orgs', () => {
  const { client, converged } = useTwoWatchers('capture_watchers_burst', 5);

  it('converge after every burst, each dirty slice derived by exactly one of them', async () => {
    await client().query(`INSERT INTO cap_invoices (id, org_id, amount) SELECT i, 1 + i % $1, i FROM generate_series(1, 600) i`, [ORGS]);
    await converged();
    let seed = 7;
    const random = (n: number) => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) % n;
    let nextId = 10_000;
    for (let burst = 0; burst < BURSTS; burst++) {
      const derivations = captureHooks.totalsSlices.length;
      // One transaction: its marks become visible together, so one derivation should cover them.
      await client().query('BEGIN');
      for (let k = 0; k < 8; k++) {
        const org = 1 + random(ORGS);
        switch (random(4)) {
          case 0:
            await client().query(`INSERT INTO cap_invoices (id, org_id, amount) VALUES ($1, $2, $3)`, [nextId++, org, random(900)]);
            break;
          case 1:
            await client().query(`UPDATE cap_invoices SET amount = amount + 3 WHERE org_id = $1`, [org]);
            break;
          case 2:
            await client().query(`UPDATE cap_invoices SET org_id = $2 WHERE id = (SELECT min(id) FROM cap_invoices WHERE org_id = $1)`, [
              org,
              1 + random(ORGS),
            ]);
            break;
          default:
            await client().query(`DELETE FROM cap_invoices WHERE id = (SELECT max(id) FROM cap_invoices WHERE org_id = $1)`, [org]);
        }
      }
      const { rows } = await client().query(
        `SELECT DISTINCT (lens->>'orgId')::int AS org FROM cinema.changes
         WHERE projection = 'CapOrgTotals' AND xid = pg_current_xact_id() ORDER BY 1`,
      );
      await client().query('COMMIT');
      const dirty = rows.map((row) => row.org as number);
      await converged();
      // Had both watchers refreshed the group, its slices would have been derived twice.
      expect(captureHooks.totalsSlices.slice(derivations)).toEqual([dirty]);
    }
  });
});
