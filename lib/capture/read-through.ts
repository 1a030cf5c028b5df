import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { CINEMA_MODULE_OPTIONS } from '../cinema.constants.js';
import { sameDatabase } from '../dialect/postgres/sql.js';
import type { CommitHook, RunRequest } from '../engines/engine.interface.js';
import type { ResolvedCinemaOptions } from '../interfaces/cinema-options.interface.js';
import type { CinemaRun, NodeReport } from '../interfaces/run.interface.js';
import type { NormalizedLens } from '../lens/lens.js';
import { RunRecord } from '../runs/run-record.js';
import { logBackgroundRun, settleResult } from '../runs/run-result.js';
import { changeLog } from './change-log.store.js';
import { FreshnessReader } from './freshness.reader.js';
import { lensSlices } from './lens-slices.js';
import { VersionRollout } from './version-rollout.js';
import { exposes } from './slice.refresher.js';

/**
 * `project(P, lens, { maxStaleness })` as a read-through cache over the freshness ledger: serves
 * the stored slice when it is fresh enough, and has explicit runs record the ledger too, so that
 * a slice `project()` rebuilt counts as fresh as one the watcher rebuilt.
 */
@Injectable()
export class ReadThrough {
  private readonly logger = new Logger('Cinema');

  constructor(
    private readonly freshness: FreshnessReader,
    private readonly versions: VersionRollout,
    @Inject(CINEMA_MODULE_OPTIONS) private readonly options: ResolvedCinemaOptions,
  ) {}

  /**
   * The run, already succeeded, whose `result` reads the stored rows (the same `readSlice` as a
   * rebuild's), when the request has `maxStaleness` and its one target is fresh enough; else
   * `undefined`: rebuild.
   */
  async serve<P>(request: RunRequest): Promise<CinemaRun<P> | undefined> {
    const { maxStaleness } = request.options;
    if (maxStaleness === undefined || request.targets.length !== 1) return undefined;
    const started = performance.now();
    if (!(await this.freshness.isFresh(request.targets[0], request.lens, maxStaleness))) return undefined;
    const nodes: NodeReport[] = request.plan.map((node) => ({
      projection: node.name,
      virtual: node.virtual,
      status: 'succeeded',
      deleted: 0,
      written: 0,
      paths: [],
    }));
    const run = new RunRecord<P>(request.options.engine, randomUUID(), request.label, request.given, nodes);
    run.status = 'succeeded';
    run.fresh = true;
    run.finishedAt = new Date();
    run.durationMs = performance.now() - started;
    run.result = settleResult(run, Promise.resolve(), request);
    if (request.options.async) run.result.catch((error: Error) => logBackgroundRun(this.logger, run, 'Fresh read', error));
    return run;
  }

  /**
   * Under change capture, the ledger rows an explicit run commits with each slice it rebuilds:
   * only for an equality or list lens on keys the projection has (any other lens records
   * nothing, so it never makes a slice look fresh), in the database of the ledger.
   */
  ledger(lens: NormalizedLens): CommitHook | undefined {
    if (!this.options.capture) return undefined;
    const slices = lensSlices(lens);
    const tracked = this.versions.tracked;
    // Without slices to record, versions still guard the write: an old process never overwrites a newer version's rows.
    if (!slices && !tracked) return undefined;
    const changes = this.freshness.dataSource();
    return async (model, client, report) => {
      if (model.virtual || !sameDatabase(model.write!, changes)) return;
      const run = (text: string, values: unknown[]) => client.query({ text, values });
      if (!slices || !lens.keys.every((key) => exposes(model, key))) {
        if (tracked) await changeLog.record(run, { projection: model.name, slices: [], rows: 0, durationMs: 0, version: model.version });
        return;
      }
      await changeLog.record(run, {
        projection: model.name,
        slices: slices.slices,
        rows: report.written,
        durationMs: report.startedAt ? Date.now() - report.startedAt.getTime() : 0,
        version: tracked ? model.version : undefined,
      });
    };
  }
}
