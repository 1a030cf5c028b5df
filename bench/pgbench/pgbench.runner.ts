import { spawn, type ChildProcess } from 'node:child_process';

/** PostgreSQL's own load generator: the Debian client package installs it here. */
export const PGBENCH = process.env.PGBENCH ?? '/usr/bin/pgbench';

/** What one `pgbench` run reported. */
export interface PgbenchResult {
  /** Transactions per second, without the initial connection time. */
  tps: number;
  /** Average latency of a transaction (a script run), in ms. */
  latencyMs: number;
  /** Transactions processed. */
  transactions: number;
}

/** `-h -p -U dbname` and the password for a `postgres://` URL (pgbench 15 takes no URL for `-i`). */
export function connectionArgs(url: string): { args: string[]; env: NodeJS.ProcessEnv } {
  const parsed = new URL(url);
  const args = ['-h', parsed.hostname, '-p', parsed.port || '5432', '-U', decodeURIComponent(parsed.username || 'postgres')];
  const env = { ...process.env, PGPASSWORD: decodeURIComponent(parsed.password), PGDATABASE: parsed.pathname.slice(1) };
  return { args, env };
}

/** Runs pgbench to completion; rejects with its output when it fails. */
export function runPgbench(url: string, args: readonly string[]): Promise<string> {
  const child = startPgbench(url, args);
  return finished(child);
}

/** Starts pgbench in the background (a load that runs until `stopPgbench`). */
export function startPgbench(url: string, args: readonly string[]): ChildProcess {
  const connection = connectionArgs(url);
  return spawn(PGBENCH, [...connection.args, ...args], { env: connection.env, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Ends a background pgbench started by `startPgbench` (its backends end with its connections). */
export async function stopPgbench(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGINT');
  await exited;
}

function finished(child: ChildProcess): Promise<string> {
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(output) : reject(new Error(`pgbench exited with ${code}:\n${output}`))));
  });
}

/** Reads the summary pgbench prints at the end of a run. */
export function parsePgbench(output: string): PgbenchResult {
  const tps = /^tps = ([\d.]+) \(without initial connection time\)/m.exec(output);
  const latency = /^latency average = ([\d.]+) ms/m.exec(output);
  const transactions = /^number of transactions actually processed: (\d+)/m.exec(output);
  const failed = /^number of failed transactions: (\d+)/m.exec(output);
  if (!tps || !latency || !transactions) throw new Error(`pgbench printed no summary:\n${output}`);
  if (failed && Number(failed[1]) > 0) throw new Error(`pgbench: ${failed[1]} transactions failed:\n${output}`);
  return { tps: Number(tps[1]), latencyMs: Number(latency[1]), transactions: Number(transactions[1]) };
}
