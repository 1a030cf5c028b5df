import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { CINEMA_MODULE_OPTIONS } from '../cinema.constants.js';
import { versionPolicy } from '../cinema-options.js';
import { sameDatabase } from '../dialect/postgres/sql.js';
import { InvalidCinemaOptionsError } from '../errors/invalid-options.error.js';
import { VersionChangedError } from '../errors/version-changed.error.js';
import type { ProjectionVersionStatus } from '../interfaces/capture.interface.js';
import type { ResolvedCinemaOptions } from '../interfaces/cinema-options.interface.js';
import type { VersionPolicy } from '../interfaces/projection-options.interface.js';
import type { ProjectionModel } from '../model/projection.model.js';
import { ProjectionRegistry } from '../model/projection.registry.js';
import { versionStore, type VersionState } from './version.store.js';

/** The environment variable that overrides every projection's `onVersionChange` in one process. */
export const VERSION_POLICY_ENV = 'CINEMA_ON_VERSION_CHANGE';
/** How often a process that queued a rollout logs its progress. */
const PROGRESS_INTERVAL_MS = 5_000;

/**
 * Projection versions at startup, under change capture (the versions live in its freshness
 * ledger): compares each materialized projection's version with the one deployed last and the
 * ones that built its ledger slices, applies its `onVersionChange` (`'rebuild'` marks the
 * outdated slices dirty for the watchers, `'lazy'` leaves them to reads and changes, `'fail'`
 * refuses to start), records this version as the newest deployed, and logs what changed. All
 * under one transaction lock, so processes starting at once queue each slice once.
 */
