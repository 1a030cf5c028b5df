import { Logger } from '@nestjs/common';
import { SelectQueryBuilder } from 'typeorm';
import { ProjectionFailedError, ProjectionTimeoutError, type TimeoutOption } from '../errors/projection-failed.error.js';
import type { NodeReport } from '../interfaces/run.interface.js';
import type { NormalizedLens } from '../lens/lens.js';
import type { ProjectionModel } from '../model/projection.model.js';
import type { RunOutputs } from '../read/run-outputs.js';
import { derivationContext, prepareInputs } from './derivation-context.js';
import { inspectKeyConflict, keyConflictError, keyConflictWarning } from './key-conflicts.js';
import { ProjectionWriter } from './projection.writer.js';
import type { Semaphore } from './semaphore.js';
import { Valve } from './valve.js';
import { SwapUnsafe } from './table-swap.js';
import { KeyConflict, type PgClient } from './write-client.js';
import { WriteTransaction } from './write-transaction.js';

export interface NodeRunOptions {
  lens: NormalizedLens;
  /** Milliseconds this projection may take; 0 for no limit. */
  timeout: number;
  /** The option that set `timeout`, named in the timeout error. */
  timeoutOption: TimeoutOption;
  /**
   * PostgreSQL's `client_connection_check_interval` for the write transaction (14+): a backend
   * whose client vanished stops its statement (and frees its locks) within this; 0 leaves it off.
   */
  connectionCheckInterval: number;
  /** Aborted when the run is given up (its own timeout). */
  signal: AbortSignal;
  /** Bounds write transactions across runs on this projection's write data source. */
  slots: Semaphore;
  batchSize: number;
  streamBatchSize: number;
  /** The run's outputs, each built once; without it, each input's output is built here. */
  outputs?: RunOutputs;
  /** Last statements of the write transaction, after the slice is written (the queue's bookkeeping). */
  beforeCommit?: (client: PgClient) => Promise<void>;
}

/** The reason a run is aborted when its own `timeout` runs out. */
export class RunTimeout {
  constructor(readonly timeoutMs: number) {}
}

/**
 * A projection's own timeout and the option it comes from: `@Projection({ timeout })`, else
 * the module's `fullRebuildTimeout` for an empty lens (a whole-table rebuild), else its `timeout`.
 */
export function projectionTimeout(
  model: ProjectionModel,
  lens: NormalizedLens,
  fullRebuildTimeout: number,
): { timeout: number; timeoutOption: TimeoutOption } {
  if (model.options.timeout !== undefined) return { timeout: model.timeout, timeoutOption: 'projection' };
  if (lens.empty) return { timeout: fullRebuildTimeout, timeoutOption: 'fullRebuild' };
  return { timeout: model.timeout, timeoutOption: 'module' };
}

/** How far PostgreSQL's `statement_timeout` trails a projection's timeout. */
const STATEMENT_TIMEOUT_SLACK_MS = 250;

/**
 * Rebuilds one materialized projection: one transaction on its write data source that locks
 * the slice, deletes it and writes what the derivations return. Any failure or timeout rolls
 * the transaction back, so the previous slice stays as it was.
 */
export class ProjectionRunner {
  /** Projections whose rows met keys already in their table: they insert with `ON CONFLICT`. */
  private readonly upserting = new WeakSet<ProjectionModel>();
  /** Projections whose derivations write their table directly: their whole-table rebuilds stay in place. */
  private readonly inPlace = new WeakSet<ProjectionModel>();
  private readonly logger = new Logger('Cinema');

