import type { Lens } from '../interfaces/lens.interface.js';
import type { CinemaRun, NodeReport } from '../interfaces/run.interface.js';
import type { PgClient } from '../execution/write-client.js';
import type { NormalizedLens } from '../lens/lens.js';
import type { ProjectionModel } from '../model/projection.model.js';
import type { PlannedNode } from '../planning/projection-graph.js';
import type { RunOutputs } from '../read/run-outputs.js';
import type { RunOptions } from '../runs/run-options.js';

/** One planned run, handed to an engine. */
export interface RunRequest {
  /** The projections asked for: one for `project()`, several for `refresh()`. */
  targets: readonly ProjectionModel[];
  /** What the run shows as its projection: the target's name, or the targets' names. */
  label: string;
  plan: readonly PlannedNode<ProjectionModel>[];
  lens: NormalizedLens;
  /** The lens as the caller wrote it. */
  given: Lens<any>;
  /** Each projection's output under the lens, built once for the run. */
  outputs: RunOutputs;
  options: RunOptions;
  /**
   * Last statements of each projection's write transaction (change capture's freshness ledger).
   * The inline engine runs it; a queued run's workers make their own from the run's lens
   * (`LedgerHooks`), in their process.
   */
  beforeCommit?: CommitHook;
}

/** Statements a rebuilt projection commits with its slice, given its report so far. */
export type CommitHook = (model: ProjectionModel, client: PgClient, report: NodeReport) => Promise<void>;

/** The commit hook of a run of `lens` (`undefined`: none), for engines that run nodes away from the caller. */
export type LedgerHooks = (lens: NormalizedLens) => CommitHook | undefined;

/**
 * Where runs run: in this process (`InlineEngine`) or as jobs on the PostgreSQL queue
 * (`QueueEngine`). An engine owns its runs' records, timing and failures; `start` returns the
 * run's handle as soon as it is accepted, whose `result` settles when the run has finished.
 */
export interface CinemaEngine {
  readonly name: 'inline' | 'queue';
  start<P>(request: RunRequest): Promise<CinemaRun<P>>;
  /** A run this engine knows by id, running or finished. */
  find<P>(id: string): Promise<CinemaRun<P> | undefined>;
}
