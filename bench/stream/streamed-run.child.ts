import 'reflect-metadata';
import { bootBenchApp } from '../apps/bench-app.js';
import { StreamRowsModule, StreamSource, StreamSourceRow, StreamedInvoices } from '../fixtures/streamed-invoices.fixture.js';
import type { StreamJob, StreamJobResult } from './stream-job.js';
import { bareCopyPipe } from './bare-copy-pipe.js';
import { copyWithUpsertLoop } from './typeorm-upsert-loop.js';

/**
 * Child process of the streamed scenario: boots a two-database app, moves the rows once, reports
 * time and memory to the parent. Only the move is timed and sampled, not the boot.
 */
const SAMPLE_EVERY_MS = 20;
const MB = 1024 * 1024;

async function runJob(job: StreamJob): Promise<StreamJobResult> {
  const bench = await bootBenchApp({
    dataSources: [{ url: job.writeUrl }, { name: 'read', url: job.readUrl, entities: [StreamSourceRow] }],
    projections: [StreamSource, StreamedInvoices],
    imports: [
      StreamRowsModule.forRoot({
        rows: job.rows,
        table: job.wide ? 'stream_source_wide' : 'stream_source',
        derivation: job.contender === 'cinema-rows' ? 'rows' : 'query',
      }),
    ],
  });
  try {
    globalThis.gc?.();
    const sampler = sampleMemory();
    const started = performance.now();
    if (job.contender === 'pipe') {
      await bareCopyPipe(job.readUrl, job.writeUrl, job.wide ? 'stream_source_wide' : 'stream_source', job.rows);
    } else if (job.contender !== 'typeorm') {
      await bench.cinema.project(StreamedInvoices, {}, { allowEmptyLens: true, fetch: false });
    } else {
      if (job.wide) throw new Error('the TypeORM loop reads the narrow stream_source only');
      await copyWithUpsertLoop(bench.dataSource('read'), bench.dataSource(), job.rows);
    }
    const ms = performance.now() - started;
    const peak = sampler.stop();
    const [{ rows }] = await bench.dataSource().query(`SELECT COUNT(*)::int AS rows FROM streamed_invoices`);
    if (rows !== job.rows) throw new Error(`${job.contender} wrote ${rows} rows, expected ${job.rows}`);
    return {
      ms,
      rows,
      sampledPeakRssMb: peak.rss / MB,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
      peakHeapMb: peak.heap / MB,
    };
  } finally {
    await bench.close();
  }
}

function sampleMemory(): { stop(): { rss: number; heap: number } } {
  const peak = { rss: 0, heap: 0 };
  const sample = () => {
    const usage = process.memoryUsage();
    peak.rss = Math.max(peak.rss, usage.rss);
    peak.heap = Math.max(peak.heap, usage.heapUsed);
  };
  sample();
  const timer = setInterval(sample, SAMPLE_EVERY_MS);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

process.once('message', (job: StreamJob) => {
  runJob(job).then(
    (result) => process.send!(result, () => process.exit(0)),
    (error: Error) => {
      console.error(`streamed run failed: ${error.stack ?? error.message}`);
      process.exit(1);
    },
  );
});
