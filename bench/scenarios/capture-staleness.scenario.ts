import pg from 'pg';
import { BranchTellers } from '../fixtures/pgbench-branches.fixture.js';
import { percentile, round2, scenarioResult, target } from '../harness.js';
import type { BenchContext } from '../bench-context.js';
import { PgbenchDatabase, WATCHER_INTERVAL_MS, type CaptureMode } from '../pgbench/pgbench-capture.js';
import { startPgbench, stopPgbench } from '../pgbench/pgbench.runner.js';
import type { ContenderResult } from '../results.interface.js';
import type { Scenario } from '../scenario.interface.js';
import { pgbenchScale } from './capture-overhead.scenario.js';

/**
 * The capture mode under load. HOOK(logical): measure `'logical'` here too once
 * `PgbenchDatabase.use` supports it (see `CaptureMode`).
 */
const MODE: CaptureMode = 'triggers';
/** How often a probe looks for its refresh. */
const POLL_MS = 5;
/**
 * A probe that waits longer than this ends the probing: the watcher fell behind for good. Its lag
 * is kept as the time waited (a lower bound), so the percentiles show the miss.
 */
const GIVE_UP_MS = 30_000;
/** Load before the first probe: the watcher reaches its steady state. */
const WARM_UP_MS = 2_000;

function definition(scale: number, probes: number): string {
  return `How long a committed change waits for the refresh that includes it, while pgbench's TPC-B-like
workload (4 clients, \`-M prepared\`, scale ${scale}) writes with capture on: the triggers of scenario 7
installed and the watcher of a booted app running every ${WATCHER_INTERVAL_MS} ms, refreshing the marked
branches of \`BranchTellers\`.

A probe client, on a branch of its own that pgbench never writes (bid ${scale + 1}, 10 tellers, so its
expected balance is known), ${probes} times in a row (fewer if the watcher falls behind, see below): commits \`UPDATE pgbench_tellers SET tbalance =
tbalance + 1 ... RETURNING clock_timestamp()\` (autocommit; the timestamp is taken just before the
commit), then polls every ${POLL_MS} ms, in one statement (one snapshot), the branch's row of
\`bench_branch_tellers\` and its newest \`cinema.freshness\` entry, until the balance includes the
probe. **Lag** = that entry's \`refreshed_at\` (written by the refresh transaction just before it
commits) − the probe's timestamp, both on the server's clock. **Observed** = the same from the
client's side (probe's COMMIT returned → the poll saw the row), which adds up to one poll
interval. A pause of 0-100 ms between probes keeps them out of step with the watcher's cycle.
pgbench's throughput during the probes is counted from the rows it added to \`pgbench_history\`.`;
}

/** Scenario: lag from a source commit to the commit of the refresh that covers it, under write load. */
export const captureStalenessScenario: Scenario = {
  id: 'capture-staleness',
  title: '8. Change capture: staleness under TPC-B load',
  async run(ctx) {
    const began = performance.now();
    const scale = pgbenchScale(ctx);
    const probes = ctx.options.rounds ?? (ctx.options.quick ? 40 : 200);
    const db = await PgbenchDatabase.create(ctx, scale);
    try {
      await db.use(MODE);
      const lag = await measureLag(ctx, db, probes);
      await db.reset();
      const server: ContenderResult = summary('lag', 'source commit → commit of the refresh covering it (ledger)', lag.server);
      const observed: ContenderResult = summary('observed', 'COMMIT returned → probe saw the refreshed row (client)', lag.observed);
      return scenarioResult(this, definition(scale, probes), began, {
        rounds: lag.server.length,
        warmups: 0,
        contenders: [server, observed],
        metrics: [
          { label: 'probes', value: lag.server.length, unit: 'probes' },
          { label: 'lag p50', value: round2(percentile(lag.server, 50)), unit: 'ms' },
          { label: 'lag p95', value: round2(percentile(lag.server, 95)), unit: 'ms' },
          { label: 'lag max', value: round2(Math.max(...lag.server)), unit: 'ms' },
          { label: 'observed lag p50 (client)', value: round2(percentile(lag.observed, 50)), unit: 'ms' },
          { label: 'observed lag p95 (client)', value: round2(percentile(lag.observed, 95)), unit: 'ms' },
          { label: 'pgbench TPC-B throughput during the probes', value: round2(lag.tps), unit: 'tps' },
          { label: 'marks pending when the probing started', value: lag.pendingBefore, unit: 'marks' },
          { label: 'marks pending when it ended', value: lag.pendingAfter, unit: 'marks' },
        ],
        targets: [target('lag from commit to covering refresh, p95', percentile(lag.server, 95), 'at-most', 1000, 'ms')],
        notes: [
          ...(lag.gaveUp === undefined
            ? []
            : [
                `**The watcher fell behind:** probe ${lag.gaveUp} saw no refresh within ${GIVE_UP_MS / 1000} s and the probing stopped there (its lag counts as ${GIVE_UP_MS / 1000} s, a lower bound); ${lag.pendingAfter.toLocaleString('en-US')} marks were pending.`,
              ]),
          'The ledger entry read is the newest visible one of the slice: when two refreshes commit within one poll interval, the later one is taken and the lag over-stated by at most that gap.',
        ],
      });
    } finally {
      await db.close();
    }
  },
};

