import { CinemaError } from './cinema.error.js';

/**
 * A derivation used its write transaction after the rebuild was over (it timed out, failed or was
 * rolled back): the connection has gone back to the pool, so nothing more reaches it.
 */
export class TransactionClosedError extends CinemaError {
  constructor(readonly projection: string) {
    super(
      `The write transaction of ${projection} is closed (the rebuild timed out, failed or was rolled back): ` +
        `a derivation must not use ctx.write after it returns or after ctx.signal is aborted.`,
    );
  }
}
