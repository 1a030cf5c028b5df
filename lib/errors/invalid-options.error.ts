import { CinemaError } from './cinema.error.js';

/** A module or call option has a value Cinema cannot use. */
export class InvalidCinemaOptionsError extends CinemaError {
  constructor(
    readonly option: string,
    reason: string,
  ) {
    super(`Invalid Cinema option "${option}": ${reason}`);
  }
}
