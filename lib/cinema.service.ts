import { Inject, Injectable, Logger, Optional, type BeforeApplicationShutdown, type Type } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { CINEMA_MODULE_OPTIONS } from './cinema.constants.js';
import { ProjectionRegistry } from './cinema.registry.js';
import { RunRecord, RunRegistry } from './cinema-run.registry.js';
import { InlineEngine } from './engines/inline.engine.js';
import type { ProjectionModel } from './engines/projection.model.js';
import { QueueEngine } from './engines/queue/queue.engine.js';
import { QueuedRun } from './engines/queue/queued-run.js';
import { readSlice } from './engines/slice.queries.js';
import { describeLens } from './errors/cinema.error.js';
import { InvalidCinemaOptionsError } from './errors/invalid-options.error.js';
import type { ProjectionFailedError } from './errors/projection-failed.error.js';
import { RunNotRetryableError, UnknownRunError } from './errors/queue.error.js';
import { integer, queueName } from './cinema-options.js';
import type { ResolvedCinemaOptions } from './interfaces/cinema-options.interface.js';
import type { PlanStep, ProjectionGraphView, ProjectionPlan } from './interfaces/graph.interface.js';
import type { Lens, LooseLens } from './interfaces/lens.interface.js';
import type { CinemaRun, NodeReport, ProjectOptions } from './interfaces/run.interface.js';
import { decodeLens } from './lens/lens-codec.js';
import { normalizeLens, type NormalizedLens } from './lens/lens.js';

