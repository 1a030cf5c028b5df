import type { RunRecord } from './run-record.js';

/** Runs of this process, by id: the running ones and the last `limit` finished ones. */
export class RunHistory {
  private readonly runs = new Map<string, RunRecord<any>>();
  /** Finished runs, oldest first. */
  private readonly finished = new Set<string>();

  constructor(private readonly limit: number) {}

  add(run: RunRecord<any>): void {
    this.runs.set(run.id, run);
  }

  get(id: string): RunRecord<any> | undefined {
    return this.runs.get(id);
  }

  /** The latest `limit` runs, newest first (a Map keeps insertion order). */
  recent(limit: number): RunRecord<any>[] {
    return [...this.runs.values()].slice(-limit).reverse();
  }

  /** Records that a run finished and forgets the oldest finished runs beyond the limit. */
  finish(run: RunRecord<any>): void {
    this.finished.add(run.id);
    for (const id of this.finished) {
      if (this.finished.size <= this.limit) break;
      this.finished.delete(id);
      this.runs.delete(id);
    }
  }
}
