import type { NodeStatus, ProjectionFreshness, RunStatus } from '../index.js';

/** A projection's latest outcome among the recent runs. */
export interface BoardOutcome {
  status: NodeStatus;
  runId: string;
  /** When the projection finished (or started, while running), ISO text. */
  at?: string;
  durationMs?: number;
  written: number;
  error?: string;
}

/** One projection as the board draws it. */
export interface BoardProjection {
  name: string;
  virtual: boolean;
  inputs: string[];
  last?: BoardOutcome;
  /** Under change capture: `cinema.freshness()` of the whole projection, or why it could not be read. */
  freshness?: (Omit<ProjectionFreshness, 'refreshedAt' | 'oldestPendingChange'> & { refreshedAt?: string }) | { error: string };
}

/** One projection of a run, placed on the run's timeline. */
export interface BoardRunNode {
  projection: string;
  virtual: boolean;
  status: NodeStatus;
  /** Milliseconds from the run's creation to this projection's start and finish. */
  startMs?: number;
  endMs?: number;
  durationMs?: number;
  written: number;
  deleted: number;
  attempts?: number;
  worker?: string;
  error?: string;
  /** On the chain of inputs that decided when the run finished. */
  critical: boolean;
}

export interface BoardRun {
  id: string;
  engine: 'inline' | 'queue';
  projection: string;
  lens: string;
  status: RunStatus;
  createdAt: string;
  durationMs?: number;
  error?: string;
  fresh: boolean;
  /** A failed queued run, which `retryRun()` can take up again. */
  retryable: boolean;
  nodes: BoardRunNode[];
}

/** What the board's page polls (`GET <path>/api/state`). */
export interface BoardState {
  generatedAt: string;
  /** This request may refresh and retry. */
  canAct: boolean;
  /** Change capture is configured: projections carry freshness. */
  capture: boolean;
  /** The graph as a Mermaid flowchart, nodes styled by outcome and freshness. */
  mermaid: string;
  projections: BoardProjection[];
  runs: BoardRun[];
}
