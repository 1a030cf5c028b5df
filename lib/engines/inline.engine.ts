import { Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { ApplicationShutdownError } from '../errors/application-shutdown.error.js';
import { ProjectionFailedError, ProjectionTimeoutError } from '../errors/projection-failed.error.js';
import type { ResolvedCinemaOptions } from '../interfaces/cinema-options.interface.js';
import type { CinemaRun, NodeReport } from '../interfaces/run.interface.js';
import type { NormalizedLens } from '../lens/lens.js';
import type { ProjectionModel } from '../model/projection.model.js';
import type { PlannedNode } from '../planning/projection-graph.js';
import { RunHistory } from '../runs/run-history.js';
import { RunRecord } from '../runs/run-record.js';
import { runFailure } from '../runs/run-failure.js';
import { logBackgroundRun, settleResult } from '../runs/run-result.js';
import type { CinemaEngine, CommitHook, RunRequest } from './engine.interface.js';
import { ProjectionRunner, projectionTimeout, RunTimeout, type NodeRunOptions } from '../execution/projection.runner.js';
import type { WriteSlots } from '../execution/write-slots.js';
import type { RunOutputs } from '../read/run-outputs.js';
import { RunTelemetry } from '../telemetry/run-telemetry.js';
import { context as contextApi, type Context } from '@opentelemetry/api';

export interface ExecuteOptions {
  lens: NormalizedLens;
  concurrency: number;
  /** Milliseconds the whole run may take; 0 for none. */
  timeout: number;
  batchSize: number;
  streamBatchSize: number;
  /** The run's outputs, each built once. */
  outputs?: RunOutputs;
  /** The module's timeout for projections rebuilt with an empty lens. */
  fullRebuildTimeout: number;
  connectionCheckInterval: number;
  /** Statements each projection commits with its slice. */
  beforeCommit?: CommitHook;
  /** Reports to fill in, one per planned node. */
  reports: Map<ProjectionModel, NodeReport>;
  /** The run's span (its projections' spans are its children) and its id. */
  trace?: { context: Context; runId: string };
}

/** What the engine needs of the projection runner (a fake one in unit tests). */
export interface NodeRunner {
  run(model: ProjectionModel, options: NodeRunOptions, report: NodeReport): Promise<void>;
}

/**
 * Runs a plan in this process. A projection starts as soon as all of its inputs in the plan
 * have succeeded (not level by level), up to the run's concurrency; a failure skips its
 * dependents and lets independent branches finish. Keeps the runs of this process (the running
 * ones and the last `runHistory` finished ones).
 */
export class InlineEngine implements CinemaEngine, BeforeApplicationShutdown {
  readonly name = 'inline' as const;
  private readonly logger = new Logger('Cinema');
  private readonly active = new Set<AbortController>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly history: RunHistory;

  constructor(
    private readonly slots: WriteSlots,
    private readonly options: Pick<
      ResolvedCinemaOptions,
      'batchSize' | 'streamBatchSize' | 'runHistory' | 'fullRebuildTimeout' | 'connectionCheckInterval'
    >,
    private readonly runner: NodeRunner = new ProjectionRunner(),
    private readonly telemetry: RunTelemetry = new RunTelemetry(),
  ) {
    this.history = new RunHistory(options.runHistory);
  }

  async start<P>(request: RunRequest): Promise<CinemaRun<P>> {
    const reports = new Map<ProjectionModel, NodeReport>(
      request.plan.map((node) => [
        node.key,
        { projection: node.name, virtual: node.virtual, status: 'pending', deleted: 0, written: 0, paths: [] },
      ]),
    );
    const run = new RunRecord<P>('inline', randomUUID(), request.label, request.given, [...reports.values()]);
    this.history.add(run);
    const done = this.complete(run, request, reports);
    run.result = settleResult(run, done, request);
    this.track(run.result);
    if (request.options.async) {
      // Nobody may await a background run: its failure is logged, and kept on the handle.
      run.result.catch((error: Error) => logBackgroundRun(this.logger, run, 'Run', error));
    }
    return run;
  }

  async find<P>(id: string): Promise<CinemaRun<P> | undefined> {
    return this.history.get(id);
  }

  /** This process's latest runs, newest first. */
  recent(limit: number): CinemaRun[] {
    return this.history.recent(limit);
  }

  /** A run of this process, synchronously. */
  get<P>(id: string): CinemaRun<P> | undefined {
    return this.history.get(id);
  }

  /** Gives in-flight runs their rollback before TypeORM closes its connections. */
  async beforeApplicationShutdown(): Promise<void> {
    this.abortAll(new ApplicationShutdownError());
    await Promise.allSettled([...this.inFlight]);
  }

  /** Aborts every run in flight: their transactions roll back, their pending nodes are skipped. */
  abortAll(reason: unknown): void {
    for (const controller of this.active) controller.abort(reason);
  }

  private async complete(run: RunRecord<any>, request: RunRequest, reports: Map<ProjectionModel, NodeReport>): Promise<void> {
    const started = performance.now();
    run.status = 'running';
    const scope = this.telemetry.startRun(run.projection, request.lens.keys, 'inline');
    scope.started(run);
    try {
      const failures = await this.execute(request.plan, {
        lens: request.lens,
        concurrency: request.options.concurrency,
        timeout: request.options.timeout,
        batchSize: this.options.batchSize,
        streamBatchSize: this.options.streamBatchSize,
        fullRebuildTimeout: this.options.fullRebuildTimeout,
        connectionCheckInterval: this.options.connectionCheckInterval,
        outputs: request.outputs,
        beforeCommit: request.beforeCommit,
        reports,
        trace: { context: scope.context, runId: run.id },
      });
      if (failures.length > 0) {
        throw runFailure(
          failures,
          run.nodes.filter((node) => node.status === 'skipped').map((node) => node.projection),
        );
      }
      run.status = 'succeeded';
    } catch (error) {
      run.status = 'failed';
      run.error = error as Error;
      throw error;
    } finally {
      run.finishedAt = new Date();
      run.durationMs = performance.now() - started;
      this.history.finish(run);
      scope.end(run);
    }
  }

  private track(promise: Promise<unknown>): void {
    const settled = promise.catch(() => undefined).finally(() => this.inFlight.delete(settled));
    this.inFlight.add(settled);
  }

  async execute(plan: readonly PlannedNode<ProjectionModel>[], options: ExecuteOptions): Promise<ProjectionFailedError[]> {
    const runController = new AbortController();
    this.active.add(runController);
    const runTimer =
      options.timeout > 0 ? setTimeout(() => runController.abort(new RunTimeout(options.timeout)), options.timeout) : undefined;
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
              // Its dependents will never be ready: without this they would end the run 'pending'.
              skipDependents();
              continue;
            }
            if (running >= options.concurrency) continue;
            running++;
            state.set(node.key, 'running');
            const detail = {
              engine: 'inline' as const,
              lensKeys: options.lens.keys,
              lens: options.lens.display,
              runId: options.trace?.runId,
            };
            this.telemetry
              .traceNode(node.name, options.trace?.context ?? contextApi.active(), detail, report, () =>
                this.runner.run(
                  node.key,
                  {
                    lens: options.lens,
                    ...projectionTimeout(node.key, options.lens, options.fullRebuildTimeout),
                    connectionCheckInterval: options.connectionCheckInterval,
                    signal: runController.signal,
                    slots: this.slots.of(node.key.write!),
                    batchSize: options.batchSize,
                    streamBatchSize: options.streamBatchSize,
                    outputs: options.outputs,
                    beforeCommit: options.beforeCommit && ((client) => options.beforeCommit!(node.key, client, report)),
                  },
                  report,
                ),
              )
              .then(
                () => {
                  state.set(node.key, 'done');
                },
                (error: ProjectionFailedError) => {
                  state.set(node.key, 'failed');
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
