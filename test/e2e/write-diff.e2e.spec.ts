import type { Type } from '@nestjs/common';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidProjectionError } from '../../lib/index.js';
import { bootError } from '../support/app.js';
import { rowsOf, waitFor } from '../support/postgres.js';
import { useTestApp } from '../support/test-app.js';
import {
  DiffBadMode,
  diffCapture,
  diffCaptureApp,
  DiffItem,
  DiffKeyless,
  DiffMixed,
  DiffQueried,
  DiffReplaced,
  DiffStreamed,
  itemsOf,
  ITEMS_TRUTH,
} from '../fixtures/diff.fixture.js';

/** The diff projections, and a number that keeps the ids each case inserts apart. */
const DIFFED: [string, Type<unknown>, string, number][] = [
  ['one query', DiffQueried, 'diff_queried', 0],
  ['rows from Node', DiffStreamed, 'diff_streamed', 1],
  ['a query and rows', DiffMixed, 'diff_mixed', 2],
];

describe("write: 'diff' writes only the rows that changed", () => {
  const { t } = useTestApp('write_diff', (db) => ({
    dataSources: [{ url: db.url, synchronize: true, entities: [DiffItem] }],
    projections: [DiffReplaced, DiffQueried, DiffStreamed, DiffMixed],
    cinema: { allowEmptyLens: true },
  }));
  const sql = (text: string, params: unknown[] = []) => t.dataSource().query(text, params);
  /** Each row's id and the transaction that wrote it. */
  const versions = async (table: string, where = 'TRUE') =>
    new Map<number, string>((await sql(`SELECT id, xmin::text AS x FROM ${table} WHERE ${where}`)).map((row: any) => [row.id, row.x]));

  beforeAll(async () => {
    // 90 items in 3 orgs; some notes and metas NULL.
    await sql(`INSERT INTO diff_items (id, org_id, qty, note, meta)
      SELECT i, 1 + i % 3, i, CASE WHEN i % 4 = 0 THEN NULL ELSE 'note ' || i END,
             CASE WHEN i % 5 = 0 THEN NULL ELSE ('{"n":' || i || '}')::json END
      FROM generate_series(1, 90) i`);
    for (const [, type] of [['', DiffReplaced] as const, ...DIFFED]) await t.cinema.project(type, {}, { fetch: false });
  });

  it.each(DIFFED)(
    '%s: equals replace mode and the ground truth through inserts, updates and deletes, for an org and for the whole table',
    async (_, type, table, k) => {
      // Items 10, 13, 19, 28 and 31 are in org 2.
      const [a, b] = [200 + 10 * k, 201 + 10 * k];
      const steps = [
        `INSERT INTO diff_items (id, org_id, qty, note, meta) VALUES (${a}, 2, 7, NULL, NULL), (${b}, 2, 8, 'new', '{"n":201}')`,
        `UPDATE diff_items SET qty = qty + 1, note = NULL WHERE id IN (19, 28)`,
        `UPDATE diff_items SET meta = '{"n":${k}}' WHERE id = 31`,
        `DELETE FROM diff_items WHERE id IN (10, 13, ${a})`,
      ];
      for (const step of steps) {
        await sql(step);
        for (const projection of [DiffReplaced, type]) await t.cinema.project(projection, { orgId: 2 }, { fetch: false });
        const truth = await rowsOf(t.dataSource(), `${ITEMS_TRUTH} WHERE org_id = 2`);
        expect(await rowsOf(t.dataSource(), `${itemsOf(table)} WHERE org_id = 2`)).toEqual(truth);
        expect(await rowsOf(t.dataSource(), `${itemsOf('diff_replaced')} WHERE org_id = 2`)).toEqual(truth);
      }
      // The other orgs changed too: the whole-table refresh catches up.
      await sql(`UPDATE diff_items SET qty = qty + 3 WHERE id IN (1, 3)`);
      await sql(`DELETE FROM diff_items WHERE id = 6`);
      await sql(`INSERT INTO diff_items (id, org_id, qty) VALUES (${202 + 10 * k}, 1, 1)`);
      for (const projection of [DiffReplaced, type]) await t.cinema.project(projection, {}, { fetch: false });
      const truth = await rowsOf(t.dataSource(), ITEMS_TRUTH);
      expect(await rowsOf(t.dataSource(), itemsOf(table))).toEqual(truth);
      expect(await rowsOf(t.dataSource(), itemsOf('diff_replaced'))).toEqual(truth);
    },
  );

  it.each(DIFFED)('%s: a refresh where nothing changed writes no row', async (_, type, table) => {
    await t.cinema.project(type, {}, { fetch: false });
    const before = await versions(table);
    const run = await t.cinema.project(type, {}, { async: true, fetch: false });
    await run.result;
    const node = run.nodes.find((n) => n.projection === type.name)!;
    expect(node).toMatchObject({ deleted: 0, written: 0, unchanged: before.size });
    expect(await versions(table)).toEqual(before);
  });

  it.each(DIFFED)('%s: keeps the physical row of what did not change, rewrites what did', async (_, type, table, k) => {
    await t.cinema.project(type, {}, { fetch: false });
    const [org1, org2] = [await versions(table, 'org_id = 1'), await versions(table, 'org_id = 2')];
    // Items `updated` and `deleted` are in org 2; one item is added.
    const [updated, deleted, added] = [4 + 18 * k, 7 + 18 * k, 300 + k];
    await sql(`UPDATE diff_items SET qty = qty + 10 WHERE id = ${updated}`);
    await sql(`DELETE FROM diff_items WHERE id = ${deleted}`);
    await sql(`INSERT INTO diff_items (id, org_id, qty) VALUES (${added}, 2, 3)`);
    const run = await t.cinema.project(type, { orgId: 2 }, { async: true, fetch: false });
    await run.result;
    expect(run.nodes.find((n) => n.projection === type.name)).toMatchObject({ deleted: 1, written: 2, unchanged: org2.size - 2 });
    const after = await versions(table, 'org_id = 2');
    expect(after.get(updated)).not.toBe(org2.get(updated));
    expect(after.has(deleted)).toBe(false);
    expect(after.has(added)).toBe(true);
    for (const [id, version] of org2) if (id !== updated && id !== deleted) expect([id, after.get(id)]).toEqual([id, version]);
    // Outside the slice nothing moved.
    expect(await versions(table, 'org_id = 1')).toEqual(org1);
    expect(await rowsOf(t.dataSource(), itemsOf(table))).toEqual(await rowsOf(t.dataSource(), ITEMS_TRUTH));
  });

  it.each(DIFFED)(
    '%s: tells NULL from a value, and a value from NULL (IS DISTINCT FROM), json compared as text',
    async (_, type, table) => {
      const refresh = async () => {
        const run = await t.cinema.project(type, { orgId: 1 }, { async: true, fetch: false });
        await run.result;
        return run.nodes.find((n) => n.projection === type.name)!.written;
      };
      await refresh();
      // Item 12 (org 1) has a NULL note; item 13 (org 2) is outside the slice.
      await sql(`UPDATE diff_items SET note = 'set' WHERE id = 12`);
      expect(await refresh()).toBe(1);
      await sql(`UPDATE diff_items SET note = NULL WHERE id = 12`);
      expect(await refresh()).toBe(1);
      expect(await refresh()).toBe(0);
      await sql(`UPDATE diff_items SET meta = '{"n":"changed"}' WHERE id = 12`);
      expect(await refresh()).toBe(1);
      await sql(`UPDATE diff_items SET meta = NULL WHERE id = 12`);
      expect(await refresh()).toBe(1);
      expect(await refresh()).toBe(0);
      expect(await rowsOf(t.dataSource(), `${itemsOf(table)} WHERE id = 12`)).toEqual(
        await rowsOf(t.dataSource(), `${ITEMS_TRUTH} WHERE id = 12`),
      );
    },
  );

  it('a key derived into a slice while another slice holds it is taken over, as in replace mode', async () => {
    await t.cinema.project(DiffQueried, {}, { fetch: false });
    // Item 16 moves from org 2 to org 3; only org 3 is refreshed: its key is still held by org 2's slice.
    await sql(`UPDATE diff_items SET org_id = 3 WHERE id = 16`);
    const run = await t.cinema.project(DiffQueried, { orgId: 3 }, { async: true, fetch: false });
    await run.result;
    expect(await rowsOf(t.dataSource(), itemsOf('diff_queried'))).toEqual(await rowsOf(t.dataSource(), ITEMS_TRUTH));
  });
});

