import type { Valve } from './valve.js';

/** How much of a streamed write may wait in Node. */
export interface BacklogLimits {
  /** Rows per COPY batch (the `batchSize` option). */
  batchRows: number;
  /** Size of a batch's COPY lines, in characters (bytes for ASCII text). */
  batchBytes: number;
  /** Jobs waiting (not the running one) before the cursors pause. */
  queuedJobs: number;
  /** Size of the lines held (the batch being filled and the queued batches) before the cursors pause. */
  queuedBytes: number;
}

/**
 * A batch is sent at 1 MiB of lines even below `batchSize` rows, and the cursors pause at 2 MiB
 * held: with wide rows (long text, jsonb) what waits in Node must follow their bytes, not their count.
 */
export const COPY_BATCH_BYTES = 1024 * 1024;
export const QUEUED_BYTES_HIGH_WATER = 2 * COPY_BATCH_BYTES;
/** Batches waiting to be written before the cursors feeding them are paused. */
export const QUEUED_JOBS_HIGH_WATER = 2;

export interface CopyBatch<R> {
  rows: R[];
  bytes: number;
}

/**
 * The rows a streamed write holds between its cursors and `COPY`: the batch being filled and what
 * is queued. Decides when a batch is full and closes the valve (pausing the cursors) while too
 * much waits, by count and by size.
 */
export class CopyBacklog<R extends { line: string }> {
  private batch: R[] = [];
  private batchBytes = 0;
  private jobs = 0;
  private jobBytes = 0;

  constructor(
    private readonly limits: BacklogLimits,
    private readonly valve: Valve,
  ) {}

  /** Adds a row to the batch being filled; returns the batch, taken, once it is full. */
  add(row: R): CopyBatch<R> | undefined {
    this.batch.push(row);
    this.batchBytes += row.line.length + 1;
    if (this.batch.length >= this.limits.batchRows || this.batchBytes >= this.limits.batchBytes) return this.take();
    if (this.overfull()) this.valve.close();
    return undefined;
  }

  /** The batch being filled, taken to be queued; undefined when it is empty. */
  take(): CopyBatch<R> | undefined {
    if (this.batch.length === 0) return undefined;
    const batch = { rows: this.batch, bytes: this.batchBytes };
    this.batch = [];
    this.batchBytes = 0;
    return batch;
  }

  /** A job (a batch of `bytes`, or a statement: 0) was queued. */
  queued(bytes: number): void {
    this.jobs += 1;
    this.jobBytes += bytes;
    if (this.overfull()) this.valve.close();
  }

  /** A queued job starts: it no longer waits, though its rows are held until it is done. */
  started(): void {
    this.jobs -= 1;
  }

  /** A job has run: its rows are no longer held. */
  done(bytes: number): void {
    this.jobBytes -= bytes;
    if (!this.overfull()) this.valve.release();
  }

  private overfull(): boolean {
    return this.jobs >= this.limits.queuedJobs || this.jobBytes + this.batchBytes >= this.limits.queuedBytes;
  }
}
