import { Column, Entity, PrimaryColumn, type ObjectLiteral, type SelectQueryBuilder } from 'typeorm';
import { beforeAll, describe, expect, it } from 'vitest';
import { Input, Projection, ProjectionTimeoutError, type DerivationContext } from '../../lib/index.js';
import { TellerHistory } from '../fixtures/tellers.fixture.js';
import { useTestApp } from '../support/test-app.js';

/**
 * A one-slice refresh sends its DELETE in BEGIN's round trip (the lens values written in as
 * literals) and queues COMMIT behind its one INSERT ... SELECT; a diff calls its derivation while
 * BEGIN is on the wire and queues COMMIT behind its one diff statement. These check what that must
 * not change: exactly the slice is replaced, counts are reported, and a timeout while the last
 * statement runs (COMMIT already queued) cancels it and keeps the slice.
 */

/** Seconds each history row of the slice sleeps in the derivation's query (0: no sleep); a look at the write connection. */
const slow: { seconds: number; peek?: (ctx: DerivationContext) => Promise<void> } = { seconds: 0 };

@Entity('branch_totals')
@Projection({ partitionKey: 'bid', timeout: 600 })
class BranchTotals {
  @PrimaryColumn({ type: 'integer' }) bid: number;
  @Column({ type: 'bigint' }) delta: string;

  @Input(() => TellerHistory, { as: 'query' })
  derive(history: SelectQueryBuilder<ObjectLiteral>, ctx: DerivationContext) {
    return totalsOf(history, ctx);
  }
}

/** The same totals written as a diff: one statement writes what changed, COMMIT queued behind it. */
@Entity('branch_totals_diff')
@Projection({ partitionKey: 'bid', timeout: 600, write: 'diff' })
class BranchTotalsDiff {
  @PrimaryColumn({ type: 'integer' }) bid: number;
  @Column({ type: 'bigint' }) delta: string;

  @Input(() => TellerHistory, { as: 'query' })
  derive(history: SelectQueryBuilder<ObjectLiteral>, ctx: DerivationContext) {
    return totalsOf(history, ctx);
  }
}

async function totalsOf(history: SelectQueryBuilder<ObjectLiteral>, ctx: DerivationContext) {
  await slow.peek?.(ctx);
  return history.connection
    .createQueryBuilder()
    .select('h.bid', 'bid')
    .addSelect('SUM(h.delta)', 'delta')
    .from(`(${history.getQuery()})`, 'h')
    .setParameters({ ...history.getParameters(), sleep: slow.seconds, none: '' })
    .where('pg_sleep(:sleep)::text = :none')
    .groupBy('h.bid');
}

/** Labels with a quote and backslashes: the DELETE's literal must name exactly this slice. */
const ODD = `it's \\ odd \\\\`;

@Entity('label_counts')
@Projection({ partitionKey: 'label' })
class LabelCounts {
  @PrimaryColumn({ type: 'text' }) label: string;
  @Column({ type: 'integer' }) rows: number;

  @Input(() => TellerHistory, { as: 'query' })
  derive(history: SelectQueryBuilder<ObjectLiteral>) {
    return history.connection
      .createQueryBuilder()
      .select('l.label', 'label')
      .addSelect('COUNT(h.tid)::int', 'rows')
      .from('(SELECT unnest(ARRAY[:...labels]::text[]) AS label)', 'l')
      .leftJoin(`(${history.getQuery()})`, 'h', `(l.label = :odd AND h.bid = 1) OR (l.label = 'plain' AND h.bid = 2)`)
      .setParameters({ ...history.getParameters(), labels: [ODD, 'plain'], odd: ODD })
      .groupBy('l.label');
  }
}

