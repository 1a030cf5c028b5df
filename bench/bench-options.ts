import { parseArgs } from 'node:util';

/** What `npm run bench -- ...` asked for. */
export interface BenchOptions {
  /** Small data set and few rounds: a smoke run that finishes in under three minutes. */
  quick: boolean;
  /** Multiplies the full-scale sizes (1 = 1,000 orgs, 100,000 accounts, 3,000,000 invoices). */
  scale: number;
  /** Scenario ids to run; all when absent. */
  only?: string[];
  /** Measured rounds per scenario, instead of each scenario's default. */
  rounds?: number;
  /** Write docs/BENCHMARKS.md and bench/results.json even when the run is not a full one. */
  writeDocs: boolean;
  /** The command line, as the report prints it. */
  command: string;
}

export const USAGE = `Usage: npm run bench -- [--quick] [--scale F] [--only ID[,ID]] [--rounds N] [--write-docs]
  --quick        scale 0.05 and fewer rounds (a smoke run, under 3 minutes)
  --scale F      multiply the full-scale sizes (1 = 1,000 orgs, 100,000 accounts, 3,000,000 invoices,
                 2,000,000 streamed rows, 1,000,000 wide streamed rows)
  --only IDS     run only these scenarios: one-org, full-rebuild, streamed, scheduling, overhead, queue,
                 capture-overhead, capture-staleness, capture-catch-up, fraction, diff, telemetry
  --rounds N     measured rounds per scenario instead of each scenario's default (capture-staleness: probes)
  --write-docs   also write docs/BENCHMARKS.md, its charts (docs/bench/*.svg) and bench/results.json
                 for a quick or partial run (a partial run is merged into the documented results)
  Without DATABASE_URL an embedded PostgreSQL is started; with it, databases named cinema_bench*
  are (re-)created on that server.`;

export class UsageError extends Error {}

const QUICK_SCALE = 0.05;

/** Parses the flags after `npm run bench --`; returns undefined for --help. */
export function parseBenchOptions(argv: string[]): BenchOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: 'boolean', default: false },
      scale: { type: 'string' },
      only: { type: 'string' },
      rounds: { type: 'string' },
      'write-docs': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return undefined;
  const quick = values.quick ?? false;
  return {
    quick,
    scale: values.scale === undefined ? (quick ? QUICK_SCALE : 1) : positiveNumber('scale', values.scale),
    only: values.only
      ?.split(',')
      .map((id) => id.trim())
      .filter(Boolean),
    rounds: values.rounds === undefined ? undefined : positiveInteger('rounds', values.rounds),
    writeDocs: values['write-docs'] ?? false,
    command: ['npm run bench', ...(argv.length ? ['--', ...argv] : [])].join(' '),
  };
}

function positiveNumber(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number, got "${value}"`);
  return n;
}

function positiveInteger(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got "${value}"`);
  return n;
}
