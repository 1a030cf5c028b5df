import { DataSource } from 'typeorm';
import { CINEMA_CAPTURE_MIGRATIONS, installCapture, installLogicalCapture, removeCapture, removeLogicalCapture } from '../../lib/index.js';
import { bootBenchApp, type BenchApp } from '../apps/bench-app.js';
import type { BenchContext } from '../bench-context.js';
import { BranchTellers, PGBENCH_PROJECTIONS, PgbenchTellers } from '../fixtures/pgbench-branches.fixture.js';
import { runPgbench } from './pgbench.runner.js';

/** pgbench's tellers per branch (per unit of its scale factor). */
export const TELLERS_PER_BRANCH = 10;
/** The watcher's interval during every capture scenario: the sample app's (and the module's default). */
export const WATCHER_INTERVAL_MS = 200;
/** Tellers of the probe branch (bid = scale + 1), which pgbench's own scripts never touch. */
export const PROBE_TELLERS = 10;

/**
 * How writes reach the watcher in one contender of the write-overhead scenario.
 * - `off`: no capture triggers, no watcher.
 * - `triggers`: the statement triggers of `installCapture`, and the watcher running (its refreshes
 *   compete with the writers: they are part of what capture costs).
 * - `triggers-only`: the triggers, no watcher (the marks pile up, cleared between rounds): what
 *   the triggers alone cost.
 * - `logical-only`: the publication and the slot, no watcher (nothing decodes): what logical
 *   capture costs the writers themselves, WAL and all.
 * - `logical`: no trigger; the table is in the publication of `installLogicalCapture` and the
 *   watcher (`capture: { mode: 'logical' }`) drains a `pgoutput` slot each cycle: writers pay WAL.
 */
export type CaptureMode = 'off' | 'triggers' | 'triggers-only' | 'logical' | 'logical-only';

/**
 * The pgbench database of the capture scenarios: pgbench's tables at the given scale, a probe
 * branch of {@link PROBE_TELLERS} tellers beyond pgbench's range, the change log, and
 * `BranchTellers` built. Switches between capture modes; one Nest app at a time runs on it.
 */
export class PgbenchDatabase {
  private watcher?: BenchApp;
  private mode: CaptureMode = 'off';

  private constructor(
    readonly url: string,
    readonly scale: number,
    private readonly control: DataSource,
  ) {}

  static async create(ctx: BenchContext, scale: number): Promise<PgbenchDatabase> {
    const url = await ctx.database('cinema_bench_pgbench');
    await ctx.timedSetup(`pgbench tables (scale ${scale})`, async () => {
      await runPgbench(url, ['-i', '-q', '-s', String(scale), '-I', 'dtgvp']);
    });
    const control = new DataSource({ type: 'postgres', url, migrations: [...CINEMA_CAPTURE_MIGRATIONS], logging: false });
    await control.initialize();
    const db = new PgbenchDatabase(url, scale, control);
    try {
      await control.runMigrations();
      // Logical mode's replica identity: an index holding the lens column, so that a DELETE or a
      // move carries the old bid. Set once: it changes what WAL records only at wal_level=logical,
      // and only for rows whose key changes, which pgbench's scripts never do.
      await control.query(`ALTER TABLE pgbench_tellers ALTER COLUMN bid SET NOT NULL`);
      await control.query(`CREATE UNIQUE INDEX IF NOT EXISTS pgbench_tellers_tid_bid ON pgbench_tellers (tid, bid)`);
      await control.query(`ALTER TABLE pgbench_tellers REPLICA IDENTITY USING INDEX pgbench_tellers_tid_bid`);
      await control.query(
        `INSERT INTO pgbench_tellers (tid, bid, tbalance, filler)
         SELECT g, $2::int, 0, '' FROM generate_series($1::int, $1::int + $3::int - 1) g`,
        [db.firstProbeTeller, db.probeBranch, PROBE_TELLERS],
      );
      // Rows the single-row INSERT script adds, far above pgbench's and the probe's tellers.
      await control.query(`CREATE SEQUENCE IF NOT EXISTS bench_insert_tid START 1000000000`);
      await control.query(`VACUUM ANALYZE pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history`);
      // The projection's table, built once with every branch.
      const app = await db.boot(false, true);
      try {
        await app.cinema.project(BranchTellers, {}, { fetch: false });
      } finally {
        await app.close();
      }
      return db;
    } catch (error) {
      await control.destroy();
      throw error;
    }
  }

  /** The branch only the staleness probe writes. */
  get probeBranch(): number {
    return this.scale + 1;
  }

  get firstProbeTeller(): number {
    return this.scale * TELLERS_PER_BRANCH + 1;
  }

  /** Runs a statement on the control connection pool (no Nest app, no watcher). */
  query<T = unknown>(sql: string, values?: unknown[]): Promise<T> {
    return this.control.query(sql, values);
  }

  /** Puts the database in `mode`: triggers installed or not, the watcher running or not, no marks left. */
  async use(mode: CaptureMode): Promise<BenchApp | undefined> {
    await this.reset();
    if (mode === 'triggers' || mode === 'triggers-only') await this.ddl((runner) => installCapture(runner, [PgbenchTellers]));
    if (mode === 'logical' || mode === 'logical-only') await this.ddl((runner) => installLogicalCapture(runner, [PgbenchTellers]));
    if (mode === 'triggers' || mode === 'logical') this.watcher = await this.boot(true, false, mode);
    // The watcher's module creates the slot at startup; closed at once, nothing reads it.
    if (mode === 'logical-only') await (await this.boot(true, false, 'logical')).close();
    this.mode = mode;
    return this.watcher;
  }

  /** Stops the watcher, removes the triggers, rows the INSERT script added and every mark. */
  async reset(): Promise<void> {
    await this.watcher?.close();
    this.watcher = undefined;
    if (this.mode === 'triggers' || this.mode === 'triggers-only') await this.ddl((runner) => removeCapture(runner, [PgbenchTellers]));
    // Drops the slot too once the publication is empty: the next logical round starts afresh.
    if (this.mode === 'logical' || this.mode === 'logical-only') await this.ddl((runner) => removeLogicalCapture(runner, [PgbenchTellers]));
    this.mode = 'off';
    await this.control.query(`DELETE FROM pgbench_tellers WHERE tid >= 1000000000`);
    await this.control.query(`TRUNCATE "cinema"."changes"`);
  }

  async close(): Promise<void> {
    await this.reset().catch(() => undefined);
    await this.control.destroy();
  }

  private async ddl(work: (runner: ReturnType<DataSource['createQueryRunner']>) => Promise<void>): Promise<void> {
    const runner = this.control.createQueryRunner();
    try {
      await work(runner);
    } finally {
      await runner.release();
    }
  }

  private boot(capture: boolean, synchronize: boolean, mode: 'triggers' | 'logical' = 'triggers'): Promise<BenchApp> {
    return bootBenchApp({
      dataSources: [{ url: this.url, synchronize, poolSize: 4 }],
      projections: PGBENCH_PROJECTIONS,
      cinema: capture ? { capture: { interval: WATCHER_INTERVAL_MS, mode } } : {},
    });
  }
}
