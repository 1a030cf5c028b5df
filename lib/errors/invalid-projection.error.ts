import { CinemaError } from './cinema.error.js';

/** A projection's declaration cannot work (unknown column, missing output, no table...). */
export class InvalidProjectionError extends CinemaError {
  constructor(
    readonly projection: string,
    reason: string,
    fix: string,
  ) {
    super(`Projection ${projection} is invalid: ${reason}. ${fix}`);
  }
}
