import { Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { JobHelpers, Logger as GraphileLogger, Runner, Task } from 'graphile-worker';
import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { CinemaNotReadyError } from '../../errors/cinema-not-ready.error.js';
import { InvalidCinemaOptionsError } from '../../errors/invalid-options.error.js';
import { QueueDependencyMissingError } from '../../errors/queue-dependency.error.js';
import { QueueNotInstalledError, RunNotRetryableError, UnknownRunError } from '../../errors/queue.error.js';
import { ProjectionFailedError, ProjectionTimeoutError, type TimeoutOption } from '../../errors/projection-failed.error.js';
import { RunWaitInterruptedError } from '../../errors/run-wait-interrupted.error.js';
import { QueuedRunTimeoutError } from '../../errors/queued-run-timeout.error.js';
import type { CinemaRun } from '../../interfaces/run.interface.js';
import { lensKey } from '../../lens/lens-key.js';
import type { PlannedNode } from '../../planning/projection-graph.js';
import type { ResolvedCinemaOptions } from '../../interfaces/cinema-options.interface.js';
import type { ResolvedQueueOptions } from '../../interfaces/queue-options.interface.js';
import type { NodeReport } from '../../interfaces/run.interface.js';
import { decodeLens, encodeLens } from '../../lens/lens-codec.js';
import { normalizeLens, type NormalizedLens } from '../../lens/lens.js';
import type { ProjectionCatalog, ProjectionModel } from '../../model/projection.model.js';
import type { RunRecord } from '../../runs/run-record.js';
import { logBackgroundRun, settleResult } from '../../runs/run-result.js';
import type { CinemaEngine, RunRequest } from '../engine.interface.js';
import { ProjectionRunner, projectionTimeout } from '../../execution/projection.runner.js';
import type { WriteSlots } from '../../execution/write-slots.js';
import { applyStored, queuedRecord } from './queued-run.js';
import { PARKED, QueueStore, taskIdentifier, type NodeJob, type NodeSpec, type StoredError, type StoredRun } from './queue.store.js';
import { RunListener } from './run-listener.js';

export interface EnqueueRequest {
  /** What the run is recorded as: the projection asked for, or the names of several. */
  label: string;
  plan: readonly PlannedNode<ProjectionModel>[];
  /** The lens as the caller gave it (validated). */
  lens: NormalizedLens;
  skipDependencies: boolean;
  queue: string;
  priority: number;
  attempts?: number;
  runAt?: Date;
  /** The caller's `timeout`: bounds each node's transaction. */
  timeoutMs?: number;
  concurrency: number;
}

/** Why this process stops working a node: it is shutting down, not the node failing. */
class ShuttingDown extends Error {}

/** Runs deleted per statement by the retention sweep, and statements per sweep at most. */
const RETENTION_BATCH = 500;
const RETENTION_BATCHES_PER_SWEEP = 10;

/** Who this process is, in tokens and `application_name`s: `<host>:<pid>`. */
const IDENTITY = `${hostname()}:${process.pid}`;

/** PostgreSQL keeps the first 63 bytes of an `application_name`. */
function applicationName(role: string): string {
  return `${role}:${IDENTITY}`.slice(0, 63);
}

/**
 * The durable engine: a run is rows in the `cinema` schema, each materialized projection a
 * graphile-worker job. A node's job runs the same `ProjectionRunner` as the inline engine; just
 * before its transaction commits, the node is marked done and the dependents whose inputs are
 * now all done are queued, in that same transaction. Any process enqueues and awaits (LISTEN);
 * worker processes run jobs and hand back the jobs of workers that died.
 */
export class QueueEngine implements CinemaEngine, OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly name = 'queue' as const;
  private readonly logger = new Logger('CinemaQueue');
  private readonly options: ResolvedQueueOptions;
  private readonly runner = new ProjectionRunner();
  private readonly shutdown = new AbortController();
  private readonly graphileWorkers = new Set<string>();
  /** Rejects of runs awaited in this process, called when it shuts down. */
  private readonly waiting = new Set<(reason: unknown) => void>();
  private graphile?: typeof import('graphile-worker');
  private pool?: pg.Pool;
  private storeInstance?: QueueStore;
  private listener?: RunListener;
  private worker?: Runner;
  private sweeper?: NodeJS.Timeout;
  private sweeping = false;
  private resolveStopped!: () => void;
  /** Settles once this process has stopped working and waiting (its shutdown hook finished). */
  readonly stopped = new Promise<void>((resolve) => (this.resolveStopped = resolve));

  constructor(
    private readonly catalog: ProjectionCatalog,
    private readonly slots: WriteSlots,
    private readonly cinemaOptions: ResolvedCinemaOptions,
    private readonly dataSourceOf: (name: string) => DataSource,
  ) {
    this.options = cinemaOptions.queue!;
  }

  get store(): QueueStore {
    if (!this.storeInstance) throw new CinemaNotReadyError('The queue engine');
    return this.storeInstance;
  }

  async onApplicationBootstrap(): Promise<void> {
    this.graphile = await import('graphile-worker').catch((error: Error) => {
      throw new QueueDependencyMissingError(error);
    });
    const config = connectionConfig(this.dataSourceOf(this.options.dataSource));
    // Named after the process, so operators can tell workers apart in pg_stat_activity.
    this.pool = new pg.Pool({ ...config, max: this.options.concurrency + 4, application_name: applicationName('cinema-queue') });
    this.pool.on('error', (error) => this.logger.warn(`Queue connection lost: ${error.message}`));
    this.pool.on('connect', (client) => client.on('error', (error) => this.logger.warn(`Queue connection lost: ${error.message}`)));
    this.storeInstance = new QueueStore(this.pool, this.options.jobSchema);
    const missing = await this.store.missingMigration();
    if (missing) throw new QueueNotInstalledError(this.options.dataSource, missing);
    await this.store.serialized(() =>
      this.graphile!.runMigrations({ pgPool: this.pool, schema: this.options.jobSchema, logger: this.graphileLogger() }),
    );
    this.listener = new RunListener(
      { ...config, application_name: applicationName('cinema-queue-listener') },
      this.options.worker,
      (error) => this.logger.warn(`Queue listener: ${error.message}; reconnecting`),
      () => this.afterReconnect(),
    );
    await this.listener.start();
    if (this.options.worker) await this.startWorker();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.shutdown.abort(new ShuttingDown('the application is shutting down'));
    for (const reject of [...this.waiting]) reject(this.shutdown.signal.reason);
    clearInterval(this.sweeper);
    await this.worker?.stop().catch((error: Error) => this.logger.warn(`Stopping the worker: ${error.message}`));
    await this.listener?.stop();
    await this.pool?.end().catch(() => undefined);
    this.resolveStopped();
  }

  async start<P>(request: RunRequest): Promise<CinemaRun<P>> {
    const { options } = request;
    const { id } = await this.enqueue({
      label: request.label,
      plan: request.plan,
      // With the reducer, if any: the queue refuses what cannot cross processes.
      lens: request.lens,
      skipDependencies: options.skipDependencies,
      queue: options.given.queue ?? 'default',
      priority: options.given.priority ?? 0,
      attempts: options.given.attempts,
      runAt: options.given.runAt,
      timeoutMs: options.timeout || undefined,
      concurrency: options.concurrency,
    });
    // The caller's timeout counts from the call, enqueueing included.
    const timeout = options.timeout
      ? { timeoutMs: options.timeout, waitMs: Math.max(1, options.timeout - (Date.now() - options.requestedAt)) }
      : undefined;
    const run = await this.handle<P>(id, options.fetch, timeout);
    if (options.async) {
      run.result.catch((error: Error) => {
        // Not a failure: this process stops waiting, the run goes on in the queue.
        if (error instanceof RunWaitInterruptedError) return;
        if (error instanceof QueuedRunTimeoutError) return this.logger.warn(error.message);
        logBackgroundRun(this.logger, run, 'Queued run', error);
      });
    }
    return run;
  }

  async find<P>(id: string): Promise<CinemaRun<P> | undefined> {
    if (!(await this.store.load(id))) return undefined;
    const run = await this.handle<P>(id, true);
    run.result.catch(() => undefined);
    return run;
  }

  /** Runs a failed run again from its failed and cancelled projections. */
  async retry<P>(id: string): Promise<CinemaRun<P>> {
    const before = await this.store.retry(id);
    if (before === undefined) throw new UnknownRunError(id);
    if (before !== 'failed') throw new RunNotRetryableError(id, before);
    const run = await this.handle<P>(id, true);
    run.result.catch(() => undefined);
    return run;
  }

  /** The handle of a queued run; its result reads the projection's rows once the run succeeded. */
  private async handle<P>(id: string, fetch: boolean, timeout?: { waitMs: number; timeoutMs: number }): Promise<RunRecord<P>> {
    const stored = await this.store.load(id);
    if (!stored) throw new UnknownRunError(id);
    const run = queuedRecord<P>(stored);
    const done = this.wait(id, stored.projection, run.lens as Record<string, unknown>, timeout).then((finished) => {
      applyStored(run, finished);
      if (run.error) throw run.error;
    });
    // A run of several projections (recorded under their names) returns no rows.
    const model = this.known(stored.projection);
    run.result = settleResult(run, done, {
      targets: model ? [model] : [],
      lens: normalizeLens(stored.projection, run.lens),
      options: { fetch: fetch && model !== undefined },
    });
    // Not tracked for shutdown: the run lives in the queue, and waiting for it ends with the process.
    return run;
  }

  private known(name: string): ProjectionModel | undefined {
    try {
      return this.catalog.named(name);
    } catch {
      return undefined;
    }
  }

  /** Records the run and queues its first projections; returns its id (a pending twin's, if coalesced). */
  async enqueue(request: EnqueueRequest): Promise<{ id: string; coalesced: boolean }> {
    const lens = encodeLens(request.label, request.lens.display);
    const materialized = (node: ProjectionModel, seen = new Set<ProjectionModel>()): string[] => {
      // The materialized projections a node waits for, looking through virtual ones.
      const planned = request.plan.find((candidate) => candidate.key === node);
      const names: string[] = [];
      for (const input of planned?.after ?? []) {
        if (seen.has(input)) continue;
        seen.add(input);
        if (input.virtual) names.push(...materialized(input, seen));
        else names.push(input.name);
      }
      return names;
    };
    const nodes: NodeSpec[] = request.plan.map((node, position) => ({
      projection: node.name,
      position,
      virtual: node.virtual,
      after: node.virtual ? [] : [...new Set(materialized(node.key))],
    }));
    return this.store.enqueue({
      id: randomUUID(),
      projection: request.label,
      lens,
      skipDependencies: request.skipDependencies,
      queue: request.queue,
      priority: request.priority,
      attempts: request.attempts ?? this.options.attempts,
      runAt: request.runAt,
      timeoutMs: request.timeoutMs,
      concurrency: request.concurrency,
      // A run scheduled for later is not the same request as one for now. Lenses that select the
      // same rows (`{ orgId: 25 }`, `[25]`, `In([25])`, `'25'` for an integer) are one request.
      coalesceKey: request.runAt
        ? undefined
        : createHash('sha256')
            .update(JSON.stringify([request.label, request.skipDependencies, request.queue, lensKey(request.lens, kindIn(request.plan))]))
            .digest('hex'),
      nodes,
    });
  }

  /**
   * Settles with the run once it has succeeded or failed. Rejects with `QueuedRunTimeoutError`
   * after `waitMs` (what is left of the caller's `timeoutMs`) and with `RunWaitInterruptedError` when this process shuts down: either way
   * the run itself goes on in the queue.
   */
  wait(runId: string, projection: string, lens: Readonly<Record<string, unknown>>, timeout?: { waitMs: number; timeoutMs: number }): Promise<StoredRun> {
    return new Promise<StoredRun>((resolve, reject) => {
      let settled = false;
      const onShutdown = () => finish(() => reject(new RunWaitInterruptedError(projection, runId)));
      const timer = timeout
        ? setTimeout(() => finish(() => reject(new QueuedRunTimeoutError(projection, lens, runId, timeout.timeoutMs))), timeout.waitMs)
        : undefined;
      const finish = (settle: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        unsubscribe();
        this.waiting.delete(onShutdown);
        settle();
      };
      const check = () => {
        this.store.load(runId).then(
          (run) => {
            if (!run) finish(() => reject(new UnknownRunError(runId)));
            else if (run.status === 'succeeded' || run.status === 'failed') finish(() => resolve(run));
          },
          (error: Error) => finish(() => reject(error)),
        );
      };
      // Subscribed before the first look, so a completion in between is not missed.
      const unsubscribe = this.listener!.subscribe(runId, check);
      if (this.shutdown.signal.aborted) return onShutdown();
      this.waiting.add(onShutdown);
      check();
    });
  }

  private async startWorker(): Promise<void> {
    // Jobs are locked under the pool's id (or a worker's, depending on graphile-worker's mode):
    // both are recorded as this process's, so that its death hands their jobs back at once.
    const events = new EventEmitter();
    const track = (id: string) => {
      this.graphileWorkers.add(id);
      this.register(id);
    };
    events.on('pool:create', ({ workerPool }: { workerPool: { id: string } }) => track(workerPool.id));
    events.on('worker:create', ({ worker }: { worker: { workerId: string } }) => track(worker.workerId));
    const task: Task = (payload, helpers) => this.work(payload as NodeJob, helpers);
    const options = {
      pgPool: this.pool,
      schema: this.options.jobSchema,
      concurrency: this.options.concurrency,
      pollInterval: this.options.pollInterval,
      noHandleSignals: true,
      taskList: Object.fromEntries(this.options.queues.map((queue) => [taskIdentifier(queue), task])),
      events: events as never,
      logger: this.graphileLogger(),
    };
    // No cron items: graphile-worker would otherwise look for a crontab file in the cwd.
    this.worker = await this.graphile!.run(options, undefined, []);
    this.sweeper = setInterval(() => void this.sweep(), this.options.sweepInterval);
    this.sweeper.unref();
    void this.sweep();
  }

  /** Runs one node's job. Throws only to ask graphile-worker for another attempt. */
  private async work(job: NodeJob, helpers: JobHelpers): Promise<void> {
    // Says which process holds the node (host and pid), and tells this attempt from any other.
    const token = `${hostname()}/${process.pid}/${helpers.job.locked_by ?? 'worker'}/${randomUUID().slice(0, 8)}`;
    const started = await this.store.startNode(job, token);
    // Nothing to do, or parked until a node of its run finishes (which queues it again).
    if (!started || started === PARKED) return;
    const report: NodeReport = { projection: job.projection, virtual: false, status: 'running', deleted: 0, written: 0, paths: [] };
    try {
      const model = this.catalog.named(job.projection);
      const lens = normalizeLens(model.name, decodeLens(started.lens));
      await this.runner.run(
        model,
        {
          lens,
          ...boundedTimeout(projectionTimeout(model, lens, this.cinemaOptions.fullRebuildTimeout), started.timeoutMs),
          connectionCheckInterval: this.cinemaOptions.connectionCheckInterval,
          signal: this.shutdown.signal,
          slots: this.slots.of(model.write!),
          batchSize: this.cinemaOptions.batchSize,
          streamBatchSize: this.cinemaOptions.streamBatchSize,
          beforeCommit: (client) => this.store.succeedNode(client, job, token, report),
        },
        report,
      );
    } catch (error) {
      if (this.shutdown.signal.aborted) {
        // Not the projection's failure: queued again for another process, at no attempt's cost.
        await this.store.requeueNode(job, token);
        return;
      }
      const final = helpers.job.attempts >= helpers.job.max_attempts;
      await this.store.failNode(job, token, storedError(error, job.projection), final);
      // Logged once, here (graphile-worker's own failure line for Cinema's tasks is demoted to debug).
      this.logger.warn(
        `${job.projection} of run ${job.runId} failed (attempt ${helpers.job.attempts} of ${helpers.job.max_attempts})` +
          `${final ? '' : ', will retry'}: ${(error as Error).message}`,
      );
      // The last failure is recorded in the run: the job itself is done.
      if (!final) throw error;
    }
  }

  private async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const dead = await this.store.sweep();
      if (dead.length > 0) this.logger.warn(`Handed back the jobs of ${dead.length} dead worker(s): ${dead.join(', ')}`);
      if (this.options.retention > 0) {
        // Small batches: a backlog of old runs is deleted over several sweeps, never in one long statement.
        for (let i = 0; i < RETENTION_BATCHES_PER_SWEEP && !this.shutdown.signal.aborted; i++) {
          if ((await this.store.deleteFinished(this.options.retention, RETENTION_BATCH)) < RETENTION_BATCH) break;
        }
      }
    } catch (error) {
      this.logger.warn(`Queue housekeeping failed: ${(error as Error).message}`);
    } finally {
      this.sweeping = false;
    }
  }

  private register(workerId: string): void {
    const key = this.listener?.processKey;
    if (key === undefined) return;
    this.store.registerWorker(workerId, key).catch((error: Error) => this.logger.warn(`Registering worker ${workerId}: ${error.message}`));
  }

  /** A new listener connection has a new liveness key, and runs may have finished meanwhile. */
  private afterReconnect(): void {
    for (const workerId of this.graphileWorkers) this.register(workerId);
    this.listener?.recheck();
  }

  private graphileLogger(): GraphileLogger {
    return new this.graphile!.Logger(() => (level, message, meta) => {
      // A failed attempt of Cinema's own task is logged once, by Cinema, with the projection's name.
      const ours = (meta as { failure?: boolean; job?: { task_identifier?: string } } | undefined)?.job?.task_identifier?.startsWith('cinema:');
      if (level === 'error' && ours && (meta as { failure?: boolean }).failure) this.logger.debug(message);
      else if (level === 'error') this.logger.error(message);
      else if (level === 'warning') this.logger.warn(message);
      else this.logger.debug(message);
    });
  }
}

