import { describe, expect, it } from 'vitest';
import { COPY_BATCH_BYTES, CopyBacklog, QUEUED_BYTES_HIGH_WATER, QUEUED_JOBS_HIGH_WATER } from '../../lib/execution/copy-backlog.js';
import { Valve } from '../../lib/execution/valve.js';

const limits = { batchRows: 1_000, batchBytes: COPY_BATCH_BYTES, queuedJobs: QUEUED_JOBS_HIGH_WATER, queuedBytes: QUEUED_BYTES_HIGH_WATER };
const row = (width: number) => ({ line: 'x'.repeat(width - 1) });

describe('CopyBacklog: what a streamed write holds between its cursors and COPY', () => {
  it('sends a batch at batchSize rows when rows are narrow', () => {
    const backlog = new CopyBacklog(limits, new Valve());
    for (let i = 1; i < 1_000; i++) expect(backlog.add(row(100))).toBeUndefined();
    const batch = backlog.add(row(100))!;
    expect(batch.rows).toHaveLength(1_000);
    expect(batch.bytes).toBe(100_000);
    expect(backlog.take()).toBeUndefined();
  });

  it('sends a batch at 1 MiB of lines when rows are wide, far below batchSize', () => {
    const backlog = new CopyBacklog(limits, new Valve());
    let batch;
    let added = 0;
    while (!(batch = backlog.add(row(10_000)))) added++;
    expect(batch.rows).toHaveLength(added + 1);
    expect(batch.rows.length).toBe(Math.ceil(COPY_BATCH_BYTES / 10_000));
    expect(batch.bytes).toBeGreaterThanOrEqual(COPY_BATCH_BYTES);
    expect(batch.bytes).toBeLessThan(COPY_BATCH_BYTES + 10_000);
  });

  it('pauses the cursors on the bytes held: one wide batch waiting behind the one being copied', () => {
    const valve = new Valve();
    const backlog = new CopyBacklog(limits, valve);
    let first;
    while (!(first = backlog.add(row(10_000)))) expect(valve.open).toBe(true);
    backlog.queued(first.bytes);
    backlog.started();
    expect(valve.open).toBe(true);
    let second;
    while (!(second = backlog.add(row(10_000)))) expect(valve.open).toBe(true);
    backlog.queued(second.bytes);
    // One batch waits: too few to pause by count, but 2 MiB are held.
    expect(valve.open).toBe(false);
    // The copy finishes: the rows it held are released, and the cursors resume.
    backlog.done(first.bytes);
    expect(valve.open).toBe(true);
  });

  it('pauses the cursors while the batch being filled takes the bytes held past the limit', () => {
    const valve = new Valve();
    const backlog = new CopyBacklog({ ...limits, batchBytes: 1_000, queuedBytes: 1_500 }, valve);
    let first;
    while (!(first = backlog.add(row(100)))) expect(valve.open).toBe(true);
    backlog.queued(first.bytes);
    backlog.started();
    for (let i = 0; i < 4; i++) backlog.add(row(100));
    expect(valve.open).toBe(true);
    expect(backlog.add(row(100))).toBeUndefined();
    expect(valve.open).toBe(false);
    backlog.done(first.bytes);
    expect(valve.open).toBe(true);
  });

  it('pauses the cursors while two jobs wait, whatever their size, and resumes when one is done', () => {
    const valve = new Valve();
    const backlog = new CopyBacklog(limits, valve);
    backlog.queued(0);
    expect(valve.open).toBe(true);
    backlog.queued(0);
    expect(valve.open).toBe(false);
    backlog.started();
    expect(valve.open).toBe(false);
    backlog.done(0);
    expect(valve.open).toBe(true);
  });
});
