import { STREAM_TARGET_DDL, seedStreamSource, seedWideStreamSource } from '../dataset.js';
import { alternate, find, median, pair, round2, scenarioResult, target, type Contender } from '../harness.js';
import type { ContenderResult } from '../results.interface.js';
import { withClient } from '../../sample-app/src/database/postgres-server.js';
import type { Scenario } from '../scenario.interface.js';
import { runStreamJob, type StreamJob } from '../stream/stream-job.js';

const DEFINITION = `Read and write data sources are different databases (\`cinema_bench\` holds an invoice-like
\`stream_source\`: bigint id, integers, bigint amount, date, text status, text memo, jsonb), so the
projection's query of the read side cannot run as \`INSERT ... SELECT\`: Cinema moves the rows
into \`streamed_invoices\` of \`cinema_bench_write\`, in one transaction.

- **cinema**: \`cinema.project(StreamedInvoices, {}, { fetch: false })\`, whose derivation returns the
  read side's query builder: \`COPY (<query>) TO STDOUT\` on the read side piped into
  \`COPY streamed_invoices FROM STDIN\` on the write side, after the slice's \`DELETE\` in the
  same transaction (the \`copy-pipe\` path: no row is parsed in Node, no staging table).
- **cinema-rows**: the same projection whose derivation returns \`ctx.stream(StreamSource)\`
  instead: rows read with a cursor into JavaScript and copied in batches (default \`batchSize\`
  and \`streamBatchSize\`), the path of derivations that reshape rows in Node.
- **typeorm**: the hand-written loop: one transaction on the write side that deletes the table,
  then pages of 1,000 entities read from the read side (keyset pagination with \`find\`), each
  written with \`repository.upsert\`.
- **pipe** (the reference): no Cinema, no Nest: \`COPY (SELECT ...) TO STDOUT (FORMAT binary)\` on the
  read side piped into \`COPY streamed_invoices FROM STDIN (FORMAT binary)\` in one transaction,
  with \`pg\` and \`pg-copy-streams\` alone: what the two databases and one Node process move on
  this machine. Cinema's copy pipe is the same pipe (binary, since the column types match) plus
  the run around it.
- **cinema-wide**: Cinema again, from \`stream_source_wide\`: the same columns with rows ten times
  wider (a 200-character memo, a jsonb of eight invoice lines: about 1.1 KB a row). Memory must
  follow the bytes in flight, not the rows: its peak RSS at the large count over the small one
  is watched like the narrow one's.

Each run is a fresh Node process (forked; boot not timed), so its peak memory is its own:
**peak RSS** is the child's \`process.resourceUsage().maxRSS\` (the kernel's high-water mark); RSS
and heap are also sampled every 20 ms while the rows move. Rows/s = rows / wall time of the call.
The target table is truncated, untimed, before every run, so the time is the streamed copy, not
the deletion of the previous copy. The source table is read once before the rounds (warm cache).`;

