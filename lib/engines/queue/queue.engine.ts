import { Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { JobHelpers, Logger as GraphileLogger, Runner, Task } from 'graphile-worker';
import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import type { ProjectionRegistry } from '../../cinema.registry.js';
import { QueueNotInstalledError } from '../../errors/queue.error.js';
import type { PlannedNode } from '../../graph/projection-graph.js';
import type { ResolvedCinemaOptions } from '../../interfaces/cinema-options.interface.js';
import type { ResolvedQueueOptions } from '../../interfaces/queue-options.interface.js';
import type { NodeReport } from '../../interfaces/run.interface.js';
import { decodeLens, encodeLens } from '../../lens/lens-codec.js';
import { normalizeLens } from '../../lens/lens.js';
import type { ProjectionModel } from '../projection.model.js';
import { ProjectionRunner, projectionTimeout } from '../projection.runner.js';
import type { WriteSlots } from '../write-slots.js';
import { QueueStore, taskIdentifier, type NodeJob, type NodeSpec, type StoredError, type StoredRun } from './queue.store.js';
import { RunListener } from './run-listener.js';

export interface EnqueueRequest {
  model: ProjectionModel;
  plan: readonly PlannedNode<ProjectionModel>[];
  /** The lens as the caller gave it (validated). */
  lens: Readonly<Record<string, unknown>>;
  skipDependencies: boolean;
  queue: string;
  priority: number;
  attempts?: number;
  runAt?: Date;
}

/** Why this process stops working a node: it is shutting down, not the node failing. */
class ShuttingDown extends Error {}

/**
 * The durable engine: a run is rows in the `cinema` schema, each materialized projection a
 * graphile-worker job. A node's job runs the same `ProjectionRunner` as the inline engine; just
 * before its transaction commits, the node is marked done and the dependents whose inputs are
 * now all done are queued, in that same transaction. Any process enqueues and awaits (LISTEN);
 * worker processes run jobs and hand back the jobs of workers that died.
 */
export class QueueEngine implements OnApplicationBootstrap, BeforeApplicationShutdown {
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

  constructor(
    private readonly registry: ProjectionRegistry,
    private readonly slots: WriteSlots,
    private readonly cinemaOptions: ResolvedCinemaOptions,
    private readonly dataSourceOf: (name: string) => DataSource,
  ) {
    this.options = cinemaOptions.queue!;
  }

  get store(): QueueStore {
    if (!this.storeInstance) throw new Error('The queue engine has not started yet: call it after the application has started.');
    return this.storeInstance;
  }

  async onApplicationBootstrap(): Promise<void> {
    this.graphile = await import('graphile-worker').catch((error: Error) => {
      throw new Error(`The queue engine needs graphile-worker 0.17: npm install graphile-worker@~0.17 (${error.message})`);
    });
    const config = connectionConfig(this.dataSourceOf(this.options.dataSource));
    this.pool = new pg.Pool({ ...config, max: this.options.concurrency + 4, application_name: 'cinema-queue' });
    this.pool.on('error', (error) => this.logger.warn(`Queue connection lost: ${error.message}`));
    this.pool.on('connect', (client) => client.on('error', (error) => this.logger.warn(`Queue connection lost: ${error.message}`)));
    this.storeInstance = new QueueStore(this.pool, this.options.jobSchema);
    if (!(await this.store.assertInstalled())) throw new QueueNotInstalledError(this.options.dataSource);
    await this.graphile.runMigrations({ pgPool: this.pool, schema: this.options.jobSchema, logger: this.graphileLogger() });
    this.listener = new RunListener(
      config,
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
  }

  /** Records the run and queues its first projections; returns its id (a pending twin's, if coalesced). */
  async enqueue(request: EnqueueRequest): Promise<{ id: string; coalesced: boolean }> {
    const lens = encodeLens(request.model.name, request.lens);
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
      projection: request.model.name,
      lens,
      skipDependencies: request.skipDependencies,
      queue: request.queue,
      priority: request.priority,
      attempts: request.attempts ?? this.options.attempts,
      runAt: request.runAt,
      // A run scheduled for later is not the same request as one for now.
      coalesceKey: request.runAt
        ? undefined
        : createHash('sha256')
            .update(JSON.stringify([request.model.name, request.skipDependencies, request.queue, sortedKeys(lens)]))
            .digest('hex'),
      nodes,
    });
  }

  /** Settles with the run once it has succeeded or failed. */
  wait(runId: string): Promise<StoredRun> {
    return new Promise<StoredRun>((resolve, reject) => {
      let settled = false;
      const onShutdown = (reason: unknown) => finish(() => reject(reason));
      const finish = (settle: () => void) => {
        if (settled) return;
        settled = true;
        unsubscribe();
        this.waiting.delete(onShutdown);
        settle();
      };
      const check = () => {
        this.store.load(runId).then(
          (run) => {
            if (!run) finish(() => reject(new Error(`run ${runId} is not recorded`)));
            else if (run.status === 'succeeded' || run.status === 'failed') finish(() => resolve(run));
          },
          (error: Error) => finish(() => reject(error)),
        );
      };
      // Subscribed before the first look, so a completion in between is not missed.
      const unsubscribe = this.listener!.subscribe(runId, check);
      if (this.shutdown.signal.aborted) return onShutdown(this.shutdown.signal.reason);
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
    if (!started) return;
    const report: NodeReport = { projection: job.projection, virtual: false, status: 'running', deleted: 0, written: 0, paths: [] };
    try {
      const model = this.registry.named(job.projection);
      const lens = normalizeLens(model.name, decodeLens(started.lens));
      await this.runner.run(
        model,
        {
          lens,
          ...projectionTimeout(model, lens, this.cinemaOptions.fullRebuildTimeout),
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
      this.logger.warn(
        `${job.projection} of run ${job.runId} failed (attempt ${helpers.job.attempts} of ${helpers.job.max_attempts})` +
          `${final ? '' : ', will retry'}: ${(error as Error).message}`,
      );
      // The last failure is recorded in the run: the job itself is done.
      if (!final) throw error;
    }
  }

  private async sweep(): Promise<void> {
    try {
      const dead = await this.store.sweep();
      if (dead.length > 0) this.logger.warn(`Handed back the jobs of ${dead.length} dead worker(s): ${dead.join(', ')}`);
    } catch (error) {
      this.logger.warn(`Checking for dead workers failed: ${(error as Error).message}`);
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
    return new this.graphile!.Logger(() => (level, message) => {
      if (level === 'error') this.logger.error(message);
      else if (level === 'warning') this.logger.warn(message);
      else this.logger.debug(message);
    });
  }
}

function storedError(error: unknown, projection: string): StoredError {
  if (error instanceof Error) return { name: error.name, message: error.message, projection };
  return { name: 'Error', message: String(error), projection };
}

function sortedKeys(value: Record<string, unknown>): [string, unknown][] {
  return Object.keys(value)
    .sort()
    .map((key) => [key, value[key]]);
}

/** The connection settings of a TypeORM data source's (primary) pool. */
function connectionConfig(dataSource: DataSource): pg.ClientConfig {
  const driver = dataSource.driver as unknown as { master?: { options?: pg.PoolConfig } };
  const options = driver.master?.options;
  if (!options) throw new Error('The queue data source is not a connected PostgreSQL data source.');
  const { max: _max, min: _min, idleTimeoutMillis: _idle, ...client } = options;
  return client;
}