interface Lags {
  server: number[];
  observed: number[];
  tps: number;
  /** Marks in `cinema.changes` when the probing started and when it ended. */
  pendingBefore: number;
  pendingAfter: number;
  /** The probe that waited past GIVE_UP_MS (probing stopped there). */
  gaveUp?: number;
}

async function measureLag(ctx: BenchContext, db: PgbenchDatabase, probes: number): Promise<Lags> {
  const probe = new pg.Client({ connectionString: db.url });
  await probe.connect();
  const load = startPgbench(db.url, ['-n', '-M', 'prepared', '-c', '4', '-j', '2', '-T', '3600', '-b', 'tpcb-like']);
  let loadOutput = '';
  load.stdout!.on('data', (chunk: Buffer) => (loadOutput += chunk.toString()));
  load.stderr!.on('data', (chunk: Buffer) => (loadOutput += chunk.toString()));
  try {
    const branch = db.probeBranch;
    const [{ truth }] = await db.query<{ truth: string }[]>(`SELECT sum(tbalance)::text AS truth FROM pgbench_tellers WHERE bid = $1`, [
      branch,
    ]);
    let expected = BigInt(truth);
    await new Promise((resolve) => setTimeout(resolve, WARM_UP_MS));
    if (load.exitCode !== null) throw new Error(`pgbench stopped: ${loadOutput}`);
    const historyBefore = await historyRows(probe);
    const pendingBefore = await pendingMarks(probe);
    let gaveUp: number | undefined;
    const loadStarted = performance.now();
    const server: number[] = [];
    const observed: number[] = [];
    for (let i = 0; i < probes; i++) {
      const tid = db.firstProbeTeller + (i % 10);
      const { rows } = await probe.query<{ at: Date; micros: string }>(
        `UPDATE pgbench_tellers SET tbalance = tbalance + 1 WHERE tid = $1
         RETURNING clock_timestamp() AS at, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text AS micros`,
        [tid],
      );
      const committed = performance.now();
      expected += 1n;
      const commitMicros = BigInt(rows[0].micros);
      for (;;) {
        const { rows: seen } = await probe.query<{ balance: string; micros: string | null }>(
          `SELECT b.balance::text AS balance,
             (SELECT (extract(epoch FROM max(f.refreshed_at)) * 1000000)::bigint::text FROM "cinema"."freshness" f
              WHERE f.projection = $2 AND (f.slice = '{}'::jsonb OR f.slice ->> 'bid' = $1::int::text)) AS micros
           FROM bench_branch_tellers b WHERE b.bid = $1::int`,
          [branch, BranchTellers.name],
        );
        if (seen.length > 0 && BigInt(seen[0].balance) >= expected && seen[0].micros !== null) {
          observed.push(performance.now() - committed);
          server.push(Number(BigInt(seen[0].micros) - commitMicros) / 1000);
          break;
        }
        const waited = performance.now() - committed;
        if (waited > GIVE_UP_MS) {
          observed.push(waited);
          server.push(waited);
          gaveUp = i + 1;
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      if (gaveUp !== undefined || (i + 1) % 50 === 0) {
        ctx.log(
          `  ${i + 1}/${probes} probes, last lag ${server[server.length - 1].toFixed(0)} ms, ${await pendingMarks(probe)} marks pending`,
        );
      }
      if (gaveUp !== undefined) break;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 100));
    }
    const elapsed = (performance.now() - loadStarted) / 1000;
    const tps = ((await historyRows(probe)) - historyBefore) / elapsed;
    const pendingAfter = await pendingMarks(probe);
    if (load.exitCode !== null) throw new Error(`pgbench stopped during the probes: ${loadOutput}`);
    return { server, observed, tps, pendingBefore, pendingAfter, gaveUp };
  } finally {
    await stopPgbench(load);
    await probe.end();
  }
}

async function pendingMarks(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM "cinema"."changes"`);
  return Number(rows[0].n);
}

async function historyRows(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM pgbench_history`);
  return Number(rows[0].n);
}

function summary(id: string, label: string, samples: number[]): ContenderResult {
  const rounded = samples.map(round2);
  return {
    id,
    label,
    samplesMs: rounded,
    medianMs: round2(percentile(samples, 50)),
    minMs: round2(Math.min(...samples)),
    maxMs: round2(Math.max(...samples)),
  };
}
