import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource, QueryRunner } from 'typeorm';
import { CINEMA_MODULE_OPTIONS } from '../../cinema.constants.js';
import { hash64 } from '../../dialect/postgres/sql.js';
import { LogicalCaptureError } from '../../errors/logical-capture.error.js';
import type { ResolvedCaptureOptions } from '../../interfaces/capture.interface.js';
import type { ResolvedCinemaOptions } from '../../interfaces/cinema-options.interface.js';
import { ProjectionRegistry } from '../../model/projection.registry.js';
import { MarkCollector, type CollectedMarks, type LogicalSource } from './change-marks.js';
import { checkLogicalCapture } from './logical-checks.js';
import { writeMarks } from './mark-writer.js';
import { parsePgoutput } from './pgoutput.parser.js';

/** Peeks of one drain at most: a steady stream of writes cannot keep a cycle from refreshing. */
const MAX_PEEKS = 20;

/** Internal test hooks: a crash between committing marks and advancing the slot. */
export const slotReaderHooks: { afterMarksCommitted?: (marks: CollectedMarks) => Promise<void> | void } = {};

/** The slot as `pg_replication_slots` shows it (`invalidation_reason` from PostgreSQL 17). */
interface SlotRow {
  database: string;
  plugin: string;
  wal_status: string | null;
  invalidation_reason?: string | null;
}

/** The slot's WAL as `CinemaHealthIndicator` reports it. */
export interface SlotHealth {
  name: string;
  /** Bytes of WAL the server keeps for the slot (0 when it is missing). */
  retainedWal: number;
  /** Missing, or invalidated: every captured projection is rebuilt whole once it is made again. */
  lost: boolean;
}

/**
 * Logical capture (`capture.mode: 'logical'`): at startup, checks the server, the publication
 * and the replica identities, and makes the replication slot when it is absent or lost. Each
 * watcher cycle first drains the slot through SQL: peek the changes up to the flushed WAL, write
 * their marks to `cinema.changes` and commit, then advance the slot. A crash between the two
 * only writes the same marks again; no change is lost.
 */
@Injectable()
export class SlotReader implements OnModuleInit {
  private readonly logger = new Logger('Cinema');
  private sources?: Map<number, LogicalSource[]>;
  private dataSource?: DataSource;
  /** The flushed WAL position up to which the slot was last read whole: nothing new, no peek. */
  private readUpTo?: string;
  /**
   * Whether `pg_log_standby_snapshot()` can be called (PostgreSQL 16+, and allowed to this role):
   * `undefined` until tried.
   */
  private canLogSnapshot?: boolean;

  constructor(
    private readonly registry: ProjectionRegistry,
    @Inject(CINEMA_MODULE_OPTIONS) private readonly options: ResolvedCinemaOptions,
    private readonly moduleRef: ModuleRef,
  ) {}

  private get capture(): ResolvedCaptureOptions | undefined {
    return this.options.capture?.mode === 'logical' ? this.options.capture : undefined;
  }

  async onModuleInit(): Promise<void> {
    const capture = this.capture;
    if (!capture) return;
    this.dataSource = this.moduleRef.get<DataSource>(getDataSourceToken(capture.dataSource), { strict: false });
    this.sources = await checkLogicalCapture(this.dataSource, () => this.registry.all(), capture);
    await this.locked(true, async (runner) => {
      await this.ensureSlot(runner, true);
    });
  }

  /** One drain of the slot into `cinema.changes` (a watcher cycle's first step); failures are logged, and retried next cycle. */
  async drain(): Promise<void> {
    if (!this.capture || !this.sources) return;
    try {
      await this.locked(false, (runner) => this.read(runner));
    } catch (error) {
      this.logger.error(
        `Change capture: reading replication slot "${this.capture.slot}" failed; its changes stay in the slot and are read again next cycle. ` +
          `Cause: ${(error as Error)?.message ?? String(error)}`,
      );
    }
  }

  /** The slot's retained WAL; `undefined` outside logical mode. */
  async health(): Promise<SlotHealth | undefined> {
    const capture = this.capture;
    if (!capture || !this.dataSource) return undefined;
    const [row] = await this.dataSource.query<{ retained: number | null; slot: SlotRow | null }[]>(
      `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::float8 AS retained, to_jsonb(s) AS slot
       FROM (SELECT 1) one LEFT JOIN pg_replication_slots s ON s.slot_name = $1`,
      [capture.slot],
    );
    return { name: capture.slot, retainedWal: row.retained ?? 0, lost: !row.slot || isLost(row.slot) };
  }

  /**
   * Runs `work` on a connection of its own holding the slot's advisory lock: one process drains a
   * slot at a time (concurrent peeks on one slot fail). `wait`: block for it, else skip when held.
   */
  private async locked(wait: boolean, work: (runner: QueryRunner) => Promise<void>): Promise<void> {
    const key = hash64(`cinema:slot:${this.capture!.slot}`);
    const runner = this.dataSource!.createQueryRunner();
    try {
      await runner.connect();
      if (wait) await runner.query(`SELECT pg_advisory_lock($1::int8)`, [key]);
      else {
        const [{ locked }] = await runner.query(`SELECT pg_try_advisory_lock($1::int8) AS locked`, [key]);
        if (!locked) return;
      }
      try {
        await work(runner);
      } finally {
        await runner.query(`SELECT pg_advisory_unlock($1::int8)`, [key]).catch(() => undefined);
      }
    } finally {
      await runner.release();
    }
  }