/** What users inject: rebuild a projection's slice, look at the graph and at runs. */
@Injectable()
export class CinemaService implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Cinema');
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly registry: ProjectionRegistry,
    private readonly runs: RunRegistry,
    private readonly engine: InlineEngine,
    @Inject(CINEMA_MODULE_OPTIONS) private readonly options: ResolvedCinemaOptions,
    @Optional() @Inject(QueueEngine) private readonly queue: QueueEngine | null = null,
  ) {}

  /**
   * Rebuilds the lens slice of `projection` and of every projection it reads from, then returns
   * the projection's rows under the lens, read from its read data source.
   */
  project<P>(projection: Type<P>, lens?: Lens<P> | LooseLens, options?: ProjectOptions & { async?: false }): Promise<P[]>;
  project<P>(projection: Type<P>, lens: Lens<P> | LooseLens | undefined, options: ProjectOptions & { async: true }): Promise<CinemaRun<P>>;
  async project<P>(projection: Type<P>, lens?: Lens<P> | LooseLens, options: ProjectOptions = {}): Promise<P[] | CinemaRun<P>> {
    const model = this.registry.get(projection);
    const normalized = normalizeLens(model.name, lens);
    const concurrency = options.concurrency ?? this.options.concurrency;
    integer(concurrency, 'concurrency', 1);
    integer(options.timeout ?? 0, 'timeout', 0);
    const queue = (options.engine ?? this.options.engine) === 'queue' ? this.queueEngine(options) : undefined;
    const plan = await this.registry.plan(model, normalized, options.skipDependencies ?? false);
    if (normalized.empty && !(options.allowEmptyLens ?? this.options.allowEmptyLens)) {
      this.logger.warn(
        `Rebuilding ${model.name} with an empty lens: every row of ${plan.filter((n) => !n.virtual).length} projection(s) is derived again. ` +
          `Pass allowEmptyLens: true to say this is intended.`,
      );
    }
    if (queue) {
      const { id } = await queue.enqueue({
        model,
        plan,
        // With the reducer, if any: the queue refuses what cannot cross processes.
        lens: normalized.display,
        skipDependencies: options.skipDependencies ?? false,
        queue: options.queue ?? 'default',
        priority: options.priority ?? 0,
        attempts: options.attempts,
        runAt: options.runAt,
      });
      const run = await this.queuedRun<P>(queue, id, options.fetch ?? true);
      if (options.async) {
        run.result.catch((error: Error) => this.logger.error(`Queued run ${run.id} of ${model.name} failed: ${error.message}`));
        return run;
      }
      return run.result;
    }
    const reports = new Map<ProjectionModel, NodeReport>(
      plan.map((node) => [node.key, { projection: node.name, virtual: node.virtual, status: 'pending', deleted: 0, written: 0, paths: [] }]),
    );
    const run = new RunRecord<P>(randomUUID(), model.name, (lens ?? {}) as Lens<P>, [...reports.values()]);
    this.runs.add(run);
    run.result = this.execute(run, model, normalized, plan, reports, { ...options, concurrency });
    this.track(run.result);
    if (options.async) {
      // Nobody may await a background run: its failure is logged, and kept on the handle.
      run.result.catch((error: Error) => this.logger.error(`Run ${run.id} of ${model.name} failed: ${error.message}`));
      return run;
    }
    return run.result;
  }

  /** A run of this process by id, running or among the last finished ones. */
  getRun<P = unknown>(id: string): CinemaRun<P> | undefined {
    return this.runs.get(id);
  }

  /**
   * A run by id: one of this process (as `getRun`), else a queued run as the queue's tables
   * record it, whichever process enqueued or worked it. Its `result` settles when it finishes.
   */
  async findRun<P = unknown>(id: string): Promise<CinemaRun<P> | undefined> {
    const local = this.runs.get(id);
    if (local || !this.queue) return local;
    const stored = await this.queue.store.load(id);
    if (!stored) return undefined;
    const run = await this.queuedRun<P>(this.queue, id, true);
    run.result.catch(() => undefined);
    return run;
  }

  /** Waits until the run has succeeded or failed and returns it; `run.error` says why it failed. */
  async awaitRun<P = unknown>(id: string): Promise<CinemaRun<P>> {
    const run = await this.findRun<P>(id);
    if (!run) throw new UnknownRunError(id);
    await run.result.catch(() => undefined);
    return run;
  }

  /**
   * Runs a failed queued run again from the projections that failed or were cancelled; those
   * that succeeded are not redone. Returns the run's handle; await its `result`.
   */
  async retryRun<P = unknown>(id: string): Promise<CinemaRun<P>> {
    const queue = this.queueEngine({});
    const before = await queue.store.retry(id);
    if (before === undefined) throw new UnknownRunError(id);
    if (before !== 'failed') throw new RunNotRetryableError(id, before);
    const run = await this.queuedRun<P>(queue, id, true);
    run.result.catch(() => undefined);
    return run;
  }

  /** The projections and their inputs. */
  graph(): ProjectionGraphView {
    return this.registry.graph.view();
  }

  /** What `project()` would run, in order, without running it. Validates the lens the same way. */
  async plan<P>(projection: Type<P>, lens?: Lens<P> | LooseLens, options: Pick<ProjectOptions, 'skipDependencies'> = {}): Promise<ProjectionPlan> {
    const model = this.registry.get(projection);
    const normalized = normalizeLens(model.name, lens);
    const planned = await this.registry.plan(model, normalized, options.skipDependencies ?? false);
    const steps: PlanStep[] = planned.map((node) => ({
      projection: node.name,
      virtual: node.virtual,
      after: node.after.map((input) => input.name),
      depth: node.depth,
      readDataSource: node.key.readName,
      writeDataSource: node.key.writeName,
      lensKeys: node.key.table ? normalized.keys.filter((key) => node.key.table!.byProperty.has(key)) : [],
      dematerialize: !node.virtual && node.key.dematerialize,
    }));
    return {
      projection: model.name,
      lens: normalized.values,
      steps,
      toString: () =>
        [`Plan for ${model.name} with lens ${describeLens(normalized.values)}:`]
          .concat(
            steps.map(
              (step, i) =>
                `  ${i + 1}. ${step.projection}${step.virtual ? ' (virtual, read in place)' : ''}` +
                `${step.after.length ? ` after ${step.after.join(', ')}` : ''}` +
                `${step.virtual ? '' : ` -> ${step.dematerialize ? 'delete slice, ' : ''}derive into "${step.writeDataSource}"`}`,
            ),
          )
          .join('\n'),
    };
  }

  /** Gives in-flight runs their rollback before TypeORM closes its connections. */
  async beforeApplicationShutdown(): Promise<void> {
    this.engine.abortAll(new Error('the application is shutting down'));
    await Promise.allSettled([...this.inFlight]);
  }

  private async execute<P>(
    run: RunRecord<P>,
    model: ProjectionModel,
    lens: NormalizedLens,
    plan: Awaited<ReturnType<ProjectionRegistry['plan']>>,
    reports: Map<ProjectionModel, NodeReport>,
    options: ProjectOptions & { concurrency: number },
  ): Promise<P[]> {
    const started = performance.now();
    run.status = 'running';
    try {
      const failures = await this.engine.execute(plan, {
        lens,
        concurrency: options.concurrency,
        timeout: options.timeout ?? 0,
        batchSize: this.options.batchSize,
        streamBatchSize: this.options.streamBatchSize,
        fullRebuildTimeout: this.options.fullRebuildTimeout,
        connectionCheckInterval: this.options.connectionCheckInterval,
        reports,
      });
      if (failures.length > 0) throw this.failure(failures, run);
      const rows = options.fetch === false ? [] : ((await readSlice(model, lens)) as P[]);
      run.status = 'succeeded';
      return rows;
    } catch (error) {
      run.status = 'failed';
      run.error = error as Error;
      throw error;
    } finally {
      run.finishedAt = new Date();
      run.durationMs = performance.now() - started;
      this.runs.trim(run);
      if (Logger.isLevelEnabled('debug')) {
        this.logger.debug(`${model.name} ${describeLens(lens.display)}: ${run.status} in ${run.durationMs.toFixed(1)} ms`);
      }
    }
  }

  private failure(failures: ProjectionFailedError[], run: RunRecord<any>): ProjectionFailedError {
    const [first, ...others] = failures;
    first.others = others;
    first.skipped = run.nodes.filter((node) => node.status === 'skipped').map((node) => node.projection);
    if (first.skipped.length > 0) first.message += ` Not run because of it: ${first.skipped.join(', ')}.`;
    if (others.length > 0) first.message += ` Also failed: ${others.map((e) => e.projection).join(', ')}.`;
    return first;
  }

  private queueEngine(options: ProjectOptions): QueueEngine {
    if (!this.queue) {
      throw new InvalidCinemaOptionsError('engine', "'queue' needs the queue engine: set CinemaModule.forRoot({ queue: { ... } })");
    }
    if (options.queue !== undefined) queueName(options.queue, 'queue');
    if (options.priority !== undefined) integer(options.priority, 'priority', -32_768, 32_767);
    if (options.attempts !== undefined) integer(options.attempts, 'attempts', 1, 100);
    if (options.runAt !== undefined && !(options.runAt instanceof Date && !Number.isNaN(options.runAt.getTime()))) {
      throw new InvalidCinemaOptionsError('runAt', 'must be a valid Date');
    }
    return this.queue;
  }

  /** The handle of a queued run; its result reads the projection's rows once the run succeeded. */
  private async queuedRun<P>(queue: QueueEngine, id: string, fetch: boolean): Promise<QueuedRun<P>> {
    const stored = await queue.store.load(id);
    if (!stored) throw new UnknownRunError(id);
    const model = this.registry.named(stored.projection);
    const run = new QueuedRun<P>(id, stored, decodeLens(stored.lens) as Lens<P>);
    run.result = queue.wait(id).then(async (finished) => {
      run.update(finished);
      if (run.error) throw run.error;
      if (!fetch) return [];
      return (await readSlice(model, normalizeLens(model.name, run.lens))) as P[];
    });
    // Not tracked for shutdown: the run lives in the queue, and waiting for it ends with the process.
    return run;
  }

  private track(promise: Promise<unknown>): void {
    const settled = promise.catch(() => undefined).finally(() => this.inFlight.delete(settled));
    this.inFlight.add(settled);
  }
}
