import { CinemaError } from './cinema.error.js';

/**
 * This process stopped waiting for a queued run because it is shutting down. The run is not
 * failed: it stays in the queue and a worker process finishes it.
 */
export class RunWaitInterruptedError extends CinemaError {
  constructor(
    readonly projection: string,
    readonly runId: string,
  ) {
    super(
      `Stopped waiting for queued run ${runId} of ${projection}: this process is shutting down. The run is still queued and ` +
        `a worker finishes it; look it up with cinema.findRun('${runId}') or awaitRun from a running process.`,
    );
  }
}
