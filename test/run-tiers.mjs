#!/usr/bin/env node
// `npm test` after the type check: the unit tier (no database), then the end-to-end tier
// (PostgreSQL). Arguments go to both vitest runs; a JSON report (`--outputFile.json=FILE`) is
// written per tier and merged into FILE, so `.ci/run` still reads one report with both counts.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const TIERS = [
  ['unit', 'test/vitest.unit.config.ts'],
  ['e2e', 'test/vitest.config.ts'],
];
const OUTPUT = /^--outputFile\.json=(.+)$/;

const args = process.argv.slice(2);
const output = args.map((arg) => OUTPUT.exec(arg)?.[1]).find(Boolean);
// A file filter matches specs of one tier only: the other must not fail for finding none.
const filtered = args.some((arg) => !arg.startsWith('-'));

let status = 0;
const reports = [];
for (const [tier, config] of TIERS) {
  const report = output && `${output}.${tier}.json`;
  const tierArgs = args.map((arg) => (report && OUTPUT.test(arg) ? `--outputFile.json=${report}` : arg));
  if (filtered) tierArgs.push('--passWithNoTests');
  console.log(`\n=== ${tier} tier (${config})`);
  const run = spawnSync('npx', ['vitest', 'run', '--config', config, ...tierArgs], { stdio: 'inherit' });
  if (run.status !== 0) status = run.status ?? 1;
  if (report) {
    reports.push(existsSync(report) ? JSON.parse(readFileSync(report, 'utf8')) : undefined);
    rmSync(report, { force: true });
  }
}

if (output) writeFileSync(output, JSON.stringify(merge(reports)));
process.exit(status);

/** Adds up the counts of vitest's JSON reports; a tier without a report counts as one failure. */
function merge(parts) {
  const merged = {
    numTotalTests: 0,
    numPassedTests: 0,
    numFailedTests: 0,
    numPendingTests: 0,
    numTodoTests: 0,
    numTotalTestSuites: 0,
    numPassedTestSuites: 0,
    numFailedTestSuites: 0,
    numPendingTestSuites: 0,
    success: true,
    startTime: Date.now(),
    testResults: [],
  };
  for (const part of parts) {
    if (!part) {
      merged.numFailedTests++;
      merged.numTotalTests++;
      merged.success = false;
      continue;
    }
    for (const key of Object.keys(merged)) {
      if (key.startsWith('num')) merged[key] += part[key] ?? 0;
    }
    merged.success &&= part.success !== false;
    merged.startTime = Math.min(merged.startTime, part.startTime ?? merged.startTime);
    merged.testResults.push(...(part.testResults ?? []));
  }
  return merged;
}
