import { describe, expect, it } from 'vitest';
import { percentile } from '../../bench/harness.js';
import { connectionArgs, parsePgbench } from '../../bench/pgbench/pgbench.runner.js';

/** The summary pgbench 15 prints after a run (the capture benchmarks read it). */
const SUMMARY = `pgbench (15.20 (Debian 15.20-0+deb12u1), server 18.4)
transaction type: <builtin: TPC-B (sort of)>
scaling factor: 2
query mode: prepared
number of clients: 4
number of threads: 2
maximum number of tries: 1
duration: 2 s
number of transactions actually processed: 9834
number of failed transactions: 0 (0.000%)
latency average = 0.812 ms
initial connection time = 5.123 ms
tps = 4925.123456 (without initial connection time)
`;

describe('bench: pgbench output', () => {
  it('reads throughput, latency and transactions from the summary', () => {
    expect(parsePgbench(SUMMARY)).toEqual({ tps: 4925.123456, latencyMs: 0.812, transactions: 9834 });
  });

  it('refuses a run with failed transactions or without a summary', () => {
    expect(() => parsePgbench(SUMMARY.replace('failed transactions: 0 (0.000%)', 'failed transactions: 3 (0.030%)'))).toThrow(
      /3 transactions failed/,
    );
    expect(() => parsePgbench('pgbench: error: connection to server failed')).toThrow(/no summary/);
  });

  it('passes host, port, user, database and password of a postgres URL', () => {
    const { args, env } = connectionArgs('postgres://postgres:p%40ss@127.0.0.1:54321/cinema_bench_pgbench');
    expect(args).toEqual(['-h', '127.0.0.1', '-p', '54321', '-U', 'postgres']);
    expect(env.PGPASSWORD).toBe('p@ss');
    expect(env.PGDATABASE).toBe('cinema_bench_pgbench');
  });
});

describe('bench: percentile', () => {
  it('takes the nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 95)).toBe(95);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });
});
