import { Inject, Injectable } from '@nestjs/common';
import { CINEMA_MODULE_OPTIONS } from './cinema.constants.js';
import type { ResolvedCinemaOptions } from './interfaces/cinema-options.interface.js';
import type { CinemaRun, NodeReport, RunStatus } from './interfaces/run.interface.js';
import type { Lens } from './interfaces/lens.interface.js';

/** The mutable record behind a `CinemaRun` handle. */
export class RunRecord<P = unknown> implements CinemaRun<P> {
  readonly engine = 'inline' as const;
  status: RunStatus = 'pending';
  finishedAt?: Date;
  durationMs?: number;
  error?: Error;
  readonly createdAt = new Date();
  result!: Promise<P[]>;

  constructor(
    readonly id: string,
    readonly projection: string,
    readonly lens: Lens<P>,
    readonly nodes: NodeReport[],
  ) {}

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
  };
}

/** Runs of this process, by id: the running ones and the last `runHistory` finished ones. */
@Injectable()
export class RunRegistry {
  private readonly runs = new Map<string, RunRecord<any>>();

  constructor(@Inject(CINEMA_MODULE_OPTIONS) private readonly options: ResolvedCinemaOptions) {}

  add(run: RunRecord<any>): void {
    this.runs.set(run.id, run);
  }

  get(id: string): RunRecord<any> | undefined {
    return this.runs.get(id);
  }

  active(): RunRecord<any>[] {
    return [...this.runs.values()].filter((run) => run.status === 'pending' || run.status === 'running');
  }

  /** Finished runs, oldest first. */
  private readonly finished = new Set<string>();

  /** Records that a run finished and forgets the oldest finished runs beyond the history limit. */
  trim(finished: RunRecord<any>): void {
    this.finished.add(finished.id);
    for (const id of this.finished) {
      if (this.finished.size <= this.options.runHistory) break;
      this.finished.delete(id);
      this.runs.delete(id);
    }
  }
}
