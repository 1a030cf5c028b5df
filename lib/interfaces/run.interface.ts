import type { Lens } from './lens.interface.js';
import type { QueueRunOptions } from './queue-options.interface.js';

export interface ProjectOptions extends QueueRunOptions {
  /**
   * Return a run handle as soon as the run is planned instead of waiting for its rows.
   * @default false
   */
  async?: boolean;
  /**
   * Milliseconds the whole run may take; overrides projection timeouts that are longer.
   * With `engine: 'queue'`: the caller's wait (the returned promise, or the handle's `result`)
   * rejects with `QueuedRunTimeoutError` after this long, while the run stays queued and
   * finishes on a worker; each of its projections' transactions is bounded by it too.
   * @default no limit beyond each projection's own
   */
  timeout?: number;
  /**
   * Rebuild with an empty lens without the warning.
   * @default the module's `allowEmptyLens`
   */
  allowEmptyLens?: boolean;
  /**
   * Rebuild only the requested projection, not the projections it reads from.
   * @default false
   */
  skipDependencies?: boolean;
  /**
   * Projections of this run that may rebuild at the same time (with `engine: 'queue'`, across
   * all worker processes: a node beyond it waits for one of the run's nodes to finish).
   * @default the module's `concurrency`
   */
  concurrency?: number;
  /**
   * Read and return the requested projection's rows under the lens when the run is done.
   * @default true
   */
  fetch?: boolean;
  /**
   * Run in this process (`'inline'`) or as jobs on the PostgreSQL queue (`'queue'`), which any
   * worker process takes; `runAt`, `priority`, `queue` and `attempts` apply to the queue.
   * @default the module's `engine`
   */
  engine?: 'inline' | 'queue';
  /**
   * Read-through under change capture (`project()` only): when every slice the lens names was
   * refreshed at most this many milliseconds ago (the freshness ledger) and no pending change
   * covers it, return the stored rows without rebuilding (the run says `fresh: true`); else
   * rebuild as usual. Only an equality or list lens (`{ orgId: 3 }`, `{ orgId: [3, 4] }`) can be
   * fresh; any other lens, a virtual projection, or an empty lens without a whole-projection
   * ledger row always rebuilds. Needs the module's `capture` option (else
   * `InvalidCinemaOptionsError`) and `CinemaCaptureMigration1764400000000`.
   * @default undefined (always rebuild)
   */
  maxStaleness?: number;
}

export type RunStatus = 'pending' | 'running' | 'succeeded' | 'failed';
export type NodeStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';

export interface NodeReport {
  projection: string;
  virtual: boolean;
  status: NodeStatus;
  /** Rows removed by the slice delete. */
  deleted: number;
  /** Rows inserted or updated. */
  written: number;
  /** `write: 'diff'` only: derived rows the slice already held as they were (not rewritten). */
  unchanged?: number;
  /**
   * Materialization paths taken: in PostgreSQL (`insert-select`), rows through Node (`stream`), or a
   * query of another database piped from its `COPY ... TO STDOUT` into this one's `COPY ... FROM
   * STDIN` (`copy-pipe`). A whole-table rebuild also says how the table was replaced: a fresh table
   * swapped in (`swap`), or its rows copied into the table in place because the swap's lock could
   * not be had briefly (`swap-in-place`).
   */
  paths: ('insert-select' | 'stream' | 'copy-pipe' | 'swap' | 'swap-in-place')[];
  startedAt?: Date;
  finishedAt?: Date;
  durationMs?: number;
  error?: Error;
  /** Queue engine: attempts taken so far. */
  attempts?: number;
  /** Queue engine: the worker of the latest attempt. */
  worker?: string;
}

export interface CinemaRun<P = unknown> {
  readonly id: string;
  /** Where it runs: this process (`'inline'`) or the job queue (`'queue'`). */
  readonly engine: 'inline' | 'queue';
  readonly projection: string;
  readonly lens: Lens<P>;
  readonly status: RunStatus;
  readonly createdAt: Date;
  readonly finishedAt?: Date;
  readonly durationMs?: number;
  /** One entry per projection of the plan, in plan order. */
  readonly nodes: readonly NodeReport[];
  readonly error?: Error;
  /**
   * `true`: served from the store by `maxStaleness`, nothing rebuilt (its nodes say `succeeded`
   * with 0 rows written).
   */
  readonly fresh?: boolean;
  /** Settles with the requested projection's rows (or `[]` when `fetch: false`). */
  readonly result: Promise<P[]>;
  /** A plain summary for logs and HTTP responses: errors as `{ name, message }`, no promise. */
  toJSON(): Record<string, unknown>;
}