/** Scenario 3: rows streamed between two databases: throughput and memory, against a TypeORM loop. */
export const streamedScenario: Scenario = {
  id: 'streamed',
  title: '3. Streamed path (read and write data sources differ)',
  async run(ctx) {
    const began = performance.now();
    const { streamRows: large, streamRowsSmall: small, wideRows, wideRowsSmall } = ctx.sizes;
    const readUrl = await ctx.database('cinema_bench');
    const writeUrl = await ctx.database('cinema_bench_write');
    await ctx.timedSetup(`stream source (${large.toLocaleString()} rows)`, () => withClient(readUrl, (c) => seedStreamSource(c, large)));
    await ctx.timedSetup(`wide stream source (${wideRows.toLocaleString()} rows)`, () =>
      withClient(readUrl, (c) => seedWideStreamSource(c, wideRows)),
    );
    await withClient(writeUrl, (client) => client.query(STREAM_TARGET_DDL));
    await withClient(readUrl, async (client) => {
      await client.query(`SELECT SUM(length(memo)) FROM stream_source`);
      await client.query(`SELECT SUM(length(meta::text)) FROM stream_source_wide`);
    });

    const { rounds } = ctx.rounds({ full: 3, quick: 1 });
    const truncate = async () => void (await withClient(writeUrl, (client) => client.query(`TRUNCATE streamed_invoices`)));
    const contender = (kind: StreamJob['contender'], rows: number, label: string, wide = false): Contender => ({
      id: `${kind}${wide ? '-wide' : ''}-${rows}`,
      label,
      prepare: truncate,
      run: async () => {
        const result = await runStreamJob({ contender: kind, rows, wide, readUrl, writeUrl });
        return {
          ms: result.ms,
          extras: {
            rowsPerSecond: Math.round(rows / (result.ms / 1000)),
            maxRssMb: round2(result.maxRssMb),
            sampledPeakRssMb: round2(result.sampledPeakRssMb),
            peakHeapMb: round2(result.peakHeapMb),
          },
        };
      },
    });
    const contenders = [
      contender('cinema', large, `Cinema, ${large.toLocaleString()} rows`),
      contender('typeorm', large, `TypeORM upsert loop, ${large.toLocaleString()} rows`),
      contender('pipe', large, `bare binary COPY pipe (reference), ${large.toLocaleString()} rows`),
      contender('cinema-rows', large, `Cinema, rows through Node (ctx.stream), ${large.toLocaleString()} rows`),
      contender('cinema', small, `Cinema, ${small.toLocaleString()} rows`),
      contender('typeorm', small, `TypeORM upsert loop, ${small.toLocaleString()} rows`),
      contender('cinema', wideRows, `Cinema, ${wideRows.toLocaleString()} wide rows`, true),
      contender('cinema', wideRowsSmall, `Cinema, ${wideRowsSmall.toLocaleString()} wide rows`, true),
    ];
    ctx.log(`${this.title}: ${rounds} rounds, each run in its own process`);
    // No warm-up round: every run is a cold process anyway, and the source was read above.
    const results = await alternate(contenders, { warmups: 0, rounds, log: (line) => ctx.log(line) });
    const rate = (id: string) => median(find(results, id).extras!.rowsPerSecond);
    const rss = (id: string) => median(find(results, id).extras!.maxRssMb);
    return scenarioResult(this, DEFINITION, began, {
      rounds,
      warmups: 0,
      contenders: results,
      pairs: [
        pair(results, `cinema-${large}`, `pipe-${large}`),
        pair(results, `cinema-${large}`, `typeorm-${large}`),
        pair(results, `cinema-${small}`, `typeorm-${small}`),
      ],
      metrics: [
        ...results.flatMap((r) => [
          { label: `${r.label}: rows/s (median)`, value: rate(r.id), unit: 'rows/s' },
          { label: `${r.label}: peak RSS (median of maxRSS)`, value: rss(r.id), unit: 'MB' },
          { label: `${r.label}: peak heap sampled (median)`, value: median(r.extras!.peakHeapMb), unit: 'MB' },
        ]),
      ],
      targets: [
        target(`Cinema rows/s at ${large.toLocaleString()} rows`, rate(`cinema-${large}`), 'at-least', 300_000, 'rows/s'),
        target(
          `Cinema peak RSS at ${large.toLocaleString()} rows / at ${small.toLocaleString()} rows`,
          rss(`cinema-${large}`) / rss(`cinema-${small}`),
          'at-most',
          1.25,
          'x',
        ),
        target(
          `Cinema peak RSS at ${wideRows.toLocaleString()} wide rows / at ${wideRowsSmall.toLocaleString()} wide rows`,
          rss(`cinema-wide-${wideRows}`) / rss(`cinema-wide-${wideRowsSmall}`),
          'at-most',
          1.25,
          'x',
        ),
      ],
      notes: memoryNotes(results, large, small),
    });
  },
};

function memoryNotes(results: ContenderResult[], large: number, small: number): string[] {
  const typeorm = (rows: number) => median(find(results, `typeorm-${rows}`).extras!.maxRssMb);
  return [
    `The TypeORM loop's peak RSS: ${typeorm(large).toFixed(0)} MB at ${large.toLocaleString()} rows, ${typeorm(small).toFixed(0)} MB at ${small.toLocaleString()} rows.`,
  ];
}
