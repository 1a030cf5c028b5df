import type { ContenderResult, PairResult, ScenarioResult, TargetResult } from './results.interface.js';
import type { Scenario } from './scenario.interface.js';

/** What one round of a contender measured; a contender that returns nothing is timed around `run`. */
export interface Sample {
  ms: number;
  extras?: Record<string, number>;
}

export interface Contender {
  id: string;
  label: string;
  /** Untimed work before each run (reset a table, pick the round's org). */
  prepare?(round: number): Promise<void>;
  run(round: number): Promise<Sample | void>;
}

export interface AlternateOptions {
  warmups: number;
  rounds: number;
  log?: (line: string) => void;
}

/**
 * Runs the contenders in turns, A B C then C B A, warm-ups first: every contender sees the same
 * state of the machine (caches, autovacuum, other load) as often as the others, and none always
 * runs right after the same neighbour. Round numbers count warm-ups too, so a contender that
 * rotates its slice by round gives every contender of a round the same slice.
 */
export async function alternate(contenders: readonly Contender[], options: AlternateOptions): Promise<ContenderResult[]> {
  const samples = new Map(contenders.map((c) => [c.id, [] as Sample[]]));
  const total = options.warmups + options.rounds;
  for (let round = 0; round < total; round++) {
    const order = round % 2 === 0 ? contenders : [...contenders].reverse();
    const measured = round >= options.warmups;
    const line: string[] = [];
    for (const contender of order) {
      await contender.prepare?.(round);
      const sample = await timeRound(contender, round);
      if (measured) samples.get(contender.id)!.push(sample);
      line.push(`${contender.id} ${formatMs(sample.ms)}`);
    }
    options.log?.(`  ${measured ? `round ${round - options.warmups + 1}/${options.rounds}` : `warm-up ${round + 1}`}: ${line.join(', ')}`);
  }
  return contenders.map((c) => summarize(c, samples.get(c.id)!));
}

async function timeRound(contender: Contender, round: number): Promise<Sample> {
  const started = performance.now();
  const reported = await contender.run(round);
  return reported ?? { ms: performance.now() - started };
}

function summarize(contender: Contender, samples: Sample[]): ContenderResult {
  const ms = samples.map((s) => s.ms);
  const extras: Record<string, number[]> = {};
  for (const sample of samples) {
    for (const [key, value] of Object.entries(sample.extras ?? {})) (extras[key] ??= []).push(value);
  }
  return {
    id: contender.id,
    label: contender.label,
    samplesMs: ms.map(round2),
    medianMs: round2(median(ms)),
    minMs: round2(Math.min(...ms)),
    maxMs: round2(Math.max(...ms)),
    ...(Object.keys(extras).length ? { extras } : {}),
  };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** The nearest-rank percentile `p` (0 to 100) of `values`. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** median(a) / median(b) of two contenders of one scenario. */
export function pair(results: readonly ContenderResult[], a: string, b: string): PairResult {
  return { a, b, ratio: round3(find(results, a).medianMs / find(results, b).medianMs) };
}

export function find(results: readonly ContenderResult[], id: string): ContenderResult {
  const result = results.find((r) => r.id === id);
  if (!result) throw new Error(`no contender "${id}"`);
  return result;
}

export function target(
  description: string,
  measured: number,
  comparison: TargetResult['comparison'],
  limit: number,
  unit: string,
): TargetResult {
  const value = round3(measured);
  return { description, measured: value, limit, comparison, unit, met: comparison === 'at-most' ? value <= limit : value >= limit };
}

export function formatMs(ms: number): string {
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(0)} ms`;
  return `${ms.toFixed(2)} ms`;
}

export function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

export function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** Logs a scenario's rounds, then runs its contenders alternately (see {@link alternate}). */
export function measure(
  ctx: { log(line: string): void },
  title: string,
  contenders: readonly Contender[],
  options: { warmups: number; rounds: number },
  { quiet = false }: { quiet?: boolean } = {},
): Promise<ContenderResult[]> {
  ctx.log(`${title}: ${options.warmups} warm-up + ${options.rounds} rounds${quiet ? ' (rounds not logged)' : ''}`);
  return alternate(contenders, { ...options, log: quiet ? undefined : (line) => ctx.log(line) });
}

/** A scenario's result: its identity and duration filled in, lists empty unless given. */
export function scenarioResult(
  scenario: Scenario,
  definition: string,
  began: number,
  parts: Pick<ScenarioResult, 'rounds' | 'warmups' | 'contenders'> &
    Partial<Pick<ScenarioResult, 'pairs' | 'metrics' | 'targets' | 'notes'>>,
): ScenarioResult {
  return {
    id: scenario.id,
    title: scenario.title,
    definition,
    pairs: [],
    metrics: [],
    targets: [],
    notes: [],
    ...parts,
    durationMs: performance.now() - began,
  };
}
