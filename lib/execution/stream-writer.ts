import { SelectQueryBuilder } from 'typeorm';
import type { Observable, Subscription } from 'rxjs';
import type { Row } from '../interfaces/derivation-context.interface.js';
import { COPY_BATCH_BYTES, CopyBacklog, type CopyBatch, QUEUED_BYTES_HIGH_WATER, QUEUED_JOBS_HIGH_WATER } from './copy-backlog.js';
import { StagedRow } from './row-checks.js';
import type { Valve } from './valve.js';

/** What the batching loop hands its batches and queries to. */
export interface StreamSink {
  signal: AbortSignal;
  /** Rows per COPY batch (a batch is also cut at `COPY_BATCH_BYTES`). */
  batchSize: number;
  toStagedRow(row: Row, index: number): StagedRow;
  copy(rows: readonly StagedRow[]): Promise<number>;
  /** Inserts what was staged so far; returns the rows written. */
  insertStaged(): Promise<number>;
  writeQuery(qb: SelectQueryBuilder<any>): Promise<number>;
}

/**
 * Rows (and query builders) from Node, copied in batches into staging tables and inserted, one
 * job at a time, with back-pressure on the cursors feeding them: the valve closes while too many
 * batches or bytes wait. A query builder among the rows is written in its turn, after the rows
 * before it. Resolves with the rows written.
 */
export function writeStream(
  source: Observable<Row | StagedRow | SelectQueryBuilder<any>>,
  valve: Valve,
  sink: StreamSink,
): Promise<number> {
  const { signal } = sink;
  return new Promise<number>((resolve, reject) => {
    // `bytes`: the size of the rows a job holds until it has run.
    const jobs: { run: () => Promise<number>; bytes: number }[] = [];
    const backlog = new CopyBacklog<StagedRow>(
      { batchRows: sink.batchSize, batchBytes: COPY_BATCH_BYTES, queuedJobs: QUEUED_JOBS_HIGH_WATER, queuedBytes: QUEUED_BYTES_HIGH_WATER },
      valve,
    );
    let total = 0;
    let seen = 0;
    let draining = false;
    let completed = false;
    let failed = false;
    let subscription: Subscription | undefined;

    const fail = (error: unknown) => {
      if (failed) return;
      failed = true;
      subscription?.unsubscribe();
      signal.removeEventListener('abort', onAbort);
      valve.release();
      reject(error);
    };
    const onAbort = () => fail(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });

    const drain = async () => {
      if (draining) return;
      draining = true;
      try {
        while (jobs.length > 0 && !failed) {
          const job = jobs.shift()!;
          backlog.started();
          total += await job.run();
          backlog.done(job.bytes);
        }
      } catch (error) {
        fail(error);
      } finally {
        draining = false;
      }
      if (completed && jobs.length === 0 && !failed) {
        signal.removeEventListener('abort', onAbort);
        resolve(total);
      }
    };
    const enqueue = (run: () => Promise<number>, bytes = 0) => {
      jobs.push({ run, bytes });
      backlog.queued(bytes);
      void drain();
    };
    const send = (batch: CopyBatch<StagedRow> | undefined) => {
      if (batch) enqueue(() => sink.copy(batch.rows), batch.bytes);
    };
    const flush = () => send(backlog.take());

    subscription = source.subscribe({
      next: (item) => {
        if (failed) return;
        if (item instanceof SelectQueryBuilder) {
          // Rows emitted before the query are written before it.
          flush();
          enqueue(() => sink.insertStaged());
          enqueue(() => sink.writeQuery(item));
          return;
        }
        let row: StagedRow;
        try {
          row = item instanceof StagedRow ? item : sink.toStagedRow(item, seen++);
        } catch (error) {
          return fail(error);
        }
        send(backlog.add(row));
      },
      error: (error) => fail(error),
      complete: () => {
        flush();
        completed = true;
        enqueue(() => sink.insertStaged());
      },
    });
  });
}
