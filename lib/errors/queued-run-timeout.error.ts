import { CinemaError, describeLens } from './cinema.error.js';

/**
 * A queued run did not finish within the `timeout` given to `project()`. The caller stopped
 * waiting; the run is not cancelled: it stays in the queue, each of its projections bounded by
 * that same timeout, and finishes or fails on a worker.
 */
export class QueuedRunTimeoutError extends CinemaError {
  constructor(
    readonly projection: string,
    readonly lens: Readonly<Record<string, unknown>>,
    readonly runId: string,
    readonly timeoutMs: number,
  ) {
    super(
      `Queued run ${runId} of ${projection} for lens ${describeLens(lens)} did not finish within ${timeoutMs} ms; it stays in the queue ` +
        `and finishes on a worker (await it with cinema.awaitRun('${runId}')). Raise project()'s timeout, check that a worker ` +
        `process works its queue, or use { async: true } and await the run later.`,
    );
  }
}