describe('a slice refresh in fewer round trips', () => {
  const { t } = useTestApp('slice_round_trips', (db) => ({
    dataSources: [{ url: db.url, synchronize: true }],
    projections: [TellerHistory, BranchTotals, BranchTotalsDiff, LabelCounts],
  }));
  const history = () => t.dataSource().query(`SELECT bid, SUM(delta)::text AS delta FROM teller_history GROUP BY bid ORDER BY bid`);
  const rowsOf = (table: string) => t.dataSource().query(`SELECT bid, delta::text AS delta FROM ${table} ORDER BY bid`);
  const totals = () => rowsOf('branch_totals');

  beforeAll(async () => {
    await t.dataSource().query(`CREATE TABLE teller_history (tid integer NOT NULL, bid integer NOT NULL, delta integer NOT NULL)`);
    await t.dataSource().query(`INSERT INTO teller_history VALUES (1, 1, 10), (2, 1, 20), (3, 2, 30), (4, 3, 40)`);
  });

  it('replaces exactly the slice and reports what it deleted and wrote, run after run', async () => {
    for (const bid of [1, 2, 3]) await t.cinema.refresh([BranchTotals], { bid });
    expect(await totals()).toEqual(await history());
    await t.dataSource().query(`INSERT INTO teller_history VALUES (5, 2, 5)`);
    for (let i = 0; i < 3; i++) {
      const run = await t.cinema.refresh([BranchTotals], { bid: 2 });
      expect(run.nodes.find((node) => node.projection === 'BranchTotals')).toMatchObject({ status: 'succeeded', deleted: 1, written: 1 });
    }
    expect(await totals()).toEqual([
      { bid: 1, delta: '30' },
      { bid: 2, delta: '35' },
      { bid: 3, delta: '40' },
    ]);
  });

  it('prepares the INSERT ... SELECT once it repeats (its lens values stay parameters), and no DELETE', async () => {
    for (const bid of [1, 2, 3]) await t.cinema.refresh([BranchTotals], { bid });
    let prepared: { statement: string }[] = [];
    slow.peek = async (ctx) => {
      prepared = await ctx.write.query(`SELECT statement FROM pg_prepared_statements WHERE name LIKE 'cinema_%'`);
    };
    try {
      await t.cinema.refresh([BranchTotals], { bid: 2 });
    } finally {
      slow.peek = undefined;
    }
    expect(prepared.filter((p) => p.statement.startsWith('DELETE'))).toEqual([]);
    expect(prepared.filter((p) => p.statement.startsWith('INSERT INTO "branch_totals"'))).toEqual([
      { statement: expect.stringMatching(/WHERE "src"\."bid" = \$\d+/) },
    ]);
  });

  it('writes a text lens value with quotes and backslashes into the DELETE as the same value', async () => {
    await t.cinema.refresh([LabelCounts], { label: 'plain' });
    await t.cinema.refresh([LabelCounts], { label: ODD });
    const rows = () => t.dataSource().query(`SELECT label, rows FROM label_counts ORDER BY label`);
    expect(await rows()).toEqual([
      { label: ODD, rows: 2 },
      { label: 'plain', rows: 2 },
    ]);
    await t.dataSource().query(`INSERT INTO teller_history VALUES (6, 1, 1)`);
    const run = await t.cinema.refresh([LabelCounts], { label: ODD });
    expect(run.nodes.find((node) => node.projection === 'LabelCounts')).toMatchObject({ deleted: 1, written: 1 });
    expect(await rows()).toEqual([
      { label: ODD, rows: 3 },
      { label: 'plain', rows: 2 },
    ]);
    await t.dataSource().query(`DELETE FROM teller_history WHERE tid = 6`);
  });

  it("writes a diff's changes with the derivation's own statements inside the transaction, after the slice's lock", async () => {
    const diffed = () => rowsOf('branch_totals_diff');
    for (const bid of [1, 2, 3]) await t.cinema.refresh([BranchTotalsDiff], { bid });
    expect(await diffed()).toEqual(await history());
    // Called while BEGIN may still be on the wire: what it sends waits for BEGIN and the lock.
    let locks: { n: number }[] = [];
    slow.peek = async (ctx) => {
      locks = await ctx.write.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()`);
    };
    try {
      const same = await t.cinema.refresh([BranchTotalsDiff], { bid: 2 });
      expect(same.nodes.find((node) => node.projection === 'BranchTotalsDiff')).toMatchObject({ deleted: 0, written: 0, unchanged: 1 });
    } finally {
      slow.peek = undefined;
    }
    expect(locks).toEqual([{ n: expect.any(Number) }]);
    expect(locks[0].n).toBeGreaterThan(0);
    await t.dataSource().query(`INSERT INTO teller_history VALUES (8, 2, 2)`);
    const changed = await t.cinema.refresh([BranchTotalsDiff], { bid: 2 });
    expect(changed.nodes.find((node) => node.projection === 'BranchTotalsDiff')).toMatchObject({ deleted: 0, written: 1, unchanged: 0 });
    expect(await diffed()).toEqual(await history());
  });

  it.each([
    // Bid 1 holds 10 + 20, then 100 more from each case's history row.
    { projection: BranchTotals, table: 'branch_totals', statement: 'an INSERT', tid: 7, committed: '130' },
    { projection: BranchTotalsDiff, table: 'branch_totals_diff', statement: 'a diff statement', tid: 9, committed: '230' },
  ])(
    'cancels $statement still running at the timeout, though COMMIT was queued behind it, and keeps the slice',
    async ({ projection, table, tid, committed }) => {
      const rows = () => rowsOf(table);
      await t.cinema.refresh([projection], { bid: 1 });
      const before = await rows();
      await t.dataSource().query(`INSERT INTO teller_history VALUES ($1, 1, 100)`, [tid]);
      slow.seconds = 0.5;
      try {
        const began = performance.now();
        const failure = await t.cinema.refresh([projection], { bid: 1 }).catch((error: unknown) => error);
        expect(failure).toBeInstanceOf(ProjectionTimeoutError);
        expect((failure as Error).message).toContain(projection.name);
        // Cancelled, not waited for: the slice's rows would sleep 1.5 s or more.
        expect(performance.now() - began).toBeLessThan(1_400);
      } finally {
        slow.seconds = 0;
      }
      expect(await rows()).toEqual(before);
      // The connection went back to the pool clean: the next refresh commits.
      await t.cinema.refresh([projection], { bid: 1 });
      expect((await rows()).find((row: { bid: number }) => row.bid === 1)).toEqual({ bid: 1, delta: committed });
    },
  );
});
