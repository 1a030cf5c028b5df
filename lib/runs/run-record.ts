import type { Lens } from '../interfaces/lens.interface.js';
import type { CinemaRun, NodeReport, RunStatus } from '../interfaces/run.interface.js';

/**
 * A run as users see it, whichever engine runs it: the engine updates its state as the run
 * goes; `result` settles once it has succeeded (with the rows read back) or failed.
 */
export class RunRecord<P = unknown> implements CinemaRun<P> {
  status: RunStatus = 'pending';
  createdAt = new Date();
  finishedAt?: Date;
  durationMs?: number;
  error?: Error;
  /** Served from the store by `maxStaleness`, nothing rebuilt. */
  fresh?: boolean;
  nodes: NodeReport[];
  result!: Promise<P[]>;

  constructor(
    readonly engine: 'inline' | 'queue',
    readonly id: string,
    readonly projection: string,
    readonly lens: Lens<P>,
    nodes: NodeReport[] = [],
  ) {
    this.nodes = nodes;
  }

  toJSON(): Record<string, unknown> {
    return runToJSON(this);
  }
}

/** A plain summary of a run (errors as name and message), e.g. for an HTTP response or a log line. */
export function runToJSON(run: CinemaRun<any>): Record<string, unknown> {
  const error = (e?: Error) => (e ? { name: e.name, message: e.message } : undefined);
  return {
    id: run.id,
    engine: run.engine,
    projection: run.projection,
    lens: run.lens,
    status: run.status,
    createdAt: run.createdAt,
    finishedAt: run.finishedAt,
    durationMs: run.durationMs,
    error: error(run.error),
    nodes: run.nodes.map((node) => ({ ...node, error: error(node.error) })),
    ...(run.fresh ? { fresh: true } : {}),
  };
}