  /**
   * Each peek decodes from the slot's `restart_lsn`, which moves only past a running-transactions
   * record (the server logs one every 15 s): a record logged now lets the next advance move it, so
   * the next cycle decodes a cycle's WAL, not up to 15 s of it. Best effort: skipped for good where
   * the function is missing (PostgreSQL 15) or not granted.
   */
  private async logSnapshot(runner: QueryRunner): Promise<void> {
    if (this.canLogSnapshot === false) return;
    try {
      await runner.query(`SELECT pg_log_standby_snapshot()`);
      this.canLogSnapshot = true;
    } catch (error) {
      this.canLogSnapshot = false;
      this.logger.debug?.(
        `Change capture: pg_log_standby_snapshot() is not available (${(error as Error)?.message}); each cycle decodes from the slot's restart_lsn.`,
      );
    }
  }

  /** Peeks, writes the marks, advances: until everything flushed when it began was read. */
  private async read(runner: QueryRunner): Promise<void> {
    const { slot, publication, batch } = this.capture!;
    for (let peek = 0; peek < MAX_PEEKS; peek++) {
      const flushed = await this.ensureSlot(runner, false);
      if (peek === 0 && flushed === this.readUpTo) return;
      if (peek === 0) await this.logSnapshot(runner);
      const rows: { data: Buffer }[] = await runner.query(
        `SELECT data FROM pg_logical_slot_peek_binary_changes($1, $2::pg_lsn, $3, 'proto_version', '1', 'publication_names', $4)`,
        [slot, flushed, batch, publication],
      );
      const collector = new MarkCollector(this.sources!);
      let lastCommit: string | undefined;
      for (const row of rows) {
        const message = parsePgoutput(row.data);
        collector.add(message);
        if (message.tag === 'commit') lastCommit = message.endLsn;
      }
      // The limit is checked at commits only: fewer rows means every transaction up to `flushed` came back.
      const complete = rows.length < batch;
      const marks = collector.result();
      await writeMarks(runner, marks);
      await slotReaderHooks.afterMarksCommitted?.(marks);
      const upTo = complete ? flushed : lastCommit;
      if (upTo) {
        await runner.query(
          `SELECT pg_replication_slot_advance($1, GREATEST($2::pg_lsn, s.confirmed_flush_lsn)) FROM pg_replication_slots s WHERE s.slot_name = $1`,
          [slot, upTo],
        );
      }
      if (complete) {
        this.readUpTo = flushed;
        return;
      }
    }
  }

  /**
   * The flushed WAL position, after making the slot when it is missing or invalidated; then every
   * captured projection is marked dirty as a whole (what changed meanwhile is unknown).
   */
  private async ensureSlot(runner: QueryRunner, startup: boolean): Promise<string> {
    const { slot } = this.capture!;
    const read = async () =>
      (
        await runner.query(
          `SELECT pg_current_wal_flush_lsn()::text AS flushed, current_database() AS database,
             (SELECT to_jsonb(s) FROM pg_replication_slots s WHERE s.slot_name = $1) AS slot`,
          [slot],
        )
      )[0] as { flushed: string; database: string; slot: SlotRow | null };
    const state = await read();
    if (state.slot && (state.slot.database !== state.database || state.slot.plugin !== 'pgoutput')) {
      throw new LogicalCaptureError(
        `replication slot "${slot}" belongs to database "${state.slot.database}" with plugin ${state.slot.plugin}, not to "${state.database}" with pgoutput`,
        'Slot names are unique in the whole server: give this database its own with capture: { slot }.',
      );
    }
    if (state.slot && !isLost(state.slot)) return state.flushed;
    if (state.slot) await runner.query(`SELECT pg_drop_replication_slot($1)`, [slot]);
    // Autocommit: a transaction that has written cannot make a logical slot.
    await runner.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    const projections = [...new Set([...this.sources!.values()].flat().map((source) => source.projection))];
    await writeMarks(runner, { whole: new Set(projections), slices: [] });
    const why = !state.slot
      ? startup
        ? 'did not exist (a first start, or it was dropped)'
        : 'was dropped'
      : 'was invalidated (the server removed WAL it still needed)';
    this.logger.warn(
      `Change capture: replication slot "${slot}" ${why}; created it and marked every captured projection dirty as a whole ` +
        `(${projections.join(', ')}): they rebuild once.`,
    );
    this.readUpTo = undefined;
    return (await read()).flushed;
  }
}

function isLost(slot: SlotRow): boolean {
  return slot.wal_status === 'lost' || (slot.invalidation_reason ?? null) !== null;
}
