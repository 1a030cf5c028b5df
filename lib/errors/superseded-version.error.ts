import { CinemaError } from './cinema.error.js';

/**
 * A process still running an older definition of a projection tried to write a slice after a
 * newer version was deployed: the refresh rolls back (the slice keeps what the newer version built).
 */
export class SupersededVersionError extends CinemaError {
  constructor(
    readonly projection: string,
    readonly version: string,
    readonly newerVersion: string,
  ) {
    super(
      `Projection ${projection}: this process runs its version ${version}, but version ${newerVersion} was deployed since; ` +
        'the refresh was rolled back so that a slice built by the newer definition is never overwritten. ' +
        'Stop this process or deploy the new code to it.',
    );
  }
}
