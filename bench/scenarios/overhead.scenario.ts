import type pg from 'pg';
import { bootBenchApp } from '../apps/bench-app.js';
import { ChainSeed, buildTrivialChain, chainTable } from '../fixtures/trivial-chain.fixture.js';
import { find, measure, pair, round2, scenarioResult, target, type Contender } from '../harness.js';
import { withClient } from '../../sample-app/src/database/postgres-server.js';
import type { Scenario } from '../scenario.interface.js';

const LENGTH = 50;

const DEFINITION = `A chain of ${LENGTH} trivial projections (\`chain_01\` ... \`chain_${LENGTH}\`, one integer column, one
row, each copied from the one before), rebuilt with an empty lens. A chain runs one projection at a
time, so every millisecond Cinema adds shows up in the wall time.

- **cinema**: \`cinema.project(chain_${LENGTH}, {}, { fetch: false })\`.
- **hand-sql**: the same work issued by hand on one open \`pg\` connection, one transaction per
  table, in order: \`BEGIN; DELETE FROM chain_NN; INSERT INTO chain_NN (id) SELECT id FROM
  chain_(NN-1); COMMIT\` (four round trips each).

**Overhead per projection** = (median Cinema wall time − median hand-written wall time) / ${LENGTH}:
what Cinema adds per projection for planning, scheduling, pooled connections, its advisory lock
and \`statement_timeout\` (sent with \`BEGIN\`) and bookkeeping.`;

/** Scenario 5: orchestration overhead per projection on a graph where PostgreSQL does almost nothing. */
export const overheadScenario: Scenario = {
  id: 'overhead',
  title: `5. Per-projection overhead (${LENGTH} trivial projections)`,
  async run(ctx) {
    const began = performance.now();
    const chain = buildTrivialChain(LENGTH);
    const url = await ctx.database('cinema_bench_chain');
    const bench = await bootBenchApp({ dataSources: [{ url, synchronize: true }], projections: [ChainSeed, ...chain] });
    try {
      return await withClient(url, async (client) => {
        const { rounds, warmups } = ctx.rounds({ full: 30, quick: 15, warmups: 3 });
        const last = chain[chain.length - 1];
        const contenders: Contender[] = [
          {
            id: 'cinema',
            label: `Cinema \`project(chain_${LENGTH}, {})\``,
            run: async () => void (await bench.cinema.project(last, {}, { fetch: false })),
          },
          { id: 'hand-sql', label: 'the same statements by hand, one connection', run: () => rebuildByHand(client) },
        ];
        const results = await measure(ctx, this.title, contenders, { warmups, rounds });
        const cinemaMs = find(results, 'cinema').medianMs;
        const overhead = (cinemaMs - find(results, 'hand-sql').medianMs) / LENGTH;
        return scenarioResult(this, DEFINITION, began, {
          rounds,
          warmups,
          contenders: results,
          pairs: [pair(results, 'cinema', 'hand-sql')],
          metrics: [
            { label: 'Cinema wall time per projection', value: round2(cinemaMs / LENGTH), unit: 'ms' },
            { label: 'hand-written wall time per projection', value: round2(find(results, 'hand-sql').medianMs / LENGTH), unit: 'ms' },
            { label: 'overhead per projection', value: round2(overhead), unit: 'ms' },
          ],
          targets: [target('orchestration overhead per projection (median)', overhead, 'at-most', 2, 'ms')],
        });
      });
    } finally {
      await bench.close();
    }
  },
};

async function rebuildByHand(client: pg.Client): Promise<void> {
  for (let i = 1; i <= LENGTH; i++) {
    const source = i === 1 ? 'SELECT 1 AS id' : `SELECT id FROM ${chainTable(i - 1)}`;
    await client.query('BEGIN');
    await client.query(`DELETE FROM ${chainTable(i)}`);
    await client.query(`INSERT INTO ${chainTable(i)} (id) ${source}`);
    await client.query('COMMIT');
  }
}
