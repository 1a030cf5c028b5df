import { CinemaError } from './cinema.error.js';

/** Cinema was called before the application initialized its modules. */
export class CinemaNotReadyError extends CinemaError {
  constructor(what = 'Cinema') {
    super(`${what} is not initialized yet: call it after the application has started (after app.init() or app.listen()).`);
  }
}
