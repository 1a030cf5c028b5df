import { Logger } from '@nestjs/common';
import type { CinemaRun, NodeReport } from '../../lib/index.js';
import { RunTelemetry } from '../../lib/telemetry/run-telemetry.js';
import { find, measure, round3, scenarioResult, target, type Contender } from '../harness.js';
import type { Scenario } from '../scenario.interface.js';

const RUNS = 20_000;
const NODES = ['AccountsReceivable', 'OrgReceivables'];

const DEFINITION = `What Cinema's OpenTelemetry instrumentation costs a run when the application registers no SDK
(every call a no-op of \`@opentelemetry/api\`), and logs at \`warn\`: ${RUNS.toLocaleString()} runs of the
one-org shape (a \`cinema.run\` scope and two \`cinema.refresh\` spans with their metrics and events), each
node an already-resolved promise standing for the rebuild.

- **telemetry**: \`RunTelemetry.startRun\`, \`traceNode\` per node, the run's \`end\`, as the inline engine calls them.
- **bare**: the same loop awaiting the same work without them.

**Cost per run** = (telemetry − bare) / ${RUNS.toLocaleString()}; set against the one-org slice's Cinema median
(scenario 1) when it is in the same results.`;

/** The no-SDK cost of the run and projection spans, metrics and events: microseconds per run. */
export const telemetryScenario: Scenario = {
  id: 'telemetry',
  title: '12. Telemetry without an SDK (cost per run)',
  async run(ctx) {
    const began = performance.now();
    // As the benchmark's applications log: the run's log line is built, not printed.
    Logger.overrideLogger(['error', 'warn']);
    const telemetry = new RunTelemetry();
    const work = () => Promise.resolve();
    const run = {
      id: 'bench',
      engine: 'inline',
      projection: 'OrgReceivables',
      lens: { orgId: 1 },
      status: 'succeeded',
      createdAt: new Date(),
      durationMs: 4,
      nodes: [],
    } as unknown as CinemaRun;
    const report = (): NodeReport => ({
      projection: 'x',
      virtual: false,
      status: 'running',
      deleted: 10,
      written: 10,
      paths: ['insert-select'],
    });
    const contenders: Contender[] = [
      {
        id: 'telemetry',
        label: `${RUNS.toLocaleString()} instrumented runs`,
        run: async () => {
          for (let i = 0; i < RUNS; i++) {
            const scope = telemetry.startRun('OrgReceivables', ['orgId'], 'inline');
            scope.started(run);
            for (const name of NODES) {
              await telemetry.traceNode(name, scope.context, { engine: 'inline', lensKeys: ['orgId'], lens: { orgId: i } }, report(), work);
            }
            scope.end(run);
          }
        },
      },
      {
        id: 'bare',
        label: `${RUNS.toLocaleString()} runs without telemetry`,
        run: async () => {
          for (let i = 0; i < RUNS; i++) {
            for (let n = 0; n < NODES.length; n++) {
              report();
              await work();
            }
          }
        },
      },
    ];
    const { rounds, warmups } = ctx.rounds({ full: 7, quick: 3, warmups: 2 });
    const results = await measure(ctx, this.title, contenders, { warmups, rounds });
    const perRunUs = ((find(results, 'telemetry').medianMs - find(results, 'bare').medianMs) / RUNS) * 1000;
    return scenarioResult(this, DEFINITION, began, {
      rounds,
      warmups,
      contenders: results,
      metrics: [{ label: 'telemetry cost per run, no SDK (median)', value: round3(perRunUs), unit: 'µs' }],
      targets: [target('telemetry cost per run with no SDK', perRunUs, 'at-most', 40, 'µs')],
      notes: ['A one-org run takes about 4 ms (scenario 1): 40 µs would be 1 % of it, below what the one-org rounds can resolve.'],
    });
  },
};
