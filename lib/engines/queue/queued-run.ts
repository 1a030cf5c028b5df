import { runToJSON } from '../../cinema-run.registry.js';
import { ProjectionFailedError, ProjectionTimeoutError } from '../../errors/projection-failed.error.js';
import type { Lens } from '../../interfaces/lens.interface.js';
import type { CinemaRun, NodeReport, NodeStatus, RunStatus } from '../../interfaces/run.interface.js';
import type { StoredError, StoredNode, StoredRun } from './queue.store.js';

const NODE_STATUS: Record<StoredNode['status'], NodeStatus> = {
  waiting: 'pending',
  queued: 'pending',
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'skipped',
};

/** A run of the queue engine as `CinemaService` hands it out: the recorded state, refreshed on completion. */
export class QueuedRun<P = unknown> implements CinemaRun<P> {
  readonly engine = 'queue' as const;
  status: RunStatus;
  createdAt: Date;
  finishedAt?: Date;
  durationMs?: number;
  nodes: NodeReport[];
  error?: Error;
  readonly projection: string;
  readonly lens: Lens<P>;
  result!: Promise<P[]>;

  constructor(
    readonly id: string,
    stored: StoredRun,
    lens: Lens<P>,
  ) {
    this.projection = stored.projection;
    this.lens = lens;
    this.createdAt = stored.createdAt;
    this.status = 'pending';
    this.nodes = [];
    this.update(stored);
  }

  /** Takes the state recorded in the queue's tables. */
  update(stored: StoredRun): void {
    this.status = stored.status;
    this.finishedAt = stored.finishedAt ?? undefined;
    this.durationMs = stored.finishedAt && stored.createdAt ? stored.finishedAt.getTime() - stored.createdAt.getTime() : undefined;
    this.nodes = stored.nodes.map((node) => ({
      projection: node.projection,
      virtual: node.virtual,
      status: NODE_STATUS[node.status],
      deleted: node.deleted,
      written: node.written,
      paths: node.paths,
      attempts: node.attempts,
      worker: node.worker ?? undefined,
      startedAt: node.startedAt ?? undefined,
      finishedAt: node.finishedAt ?? undefined,
      durationMs: node.durationMs ?? undefined,
      error: node.error ? revive(node.error, stored) : undefined,
    }));
    this.error = stored.error ? this.failure(stored) : undefined;
  }

  toJSON(): Record<string, unknown> {
    return runToJSON(this);
  }

  /** The run's error as the inline engine reports it: the first failure, what it skipped, the others. */
  private failure(stored: StoredRun): ProjectionFailedError {
    const failed = stored.nodes.filter((node) => node.status === 'failed' && node.error);
    const [first, ...others] = failed.length > 0 ? failed.map((node) => revive(node.error!, stored)) : [revive(stored.error!, stored)];
    first.others = others;
    first.skipped = stored.nodes.filter((node) => node.status === 'cancelled').map((node) => node.projection);
    if (first.skipped.length > 0) first.message += ` Not run because of it: ${first.skipped.join(', ')}.`;
    if (others.length > 0) first.message += ` Also failed: ${others.map((e) => e.projection).join(', ')}.`;
    return first;
  }
}

/** The error as the worker recorded it: what the projection threw becomes `cause`, SQLSTATE (`code`) and detail included. */
function revive(error: StoredError, run: StoredRun): ProjectionFailedError {
  const projection = error.projection ?? run.projection;
  if (error.timeoutMs !== undefined) return new ProjectionTimeoutError(projection, run.lens, error.timeoutMs);
  // Runs recorded before causes were kept carry only the message.
  const recorded = error.cause ?? { name: error.name, message: error.message };
  const cause = Object.assign(new Error(recorded.message), recorded);
  return new ProjectionFailedError(projection, run.lens, cause, error.message);
}
