import type { Type } from '@nestjs/common';
import { from, type Observable } from 'rxjs';
import type { QueryRunner, SelectQueryBuilder } from 'typeorm';
import { InvalidProjectionError } from '../errors/invalid-projection.error.js';
import { ProjectionFailedError, ProjectionTimeoutError } from '../errors/projection-failed.error.js';
import type { DerivationContext, Row } from '../interfaces/derivation-context.interface.js';
import type { NodeReport } from '../interfaces/run.interface.js';
import type { NormalizedLens } from '../lens/lens.js';
import { lockExpressions } from './advisory-locks.js';
import { inlineIntegers } from './sql.js';
import { copyIn } from './copy-text.js';
import type { ProjectionModel } from './projection.model.js';
import { KeyConflict, ProjectionWriter, type PgClient } from './projection.writer.js';
import { streamRows } from './row-stream.js';
import type { Semaphore } from './semaphore.js';
import { narrow, outputContext, outputOf, type OutputSource } from './slice.queries.js';
import { Valve } from './valve.js';

export interface NodeRunOptions {
  lens: NormalizedLens;
  /** Milliseconds this projection may take; 0 for no limit. */
  timeout: number;
  /** Aborted when the run is given up (its own timeout). */
  signal: AbortSignal;
  /** Bounds write transactions across runs on this projection's write data source. */
  slots: Semaphore;
  batchSize: number;
  streamBatchSize: number;
  /** Last statements of the write transaction, after the slice is written (the queue's bookkeeping). */
  beforeCommit?: (client: PgClient) => Promise<void>;
}

/** The reason a run is aborted when its own `timeout` runs out. */
export class RunTimeout {
  constructor(readonly timeoutMs: number) {}
}

/** How far PostgreSQL's `statement_timeout` trails a projection's timeout. */
const STATEMENT_TIMEOUT_SLACK_MS = 250;

/** How long to wait for `pg_cancel_backend` before rolling back regardless. */
const CANCEL_GRACE_MS = 2_000;

/**
 * Rebuilds one materialized projection: one transaction on its write data source that locks
 * the slice, deletes it and writes what the derivations return. Any failure or timeout rolls
 * the transaction back, so the previous slice stays as it was.
 */
