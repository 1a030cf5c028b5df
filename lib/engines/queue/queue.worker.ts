import type { Logger } from '@nestjs/common';
import type { JobHelpers, Runner, Task } from 'graphile-worker';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type pg from 'pg';
import { ProjectionFailedError, ProjectionTimeoutError, type TimeoutOption } from '../../errors/projection-failed.error.js';
import type { ResolvedCinemaOptions } from '../../interfaces/cinema-options.interface.js';
import type { ResolvedQueueOptions } from '../../interfaces/queue-options.interface.js';
import type { NodeReport } from '../../interfaces/run.interface.js';
import { decodeLens } from '../../lens/lens-codec.js';
import { normalizeLens } from '../../lens/lens.js';
import type { ProjectionCatalog } from '../../model/projection.model.js';
import { ProjectionRunner, projectionTimeout } from '../../execution/projection.runner.js';
import type { WriteSlots } from '../../execution/write-slots.js';
import type { LedgerHooks } from '../engine.interface.js';
import { graphileLogger } from './graphile-logger.js';
import type { NodeStore } from './node.store.js';
import { PARKED, taskIdentifier } from './queue.constants.js';
import type { NodeJob, StoredError } from './queue.types.js';
import type { RunTelemetry } from '../../telemetry/run-telemetry.js';
import type { RunListener } from './run-listener.js';
import type { RunStore } from './run.store.js';
import type { WorkerStore } from './worker.store.js';

/** Runs deleted per statement by the retention sweep, and statements per sweep at most. */
const RETENTION_BATCH = 500;
const RETENTION_BATCHES_PER_SWEEP = 10;

/** A node this worker runs: its job's own, or one carried by that job (taken at once after its input). */
interface RunningNode {
  /** The job's payload, naming this node. */
  job: NodeJob;
  /** This attempt's token, recorded as the node's `worker`. */
  token: string;
  /** The node's attempt in this generation of the run. */
  attempt: number;
  carried: boolean;
}

/** What a worker works with, all owned by the engine that starts it. */
export interface QueueWorkerContext {
  graphile: typeof import('graphile-worker');
  pool: pg.Pool;
  options: ResolvedQueueOptions;
  cinemaOptions: ResolvedCinemaOptions;
  catalog: ProjectionCatalog;
  slots: WriteSlots;
  runs: RunStore;
  nodes: NodeStore;
  workers: WorkerStore;
  /** Holds this process's liveness key. */
  listener: RunListener;
  /** Spans of the nodes this worker runs, in the trace of the caller that queued their run. */
  telemetry: RunTelemetry;
  /** Change capture's freshness ledger: rows each node commits with its slice. */
  ledger?: LedgerHooks;
  /** Aborted when the process shuts down: nodes in flight roll back and are queued again. */
  signal: AbortSignal;
  logger: Logger;
}

/**
 * This process working the queue: graphile-worker runs each node's job through the same
 * `ProjectionRunner` as the inline engine; a periodic sweep hands back the jobs of dead workers
 * and deletes runs past their retention.
 */
export class QueueWorker {
  private readonly runner = new ProjectionRunner();
  private readonly graphileWorkers = new Set<string>();
  private worker?: Runner;
  private sweeper?: NodeJS.Timeout;
  private sweeping = false;

  constructor(private readonly context: QueueWorkerContext) {}

  async start(): Promise<void> {
    const { options } = this.context;
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
    const runnerOptions = {
      pgPool: this.context.pool,
      schema: options.jobSchema,
      concurrency: options.concurrency,
      pollInterval: options.pollInterval,
      noHandleSignals: true,
      taskList: Object.fromEntries(options.queues.map((queue) => [taskIdentifier(queue), task])),
      events: events as never,
      logger: graphileLogger(this.context.graphile, this.context.logger),
    };
    // No cron items: graphile-worker would otherwise look for a crontab file in the cwd.
    this.worker = await this.context.graphile.run(runnerOptions, undefined, []);
    this.sweeper = setInterval(() => void this.sweep(), options.sweepInterval);
    this.sweeper.unref();
    void this.sweep();
  }

