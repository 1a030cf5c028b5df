import { CinemaError } from './cinema.error.js';

/** The application is shutting down: runs in flight are rolled back (the cause of their failure). */
export class ApplicationShutdownError extends CinemaError {
  constructor() {
    super('the application is shutting down: the rebuild was rolled back and can be run again after the restart');
  }
}
