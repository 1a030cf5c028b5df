import { Logger } from '@nestjs/common';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ProjectionFailedError } from '../../lib/index.js';
import { behaviour, DagOrgs, dagNode, source } from '../fixtures/dag.fixture.js';
import { CapturingLogger } from '../support/capturing-logger.js';
import { useTestApp } from '../support/test-app.js';

// Whole-table rebuilds (an empty lens) of one-table projections over the three orgs.
// These tables are small: 'swap' swaps them all the same ('auto' would rebuild them in place).
const Swapped = dagNode('s', () => [DagOrgs], { fullRebuild: 'swap' });
const Viewed = dagNode('v', () => [DagOrgs], { fullRebuild: 'swap' });
const InPlace = dagNode('p', () => [DagOrgs], { fullRebuild: 'in-place' });
const Direct = dagNode('w', () => [DagOrgs], { fullRebuild: 'swap' });
const Conflicting = dagNode('k', () => [DagOrgs], { fullRebuild: 'swap' });
const Auto = dagNode('auto', () => [DagOrgs]);

/** Everything about a table a swap must carry over, as the catalog describes it. */
const DESCRIBE = `SELECT c.relname, pg_get_userbyid(c.relowner) AS owner, c.reloptions, c.relacl::text AS acl,
    obj_description(c.oid, 'pg_class') AS comment,
    (SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod), 'notnull', a.attnotnull,
        'comment', col_description(c.oid, a.attnum)) ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
    (SELECT json_agg(json_build_object('name', ic.relname, 'definition', pg_get_indexdef(i.indexrelid), 'clustered', i.indisclustered,
        'comment', obj_description(ic.oid, 'pg_class')) ORDER BY ic.relname) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = c.oid) AS indexes,
    (SELECT json_agg(json_build_object('name', con.conname, 'definition', pg_get_constraintdef(con.oid)) ORDER BY con.conname)
      FROM pg_constraint con WHERE con.conrelid = c.oid) AS constraints
  FROM pg_class c WHERE c.oid = $1::regclass`;

