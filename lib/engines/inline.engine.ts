import { ProjectionFailedError, ProjectionTimeoutError } from '../errors/projection-failed.error.js';
import type { PlannedNode } from '../graph/projection-graph.js';
import type { NodeReport } from '../interfaces/run.interface.js';
import type { NormalizedLens } from '../lens/lens.js';
import type { ProjectionModel } from './projection.model.js';
import { ProjectionRunner, projectionTimeout, RunTimeout } from './projection.runner.js';
import type { WriteSlots } from './write-slots.js';

export interface ExecuteOptions {
  lens: NormalizedLens;
  concurrency: number;
  /** Milliseconds the whole run may take; 0 for none. */
  timeout: number;
  batchSize: number;
  streamBatchSize: number;
  /** The module's timeout for projections rebuilt with an empty lens. */
  fullRebuildTimeout: number;
  connectionCheckInterval: number;
  /** Reports to fill in, one per planned node. */
  reports: Map<ProjectionModel, NodeReport>;
}

/**
 * Runs a plan in this process. A projection starts as soon as all of its inputs in the plan
 * have succeeded (not level by level), up to the run's concurrency; a failure skips its
 * dependents and lets independent branches finish.
 */
export class InlineEngine {
  private readonly runner = new ProjectionRunner();
  private readonly active = new Set<AbortController>();

  constructor(private readonly slots: WriteSlots) {}

  /** Aborts every run in flight: their transactions roll back, their pending nodes are skipped. */
  abortAll(reason: unknown): void {
    for (const controller of this.active) controller.abort(reason);
  }

  async execute(plan: readonly PlannedNode<ProjectionModel>[], options: ExecuteOptions): Promise<ProjectionFailedError[]> {
    const runController = new AbortController();
    this.active.add(runController);
    const runTimer =
      options.timeout > 0
        ? setTimeout(() => runController.abort(new RunTimeout(options.timeout)), options.timeout)
        : undefined;
    const failures: ProjectionFailedError[] = [];
    const state = new Map<ProjectionModel, 'pending' | 'running' | 'done' | 'failed' | 'skipped'>();
    for (const node of plan) state.set(node.key, 'pending');

    try {
      await new Promise<void>((resolve) => {
        let running = 0;
        // Plan order puts inputs first, so one pass reaches every transitive dependent.
        const skipDependents = () => {
          for (const node of plan) {
            if (state.get(node.key) === 'pending' && node.after.some((input) => ['failed', 'skipped'].includes(state.get(input)!))) {
              state.set(node.key, 'skipped');
              options.reports.get(node.key)!.status = 'skipped';
            }
          }
        };
        const pump = () => {
          for (const node of plan) {
            if (state.get(node.key) !== 'pending') continue;
            if (!node.after.every((input) => state.get(input) === 'done')) continue;
            const report = options.reports.get(node.key)!;
            if (node.virtual) {
              // Read lazily by the projections that take it as input: nothing to run.
              state.set(node.key, 'done');
              report.status = 'succeeded';
              continue;
            }
            if (runController.signal.aborted) {
              state.set(node.key, 'skipped');
              report.status = 'skipped';
              continue;
            }
            if (running >= options.concurrency) continue;
            running++;
            state.set(node.key, 'running');
            this.runner
              .run(
                node.key,
                {
                  lens: options.lens,
                  ...projectionTimeout(node.key, options.lens, options.fullRebuildTimeout),
                  connectionCheckInterval: options.connectionCheckInterval,
                  signal: runController.signal,
                  slots: this.slots.of(node.key.write!),
                  batchSize: options.batchSize,
                  streamBatchSize: options.streamBatchSize,
                },
                report,
              )
              .then(
                () => {
                  state.set(node.key, 'done');
                  report.status = 'succeeded';
                },
                (error: ProjectionFailedError) => {
                  state.set(node.key, 'failed');
                  report.status = 'failed';
                  report.error = error;
                  failures.push(error);
                  skipDependents();
                },
              )
              .finally(() => {
                report.finishedAt = new Date();
                // From the start of its transaction (after waiting for a slot), as startedAt says.
                if (report.startedAt) report.durationMs = report.finishedAt.getTime() - report.startedAt.getTime();
                running--;
                pump();
              });
          }
          // Virtual nodes have no inputs and precede their dependents in the plan: one pass settles them.
          if (running === 0) resolve();
        };
        pump();
      });
    } finally {
      clearTimeout(runTimer);
      this.active.delete(runController);
    }
    if (failures.length === 0 && runController.signal.aborted) {
      const skipped = plan.find((node) => state.get(node.key) === 'skipped');
      if (skipped) failures.push(new ProjectionTimeoutError(skipped.name, options.lens.display, options.timeout, 'call'));
    }
    return failures;
  }
}
