import { ProjectionFailedError, ProjectionTimeoutError } from '../../errors/projection-failed.error.js';
import type { Lens } from '../../interfaces/lens.interface.js';
import type { NodeStatus } from '../../interfaces/run.interface.js';
import { decodeLens } from '../../lens/lens-codec.js';
import { runFailure } from '../../runs/run-failure.js';
import { RunRecord } from '../../runs/run-record.js';
import type { StoredError, StoredNode, StoredRun } from './queue.types.js';

const NODE_STATUS: Record<StoredNode['status'], NodeStatus> = {
  waiting: 'pending',
  queued: 'pending',
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'skipped',
};

/** A queued run's handle, before its state is read from the queue's tables. */
export function queuedRecord<P>(stored: StoredRun): RunRecord<P> {
  const run = new RunRecord<P>('queue', stored.id, stored.projection, decodeLens(stored.lens) as Lens<P>);
  applyStored(run, stored);
  return run;
}

/** Takes the state recorded in the queue's tables. */
export function applyStored(run: RunRecord<any>, stored: StoredRun): void {
  run.status = stored.status;
  run.createdAt = stored.createdAt;
  run.finishedAt = stored.finishedAt ?? undefined;
  run.durationMs = stored.finishedAt && stored.createdAt ? stored.finishedAt.getTime() - stored.createdAt.getTime() : undefined;
  run.nodes = stored.nodes.map((node) => ({
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
  run.error = stored.error ? failureOf(stored) : undefined;
}

/** The run's error as the inline engine reports it: the first failure, what it skipped, the others. */
function failureOf(stored: StoredRun): ProjectionFailedError {
  const failed = stored.nodes.filter((node) => node.status === 'failed' && node.error).map((node) => revive(node.error!, stored));
  if (failed.length === 0) failed.push(revive(stored.error!, stored));
  return runFailure(
    failed,
    stored.nodes.filter((node) => node.status === 'cancelled').map((node) => node.projection),
  );
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