export class ProjectionRunner {
  /** Projections whose rows met keys already in their table: they insert with `ON CONFLICT`. */
  private readonly upserting = new WeakSet<ProjectionModel>();

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
    const current = { transaction: new Transaction(model) };
    try {
      releaseSlot = await options.slots.acquire(controller.signal);
      // The projection's own time starts with its transaction, not while it waits for a slot.
      started = performance.now();
      if (options.timeout > 0) {
        timer = setTimeout(() => abortWith(new ProjectionTimeoutError(model.name, lensValues, options.timeout)), options.timeout);
      }
      report.status = 'running';
      report.startedAt = new Date();
      const work = this.rebuildOrUpsert(model, options, current, controller.signal, report);
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
        if (current.transaction.committing) return await current.transaction.committing;
        throw error;
      }
    } catch (error) {
      // Aborted (timeout, run given up): a statement may still be running, so cancel it first.
      const interrupted = controller.signal.aborted;
      const overdue = options.timeout > 0 && started !== undefined && performance.now() - started >= options.timeout;
      abortWith(error);
      await current.transaction.abandon(interrupted);
      throw toFailure(model, lensValues, error, overdue ? options.timeout : undefined);
    } finally {
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onRunAbort);
      releaseSlot?.();
    }
  }

  /**
   * Rebuilds with plain inserts; if one meets a key already in the table, rolls back and rebuilds
   * again with `ON CONFLICT`, which this projection then keeps using.
   */
  private async rebuildOrUpsert(
    model: ProjectionModel,
    options: NodeRunOptions,
    current: { transaction: Transaction },
    signal: AbortSignal,
    report: NodeReport,
  ): Promise<void> {
    const upsert = this.upserting.has(model);
    try {
      await this.rebuild(model, options, current.transaction, signal, report, upsert);
    } catch (error) {
      if (!(error instanceof KeyConflict) || upsert) throw error;
      this.upserting.add(model);
      await current.transaction.abandon(false);
      signal.throwIfAborted();
      report.deleted = 0;
      report.written = 0;
      current.transaction = new Transaction(model);
      await this.rebuild(model, options, current.transaction, signal, report, true);
    }
  }

  private async rebuild(
    model: ProjectionModel,
    options: NodeRunOptions,
    transaction: Transaction,
    signal: AbortSignal,
    report: NodeReport,
    upsert: boolean,
  ): Promise<void> {
    const { lens } = options;
    // PostgreSQL's own limit is a backstop, a little behind the timer that cancels and reports.
    const params: unknown[] = [options.timeout > 0 ? options.timeout + STATEMENT_TIMEOUT_SLACK_MS : 0];
    const locks = lockExpressions(model, lens, params);
    // Sent with BEGIN: bound every later statement, then wait for the slice's locks.
    const client = await transaction.connect();
    const opening = transaction.open(
      inlineIntegers(`SELECT set_config('statement_timeout', $1::text, true)${locks.map((l) => `, ${l}`).join('')}`, params),
    );
    opening.catch(() => undefined);
    // The inputs (queries, no rows read) are built while BEGIN is on the wire.
    const inputs = await this.prepareInputs(model, lens, signal);
    await opening;

    const valve = new Valve();
    const writer = new ProjectionWriter(model, lens, client, {
      upsert,
      batchSize: options.batchSize,
      streamBatchSize: options.streamBatchSize,
      signal,
      valve,
    });
    const queryOf = <I>(input: Type<I>): SelectQueryBuilder<any> => {
      const source = this.inputSource(model, inputs, input);
      if (source.kind !== 'query') {
        throw new InvalidProjectionError(
          model.name,
          `its input ${nameOf(input)} has an output() that returns rows, so it cannot be read as a query`,
          `Read it with as: 'stream', or make ${nameOf(input)}.output() return a SelectQueryBuilder.`,
        );
      }
      return source.qb;
    };
    const streamOf = <I>(input: Type<I>): Observable<Partial<I>> => {
      const source = this.inputSource(model, inputs, input);
      if (source.kind === 'rows') return from(source.rows as Observable<Row>) as Observable<Partial<I>>;
      const [sql, values] = source.qb.getQueryAndParameters();
      return streamRows(source.qb.connection, sql, values, {
        batchSize: options.streamBatchSize,
        valve,
        signal,
      }) as Observable<Partial<I>>;
    };
    const ctx: DerivationContext = {
      projection: model.name,
      lens: lens.values,
      read: model.read.manager,
      write: transaction.manager,
      signal,
      materialize: async (source) => {
        // eslint-disable-next-line @typescript-eslint/await-thenable -- JavaScript callers may pass a promise
        const written = await writer.materialize(await source);
        report.written += written;
        return written;
      },
      dematerialize: async () => {
        const deleted = await writer.deleteSlice();
        report.deleted += deleted;
        return deleted;
      },
      query: queryOf,
      stream: streamOf,
    };

    // The first derivation is called while the DELETE is on the wire: whatever it sends on the
    // write connection queues behind the DELETE, and its rows are written after it.
    let deleting = model.dematerialize ? ctx.dematerialize() : undefined;
    deleting?.catch(() => undefined);
    for (const derivation of model.derivations) {
      const args = derivation.inputs.map((input) =>
        derivation.mode === 'query' ? queryOf(input.target) : streamOf(input.target),
      );
      const deriving = Promise.resolve().then(() => model.instance[derivation.method](...args, ctx));
      deriving.catch(() => undefined);
      if (deleting) await deleting;
      deleting = undefined;
      const result = await deriving;
      signal.throwIfAborted();
      await ctx.materialize(result);
    }
    if (deleting) await deleting;
    signal.throwIfAborted();
    report.paths = [...writer.paths];
    if (options.beforeCommit) {
      await options.beforeCommit(client);
      signal.throwIfAborted();
    }
    await transaction.commit();
  }

  private async prepareInputs(model: ProjectionModel, lens: NormalizedLens, signal: AbortSignal) {
    const sources = new Map<Type<unknown>, OutputSource>();
    for (const input of model.inputs) {
      const source = await outputOf(input, outputContext(input, lens, signal));
      sources.set(input.target, source.kind === 'query' ? { ...source, qb: narrow(source, lens, input.name) } : source);
    }
    return sources;
  }

  private inputSource(model: ProjectionModel, sources: Map<Type<unknown>, OutputSource>, input: Type<unknown>): OutputSource {
    const source = sources.get(input);
    if (!source) {
      throw new InvalidProjectionError(
        model.name,
        `a derivation asked for ${nameOf(input)}, which is not one of its @Input projections`,
        `Declare it with @Input(() => ${nameOf(input)}) so the graph rebuilds it first.`,
      );
    }
    return source;
  }
}

