import type { BenchSizes } from './bench-sizes.js';

/** One contender of a scenario: every measured sample, and what the report prints. */
export interface ContenderResult {
  id: string;
  label: string;
  /** Wall time of each measured round, in round order (warm-ups are not kept). */
  samplesMs: number[];
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** Other per-round numbers a contender reports (rows/s, peak RSS, ...), in round order. */
  extras?: Record<string, number[]>;
}

/** `a` against `b`: `ratio` is median(a) / median(b), so below 1 means `a` is faster. */
export interface PairResult {
  a: string;
  b: string;
  ratio: number;
}

/** A number the scenario derives from its samples (a rate, an overhead, a computed bound). */
export interface MetricResult {
  label: string;
  value: number;
  unit: string;
}

/** One target of the issue, measured. */
export interface TargetResult {
  description: string;
  measured: number;
  limit: number;
  /** `at-most`: measured <= limit meets it; `at-least`: measured >= limit does. */
  comparison: 'at-most' | 'at-least';
  unit: string;
  met: boolean;
}

export interface ScenarioResult {
  id: string;
  title: string;
  /** Markdown: what is measured and how, as the report prints it. */
  definition: string;
  rounds: number;
  warmups: number;
  contenders: ContenderResult[];
  pairs: PairResult[];
  metrics: MetricResult[];
  targets: TargetResult[];
  notes: string[];
  durationMs: number;
  /** Set when the scenario failed: the others still run and the report says so. */
  error?: string;
  /**
   * Set when a partial run (`--only ... --write-docs`) measured this scenario and merged it into
   * the documented results of an earlier run: that partial run's command, date and scale.
   */
  measuredBy?: { command: string; date: string; scale: number };
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGb: number;
  os: string;
  node: string;
}

export interface PostgresInfo {
  version: string;
  embedded: boolean;
  /** Settings that change the numbers (shared_buffers, work_mem, parallel workers, fsync...). */
  settings: Record<string, string>;
}

export interface BenchResults {
  command: string;
  date: string;
  quick: boolean;
  /** Whether this run is the documented one (docs/BENCHMARKS.md). */
  documented: boolean;
  machine: MachineInfo;
  postgres: PostgresInfo;
  sizes: BenchSizes;
  /** Seconds spent creating each data set, keyed by what was created. */
  setupSeconds: Record<string, number>;
  scenarios: ScenarioResult[];
  totalSeconds: number;
}
