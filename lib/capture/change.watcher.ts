import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { CINEMA_MODULE_OPTIONS } from '../cinema.constants.js';
import { sameDatabase } from '../dialect/postgres/sql.js';
import { ApplicationShutdownError } from '../errors/application-shutdown.error.js';
import { describeLens } from '../errors/cinema.error.js';
import { InvalidProjectionError } from '../errors/invalid-projection.error.js';
import type { ResolvedCinemaOptions } from '../interfaces/cinema-options.interface.js';
import { WriteSlots } from '../execution/write-slots.js';
import type { ProjectionModel } from '../model/projection.model.js';
import { ProjectionRegistry } from '../model/projection.registry.js';
import { CinemaPlanner } from '../planning/cinema.planner.js';
import { changeLog, type NewMark } from './change-log.store.js';
import { covers, groupMarks, lensOf, type MarkGroup } from './mark-groups.js';
import { SlotReader } from './logical/slot.reader.js';
import { RunTelemetry } from '../telemetry/run-telemetry.js';
import { SliceRefresher } from './slice.refresher.js';
import { VersionRollout } from './version-rollout.js';
import { WatcherLocks } from './watcher-locks.js';

/** For the tests: called after a round read its marks, before it claims their projections. Not public. */
export const watcherHooks: { afterRead?: (watcher: ChangeWatcher) => Promise<void> | void } = {};

/** Rounds of one cycle at most: a steady stream of writes cannot keep a cycle from ending. */
const MAX_ROUNDS = 50;
/** The longest wait before a failing projection is tried again. */
const MAX_BACKOFF_MS = 30_000;

/** What one cycle did. */
export interface CaptureCycle {
  refreshed: number;
  failed: number;
  /** Projections left to another watcher that was refreshing them (each counted once per cycle). */
  skipped: number;
}

/**
 * Continuous refresh: every `capture.interval`, reads the dirty marks the capture triggers wrote
 * (oldest first, `capture.batch` at a time) and refreshes each marked projection, in dependency
 * order, with one list lens per lens key set. The marks are read, in one snapshot, before the
 * refresh starts, and exactly those visible in that snapshot are deleted in the refresh's own
 * transaction, with the hand-off to the dependents: a crash anywhere leaves every change marked
 * (duplicates only cost a refresh).
 *
 * Several watchers (processes with `capture`) share the work: a watcher refreshes a projection
 * only while it holds that projection's session advisory lock (`watcher-locks.ts`), re-reads
 * which of its marks are still there once it has it, and leaves a projection another watcher
 * holds to that watcher for the rest of the cycle.
 */