  async run(model: ProjectionModel, options: NodeRunOptions, report: NodeReport): Promise<void> {
    const controller = new AbortController();
    const lensValues = options.lens.display;
    const abortWith = (reason: unknown) => {
      if (!controller.signal.aborted) controller.abort(reason);
    };
    const onRunAbort = () => abortWith(options.signal.reason);
    options.signal.addEventListener('abort', onRunAbort, { once: true });

    let releaseSlot: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    let started: number | undefined;
    // The rebuild may start over in a new transaction (see rebuildOrUpsert).
    // A dead write connection fails the run at once with the server's reason.
    // Prepared statements for a lens of equalities only: PostgreSQL may settle on one generic plan,
    // which suits one org's slice as well as the next, but not a list of 10 orgs then of 1,000,
    // or a range of a day then of a year.
    const prepare = model.preparedStatements && !options.lens.reducer && options.lens.conditions.every((c) => c.op === 'eq' && !c.negate);
    const transaction = () => new WriteTransaction(model, abortWith, prepare);
    const current = { transaction: transaction() };
    try {
      releaseSlot = await options.slots.acquire(controller.signal);
      // The projection's own time starts with its transaction, not while it waits for a slot.
      started = performance.now();
      if (options.timeout > 0) {
        timer = setTimeout(
          () => abortWith(new ProjectionTimeoutError(model.name, lensValues, options.timeout, options.timeoutOption)),
          options.timeout,
        );
      }
      report.status = 'running';
      report.startedAt = new Date();
      const work = this.rebuildOrUpsert(model, options, current, transaction, controller.signal, report);
      work.catch(() => undefined);
      const aborted = new Promise<never>((_, reject) => {
        if (controller.signal.aborted) reject(controller.signal.reason);
        controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
      });
      aborted.catch(() => undefined);
      try {
        await Promise.race([work, aborted]);
      } catch (error) {
        // A timeout that lands while COMMIT is on the wire does not undo it: the commit decides.
        // A COMMIT queued behind the last statement: that statement is cancelled first.
        const { transaction } = current;
        if (transaction.commitQueued) {
          if (await transaction.committedAfterAll(controller.signal.aborted)) return;
          throw error;
        }
        if (transaction.committing) return await transaction.committing;
        throw error;
      }
    } catch (error) {
      // Aborted (timeout, run given up): a statement may still be running, so cancel it first.
      const interrupted = controller.signal.aborted;
      const overdue = options.timeout > 0 && started !== undefined && performance.now() - started >= options.timeout;
      abortWith(error);
      await current.transaction.abandon(interrupted);
      // A statement cut off by the dead connection reports pg's words; the server's are better.
      const lost = current.transaction.lost;
      const reason = lost && !(error instanceof ProjectionFailedError) && !(error instanceof RunTimeout) ? lost : error;
      throw toFailure(model, lensValues, reason, overdue ? options : undefined);
    } finally {
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onRunAbort);
      releaseSlot?.();
    }
  }

  /**
   * Rebuilds with plain inserts; if one meets a key already in the table, rolls back and rebuilds
   * again with `ON CONFLICT`, which this projection then keeps using (with a warning the first
   * time), or with `keyConflicts: 'error'` fails with the key and the row holding it.
   */
  private async rebuildOrUpsert(
    model: ProjectionModel,
    options: NodeRunOptions,
    current: { transaction: WriteTransaction },
    transaction: () => WriteTransaction,
    signal: AbortSignal,
    report: NodeReport,
  ): Promise<void> {
    const upsert = this.upserting.has(model);
    try {
      await this.rebuildOrStayInPlace(model, options, current, transaction, signal, report, upsert);
    } catch (error) {
      if (!(error instanceof KeyConflict) || upsert) throw error;
      await current.transaction.abandon(false);
      signal.throwIfAborted();
      // Without the delete, meeting its own keys is a projection's normal case: nothing to say.
      if (model.dematerialize) {
        const conflict = await inspectKeyConflict(model, options.lens, error);
        if (model.keyConflicts === 'error') throw keyConflictError(model, options.lens, conflict);
        if (!this.upserting.has(model)) {
          this.upserting.add(model);
          this.logger.warn(keyConflictWarning(model, options.lens, conflict));
        }
      }
      this.upserting.add(model);
      startOver(current, transaction, signal, report);
      await this.rebuild(model, options, current.transaction, signal, report, true);
    }
  }

  /**
   * Rebuilds; if a swapped whole-table rebuild finds that the derivations wrote the table
   * directly (which the swap would drop), rolls back and rebuilds in place, as this projection's
   * whole-table rebuilds then always do.
   */
  private async rebuildOrStayInPlace(
    model: ProjectionModel,
    options: NodeRunOptions,
    current: { transaction: WriteTransaction },
    transaction: () => WriteTransaction,
    signal: AbortSignal,
    report: NodeReport,
    upsert: boolean,
  ): Promise<void> {
    try {
      await this.rebuild(model, options, current.transaction, signal, report, upsert);
    } catch (error) {
      if (!(error instanceof SwapUnsafe)) throw error;
      await current.transaction.abandon(false);
      signal.throwIfAborted();
      if (!this.inPlace.has(model)) {
        this.inPlace.add(model);
        this.logger.log(`${model.name}: its derivations write its table directly, so whole-table rebuilds delete and insert in place`);
      }
      startOver(current, transaction, signal, report);
      await this.rebuild(model, options, current.transaction, signal, report, upsert);
    }
  }

  private async rebuild(
    model: ProjectionModel,
    options: NodeRunOptions,
    transaction: WriteTransaction,
    signal: AbortSignal,
    report: NodeReport,
    upsert: boolean,
  ): Promise<void> {
    const { lens } = options;
    const { dialect } = model;
    const params: unknown[] = [];
    const prelude = dialect.transactionPrelude(
      {
        // The database's own limit is a backstop, a little behind the timer that cancels and reports.
        statementTimeoutMs: options.timeout > 0 ? options.timeout + STATEMENT_TIMEOUT_SLACK_MS : 0,
        connectionCheckIntervalMs: options.connectionCheckInterval,
        locks: dialect.sliceLocks(model.table!, model.partitionKey, lens, params),
      },
      params,
    );
    const client = await transaction.connect();

    const valve = new Valve();
    const diff = model.writeMode === 'diff';
    const swap = lens.empty && model.dematerialize && !diff && !upsert && model.fullRebuild !== 'in-place' && !this.inPlace.has(model);
    const writer = new ProjectionWriter(model, lens, client, {
      upsert,
      diff,
      swap,
      batchSize: options.batchSize,
      streamBatchSize: options.streamBatchSize,
      signal,
      valve,
    });
    // Sent with BEGIN: bound every later statement, then wait for the slice's locks; a plain
    // delete of the slice follows in the same round trip when its values can be written in.
    const earlyDelete = model.dematerialize ? writer.inlinedDelete() : undefined;
    const opening = transaction.open(prelude, earlyDelete === undefined ? [] : [earlyDelete]);
    opening.catch(() => undefined);
    // The inputs (queries, no rows read) are built while BEGIN is on the wire.
    const inputs = await prepareInputs(model, lens, signal, options.outputs);
    // A diff deletes nothing before its derivations: they are called while BEGIN is on the wire too.
    if (earlyDelete === undefined && !diff) await opening;

    const ctx = derivationContext({
      model,
      lens,
      inputs,
      writer,
      write: transaction.manager,
      signal,
      valve,
      streamBatchSize: options.streamBatchSize,
      report,
    });

    // The first derivation is called while the DELETE is on the wire (in BEGIN's round trip, or
    // its own): whatever it sends on the write connection queues behind the DELETE, and its rows
    // are written after it. A diff deletes only what is no longer derived, once everything is:
    // what it waits for is BEGIN's round trip.
    let deleting: Promise<unknown> | undefined;
    if (earlyDelete !== undefined) deleting = opening.then(([deleted]) => (report.deleted += deleted));
    else if (diff) deleting = opening;
    else if (model.dematerialize) deleting = ctx.dematerialize();
    deleting?.catch(() => undefined);
    for (const [index, derivation] of model.derivations.entries()) {
      const args = derivation.inputs.map((input) =>
        derivation.mode === 'query' ? ctx.query(input.target) : ctx.stream(input.target, { dateStrings: derivation.dateStrings }),
      );
      const deriving = Promise.resolve().then(() => model.instance[derivation.method](...args, ctx));
      const result = await deriving.catch(async (error: unknown) => {
        // A failed DELETE is the first thing that went wrong.
        await deleting;
        throw error;
      });
      signal.throwIfAborted();
      // A query's INSERT is built while the DELETE may still be on the wire, and queued behind it.
      // When it is the transaction's last statement, COMMIT is queued behind it in turn.
      const last = index === model.derivations.length - 1 && !diff && !swap && !options.beforeCommit;
      const commitAhead = last ? () => transaction.commitAhead() : undefined;
      const materialize = async () => {
        report.written += await writer.materialize(result, commitAhead);
      };
      const writing = result instanceof SelectQueryBuilder || !deleting ? materialize() : undefined;
      writing?.catch(() => undefined);
      if (deleting) await deleting;
      deleting = undefined;
      await (writing ?? materialize());
    }
    if (deleting) await deleting;
    signal.throwIfAborted();
    if (diff) {
      // The diff's statement is the transaction's last: COMMIT is queued behind it.
      const counts = await writer.applyDiff(options.beforeCommit ? undefined : () => transaction.commitAhead());
      signal.throwIfAborted();
      report.deleted += counts.deleted;
      report.written += counts.inserted + counts.updated;
      report.unchanged = counts.unchanged;
    }
    // A swapped whole-table rebuild swaps its table in now: the queue's bookkeeping below stamps
    // the node's end after it, and the swap's lock lasts until the commit.
    await writer.finish(report.written);
    signal.throwIfAborted();
    report.paths = [...writer.paths];
    if (options.beforeCommit) {
      await options.beforeCommit(client);
      signal.throwIfAborted();
    }
    await transaction.commit();
  }
}

