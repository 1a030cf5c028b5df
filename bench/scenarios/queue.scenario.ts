import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CINEMA_QUEUE_MIGRATIONS } from '../../lib/index.js';
import { OrgReceivables } from '../../sample-app/src/receivables/org-receivables.projection.js';
import { bootBenchApp } from '../apps/bench-app.js';
import { ChainSeed, buildTrivialChain } from '../fixtures/trivial-chain.fixture.js';
import { find, measure, pair, round2, scenarioResult, target, type Contender } from '../harness.js';
import type { BenchContext } from '../bench-context.js';
import type { ContenderResult } from '../results.interface.js';
import type { Scenario } from '../scenario.interface.js';

const LENGTH = 50;
const WORKER_COUNTS = [1, 2, 4] as const;
/** Jobs each worker process runs at once. */
const WORKER_CONCURRENCY = 2;
/** The sample app's worker, as `npm run bench` builds it next to this file. */
const WORKER_ENTRY = fileURLToPath(new URL('../../sample-app/src/worker.js', import.meta.url));

const DEFINITION = `The durable engine (graphile-worker jobs recorded in the \`cinema\` schema) against the inline one.

- **Overhead per node**: the chain of ${LENGTH} trivial projections of scenario 5, rebuilt with
  \`project(chain_${LENGTH}, {}, { engine: 'queue' })\` by a worker in the same process
  (concurrency ${WORKER_CONCURRENCY}), against \`engine: 'inline'\`, alternately. A chain runs one node
  at a time, so (queue − inline) / ${LENGTH} is what each node adds: the first node's job pickup
  (\`LISTEN\`/\`NOTIFY\`) and \`start_node\`, then in each node's transaction one \`succeed_node\` call
  (the node done, the run settled and announced at the end) that also hands the next node to the
  same worker at once (a carried node: no job, no pickup; see docs/QUEUE.md).
- **Throughput**: one-org runs of the sample graph (\`OrgReceivables\` and \`AccountsReceivable\`, two
  jobs each, orgs in turn) enqueued at once by the seeded sample app, worked by 1, 2 and 4
  \`npm run worker\` processes (\`CINEMA_WORKER_CONCURRENCY=${WORKER_CONCURRENCY}\`) started beforehand; runs
  per second from the first enqueue to the last completion. For reference, the same runs inline in
  the app with 8 calls in flight. On a 2-core machine the workers share the cores with PostgreSQL,
  so more processes cannot scale linearly here.`;

/** The queue engine's overhead per node, and its throughput with 1, 2 and 4 worker processes. */
export const queueScenario: Scenario = {
  id: 'queue',
  title: '6. Queue engine: overhead per node and throughput by worker processes',
  usesBillingApp: true,
  async run(ctx) {
    const began = performance.now();
    const { rounds, warmups } = ctx.rounds({ full: 15, quick: 5, warmups: 2 });
    const overhead = await measureOverhead(ctx, rounds, warmups);
    const runs = ctx.options.quick ? 100 : 400;
    const throughput = await measureThroughput(ctx, runs);
    const inlineMs = find(overhead, 'inline').medianMs;
    const queueMs = find(overhead, 'queue').medianMs;
    return scenarioResult(this, DEFINITION, began, {
      rounds,
      warmups,
      contenders: [...overhead, ...throughput.contenders],
      pairs: [pair(overhead, 'queue', 'inline')],
      metrics: [
        { label: `queue engine overhead per node (chain of ${LENGTH})`, value: round2((queueMs - inlineMs) / LENGTH), unit: 'ms' },
        { label: 'inline wall time per node', value: round2(inlineMs / LENGTH), unit: 'ms' },
        ...throughput.metrics,
      ],
      targets: [
        target(`queue engine overhead per node over inline (chain of ${LENGTH})`, (queueMs - inlineMs) / LENGTH, 'at-most', 1.5, 'ms'),
      ],
      notes: [
        `${runs} one-org runs per throughput measurement; workers are started (and their start is not timed) before the runs are enqueued.`,
      ],
    });
  },
};