@Injectable()
export class VersionRollout implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Cinema');
  private versionsTracked = false;
  private readonly states = new Map<string, VersionState & { policy: VersionPolicy; queued: number }>();
  private progress?: NodeJS.Timeout;

  constructor(
    private readonly registry: ProjectionRegistry,
    @Inject(CINEMA_MODULE_OPTIONS) private readonly options: ResolvedCinemaOptions,
    private readonly moduleRef: ModuleRef,
  ) {}

  /** Whether slices record the version that built them (capture set, its versions migration run). */
  get tracked(): boolean {
    return this.versionsTracked;
  }

  async onModuleInit(): Promise<void> {
    if (!this.options.capture) {
      this.logger.log('Projection versions are not tracked: they live in the freshness ledger of change capture (the capture option).');
      return;
    }
    const dataSource = this.dataSource();
    if (!(await versionStore.tracked((text, values) => dataSource.query(text, values)))) {
      this.logger.warn(
        'Projection versions are not tracked: cinema.projection_versions is missing. Add CinemaCaptureMigration1764800000000 (in CINEMA_CAPTURE_MIGRATIONS) to the migrations.',
      );
      return;
    }
    const override = process.env[VERSION_POLICY_ENV];
    if (override !== undefined && override !== '') {
      try {
        versionPolicy(override, VERSION_POLICY_ENV);
      } catch {
        throw new InvalidCinemaOptionsError(VERSION_POLICY_ENV, `must be 'rebuild', 'lazy' or 'fail', got ${JSON.stringify(override)}`);
      }
    }
    const graph = this.registry.graph;
    // Upstream first: a rollout's marks are read oldest first, so upstream slices come first.
    const models = graph
      .plan(graph.keys(), true)
      .map((node) => node.key)
      .filter((model) => !model.virtual && sameDatabase(model.write!, dataSource));
    await dataSource.transaction(async (manager) => {
      const run = (text: string, values: unknown[]) => manager.query(text, values);
      await versionStore.lock(manager);
      const states = [];
      for (const model of models) {
        const state = await versionStore.state(run, model.name, model.version);
        states.push({ ...state, policy: (override || model.onVersionChange) as VersionPolicy, queued: 0 });
      }
      const refused = states.filter((state) => state.policy === 'fail' && state.outdated > 0);
      if (refused.length > 0) {
        throw new VersionChangedError(
          refused.map((s) => ({ projection: s.projection, previous: s.previous, version: s.version, outdatedSlices: s.outdated })),
        );
      }
      for (const state of states) {
        await versionStore.register(run, state.projection, state.version);
        if (state.policy === 'rebuild' && state.outdated > 0) state.queued = await versionStore.queue(run, state.projection, state.version);
      }
      for (const state of states) this.states.set(state.projection, state);
    });
    this.versionsTracked = true;
    this.logger.log(this.describe(models));
  }

  onApplicationBootstrap(): void {
    const rolling = [...this.states.values()].filter((state) => state.policy === 'rebuild' && state.outdated > 0);
    if (rolling.length === 0) return;
    let running = false;
    this.progress = setInterval(() => {
      if (running) return;
      running = true;
      this.logProgress(rolling)
        .then((left) => {
          if (left === 0) clearInterval(this.progress);
        })
        .catch(() => undefined)
        .finally(() => (running = false));
    }, PROGRESS_INTERVAL_MS);
    this.progress.unref();
  }

  beforeApplicationShutdown(): void {
    clearInterval(this.progress);
  }

  /** Whether the projection's version changed at this startup or slices of other versions were left (`state:modified`). */
  modified(model: ProjectionModel): boolean {
    const state = this.states.get(model.name);
    if (state) return isModified(state);
    // Virtual projections have no slices: modified when something they read is.
    return model.virtual && [...this.registry.graph.upstream(model)].some((up) => up !== model && this.modified(up));
  }

  /** Every projection's version, and how many slices other versions built (one query each). */
  async status(): Promise<ProjectionVersionStatus[]> {
    const dataSource = this.versionsTracked ? this.dataSource() : undefined;
    const result: ProjectionVersionStatus[] = [];
    for (const model of this.registry.all()) {
      const state = this.states.get(model.name);
      result.push({
        projection: model.name,
        version: model.version,
        previous: state?.previous !== undefined && state.previous !== model.version ? state.previous : undefined,
        modified: this.modified(model),
        policy: state?.policy ?? model.onVersionChange,
        outdatedSlices:
          dataSource && state ? await versionStore.outdated((t, v) => dataSource.query(t, v), model.name, model.version) : undefined,
      });
    }
    return result;
  }

  private async logProgress(rolling: readonly VersionState[]): Promise<number> {
    const dataSource = this.dataSource();
    let left = 0;
    const parts: string[] = [];
    for (const state of rolling) {
      const outdated = await versionStore.outdated((t, v) => dataSource.query(t, v), state.projection, state.version);
      left += outdated;
      parts.push(`${state.projection} ${state.outdated - outdated} of ${state.outdated}`);
    }
    this.logger.log(`Projection versions: ${left === 0 ? 'rolled out' : 'rolling out'}, slices rebuilt: ${parts.join(', ')}.`);
    return left;
  }

  private describe(models: readonly ProjectionModel[]): string {
    const changed = [...this.states.values()].filter(isModified);
    if (changed.length === 0) return `Projection versions: none changed (${models.length} tracked).`;
    const names = new Set(changed.map((state) => state.projection));
    const lines = changed.map((state) => {
      const model = this.registry.named(state.projection);
      const inputs = model.inputs.filter((input) => names.has(input.name)).map((input) => input.name);
      const why =
        state.previous === state.version
          ? 'deployed by another process, slices still outdated'
          : inputs.length > 0
            ? `its input ${inputs.join(', ')} changed`
            : 'its definition changed';
      const action =
        state.policy === 'rebuild'
          ? `${state.outdated} outdated slice(s), ${state.queued} queued for the watchers`
          : state.policy === 'lazy'
            ? `${state.outdated} outdated slice(s), rebuilt as they are read with maxStaleness or changed`
            : 'no outdated slice';
      return `${state.projection} ${state.previous ?? 'unknown'} -> ${state.version} (${why}), policy '${state.policy}': ${action}`;
    });
    return `Projection versions: ${changed.length} changed. ${lines.join('; ')}.`;
  }

  /** The database of the freshness ledger. */
  private dataSource(): DataSource {
    return this.moduleRef.get<DataSource>(getDataSourceToken(this.options.capture!.dataSource), { strict: false });
  }
}

function isModified(state: VersionState): boolean {
  return state.outdated > 0 || (state.previous !== undefined && state.previous !== state.version);
}