/** The error as JSON, keeping what the projection threw (its SQLSTATE and detail) as inline runs do. */
function storedError(error: unknown, projection: string): StoredError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error), projection };
  const stored: StoredError = { name: error.name, message: error.message, projection };
  if (error instanceof ProjectionTimeoutError) stored.timeoutMs = error.timeoutMs;
  if (error instanceof ProjectionFailedError && error.cause !== undefined) {
    const cause = error.cause as { name?: unknown; message?: unknown; code?: unknown; detail?: unknown };
    stored.cause = {
      name: typeof cause.name === 'string' ? cause.name : 'Error',
      message: typeof cause.message === 'string' ? cause.message : String(error.cause),
      ...(typeof cause.code === 'string' ? { code: cause.code } : {}),
      ...(typeof cause.detail === 'string' ? { detail: cause.detail } : {}),
    };
  }
  return stored;
}

/** A node's timeout: the projection's, bounded by the run's own `timeout` as inline runs bound it (0: none). */
/** The projection's own timeout, or the run's (the caller's `timeout`) when that is shorter. */
function boundedTimeout(own: { timeout: number; timeoutOption: TimeoutOption }, run: number | null): { timeout: number; timeoutOption: TimeoutOption } {
  if (!run || (own.timeout > 0 && own.timeout <= run)) return own;
  return { timeout: run, timeoutOption: 'call' };
}

/** The column kind of a lens key, from the first table of the plan that has it. */
function kindIn(plan: readonly PlannedNode<ProjectionModel>[]) {
  return (key: string) => {
    for (const node of plan) {
      const column = node.key.table?.byProperty.get(key);
      if (column) return column.kind;
    }
    return undefined;
  };
}

/** The connection settings of a TypeORM data source's (primary) pool. */
function connectionConfig(dataSource: DataSource): pg.ClientConfig {
  const driver = dataSource.driver as unknown as { master?: { options?: pg.PoolConfig } };
  const options = driver.master?.options;
  if (!options) throw new InvalidCinemaOptionsError('queue.dataSource', `"${dataSource.options.type}" data source is not a connected PostgreSQL data source`);
  const { max: _max, min: _min, idleTimeoutMillis: _idle, ...client } = options;
  return client;
}
