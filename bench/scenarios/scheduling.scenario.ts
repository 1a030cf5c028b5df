import type { Type } from '@nestjs/common';
import { bootBenchApp, type BenchApp } from '../apps/bench-app.js';
import { SleepySeed, buildSleepyGraph, criticalPathMs, levelByLevelMs, levels, sleepyGraphSpec } from '../fixtures/sleepy-graph.fixture.js';
import { find, measure, pair, scenarioResult, target, type Contender } from '../harness.js';
import type { Scenario } from '../scenario.interface.js';

const DEFINITION = `A graph of 11 projections whose derivations wait inside PostgreSQL (\`pg_sleep\` in their
transaction) before their \`INSERT ... SELECT\`: a root, three branches of three nodes, and a sink
reading the three branches. Each branch has one slow node (5 units), at a different depth.

- **cinema**: \`cinema.project(sink, {}, { fetch: false })\`: a node starts as soon as its own
  inputs are done (default \`concurrency\` 4; the pool of 10 gives 5 write slots).
- **level-by-level**: the same projections, one level at a time: every node of a level through
  \`project(node, {}, { skipDependencies: true })\` in parallel, the next level when all are done.

The **critical path** is the longest chain of sleeps (root + a branch + sink): no schedule can
finish sooner. **Level-by-level (ideal)** adds the slowest sleep of every level.`;

/** Scenario 4: dependency-driven scheduling against the critical path and a level-by-level run. */
export const schedulingScenario: Scenario = {
  id: 'scheduling',
  title: '4. Scheduling branches of unequal duration',
  async run(ctx) {
    const began = performance.now();
    const unitMs = ctx.options.quick ? 100 : 200;
    const spec = sleepyGraphSpec(unitMs);
    const graph = buildSleepyGraph(spec);
    const sink = graph.get('sink')!;
    const bench = await bootBenchApp({
      dataSources: [{ url: await ctx.database('cinema_bench_graph'), synchronize: true }],
      projections: [SleepySeed, ...graph.values()],
    });
    try {
      const { rounds, warmups } = ctx.rounds({ full: 7, quick: 3 });
      const contenders: Contender[] = [
        {
          id: 'cinema',
          label: 'Cinema `project(sink, {})`',
          run: async () => void (await bench.cinema.project(sink, {}, { fetch: false })),
        },
        {
          id: 'level-by-level',
          label: 'the same projections, level by level',
          run: () =>
            levelByLevel(
              bench,
              levels(spec).map((level) => level.map((node) => graph.get(node.name)!)),
            ),
        },
      ];
      const results = await measure(ctx, this.title, contenders, { warmups, rounds });
      const critical = criticalPathMs(spec);
      const cinemaMs = find(results, 'cinema').medianMs;
      return scenarioResult(this, DEFINITION, began, {
        rounds,
        warmups,
        contenders: results,
        pairs: [pair(results, 'cinema', 'level-by-level')],
        metrics: [
          { label: 'critical path (sum of sleeps along the longest chain)', value: critical, unit: 'ms' },
          { label: 'level-by-level, ideal (sum of the slowest sleep per level)', value: levelByLevelMs(spec), unit: 'ms' },
          { label: 'sum of all sleeps (one at a time)', value: spec.reduce((sum, node) => sum + node.sleepMs, 0), unit: 'ms' },
          { label: 'Cinema above the critical path', value: Math.round(cinemaMs - critical), unit: 'ms' },
        ],
        targets: [target('Cinema / critical path', cinemaMs / critical, 'at-most', 1.1, 'x')],
      });
    } finally {
      await bench.close();
    }
  },
};

async function levelByLevel(bench: BenchApp, byLevel: Type<unknown>[][]): Promise<void> {
  for (const level of byLevel) {
    await Promise.all(level.map((node) => bench.cinema.project(node, {}, { skipDependencies: true, fetch: false })));
  }
}
