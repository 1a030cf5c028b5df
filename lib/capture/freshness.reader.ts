import { Inject, Injectable, type Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { CINEMA_MODULE_OPTIONS } from '../cinema.constants.js';
import { InvalidLensError } from '../errors/invalid-lens.error.js';
import type { ProjectionFreshness } from '../interfaces/capture.interface.js';
import type { ResolvedCinemaOptions } from '../interfaces/cinema-options.interface.js';
import { normalizeLens, type NormalizedLens } from '../lens/lens.js';
import type { ProjectionModel } from '../model/projection.model.js';
import { ProjectionRegistry } from '../model/projection.registry.js';
import { changeLog, coversSliceSql, pendingSql } from './change-log.store.js';
import { canonicalText, lensSlices } from './lens-slices.js';
import { versionStore } from './version.store.js';
import { VersionRollout } from './version-rollout.js';

/**
 * Reads how fresh a projection (or one slice) is from the freshness ledger and the change log.
 * Pending changes count the marks of the projection and of everything upstream of it (a change
 * to a source reaches it through them) whose lens is the whole projection or matches the lens.
 */
@Injectable()
export class FreshnessReader {
  constructor(
    private readonly registry: ProjectionRegistry,
    @Inject(CINEMA_MODULE_OPTIONS) private readonly options: ResolvedCinemaOptions,
    private readonly moduleRef: ModuleRef,
    private readonly versions: VersionRollout,
  ) {}

  freshness(projection: Type<unknown>, lens?: Record<string, unknown>): Promise<ProjectionFreshness> {
    return this.freshnessOf(this.registry.get(projection), lens);
  }

  /** Every projection with an `errorAfter` threshold, as a whole (its oldest pending change in any slice). */
  async withErrorThresholds(): Promise<ProjectionFreshness[]> {
    const models = this.registry.all().filter((model) => model.freshness.errorAfter !== undefined);
    return Promise.all(models.map((model) => this.freshnessOf(model)));
  }

  private async freshnessOf(model: ProjectionModel, lens?: Record<string, unknown>): Promise<ProjectionFreshness> {
    const normalized = normalizeLens(model.name, lens);
    for (const [key, value] of Object.entries(normalized.values)) {
      if (value === null || typeof value === 'object') {
        throw new InvalidLensError(model.name, normalized.display, key, 'freshness() takes one scalar value per key, e.g. { orgId: 42 }');
      }
    }
    // The same coverage as the read-through check of project({ maxStaleness }).
    const canonical = Object.fromEntries(
      Object.entries(normalized.values).map(([key, value]) => [key, canonicalText(value) ?? String(value)]),
    );
    const values = Object.fromEntries(Object.entries(canonical).map(([key, text]) => [key, [text]]));
    const names = [...this.registry.graph.upstream(model)].map((node) => node.name);
    const [row] = await this.dataSource().query<{ refreshedAt: Date | null; pending: number; oldest: Date | null; lagMs: number | null }[]>(
      `SELECT
         (SELECT max(f."refreshed_at") FROM "cinema"."freshness" f WHERE f."projection" = $1 AND ${coversSliceSql('$2::jsonb')}) AS "refreshedAt",
         count(c."id")::int AS "pending",
         min(c."at") AS "oldest",
         (extract(epoch FROM clock_timestamp() - min(c."at")) * 1000)::float8 AS "lagMs"
       FROM "cinema"."changes" c
       WHERE c."projection" = ANY($3::text[]) AND ${pendingSql('$4::jsonb')}`,
      [model.name, JSON.stringify(canonical), names, JSON.stringify(values)],
    );
    const lagMs = row.lagMs ?? 0;
    const version = await this.versionOf(model, canonical, lens !== undefined && Object.keys(normalized.values).length > 0);
    const { warnAfter, errorAfter } = model.freshness;
    const status =
      errorAfter !== undefined && lagMs > errorAfter ? 'error' : warnAfter !== undefined && lagMs > warnAfter ? 'warn' : 'pass';
    return {
      projection: model.name,
      refreshedAt: row.refreshedAt ?? undefined,
      pendingChanges: row.pending,
      oldestPendingChange: row.oldest ?? undefined,
      lagMs,
      status,
      ...version,
    };
  }

  /**
   * The version the slice was built by (its newest covering ledger row's) against this process's;
   * for the whole projection, how many of its slices another version built.
   */
  private async versionOf(
    model: ProjectionModel,
    canonical: Record<string, string>,
    slice: boolean,
  ): Promise<Pick<ProjectionFreshness, 'version' | 'builtBy' | 'definitionChanged' | 'outdatedSlices'>> {
    if (!this.versions.tracked || model.virtual) return {};
    const dataSource = this.dataSource();
    if (!slice) {
      const outdated = await versionStore.outdated((t, v) => dataSource.query(t, v), model.name, model.version);
      return { version: model.version, definitionChanged: outdated > 0, outdatedSlices: outdated };
    }
    const [row] = await dataSource.query<{ version: string | null }[]>(
      `SELECT f."version" FROM "cinema"."freshness" f WHERE f."projection" = $1 AND ${coversSliceSql('$2::jsonb')}
       ORDER BY f."refreshed_at" DESC LIMIT 1`,
      [model.name, JSON.stringify(canonical)],
    );
    if (!row) return { version: model.version, definitionChanged: false };
    const builtBy = row.version ?? undefined;
    return { version: model.version, builtBy, definitionChanged: builtBy !== model.version };
  }

  /**
   * Whether `project(model, lens, { maxStaleness })` may serve the stored rows: every slice the
   * lens names (equality or list lens only, see `lensSlices`) has a ledger row at most
   * `maxStaleness` ms old, and no mark of the projection or upstream of it covers one.
   */
  async isFresh(model: ProjectionModel, lens: NormalizedLens, maxStaleness: number): Promise<boolean> {
    if (model.virtual) return false;
    const slices = lensSlices(lens);
    if (!slices) return false;
    const names = [...this.registry.graph.upstream(model)].map((node) => node.name);
    const version = this.versions.tracked ? model.version : undefined;
    return changeLog.fresh(this.dataSource(), model.name, names, slices.values, slices.canonical, maxStaleness, version);
  }

  /** The database of `cinema.changes` and `cinema.freshness`. */
  dataSource(): DataSource {
    const name = this.options.capture?.dataSource ?? this.options.writeDataSource;
    return this.moduleRef.get<DataSource>(getDataSourceToken(name), { strict: false });
  }
}
