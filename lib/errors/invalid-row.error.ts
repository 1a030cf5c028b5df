import { CinemaError } from './cinema.error.js';

/** A derivation produced a row (or a query) that does not fit the projection's table. */
export class InvalidRowError extends CinemaError {
  constructor(
    readonly projection: string,
    readonly field: string,
    reason: string,
    fix: string,
  ) {
    super(`${projection}: ${reason}. ${fix}`);
  }
}
