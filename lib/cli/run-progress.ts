import type { CinemaRun, NodeReport } from '../index.js';
import { duration, textTable } from './text-table.js';

/** Where progress goes: a terminal (redrawn in place) or a pipe (a line per change of state). */
export interface ProgressOutput {
  write(text: string): void;
  isTTY?: boolean;
}

const MARK: Record<NodeReport['status'], string> = { pending: '·', running: '…', succeeded: '✓', failed: '✗', skipped: '-' };

/**
 * Follows a run until it ends: on a terminal, one line per projection (state, rows written,
 * elapsed) redrawn in place every `interval`; elsewhere, a plain line each time a projection
 * changes state. `poll` reads the run again (a queued run lives in the database).
 */
export async function followRun(
  first: CinemaRun,
  output: ProgressOutput,
  poll: (run: CinemaRun) => Promise<CinemaRun> = async (run) => run,
  interval = 100,
): Promise<CinemaRun> {
  let run = first;
  let settled = false;
  void run.result.then(
    () => (settled = true),
    () => (settled = true),
  );
  const seen = new Map<string, NodeReport['status']>();
  let drawn = 0;
  const draw = () => {
    if (output.isTTY) {
      const lines = run.nodes.map((node) => line(node));
      output.write(`${drawn > 0 ? `\x1b[${drawn}A` : ''}${lines.map((text) => `\x1b[2K${text}\n`).join('')}`);
      drawn = lines.length;
      return;
    }
    for (const node of run.nodes) {
      if (seen.get(node.projection) === node.status) continue;
      seen.set(node.projection, node.status);
      if (node.status !== 'pending') output.write(`${line(node)}\n`);
    }
  };
  for (;;) {
    draw();
    if (settled || run.status === 'succeeded' || run.status === 'failed') break;
    await new Promise((resolve) => setTimeout(resolve, interval));
    run = await poll(run);
  }
  await run.result.catch(() => undefined);
  run = await poll(run);
  draw();
  return run;
}

/** The plan's timings once a run ended: each projection's state, rows and duration. */
export function runSummary(run: CinemaRun): string {
  const rows = run.nodes.map((node) => [
    node.projection,
    node.virtual ? 'virtual' : node.status,
    node.virtual ? '' : String(node.written),
    node.virtual ? '' : String(node.deleted),
    duration(node.durationMs),
  ]);
  const table = textTable(['projection', 'status', 'written', 'deleted', 'took'], rows);
  const outcome = run.status === 'succeeded' ? 'succeeded' : `failed: ${run.error?.message ?? 'unknown error'}`;
  return `${table}\nRun ${run.id} (${run.engine}) ${outcome} in ${duration(run.durationMs)}.`;
}

function line(node: NodeReport): string {
  const elapsed = node.durationMs ?? (node.startedAt ? Date.now() - node.startedAt.getTime() : undefined);
  const detail = node.virtual ? 'virtual' : `${node.status}${node.status === 'pending' ? '' : `, ${node.written} rows`}`;
  return `${MARK[node.status]} ${node.projection} ${detail}${elapsed === undefined ? '' : `, ${duration(elapsed)}`}`;
}