/** One write transaction; closes exactly once, whether the work finishes or is abandoned. */
class Transaction {
  pid?: number;
  /** Set once COMMIT is sent: from then on the outcome is the commit's, not a timeout's. */
  committing?: Promise<void>;
  private runner?: QueryRunner;
  private raw?: PgClient;
  private connecting?: Promise<unknown>;
  private connected = false;
  private closed = false;
  private closing?: Promise<void>;

  constructor(private readonly model: ProjectionModel) {}

  get manager() {
    return this.runner!.manager;
  }

  /** A pooled connection of the write data source, guarded: it refuses statements once closed. */
  async connect(): Promise<PgClient> {
    this.runner = this.model.write!.createQueryRunner('master');
    this.connecting = this.runner.connect();
    const raw = (await this.connecting) as PgClient & { processID?: number; query<T>(stream: T): T };
    this.connected = true;
    if (this.closed) throw new Error('the transaction was closed');
    this.pid = raw.processID;
    this.raw = raw;
    // A derivation still running after a timeout must not reach the pooled connection after it
    // was handed to someone else.
    return {
      query: (config) => (this.closed ? Promise.reject(new Error('the transaction was closed')) : raw.query(config)),
      copy: (text, data) => (this.closed ? Promise.reject(new Error('the transaction was closed')) : copyIn(raw, text, data)),
    };
  }

  /** Opens the transaction with `prelude` (a statement without parameters) in BEGIN's round trip. */
  async open(prelude: string): Promise<void> {
    if (this.closed) throw new Error('the transaction was closed');
    const state = this.runner as QueryRunner & { transactionDepth?: unknown };
    if (state.transactionDepth === 0 && !state.isTransactionActive) {
      // TypeORM's own bookkeeping, as startTransaction() sets it (before the statement, so that
      // a failure is rolled back), for the manager handed to derivations and for commit/rollback.
      (state as { isTransactionActive: boolean }).isTransactionActive = true;
      state.transactionDepth = 1;
      await this.raw!.query({ text: `BEGIN; ${prelude}` });
    } else {
      await this.runner!.startTransaction();
      await this.raw!.query({ text: prelude });
    }
  }

  commit(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the transaction was closed'));
    this.committing = this.runner!.commitTransaction().then(() => this.close());
    return this.committing;
  }

  /**
   * Rolls back and releases the connection. With `cancel`, first cancels whatever statement the
   * connection runs (a cancel that reaches an idle backend is ignored by PostgreSQL).
   */
  abandon(cancel: boolean): Promise<void> {
    this.closing ??= (async () => {
      if (!this.runner) return;
      if (!this.connected) {
        // Still waiting for a pooled connection: hand it back as soon as it arrives.
        this.closed = true;
        const runner = this.runner;
        const released = this.connecting!.then(
          () => runner.release(),
          () => undefined,
        );
        await withTimeout(released, CANCEL_GRACE_MS);
        return;
      }
      if (cancel && this.pid !== undefined && !this.closed) {
        await withTimeout(this.model.write!.query('SELECT pg_cancel_backend($1)', [this.pid]), CANCEL_GRACE_MS).catch(
          () => undefined,
        );
      }
      let failure: Error | undefined;
      try {
        if (this.runner.isTransactionActive) await this.runner.rollbackTransaction();
      } catch (error) {
        failure = error as Error;
      }
      await this.close(failure);
    })();
    return this.closing;
  }

  private async close(failure?: Error): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A connection whose rollback failed is destroyed rather than returned to the pool.
    const runner = this.runner as QueryRunner & { releasePostgresConnection?(error?: Error): Promise<void> };
    const release = failure && runner.releasePostgresConnection ? runner.releasePostgresConnection(failure) : runner.release();
    await release.catch(() => undefined);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([promise, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms).unref())]);
}

/** `overdueMs`: the projection's timeout, when it has run that long (else `undefined`). */
function toFailure(
  model: ProjectionModel,
  lens: Readonly<Record<string, unknown>>,
  error: unknown,
  overdueMs?: number,
): ProjectionFailedError {
  if (error instanceof ProjectionFailedError && error.projection === model.name) return error;
  if (error instanceof RunTimeout) return new ProjectionTimeoutError(model.name, lens, error.timeoutMs);
  // The statement_timeout backstop fired first (a blocked event loop delays the timer). A
  // statement timeout before the projection's own (one the derivation set) is a plain failure.
  if (overdueMs !== undefined && (error as { code?: string })?.code === '57014' && /statement timeout/.test((error as Error).message)) {
    return new ProjectionTimeoutError(model.name, lens, overdueMs);
  }
  return new ProjectionFailedError(model.name, lens, error);
}

function nameOf(type: Type<unknown>): string {
  return type?.name ?? String(type);
}