describe("write: 'diff' at startup", () => {
  const { db } = useTestApp('write_diff_startup', (db) => ({
    dataSources: [{ url: db.url, synchronize: true, entities: [DiffItem] }],
    projections: [],
  }));

  it.each([
    [DiffKeyless, /DiffKeyless is invalid: it has no primary key and no conflictTarget, and write: 'diff' matches derived rows/],
    [DiffBadMode, /DiffBadMode is invalid: write must be 'replace' or 'diff', got "merge"/],
  ])('refuses %o with an error naming the projection', async (projection, message) => {
    const error = await bootError({ dataSources: [{ url: db.url, synchronize: true, entities: [DiffItem] }], projections: [projection] });
    expect(error).toBeInstanceOf(InvalidProjectionError);
    expect(error.message).toMatch(message);
  });
});

describe("write: 'diff' with change capture: a change that cancels out stops propagating", () => {
  const { t } = useTestApp('write_diff_capture', (db) => diffCaptureApp(db));
  const sql = (text: string, params: unknown[] = []) => t.dataSource().query(text, params);
  const TRUTH = `SELECT org_id, SUM(amount)::int AS total FROM diff_cap_invoices GROUP BY org_id`;
  const GRADES = `SELECT org_id, CASE WHEN SUM(amount) >= 1000 THEN 'A' ELSE 'B' END AS grade FROM diff_cap_invoices GROUP BY org_id`;
  const marks = async () => (await sql(`SELECT count(*)::int AS n FROM cinema.changes`))[0].n as number;
  const versions = async (table: string) => rowsOf(t.dataSource(), `SELECT org_id, xmin::text AS x FROM ${table}`);
  const ledger = async () =>
    (await sql(`SELECT max(refreshed_at) AS at FROM cinema.freshness WHERE projection = 'DiffCapTotals'`))[0].at as Date;
  /** The totals were derived again since `since` and every mark is settled. */
  const settled = (since: number) =>
    waitFor(async () => (diffCapture.totals > since && (await marks()) === 0) || undefined, 'the totals to be refreshed');

  it('a refresh of the totals that changed no row hands nothing on: the grades are not refreshed', async () => {
    await sql(`INSERT INTO diff_cap_invoices (id, org_id, amount) SELECT i, 1 + i % 3, i * 10 FROM generate_series(1, 30) i`);
    await waitFor(
      async () =>
        ((await marks()) === 0 &&
          JSON.stringify(await rowsOf(t.dataSource(), `SELECT org_id, grade FROM diff_cap_grades`)) ===
            JSON.stringify(await rowsOf(t.dataSource(), GRADES))) ||
        undefined,
      'the projections to catch up',
    );
    const [totals, grades, refreshedAt] = [await versions('diff_cap_totals'), await versions('diff_cap_grades'), await ledger()];
    const derived = { ...diffCapture };

    // Items 3 and 6 are both in org 1: its total stays as it was.
    await sql(`UPDATE diff_cap_invoices SET amount = amount + CASE id WHEN 3 THEN 5 ELSE -5 END WHERE id IN (3, 6)`);
    await settled(derived.totals);
    expect(diffCapture.grades).toBe(derived.grades);
    expect(await versions('diff_cap_totals')).toEqual(totals);
    expect(await versions('diff_cap_grades')).toEqual(grades);
    // The marks were settled and the ledger recorded all the same.
    expect((await ledger()).getTime()).toBeGreaterThan(refreshedAt.getTime());

    // A change that does not cancel out goes on downstream.
    await sql(`UPDATE diff_cap_invoices SET amount = amount + 1000 WHERE id = 3`);
    await waitFor(async () => (diffCapture.grades > derived.grades && (await marks()) === 0) || undefined, 'the grades to be refreshed');
    expect(await rowsOf(t.dataSource(), `SELECT org_id, total FROM diff_cap_totals`)).toEqual(await rowsOf(t.dataSource(), TRUTH));
    expect(await rowsOf(t.dataSource(), `SELECT org_id, grade FROM diff_cap_grades`)).toEqual(await rowsOf(t.dataSource(), GRADES));
  });
});