describe('whole-table rebuilds', () => {
  const { t, db } = useTestApp('full_rebuild', (db) => ({
    dataSources: [{ url: db.url, synchronize: true }],
    projections: [DagOrgs, Swapped, Viewed, InPlace, Direct, Conflicting, Auto],
    cinema: { allowEmptyLens: true },
  }));
  const logger = new CapturingLogger();
  const role = `cinema_swap_reader_${process.pid}`;
  const oid = async (table: string) => (await t.dataSource().query(`SELECT $1::regclass::oid::int AS oid`, [table]))[0].oid as number;
  const values = async (table: string) =>
    t.dataSource().query<{ org_id: number; value: number }[]>(`SELECT org_id, value FROM ${table} ORDER BY org_id`);
  const shadows = async () =>
    t.dataSource().query<unknown[]>(`SELECT relname FROM pg_class WHERE relname LIKE 'cinema_swap%' AND relkind = 'r'`);

  beforeAll(async () => {
    t.app.useLogger(logger);
    Logger.overrideLogger(logger);
    source.value = 1;
    source.orgs = 3;
    for (const node of [Swapped, Viewed, InPlace, Direct, Conflicting]) await t.cinema.project(node, {});
    await t.dataSource().query(`DROP ROLE IF EXISTS ${role}`);
    await t.dataSource().query(`CREATE ROLE ${role} NOLOGIN`);
  });
  afterAll(async () => {
    Logger.overrideLogger(['error']);
    await t.dataSource().query(`DROP OWNED BY ${role}`);
    await t.dataSource().query(`DROP ROLE ${role}`);
  });
  beforeEach(() => {
    for (const key of Object.keys(behaviour)) delete behaviour[key];
  });

  it("swaps in a fresh table that keeps the old one's indexes, constraints, comments, grants and storage options", async () => {
    await t.dataSource().query(`CREATE INDEX dag_s_value_idx ON dag_s (value) WHERE value > 0`);
    await t.dataSource().query(`CREATE UNIQUE INDEX dag_s_org_value_key ON dag_s ((org_id * 1000 + value))`);
    await t.dataSource().query(`ALTER TABLE dag_s ADD CONSTRAINT dag_s_value_positive CHECK (value > 0)`);
    await t.dataSource().query(`ALTER TABLE dag_s CLUSTER ON dag_s_org_value_key`);
    await t.dataSource().query(`ALTER TABLE dag_s SET (fillfactor = 90, autovacuum_enabled = false)`);
    await t.dataSource().query(`COMMENT ON TABLE dag_s IS 'values per org'`);
    await t.dataSource().query(`COMMENT ON COLUMN dag_s.value IS 'one more than the source'`);
    await t.dataSource().query(`COMMENT ON INDEX dag_s_value_idx IS 'positive values'`);
    await t.dataSource().query(`GRANT SELECT, REFERENCES ON dag_s TO ${role}`);
    await t.dataSource().query(`GRANT SELECT ON dag_s TO PUBLIC`);
    const [before] = await t.dataSource().query(DESCRIBE, ['dag_s']);
    const oldOid = await oid('dag_s');

    source.value = 5;
    const run = await t.cinema.project(Swapped, {}, { async: true, fetch: false });
    await run.result;

    expect(run.nodes[1]).toMatchObject({ projection: 's', deleted: 3, written: 3, paths: ['stream', 'swap'] });
    expect(await oid('dag_s')).not.toBe(oldOid);
    expect((await t.dataSource().query(DESCRIBE, ['dag_s']))[0]).toEqual(before);
    // The key TypeORM made, and the two indexes added here.
    expect(before.indexes.map((index: { name: string }) => index.name)).toEqual([
      expect.stringMatching(/^PK_/),
      'dag_s_org_value_key',
      'dag_s_value_idx',
    ]);
    expect(before.constraints.map((constraint: { name: string }) => constraint.name)).toContain('dag_s_value_positive');
    expect(before.acl).toContain(`${role}=rx/`);
    expect(await values('dag_s')).toEqual([1, 2, 3].map((org_id) => ({ org_id, value: 6 })));
    expect(await shadows()).toEqual([]);
  });

  it('keeps readers reading the old rows while it rebuilds, and shows them the new rows at once after', async () => {
    source.value = 7;
    behaviour.s = { delayMs: 1_500 };
    const reader = new pg.Client({ connectionString: db.url });
    await reader.connect();
    try {
      const run = await t.cinema.project(Swapped, {}, { async: true, fetch: false });
      let longest = 0;
      const seen = new Set<number>();
      while (run.status === 'pending' || run.status === 'running') {
        const started = performance.now();
        const { rows } = await reader.query(`SELECT min(value) AS low, max(value) AS high, count(*)::int AS n FROM dag_s`);
        longest = Math.max(longest, performance.now() - started);
        // Never a mix, never a missing row: the old slice or the new one.
        expect(rows[0].low).toBe(rows[0].high);
        expect(rows[0].n).toBe(3);
        seen.add(rows[0].low);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await run.result;
      // The derivation alone holds the transaction open for 1.5 s; a reader locked out for the
      // rebuild (as by REFRESH MATERIALIZED VIEW or TRUNCATE) would have waited that long.
      expect(longest).toBeLessThan(750);
      expect(seen.has(6)).toBe(true);
      expect(await values('dag_s')).toEqual([1, 2, 3].map((org_id) => ({ org_id, value: 8 })));
    } finally {
      await reader.end();
    }
  });

  describe('planner statistics', () => {
    // The table's columns, and the expression of the unique index the first test added.
    const statistics = async () =>
      t.dataSource().query(
        `SELECT tablename, attname, COALESCE(most_common_vals, histogram_bounds)::text AS "values" FROM pg_stats
          WHERE schemaname = current_schema() AND tablename IN ('dag_s', 'dag_s_org_value_key') ORDER BY tablename, attname`,
      );
    const restores = async () => Number((await t.dataSource().query(`SHOW server_version_num`))[0].server_version_num) >= 180000;
    const rebuild = async (value: number) => {
      source.value = value;
      const run = await t.cinema.project(Swapped, {}, { async: true, fetch: false });
      await run.result;
      expect(run.nodes[1]).toMatchObject({ projection: 's', written: 3, paths: ['stream', 'swap'] });
      const [{ reltuples }] = await t.dataSource().query(`SELECT reltuples FROM pg_class WHERE oid = 'dag_s'::regclass`);
      expect(reltuples).toBe(3);
    };
    // No statistics for org_id: the old table's setting holds on the fresh one. Autovacuum on for
    // the table (the first test turned it off).
    beforeAll(() => t.dataSource().query(`ALTER TABLE dag_s ALTER COLUMN org_id SET STATISTICS 0, RESET (autovacuum_enabled)`));
    afterAll(() => t.dataSource().query(`ALTER TABLE dag_s ALTER COLUMN org_id SET STATISTICS -1`));

    it("carries the old table's statistics over where the server restores statistics, and gathers the new rows' where it cannot", async () => {
      await t.dataSource().query(`ANALYZE dag_s`);
      expect(await statistics()).toContainEqual({ tablename: 'dag_s', attname: 'value', values: '{8}' });
      await rebuild(8);
      // PostgreSQL 18 restores the old ones, as REFRESH keeps the view's (autovacuum analyzes the
      // new rows later); an older server analyzes the fresh table, after the settings are copied.
      expect(await statistics()).toEqual(
        (await restores())
          ? [
              { tablename: 'dag_s', attname: 'value', values: '{8}' },
              { tablename: 'dag_s_org_value_key', attname: 'expr', values: '{1008,2008,3008}' },
            ]
          : [
              { tablename: 'dag_s', attname: 'value', values: '{9}' },
              { tablename: 'dag_s_org_value_key', attname: 'expr', values: '{1009,2009,3009}' },
            ],
      );
    });

    it.each([
      [
        'the old table has none for a column',
        async () => {
          if (await restores()) await t.dataSource().query(`SELECT pg_clear_attribute_stats(current_schema(), 'dag_s', 'value', false)`);
        },
      ],
      [
        'autovacuum is off for the table (carried statistics would stay stale)',
        () => t.dataSource().query(`ALTER TABLE dag_s SET (autovacuum_enabled = off)`),
      ],
    ])("gathers the new rows' statistics when %s", async (_, prepare) => {
      await t.dataSource().query(`ANALYZE dag_s`);
      await prepare();
      const value = source.value + 1;
      try {
        await rebuild(value);
      } finally {
        await t.dataSource().query(`ALTER TABLE dag_s RESET (autovacuum_enabled)`);
      }
      // The derivation writes one more than the source, for each of the three orgs.
      expect(await statistics()).toEqual([
        { tablename: 'dag_s', attname: 'value', values: `{${value + 1}}` },
        { tablename: 'dag_s_org_value_key', attname: 'expr', values: `{${[1, 2, 3].map((org) => org * 1000 + value + 1).join(',')}}` },
      ]);
    });
  });

  it('copies the rows into the table in place when a reader holds the table through every try of the lock', async () => {
    const oldOid = await oid('dag_s');
    const reader = new pg.Client({ connectionString: db.url });
    await reader.connect();
    try {
      await reader.query(`BEGIN`);
      await reader.query(`SELECT count(*) FROM dag_s`);
      source.value = 10;
      const run = await t.cinema.project(Swapped, {}, { async: true, fetch: false });
      await run.result;
      expect(run.nodes[1]).toMatchObject({ projection: 's', written: 3, paths: ['stream', 'swap-in-place'] });
      // The reader's transaction still sees what it saw; it never waited.
      expect((await reader.query(`SELECT count(*)::int AS n FROM dag_s`)).rows[0].n).toBe(3);
    } finally {
      await reader.query(`COMMIT`);
      await reader.end();
    }
    expect(await oid('dag_s')).toBe(oldOid);
    expect(await values('dag_s')).toEqual([1, 2, 3].map((org_id) => ({ org_id, value: 11 })));
    expect(await shadows()).toEqual([]);
  });

  it('rebuilds in place, saying why, a table that a view depends on', async () => {
    await t.dataSource().query(`CREATE VIEW dag_v_doubled AS SELECT org_id, value * 2 AS doubled FROM dag_v`);
    const oldOid = await oid('dag_v');
    source.value = 20;
    const run = await t.cinema.project(Viewed, {}, { async: true, fetch: false });
    await run.result;
    expect(run.nodes[1]).toMatchObject({ projection: 'v', deleted: 3, written: 3, paths: ['stream'] });
    expect(await oid('dag_v')).toBe(oldOid);
    expect(logger.logs).toContainEqual(
      'v: whole-table rebuilds delete and insert in place, not by swap: views, functions or other objects depend on it',
    );
    expect(await t.dataSource().query(`SELECT doubled FROM dag_v_doubled ORDER BY org_id`)).toEqual([
      { doubled: 42 },
      { doubled: 42 },
      { doubled: 42 },
    ]);
  });

  it("rebuilds in place under fullRebuild: 'in-place'", async () => {
    const oldOid = await oid('dag_p');
    source.value = 30;
    const run = await t.cinema.project(InPlace, {}, { async: true, fetch: false });
    await run.result;
    expect(run.nodes[1]).toMatchObject({ projection: 'p', deleted: 3, written: 3, paths: ['stream'] });
    expect(await oid('dag_p')).toBe(oldOid);
    expect(await values('dag_p')).toEqual([1, 2, 3].map((org_id) => ({ org_id, value: 31 })));
  });

  it('rebuilds in place, from then on, a projection whose derivation writes its table directly', async () => {
    source.value = 40;
    behaviour.w = { sql: `INSERT INTO dag_w (org_id, value) VALUES (99, 1)` };
    const run = await t.cinema.project(Direct, {}, { async: true, fetch: false });
    await run.result;
    expect(run.nodes[1]).toMatchObject({ projection: 'w', deleted: 3, written: 3, paths: ['stream'] });
    expect(logger.logs).toContainEqual('w: its derivations write its table directly, so whole-table rebuilds delete and insert in place');
    // What the derivation wrote itself is kept, as an in-place rebuild keeps it.
    expect(await values('dag_w')).toEqual([...[1, 2, 3].map((org_id) => ({ org_id, value: 41 })), { org_id: 99, value: 1 }]);
    delete behaviour.w;
    const again = await t.cinema.project(Direct, {}, { async: true, fetch: false });
    await again.result;
    expect(again.nodes[1]).toMatchObject({ deleted: 4, written: 3, paths: ['stream'] });
  });

  it("under 'auto' (the default), rebuilds a table in place until it holds 1 MiB, and swaps it from then on", async () => {
    source.value = 70;
    const small = await t.cinema.project(Auto, {}, { async: true, fetch: false });
    await small.result;
    expect(small.nodes[1]).toMatchObject({ projection: 'auto', written: 3, paths: ['stream'] });
    source.orgs = 40_000;
    try {
      // The table is still small when this rebuild starts: in place, 40,000 rows.
      const growing = await t.cinema.project(Auto, {}, { async: true, fetch: false });
      await growing.result;
      expect(growing.nodes[1]).toMatchObject({ written: 40_000, paths: ['stream'] });
      const [{ bytes }] = await t.dataSource().query(`SELECT pg_relation_size('dag_auto') AS bytes`);
      expect(Number(bytes)).toBeGreaterThanOrEqual(1 << 20);
      const large = await t.cinema.project(Auto, {}, { async: true, fetch: false });
      await large.result;
      expect(large.nodes[1]).toMatchObject({ deleted: 40_000, written: 40_000, paths: ['stream', 'swap'] });
      const [{ n, low, high }] = await t
        .dataSource()
        .query(`SELECT count(*)::int AS n, min(value) AS low, max(value) AS high FROM dag_auto`);
      expect({ n, low, high }).toEqual({ n: 40_000, low: 71, high: 71 });
    } finally {
      source.orgs = 3;
    }
  });

  it('leaves the table as it was, and no fresh table behind, when the rebuild fails', async () => {
    const oldOid = await oid('dag_s');
    const before = await values('dag_s');
    source.value = 50;
    behaviour.s = { fail: 'the derivation broke' };
    await expect(t.cinema.project(Swapped, {})).rejects.toBeInstanceOf(ProjectionFailedError);
    expect(await oid('dag_s')).toBe(oldOid);
    expect(await values('dag_s')).toEqual(before);
    expect(await shadows()).toEqual([]);
  });

  it('meets a key derived twice as an in-place rebuild does: a warning, and the last row derived kept', async () => {
    source.value = 60;
    behaviour.k = { entered: (ctx) => ctx.materialize([{ orgId: 1, value: 1_000 }]) };
    const run = await t.cinema.project(Conflicting, {}, { async: true, fetch: false });
    await run.result;
    expect(logger.warnings.some((warning) => warning.startsWith('k ') && warning.includes('ON CONFLICT (orgId)'))).toBe(true);
    expect(await values('dag_k')).toEqual([1, 2, 3].map((org_id) => ({ org_id, value: 61 })));
    expect(await shadows()).toEqual([]);
  });
});
