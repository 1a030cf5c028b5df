import { CinemaError } from './cinema.error.js';

/** `project()` or `plan()` was called with a class Cinema does not know. */
export class UnregisteredProjectionError extends CinemaError {
  constructor(readonly projection: string) {
    super(
      `${projection} is not a registered projection. Decorate it with @Projection() and list it ` +
        `in CinemaModule.forFeature([...]) of a module the application imports.`,
    );
  }
}