async function measureOverhead(ctx: BenchContext, rounds: number, warmups: number): Promise<ContenderResult[]> {
  const chain = buildTrivialChain(LENGTH);
  const url = await ctx.database('cinema_bench_queue');
  const bench = await bootBenchApp({
    dataSources: [{ url, synchronize: true, migrations: [...CINEMA_QUEUE_MIGRATIONS] }],
    projections: [ChainSeed, ...chain],
    cinema: { queue: { worker: true, concurrency: WORKER_CONCURRENCY } },
  });
  try {
    const last = chain[chain.length - 1];
    const contenders: Contender[] = [
      {
        id: 'inline',
        label: `\`project(chain_${LENGTH}, {})\` inline`,
        run: async () => void (await bench.cinema.project(last, {}, { fetch: false })),
      },
      {
        id: 'queue',
        label: `\`project(chain_${LENGTH}, {}, { engine: 'queue' })\`, worker in process`,
        run: async () => void (await bench.cinema.project(last, {}, { fetch: false, engine: 'queue' })),
      },
    ];
    return await measure(ctx, `${queueScenario.title}: overhead`, contenders, { warmups, rounds });
  } finally {
    await bench.close();
  }
}

async function measureThroughput(ctx: BenchContext, runs: number) {
  const billing = await ctx.billing();
  const orgs = ctx.sizes.orgs;
  const url = await ctx.database('cinema_bench');
  const enqueueAll = async (count: number, offset: number) => {
    const started = performance.now();
    const handles = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        billing.cinema.project(OrgReceivables, { orgId: ((offset + i) % orgs) + 1 }, { engine: 'queue', async: true, fetch: false }),
      ),
    );
    await Promise.all(handles.map((run) => run.result));
    return performance.now() - started;
  };
  const contenders: ContenderResult[] = [];
  const metrics: { label: string; value: number; unit: string }[] = [];
  for (const count of WORKER_COUNTS) {
    const workers = await Promise.all(Array.from({ length: count }, () => startWorker(url)));
    try {
      await enqueueAll(count * 4, 0);
      const ms = await enqueueAll(runs, count * 4);
      ctx.log(`  ${count} worker process(es): ${runs} one-org runs in ${Math.round(ms)} ms`);
      contenders.push(single(`workers-${count}`, `${runs} queued one-org runs, ${count} worker process(es)`, ms));
      metrics.push({ label: `one-org runs per second, ${count} worker process(es)`, value: round2((runs / ms) * 1000), unit: 'runs/s' });
    } finally {
      await Promise.all(workers.map(stopWorker));
    }
  }
  const started = performance.now();
  for (let next = 0; next < runs;) {
    const batch = Array.from({ length: Math.min(8, runs - next) }, (_, i) => ((next + i) % orgs) + 1);
    next += batch.length;
    await Promise.all(batch.map((orgId) => billing.cinema.project(OrgReceivables, { orgId }, { fetch: false })));
  }
  const inlineMs = performance.now() - started;
  ctx.log(`  inline in the app, 8 in flight: ${runs} one-org runs in ${Math.round(inlineMs)} ms`);
  contenders.push(single('inline-8', `${runs} one-org runs inline, 8 in flight`, inlineMs));
  metrics.push({
    label: 'one-org runs per second, inline in the app (8 in flight)',
    value: round2((runs / inlineMs) * 1000),
    unit: 'runs/s',
  });
  return { contenders, metrics };
}

function single(id: string, label: string, ms: number): ContenderResult {
  return { id, label, samplesMs: [ms], medianMs: ms, minMs: ms, maxMs: ms };
}

async function startWorker(databaseUrl: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [WORKER_ENTRY], {
    env: { ...process.env, DATABASE_URL: databaseUrl, CINEMA_WORKER_CONCURRENCY: String(WORKER_CONCURRENCY), NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Working queued projections')) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}: ${output}`)));
  });
  return child;
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}