  /** Stops taking jobs; those in flight see the aborted signal and are queued again. */
  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    await this.worker?.stop().catch((error: Error) => this.context.logger.warn(`Stopping the worker: ${error.message}`));
  }

  /** A new listener connection has a new liveness key: every worker id is recorded under it. */
  registerAll(): void {
    for (const workerId of this.graphileWorkers) this.register(workerId);
  }

  /**
   * Runs one node's job, then, while this process is free to, the node that node made ready:
   * each node's transaction takes the first ready dependent for this worker (no job, no pickup),
   * carried by this job should the process die (see `NodeStore.startNode`). Throws only to ask
   * graphile-worker for another attempt of the job's own node.
   */
  private async work(job: NodeJob, helpers: JobHelpers): Promise<void> {
    const carrier = String(helpers.job.id);
    const token = this.token(helpers);
    const started = await this.context.nodes.startNode(job, token, carrier);
    // Nothing to do, or parked until a node of its run finishes (which queues it again).
    if (!started || started === PARKED) return;
    const run = { lens: started.lens, timeoutMs: started.timeoutMs, maxAttempts: started.maxAttempts };
    let node: RunningNode | undefined = {
      job: { ...job, projection: started.projection },
      token,
      attempt: started.attempt,
      carried: started.projection !== job.projection,
    };
    while (node) node = await this.runNode(node, run, helpers, carrier);
  }

  /** Runs one node; returns the node its transaction took next for this worker, if any. */
  private async runNode(
    node: RunningNode,
    run: { lens: Record<string, unknown>; timeoutMs: number | null; maxAttempts: number },
    helpers: JobHelpers,
    carrier: string,
  ): Promise<RunningNode | undefined> {
    const { nodes, cinemaOptions, signal } = this.context;
    const { job, token } = node;
    const report: NodeReport = { projection: job.projection, virtual: false, status: 'running', deleted: 0, written: 0, paths: [] };
    // A carried node has no job of its own: its attempts are the node's, not the job's.
    const attempt = node.carried ? node.attempt : helpers.job.attempts;
    const maxAttempts = node.carried ? run.maxAttempts : helpers.job.max_attempts;
    const nextToken = this.token(helpers);
    let next: { projection: string; attempt: number } | undefined;
    try {
      const model = this.context.catalog.named(job.projection);
      const lens = normalizeLens(model.name, decodeLens(run.lens));
      const ledger = this.context.ledger?.(lens);
      const { telemetry } = this.context;
      const detail = { engine: 'queue' as const, lensKeys: lens.keys, lens: lens.display, runId: job.runId, attempt };
      await telemetry.traceNode(model.name, telemetry.continueFrom(job.trace), detail, report, () =>
        this.runner.run(
          model,
          {
            lens,
            ...boundedTimeout(projectionTimeout(model, lens, cinemaOptions.fullRebuildTimeout), run.timeoutMs),
            connectionCheckInterval: cinemaOptions.connectionCheckInterval,
            signal,
            slots: this.context.slots.of(model.write!),
            batchSize: cinemaOptions.batchSize,
            streamBatchSize: cinemaOptions.streamBatchSize,
            beforeCommit: async (client) => {
              // A process shutting down takes nothing on: the dependents get jobs.
              const onward = signal.aborted ? undefined : { worker: nextToken, carrier };
              next = await nodes.succeedNode(client, job, token, report, onward);
              await ledger?.(model, client, report);
            },
          },
          report,
        ),
      );
    } catch (error) {
      if (signal.aborted) {
        // Not the projection's failure: queued again for another process, at no attempt's cost.
        await nodes.requeueNode(job, token);
        return undefined;
      }
      const final = attempt >= maxAttempts;
      // A carried node to retry gets a job of its own, after graphile-worker's backoff.
      const retry =
        node.carried && !final ? { delayMs: Math.exp(Math.min(attempt, 10)) * 1000, maxAttempts: maxAttempts - attempt } : undefined;
      await nodes.failNode(job, token, storedError(error, job.projection), final, retry);
      // Logged once, here (graphile-worker's own failure line for Cinema's tasks is demoted to debug).
      this.context.logger.warn(
        `${job.projection} of run ${job.runId} failed (attempt ${attempt} of ${maxAttempts})` +
          `${final ? '' : ', will retry'}: ${(error as Error).message}`,
      );
      // The last failure is recorded in the run, and a carried node has its own job: this job is done.
      if (!final && !node.carried) throw error;
      return undefined;
    }
    return next && { job: { ...job, projection: next.projection }, token: nextToken, attempt: next.attempt, carried: true };
  }

  /** Says which process holds a node (host and pid), and tells this attempt from any other. */
  private token(helpers: JobHelpers): string {
    return `${hostname()}/${process.pid}/${helpers.job.locked_by ?? 'worker'}/${randomUUID().slice(0, 8)}`;
  }

  private async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    const { options, logger } = this.context;
    try {
      const dead = await this.context.workers.sweep();
      if (dead.length > 0) logger.warn(`Handed back the jobs of ${dead.length} dead worker(s): ${dead.join(', ')}`);
      if (options.retention > 0) {
        // Small batches: a backlog of old runs is deleted over several sweeps, never in one long statement.
        for (let i = 0; i < RETENTION_BATCHES_PER_SWEEP && !this.context.signal.aborted; i++) {
          if ((await this.context.runs.deleteFinished(options.retention, RETENTION_BATCH)) < RETENTION_BATCH) break;
        }
      }
    } catch (error) {
      logger.warn(`Queue housekeeping failed: ${(error as Error).message}`);
    } finally {
      this.sweeping = false;
    }
  }

  private register(workerId: string): void {
    const key = this.context.listener.processKey;
    if (key === undefined) return;
    this.context.workers
      .registerWorker(workerId, key)
      .catch((error: Error) => this.context.logger.warn(`Registering worker ${workerId}: ${error.message}`));
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
      message: typeof cause.message === 'string' ? cause.message : describeCause(error.cause),
      ...(typeof cause.code === 'string' ? { code: cause.code } : {}),
      ...(typeof cause.detail === 'string' ? { detail: cause.detail } : {}),
    };
  }
  return stored;
}

/** A node's timeout: the projection's own, or the run's (the caller's `timeout`) when that is shorter (0: none). */
function boundedTimeout(
  own: { timeout: number; timeoutOption: TimeoutOption },
  run: number | null,
): { timeout: number; timeoutOption: TimeoutOption } {
  if (!run || (own.timeout > 0 && own.timeout <= run)) return own;
  return { timeout: run, timeoutOption: 'call' };
}

/** A thrown value that is not an Error, as text (an object as JSON rather than "[object Object]"). */
function describeCause(cause: unknown): string {
  if (typeof cause === 'string') return cause;
  try {
    return JSON.stringify(cause) ?? String(cause);
  } catch {
    return Object.prototype.toString.call(cause);
  }
}
