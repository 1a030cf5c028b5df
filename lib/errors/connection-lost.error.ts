import { CinemaError } from './cinema.error.js';

/** A connection a run used ended without a word from PostgreSQL (the cause of the projection's failure). */
export class ConnectionLostError extends CinemaError {
  constructor(reason: string) {
    super(`${reason}; the rebuild was rolled back by the server and its connection is not reused`);
  }
}
