import { CinemaError } from './cinema.error.js';

/** An `@Input` names a class that is not a registered projection. */
export class MissingInputError extends CinemaError {
  constructor(
    readonly projection: string,
    readonly input: string,
    readonly method: string,
  ) {
    super(
      `${projection}.${method}() takes @Input ${input}, which is not a registered projection. ` +
        `Decorate ${input} with @Projection() and list it in CinemaModule.forFeature([...]).`,
    );
  }
}
