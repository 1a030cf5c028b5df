import { CinemaError, describeLens } from './cinema.error.js';

/**
 * The refresh committed, but reading the projection's rows back for `project()` failed. The run
 * succeeded and its slices stay written: only the rows could not be returned.
 */
export class ProjectionReadError extends CinemaError {
  constructor(
    readonly projection: string,
    readonly lens: Readonly<Record<string, unknown>>,
    /** The data source the rows were read from. */
    readonly dataSource: string,
    override readonly cause: unknown,
  ) {
    super(
      `The refresh of ${projection} for lens ${describeLens(lens)} committed, but reading its rows from data source ` +
        `"${dataSource}" failed: ${cause instanceof Error ? cause.message : String(cause)}. ` +
        `The run succeeded; read the rows again (or call project() with fetch: false), and check that data source.`,
      { cause },
    );
  }
}
