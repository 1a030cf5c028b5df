import { CinemaError } from './cinema.error.js';

/** `queue` is configured but graphile-worker (an optional peer dependency) cannot be loaded. */
export class QueueDependencyMissingError extends CinemaError {
  constructor(override readonly cause: unknown) {
    super(
      `The queue engine needs graphile-worker 0.17, which could not be loaded (${cause instanceof Error ? cause.message : String(cause)}). ` +
        `Install it (npm install graphile-worker@~0.17), or remove the queue option from CinemaModule.forRoot().`,
      { cause },
    );
  }
}