/** Before rebuilding again in a new transaction: nothing the abandoned attempt wrote counts. */
function startOver(
  current: { transaction: WriteTransaction },
  transaction: () => WriteTransaction,
  signal: AbortSignal,
  report: NodeReport,
): void {
  signal.throwIfAborted();
  report.deleted = 0;
  report.written = 0;
  report.unchanged = undefined;
  current.transaction = transaction();
}

/** `overdue`: the projection's timeout, when it has run that long (else `undefined`). */
function toFailure(
  model: ProjectionModel,
  lens: Readonly<Record<string, unknown>>,
  error: unknown,
  overdue?: Pick<NodeRunOptions, 'timeout' | 'timeoutOption'>,
): ProjectionFailedError {
  if (error instanceof ProjectionFailedError && error.projection === model.name) return error;
  if (error instanceof RunTimeout) return new ProjectionTimeoutError(model.name, lens, error.timeoutMs, 'call');
  // The statement_timeout backstop fired first (a blocked event loop delays the timer). A
  // statement timeout before the projection's own (one the derivation set) is a plain failure.
  if (overdue !== undefined && model.dialect.isStatementTimeout(error)) {
    return new ProjectionTimeoutError(model.name, lens, overdue.timeout, overdue.timeoutOption);
  }
  return new ProjectionFailedError(model.name, lens, error);
}
