import { Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { CinemaNotReadyError } from '../../errors/cinema-not-ready.error.js';
import { QueueDependencyMissingError } from '../../errors/queue-dependency.error.js';
import { QueueNotInstalledError, RunNotRetryableError, UnknownRunError } from '../../errors/queue.error.js';
import { RunWaitInterruptedError } from '../../errors/run-wait-interrupted.error.js';
import { QueuedRunTimeoutError } from '../../errors/queued-run-timeout.error.js';
import type { CinemaRun } from '../../interfaces/run.interface.js';
import type { ResolvedCinemaOptions } from '../../interfaces/cinema-options.interface.js';
import type { ResolvedQueueOptions } from '../../interfaces/queue-options.interface.js';
import { normalizeLens } from '../../lens/lens.js';
import type { ProjectionCatalog, ProjectionModel } from '../../model/projection.model.js';
import type { RunRecord } from '../../runs/run-record.js';
import { logBackgroundRun, settleResult } from '../../runs/run-result.js';
import type { CinemaEngine, LedgerHooks, RunRequest } from '../engine.interface.js';
import type { WriteSlots } from '../../execution/write-slots.js';
import { graphileLogger } from './graphile-logger.js';
import { NodeStore } from './node.store.js';
import { applicationName, connectionConfig } from './queue.connection.js';
import type { StoredRun } from './queue.types.js';
import { QueueWorker } from './queue.worker.js';
import { applyStored, queuedRecord } from './queued-run.js';
import { RunListener } from './run-listener.js';
import { runSpec, type EnqueueRequest } from './run-spec.js';
import { RunTelemetry, type RunScope } from '../../telemetry/run-telemetry.js';
import { RunStore } from './run.store.js';
import { SchemaStore } from './schema.store.js';
import { WorkerStore } from './worker.store.js';

/** Why this process stops working a node: it is shutting down, not the node failing. */
class ShuttingDown extends Error {}

/**
 * The durable engine: a run is rows in the `cinema` schema, each materialized projection a
 * graphile-worker job. A node's job runs the same `ProjectionRunner` as the inline engine; just
 * before its transaction commits, the node is marked done and the dependents whose inputs are
 * now all done are queued, in that same transaction. Any process enqueues and awaits (LISTEN);
 * worker processes (`QueueWorker`) run jobs and hand back the jobs of workers that died.
 */
export class QueueEngine implements CinemaEngine, OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly name = 'queue' as const;
  private readonly logger = new Logger('CinemaQueue');
  private readonly options: ResolvedQueueOptions;
  private readonly shutdown = new AbortController();
  /** Rejects of runs awaited in this process, called when it shuts down. */
  private readonly waiting = new Set<(reason: unknown) => void>();
  private pool?: pg.Pool;
  private runStore?: RunStore;
  private listener?: RunListener;
  private worker?: QueueWorker;
  private resolveStopped!: () => void;
  /** Settles once this process has stopped working and waiting (its shutdown hook finished). */
  readonly stopped = new Promise<void>((resolve) => (this.resolveStopped = resolve));

  constructor(
    private readonly catalog: ProjectionCatalog,
    private readonly slots: WriteSlots,
    private readonly cinemaOptions: ResolvedCinemaOptions,
    private readonly dataSourceOf: (name: string) => DataSource,
    /** Change capture's ledger rows, recorded by this process's workers with each node they rebuild. */
    private readonly ledger?: LedgerHooks,
    private readonly telemetry: RunTelemetry = new RunTelemetry(),
  ) {
    this.options = cinemaOptions.queue!;
  }

  private get runs(): RunStore {
    if (!this.runStore) throw new CinemaNotReadyError('The queue engine');
    return this.runStore;
  }

  async onApplicationBootstrap(): Promise<void> {
    const graphile = await import('graphile-worker').catch((error: Error) => {
      throw new QueueDependencyMissingError(error);
    });
    const config = connectionConfig(this.dataSourceOf(this.options.dataSource));
    // Named after the process, so operators can tell workers apart in pg_stat_activity.
    const pool = (this.pool = new pg.Pool({
      ...config,
      max: this.options.concurrency + 4,
      application_name: applicationName('cinema-queue'),
    }));
    pool.on('error', (error) => this.logger.warn(`Queue connection lost: ${error.message}`));
    pool.on('connect', (client) => client.on('error', (error) => this.logger.warn(`Queue connection lost: ${error.message}`)));
    this.runStore = new RunStore(pool, this.options.jobSchema);
    const schema = new SchemaStore(pool);
    const missing = await schema.missingMigration();
    if (missing) throw new QueueNotInstalledError(this.options.dataSource, missing);
    await schema.serialized(() =>
      graphile.runMigrations({ pgPool: pool, schema: this.options.jobSchema, logger: graphileLogger(graphile, this.logger) }),
    );
    const listener = (this.listener = new RunListener(
      { ...config, application_name: applicationName('cinema-queue-listener') },
      this.options.worker,
      (error) => this.logger.warn(`Queue listener: ${error.message}; reconnecting`),
      // A new connection has a new liveness key, and runs may have finished meanwhile.
      () => {
        this.worker?.registerAll();
        this.listener?.recheck();
      },
    ));
    await listener.start();
    if (!this.options.worker) return;
    this.worker = new QueueWorker({
      graphile,
      pool,
      options: this.options,
      cinemaOptions: this.cinemaOptions,
      catalog: this.catalog,
      slots: this.slots,
      runs: this.runStore,
      nodes: new NodeStore(pool, this.options.jobSchema),
      workers: new WorkerStore(pool, this.options.jobSchema),
      listener,
      telemetry: this.telemetry,
      ledger: this.ledger,
      signal: this.shutdown.signal,
      logger: this.logger,
    });
    await this.worker.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.shutdown.abort(new ShuttingDown('the application is shutting down'));
    for (const reject of [...this.waiting]) reject(this.shutdown.signal.reason);
    await this.worker?.stop();
    await this.listener?.stop();
    await this.pool?.end().catch(() => undefined);
    this.resolveStopped();
  }

  async start<P>(request: RunRequest): Promise<CinemaRun<P>> {
    const { options } = request;
    // The caller's span of the run: it lasts while this process waits for the run.
    const scope = this.telemetry.startRun(request.label, request.lens.keys, 'queue');
    const run = await this.enqueueAndWatch<P>(request, scope).catch((error: unknown) => {
      scope.end(undefined, error);
      throw error;
    });
    scope.started(run);
    run.result.then(
      () => scope.end(run),
      () => scope.end(run),
    );
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

  private async enqueueAndWatch<P>(request: RunRequest, scope: RunScope): Promise<CinemaRun<P>> {
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
      trace: scope.carrier(),
    });
    // The caller's timeout counts from the call, enqueueing included.
    const timeout = options.timeout
      ? { timeoutMs: options.timeout, waitMs: Math.max(1, options.timeout - (Date.now() - options.requestedAt)) }
      : undefined;
    return this.handle<P>(id, options.fetch, timeout);
  }

  async find<P>(id: string): Promise<CinemaRun<P> | undefined> {
    if (!(await this.runs.load(id))) return undefined;
    const run = await this.handle<P>(id, true);
    run.result.catch(() => undefined);
    return run;
  }

  /** The latest queued runs, newest first, whichever process enqueued them. */
  async recent(limit: number): Promise<CinemaRun[]> {
    const runs = await Promise.all((await this.runs.recent(limit)).map((id) => this.find(id)));
    return runs.filter((run): run is CinemaRun => run !== undefined);
  }

  /** Runs a failed run again from its failed and cancelled projections. */
  async retry<P>(id: string): Promise<CinemaRun<P>> {
    const before = await this.runs.retry(id);
    if (before === undefined) throw new UnknownRunError(id);
    if (before !== 'failed') throw new RunNotRetryableError(id, before);
    const run = await this.handle<P>(id, true);
    run.result.catch(() => undefined);
    return run;
  }

  /** The handle of a queued run; its result reads the projection's rows once the run succeeded. */
  private async handle<P>(id: string, fetch: boolean, timeout?: { waitMs: number; timeoutMs: number }): Promise<RunRecord<P>> {
    const stored = await this.runs.load(id);
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
    return this.runs.enqueue(runSpec(request, this.options.attempts));
  }

  /**
   * Settles with the run once it has succeeded or failed. Rejects with `QueuedRunTimeoutError`
   * after `waitMs` (what is left of the caller's `timeoutMs`) and with `RunWaitInterruptedError` when this process shuts down: either way
   * the run itself goes on in the queue.
   */
  wait(
    runId: string,
    projection: string,
    lens: Readonly<Record<string, unknown>>,
    timeout?: { waitMs: number; timeoutMs: number },
  ): Promise<StoredRun> {
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
        this.runs.load(runId).then(
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
}
