import { Inject, Injectable, Logger, Optional, type Type } from '@nestjs/common';
import { CINEMA_MODULE_OPTIONS } from './cinema.constants.js';
import { FreshnessReader } from './capture/freshness.reader.js';
import { ReadThrough } from './capture/read-through.js';
import type { ProjectionFreshness, ProjectionVersionStatus } from './interfaces/capture.interface.js';
import { VersionRollout } from './capture/version-rollout.js';
import type { CinemaEngine, RunRequest } from './engines/engine.interface.js';
import { InlineEngine } from './engines/inline.engine.js';
import { QueueEngine } from './engines/queue/queue.engine.js';
import { InvalidCinemaOptionsError } from './errors/invalid-options.error.js';
import { UnknownRunError } from './errors/queue.error.js';
import type { ResolvedCinemaOptions } from './interfaces/cinema-options.interface.js';
import type { ProjectionGraphView, ProjectionPlan } from './interfaces/graph.interface.js';
import type { Lens, LooseLens } from './interfaces/lens.interface.js';
import type { CinemaRun, ProjectOptions } from './interfaces/run.interface.js';
import { normalizeLens } from './lens/lens.js';
import { ProjectionRegistry } from './model/projection.registry.js';
import { CinemaPlanner } from './planning/cinema.planner.js';
import { describePlan } from './planning/plan-view.js';
import { selectProjections } from './planning/selector.js';
import { RunOutputs } from './read/run-outputs.js';
import { resolveRunOptions } from './runs/run-options.js';

/** What users inject: rebuild projections' slices, look at the graph and at runs. */
@Injectable()
export class CinemaService {
  private readonly logger = new Logger('Cinema');

  constructor(
    private readonly registry: ProjectionRegistry,
    private readonly planner: CinemaPlanner,
    private readonly inline: InlineEngine,
    @Inject(CINEMA_MODULE_OPTIONS) private readonly options: ResolvedCinemaOptions,
    private readonly freshnessReader: FreshnessReader,
    private readonly readThrough: ReadThrough,
    private readonly rollout: VersionRollout,
    @Optional() @Inject(QueueEngine) private readonly queue: QueueEngine | null = null,
  ) {}

  /**
   * Rebuilds the lens slice of `projection` and of every projection it reads from, then returns
   * the projection's rows under the lens, read from its read data source. With `maxStaleness`
   * (change capture), a slice fresh enough is read without rebuilding (the run says `fresh: true`).
   */
  project<P>(projection: Type<P>, lens?: Lens<P> | LooseLens, options?: ProjectOptions & { async?: false }): Promise<P[]>;
  project<P>(projection: Type<P>, lens: Lens<P> | LooseLens | undefined, options: ProjectOptions & { async: true }): Promise<CinemaRun<P>>;
  async project<P>(projection: Type<P>, lens?: Lens<P> | LooseLens, options: ProjectOptions = {}): Promise<P[] | CinemaRun<P>> {
    const run = await this.start<P>([projection], lens, options);
    return options.async ? run : run.result;
  }

  /**
   * Rebuilds the lens slice of several projections in one run (`'*'`: every projection): the
   * union of what each needs, each projection once. Resolves with the finished run (rejects
   * with the first failure), or at once with the handle when `async` is set.
   */
  async refresh(
    projections: readonly Type<unknown>[] | '*',
    lens?: LooseLens | Record<string, unknown>,
    options: Omit<ProjectOptions, 'fetch' | 'maxStaleness'> = {},
  ): Promise<CinemaRun> {
    if ((options as ProjectOptions)?.maxStaleness !== undefined)
      throw new InvalidCinemaOptionsError('maxStaleness', 'applies to project() only; refresh() always rebuilds');
    const targets = projections === '*' ? this.registry.all().map((model) => model.target) : projections;
    if (!Array.isArray(targets) || targets.length === 0)
      throw new InvalidCinemaOptionsError('projections', "name at least one projection, or '*' for all");
    const run = await this.start(targets, lens, { ...options, fetch: false });
    if (!options.async) await run.result;
    return run;
  }

  /** A run of this process by id, running or among the last finished ones. */
  getRun<P = unknown>(id: string): CinemaRun<P> | undefined {
    return this.inline.get<P>(id);
  }

  /**
   * A run by id: one of this process (as `getRun`), else a queued run as the queue's tables
   * record it, whichever process enqueued or worked it. Its `result` settles when it finishes.
   */
  async findRun<P = unknown>(id: string): Promise<CinemaRun<P> | undefined> {
    return this.inline.get<P>(id) ?? (await this.queue?.find<P>(id));
  }