@Injectable()
export class ChangeWatcher implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Cinema');
  private readonly controller = new AbortController();
  private loop?: Promise<void>;
  private refresher?: SliceRefresher;
  private changes?: DataSource;
  private locks?: WatcherLocks;
  /** Projections named by marks that this application does not register (logged once). */
  private readonly unknown = new Set<string>();
  /** Settles when this watcher's last cycle has ended (see `cycle`). */
  private cycling: Promise<unknown> = Promise.resolve();
  /** Projections whose last refresh failed: tried again after a doubling delay. */
  private readonly backoff = new Map<string, { failures: number; until: number }>();

  constructor(
    private readonly registry: ProjectionRegistry,
    private readonly planner: CinemaPlanner,
    private readonly slots: WriteSlots,
    @Inject(CINEMA_MODULE_OPTIONS) private readonly options: ResolvedCinemaOptions,
    private readonly moduleRef: ModuleRef,
    private readonly slotReader: SlotReader,
    private readonly telemetry: RunTelemetry,
    private readonly versions: VersionRollout,
  ) {}

  onApplicationBootstrap(): void {
    const capture = this.options.capture;
    if (!capture?.watch) return;
    this.changes = this.moduleRef.get<DataSource>(getDataSourceToken(capture.dataSource), { strict: false });
    this.checkDatabases(this.changes);
    this.refresher = new SliceRefresher(
      () => this.registry.graph,
      this.planner,
      this.slots,
      this.options,
      this.changes,
      this.telemetry,
      () => this.versions.tracked,
    );
    this.locks = new WatcherLocks(this.changes);
    this.loop = this.run(capture.interval);
  }

  /** Whether this process runs the watcher (`capture` set, `capture.watch` not `false`). */
  get watching(): boolean {
    return this.loop !== undefined;
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.controller.abort(new ApplicationShutdownError());
    await this.loop;
  }

  /**
   * Drains the marks once (a cycle): rounds of reads and refreshes until none is left or a bound
   * is hit. Cycles of one watcher take turns (a second call starts when the first has ended): the
   * locks that keep watchers apart are its connection's, which would grant them to both.
   */
  cycle(): Promise<CaptureCycle> {
    const next = this.cycling.then(
      () => this.drain(),
      () => this.drain(),
    );
    this.cycling = next.catch(() => undefined);
    return next;
  }

  private async drain(): Promise<CaptureCycle> {
    const result: CaptureCycle = { refreshed: 0, failed: 0, skipped: 0 };
    // Logical mode: the slot's changes become marks first.
    await this.slotReader.drain();
    // Projections that failed (in this cycle, or lately: backing off) are left out of the reads.
    const now = Date.now();
    const failed = new Set([...this.backoff].filter(([, b]) => b.until > now).map(([name]) => name));
    // Projections another watcher was refreshing: left to it for the rest of this cycle.
    const skipped = new Set<string>();
    // After the first round, only what this cycle handed on (and a full batch's remainder): changes
    // written meanwhile wait for the next cycle, so that a steady stream of writes cannot keep a
    // watcher busy without a pause.
    let only: string[] | undefined;
    try {
      for (let round = 0; round < MAX_ROUNDS && !this.controller.signal.aborted; round++) {
        const { snapshot, slices: marks } = await changeLog.read(this.changes!, this.options.capture!.batch, [...failed, ...skipped], only);
        // The marks' ages are the database's; the time since the read is this process's (no clock skew between them).
        const read = { snapshot, at: performance.now() };
        if (marks.length === 0) break;
        const handedTo = new Set<string>();
        // A full batch leaves marks behind: the next round reads them too.
        const full = marks.length >= this.options.capture!.batch;
        await watcherHooks.afterRead?.(this);
        const models: ProjectionModel[] = [];
        for (const [name, own] of groupMarks(marks)) {
          const model = this.model(
            name,
            own.reduce((sum, group) => sum + group.marks, 0),
          );
          if (model) models.push(model);
          else failed.add(name);
        }
        if (models.length === 0) continue;
        const plan = this.registry.graph.plan(models, true);
        // Every projection of the round is claimed first: a dependent this watcher holds, whose own
        // marks name a slice, needs no hand-off of that slice, since its refresh comes later in
        // this round (and its marks stay until a refresh of it commits).
        const claimed = new Map<string, MarkGroup[]>();
        try {
          for (const node of plan) {
            const own = marks.filter((mark) => mark.projection === node.name);
            const remaining = await this.locks!.claim(
              node.name,
              snapshot,
              own.map((mark) => mark.key),
            );
            if (!remaining) {
              skipped.add(node.name);
              result.skipped++;
              continue;
            }
            const groups = groupMarks(own.filter((mark) => remaining.has(mark.key))).get(node.name) ?? [];
            for (const group of groups) {
              this.telemetry.sliceDirtied({ projection: node.name, slices: group.whole ? [] : group.slices, marks: group.marks });
            }
            claimed.set(node.name, groups);
          }
          const covered = (mark: NewMark) => (claimed.get(mark.projection) ?? []).some((group) => covers(group, mark.lens));
          for (const node of plan) {
            const groups = claimed.get(node.name);
            if (!groups) continue;
            if (!(await this.refreshAll(node.key, groups, read, covered, failed, result, handedTo))) return result;
          }
        } finally {
          for (const name of claimed.keys()) await this.locks!.unlock(name);
        }
        if (full) only = undefined;
        else if (handedTo.size === 0) break;
        else only = [...handedTo];
      }
    } finally {
      await this.locks!.releaseAll();
    }
    return result;
  }

  /**
   * Under the projection's lock: refreshes the groups of those of its marks still there (another
   * watcher may have settled some since they were read). `false`: shutting down.
   */
  private async refreshAll(
    model: ProjectionModel,
    groups: readonly MarkGroup[],
    read: { snapshot: string; at: number },
    covered: (mark: NewMark) => boolean,
    failed: Set<string>,
    result: CaptureCycle,
    handedTo: Set<string>,
  ): Promise<boolean> {
    for (const group of groups) {
      if (this.controller.signal.aborted) return false;
      try {
        const refreshed = await this.refresher!.refresh(model, group, read.snapshot, this.controller.signal, covered);
        if (!model.virtual) this.telemetry.freshnessLag(model.name, group.ageMs + (performance.now() - read.at));
        for (const name of refreshed.handedTo) handedTo.add(name);
        this.backoff.delete(model.name);
        result.refreshed++;
      } catch (error) {
        if (this.controller.signal.aborted) return false;
        result.failed++;
        failed.add(model.name);
        const failures = (this.backoff.get(model.name)?.failures ?? 0) + 1;
        const delay = Math.min(this.options.capture!.interval * 2 ** failures, MAX_BACKOFF_MS);
        this.backoff.set(model.name, { failures, until: Date.now() + delay });
        this.logger.error(
          `Change capture: refreshing ${model.name} ${describeLens(lensOf(group))} failed; its ${group.marks} mark(s) stay, retried in ${delay} ms. ` +
            `Cause: ${(error as Error)?.message ?? String(error)}`,
        );
      }
    }
    return true;
  }

  private async run(interval: number): Promise<void> {
    const signal = this.controller.signal;
    while (!signal.aborted) {
      try {
        await this.cycle();
      } catch (error) {
        if (signal.aborted) return;
        this.logger.error(`Change capture: reading cinema.changes failed, retrying in ${interval} ms. Cause: ${(error as Error)?.message}`);
      }
      // Aborted during the cycle: an abort listener added now would never fire.
      if (signal.aborted) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, interval);
        signal.addEventListener('abort', done, { once: true });
        function done() {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
      });
    }
  }

  /** A mark's projection; marks of a projection this application does not know are left alone, once logged. */
  private model(name: string, marks: number): ProjectionModel | undefined {
    try {
      return this.registry.named(name);
    } catch {
      if (!this.unknown.has(name)) {
        this.unknown.add(name);
        this.logger.warn(
          `Change capture: ${marks} mark(s) name projection ${name}, which this application does not register; left in cinema.changes.`,
        );
      }
      return undefined;
    }
  }

  /** A refresh deletes its marks in its own transaction: the change log must be in its write database. */
  private checkDatabases(changes: DataSource): void {
    const graph = this.registry.graph;
    const seen = new Set<ProjectionModel>();
    const visit = (model: ProjectionModel) => {
      if (seen.has(model)) return;
      seen.add(model);
      if (!model.virtual && !sameDatabase(model.write!, changes)) {
        throw new InvalidProjectionError(
          model.name,
          `change capture refreshes it, but its write data source "${model.writeName}" is not the database of cinema.changes ("${this.options.capture!.dataSource}")`,
          'Set capture.dataSource to its write data source, or leave changes out of the projections that feed it.',
        );
      }
      for (const dependent of graph.dependentsOf(model)) visit(dependent);
    };
    for (const model of this.registry.all()) if (model.changes.length > 0) visit(model);
  }
}
