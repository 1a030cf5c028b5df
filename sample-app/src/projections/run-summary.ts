import type { CinemaRun, NodeReport, RunStatus } from '../../../lib/index.js';

/** One projection of a run, as JSON and logs show it. */
export interface NodeSummary {
  projection: string;
  virtual: boolean;
  status: NodeReport['status'];
  durationMs?: number;
  deleted: number;
  written: number;
  paths: string[];
  error?: string;
}

/** A run handle flattened to plain data: a run's `Error`s and promise do not serialize. */
export interface RunSummary {
  runId: string;
  projection: string;
  lens: Record<string, unknown>;
  status: RunStatus;
  durationMs?: number;
  /** Rows the run returned, when it fetched them. */
  rows?: number;
  error?: string;
  nodes: NodeSummary[];
}

export function summarizeRun(run: CinemaRun<unknown>, rows?: number): RunSummary {
  return {
    runId: run.id,
    projection: run.projection,
    lens: { ...run.lens },
    status: run.status,
    durationMs: roundMs(run.durationMs),
    rows,
    error: run.error?.message,
    nodes: run.nodes.map((node) => ({
      projection: node.projection,
      virtual: node.virtual,
      status: node.status,
      durationMs: roundMs(node.durationMs),
      deleted: node.deleted,
      written: node.written,
      paths: [...node.paths],
      error: node.error?.message,
    })),
  };
}

function roundMs(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : Math.round(ms * 10) / 10;
}
