import type { PgClient } from '../../execution/write-client.js';

export interface NodeSpec {
  projection: string;
  position: number;
  virtual: boolean;
  /** Materialized projections of the same run this one waits for. */
  after: string[];
}

export interface RunSpec {
  id: string;
  projection: string;
  lens: Record<string, unknown>;
  skipDependencies: boolean;
  queue: string;
  priority: number;
  attempts: number;
  runAt?: Date;
  /** The caller's `timeout`: each node's transaction is bounded by it. */
  timeoutMs?: number;
  /** Nodes of this run that may run at once. */
  concurrency: number;
  /** Runs with the same key that have not started are one run. */
  coalesceKey?: string;
  /** The caller's trace context, continued by the workers' spans. */
  trace?: Record<string, string>;
  nodes: NodeSpec[];
}

export interface StoredError {
  name: string;
  /** The message users saw (a `ProjectionFailedError`'s). */
  message: string;
  projection?: string;
  /** What the projection threw, with PostgreSQL's SQLSTATE and detail when it was a database error. */
  cause?: { name: string; message: string; code?: string; detail?: string };
  /** Set when the projection ran past its timeout. */
  timeoutMs?: number;
}

export interface StoredNode {
  projection: string;
  virtual: boolean;
  after: string[];
  status: 'waiting' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  attempts: number;
  deleted: number;
  written: number;
  paths: ('insert-select' | 'stream')[];
  error: StoredError | null;
  worker: string | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  durationMs: number | null;
}

export interface StoredRun {
  id: string;
  projection: string;
  lens: Record<string, unknown>;
  skipDependencies: boolean;
  status: 'pending' | 'running' | 'succeeded' | 'failed';
  queue: string;
  generation: number;
  priority: number;
  attempts: number;
  timeoutMs: number | null;
  concurrency: number | null;
  error: StoredError | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  nodes: StoredNode[];
}

/** What a worker needs to run a node it was handed. */
export interface StartedNode {
  /** The job's own node, or the node it carried when that one is done (see `NodeStore.startNode`). */
  projection: string;
  lens: Record<string, unknown>;
  /** This attempt of the node, counted across its jobs in this generation of the run. */
  attempt: number;
  /** The run's `attempts`. */
  maxAttempts: number;
  /** The run's `timeout`, if the caller gave one. */
  timeoutMs: number | null;
}

export type Queryable = Pick<PgClient, 'query'>;

/** The job payload of one node. */
export interface NodeJob {
  runId: string;
  projection: string;
  generation: number;
  /** The trace context stored with the run. */
  trace?: Record<string, string> | null;
}
