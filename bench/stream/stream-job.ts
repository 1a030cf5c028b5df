import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** One streamed run, executed in a process of its own so that its peak memory is its own. */
export interface StreamJob {
  /**
   * `cinema`: the derivation returns the read side's query; `cinema-rows`: it streams the rows
   * through JavaScript; `pipe`: no Cinema, a bare binary COPY pipe (the reference).
   */
  contender: 'cinema' | 'cinema-rows' | 'typeorm' | 'pipe';
  rows: number;
  /** Wide rows (about 1.1 KB each) instead of the narrow ones; Cinema only. */
  wide?: boolean;
  readUrl: string;
  writeUrl: string;
}

export interface StreamJobResult {
  ms: number;
  rows: number;
  /** Highest RSS sampled every 20 ms while the rows moved. */
  sampledPeakRssMb: number;
  /** The kernel's high-water mark of the whole child process (`resourceUsage().maxRSS`). */
  maxRssMb: number;
  /** Highest V8 heap in use sampled while the rows moved. */
  peakHeapMb: number;
}

const CHILD = fileURLToPath(new URL('./streamed-run.child.js', import.meta.url));

/** Forks the child, sends it the job, and waits for its measurement. */
export function runStreamJob(job: StreamJob): Promise<StreamJobResult> {
  return new Promise((resolve, reject) => {
    const child = fork(CHILD, [], { execArgv: ['--expose-gc', '--enable-source-maps'], stdio: 'inherit' });
    let result: StreamJobResult | undefined;
    child.on('message', (message: StreamJobResult) => (result = message));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0 && result) resolve(result);
      else
        reject(new Error(`streamed run ${JSON.stringify({ ...job, readUrl: undefined, writeUrl: undefined })} exited with code ${code}`));
    });
    child.send(job);
  });
}
