import type { DataSource } from 'typeorm';
import type { ResolvedCinemaOptions } from '../interfaces/cinema-options.interface.js';
import type { NodeReport } from '../interfaces/run.interface.js';
import { normalizeLens } from '../lens/lens.js';
import type { ProjectionModel } from '../model/projection.model.js';
import type { ProjectionGraph } from '../planning/projection-graph.js';
import type { CinemaPlanner } from '../planning/cinema.planner.js';
import { RunOutputs } from '../read/run-outputs.js';
import { ProjectionRunner, projectionTimeout } from '../execution/projection.runner.js';
import type { PgClient } from '../execution/write-client.js';
import type { WriteSlots } from '../execution/write-slots.js';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { RunTelemetry } from '../telemetry/run-telemetry.js';
import { changeLog, type NewMark } from './change-log.store.js';
import { handOffMarks, lensOf, type MarkGroup } from './mark-groups.js';

/**
 * Refreshes one group of marks: exactly that projection (its inputs are read, not rebuilt) with
 * the group's list lens, and, in the transaction that writes the slice, deletes the claimed
 * marks, hands the slices on to the direct dependents and records the ledger.
 */
export class SliceRefresher {
  private readonly runner = new ProjectionRunner();

  constructor(
    private readonly graph: () => ProjectionGraph<ProjectionModel>,
    private readonly planner: CinemaPlanner,
    private readonly slots: WriteSlots,
    private readonly options: ResolvedCinemaOptions,
    private readonly changes: DataSource,
    private readonly telemetry: RunTelemetry = new RunTelemetry(),
    /** Whether the ledger records versions (`VersionRollout.tracked`). */
    private readonly versionsTracked: () => boolean = () => false,
  ) {}

  /**
   * `snapshot`: the one the group's marks were read in (settling deletes the marks visible in it).
   * `covered`: hand-off marks not to write, because a refresh of that dependent after this one
   * already holds marks of theirs.
   */
  async refresh(
    model: ProjectionModel,
    group: MarkGroup,
    snapshot: string,
    signal: AbortSignal,
    covered: (mark: NewMark) => boolean = () => false,
  ): Promise<NodeReport & { handedTo: string[] }> {
    const claimed = { projection: model.name, snapshot, whole: group.whole, keys: group.lensTexts };
    const lens = normalizeLens(model.name, lensOf(group));
    const handOff = this.graph()
      .dependentsOf(model)
      .flatMap((dependent) => handOffMarks(group, dependent.name, (key) => exposes(dependent, key)))
      .filter((mark) => !covered(mark));
    let handedTo = [...new Set(handOff.map((mark) => mark.projection))];
    const report: NodeReport = { projection: model.name, virtual: model.virtual, status: 'pending', deleted: 0, written: 0, paths: [] };
    if (model.virtual) {
      // Nothing to rebuild: the marks move on to what reads it, in one transaction.
      await this.changes.transaction((manager) => changeLog.settle((text, values) => manager.query(text, values), claimed, handOff));
      report.status = 'succeeded';
      return { ...report, handedTo };
    }
    const outputs = new RunOutputs(lens);
    await this.planner.plan([model], outputs, true);
    const started = performance.now();
    const detail = { engine: 'capture' as const, lensKeys: lens.keys, lens: lens.display };
    await this.telemetry.traceNode(model.name, ROOT_CONTEXT, detail, report, () =>
      this.runner.run(
        model,
        {
          lens,
          ...projectionTimeout(model, lens, this.options.fullRebuildTimeout),
          connectionCheckInterval: this.options.connectionCheckInterval,
          signal,
          slots: this.slots.of(model.write!),
          batchSize: this.options.batchSize,
          streamBatchSize: this.options.streamBatchSize,
          outputs,
          beforeCommit: (client: PgClient) => {
            // A diff that changed no row changes nothing downstream: the change stops here.
            const unchanged = model.writeMode === 'diff' && report.deleted === 0 && report.written === 0;
            if (unchanged) handedTo = [];
            return changeLog.settle((text, values) => client.query({ text, values }), claimed, unchanged ? [] : handOff, {
              projection: model.name,
              slices: group.whole ? [{}] : group.slices,
              rows: report.written,
              durationMs: performance.now() - started,
              version: this.versionsTracked() ? model.version : undefined,
            });
          },
        },
        report,
      ),
    );
    return { ...report, handedTo };
  }
}

/** Whether a projection's output has a lens key (a virtual one without declared columns: unknown, so no). */
export function exposes(model: ProjectionModel, key: string): boolean {
  if (model.table && !model.hasOutput) return model.table.byProperty.has(key);
  return model.options.columns?.includes(key) ?? false;
}