  /**
   * The latest runs, newest first: this process's (running or among the last finished) and, with
   * the queue, the queued runs its tables record, `limit` of each at most.
   */
  async recentRuns(limit = 20): Promise<CinemaRun[]> {
    const own = this.inline.recent(limit);
    const queued = this.queue ? await this.queue.recent(limit) : [];
    return [...own, ...queued].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
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
    return this.queueEngine().retry<P>(id);
  }

  /**
   * How fresh `projection` (or its slice `lens`, one scalar per key) is under change capture:
   * when it was last refreshed, the changes still pending for it, their lag, and a status against
   * `@Projection({ freshness: { warnAfter, errorAfter } })`. Needs `CinemaCaptureMigration1764400000000`.
   */
  freshness<P>(projection: Type<P>, lens?: Partial<Record<keyof P & string, unknown>>): Promise<ProjectionFreshness> {
    return this.freshnessReader.freshness(projection, lens);
  }

  /**
   * Every projection's version (its definition's fingerprint, or its `version` option, with its
   * inputs'), whether it changed at this startup, its `onVersionChange`, and, under change
   * capture, how many slices another version built and are still to rebuild.
   */
  versions(): Promise<ProjectionVersionStatus[]> {
    return this.rollout.status();
  }

  /** The projections and their inputs. */
  graph(): ProjectionGraphView {
    return this.registry.graph.view();
  }

  /**
   * The projection classes a dbt-style selector picks, in the graph's order: `OrgReceivables+`
   * (with everything downstream), `+OrgReceivables` (upstream), `1+P`, `@P`, `tag:billing`,
   * globs (`Org*`, `*`), `state:modified` (version changed), spaces for union, commas for
   * intersection; `exclude` is taken away.
   * Pass the result to `refresh()`. A word that matches nothing throws `InvalidSelectorError`.
   */
  select(selector: string | readonly string[], options: { exclude?: string | readonly string[] } = {}): Type<unknown>[] {
    return selectProjections(this.registry.graph, selector, {
      exclude: options.exclude,
      tags: (model) => model.tags,
      modified: (model) => this.rollout.modified(model),
    }).map((model) => model.target as Type<unknown>);
  }

  /**
   * What `project()` (or, for several projections, `refresh()`) would run, in order, without
   * running it. Validates the lens the same way.
   */
  async plan<P>(
    projection: Type<P> | readonly Type<unknown>[],
    lens?: Lens<P> | LooseLens,
    options: Pick<ProjectOptions, 'skipDependencies'> = {},
  ): Promise<ProjectionPlan> {
    const targets = [...new Set((Array.isArray(projection) ? projection : [projection]).map((target) => this.registry.get(target)))];
    if (targets.length === 0) throw new InvalidCinemaOptionsError('projections', 'name at least one projection');
    const label = targets.map((target) => target.name).join(', ');
    const normalized = normalizeLens(label, lens);
    const plan = await this.planner.plan(targets, new RunOutputs(normalized), options.skipDependencies ?? false);
    return describePlan(label, normalized, plan);
  }

  private async start<P>(projections: readonly Type<unknown>[], lens: unknown, given: ProjectOptions): Promise<CinemaRun<P>> {
    const targets = [...new Set(projections.map((projection) => this.registry.get(projection)))];
    const label = targets.map((target) => target.name).join(', ');
    const normalized = normalizeLens(label, lens);
    const options = resolveRunOptions(given, this.options);
    // resolveRunOptions has refused 'queue' without the queue option, so the engine exists.
    const engine: CinemaEngine = options.engine === 'queue' ? this.queueEngine() : this.inline;
    const outputs = new RunOutputs(normalized);
    const plan = await this.planner.plan(targets, outputs, options.skipDependencies);
    const request: RunRequest = {
      targets,
      label,
      plan,
      lens: normalized,
      given: lens ?? {},
      outputs,
      options,
      beforeCommit: this.readThrough.ledger(normalized),
    };
    const served = await this.readThrough.serve<P>(request);
    if (served) return served;
    if (normalized.empty && !options.allowEmptyLens) {
      this.logger.warn(
        `Rebuilding ${label} with an empty lens: every row of ${plan.filter((n) => !n.virtual).length} projection(s) is derived again. ` +
          `Pass allowEmptyLens: true to say this is intended.`,
      );
    }
    return engine.start<P>(request);
  }

  private queueEngine(): QueueEngine {
    if (!this.queue) {
      throw new InvalidCinemaOptionsError('engine', "'queue' needs the queue engine: set CinemaModule.forRoot({ queue: { ... } })");
    }
    return this.queue;
  }
}
