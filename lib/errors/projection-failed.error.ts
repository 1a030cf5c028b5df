import { CinemaError, describeLens } from './cinema.error.js';

/**
 * A projection's rebuild failed and was rolled back: its previous slice is intact, and the
 * projections that read it were not started.
 */
export class ProjectionFailedError extends CinemaError {
  /** Projections of the same run that were not started because this one failed. */
  skipped: string[] = [];
  /** Other projections of the same run that failed too. */
  others: ProjectionFailedError[] = [];

  constructor(
    readonly projection: string,
    readonly lens: Readonly<Record<string, unknown>>,
    override readonly cause: unknown,
    message?: string,
  ) {
    super(
      message ??
        `Projection ${projection} failed for lens ${describeLens(lens)} and was rolled back: ${causeMessage(cause)}`,
      { cause },
    );
  }
}

/** A projection's rebuild ran past its timeout and was rolled back. */
export class ProjectionTimeoutError extends ProjectionFailedError {
  constructor(
    projection: string,
    lens: Readonly<Record<string, unknown>>,
    readonly timeoutMs: number,
  ) {
    super(
      projection,
      lens,
      new Error(`timed out after ${timeoutMs} ms`),
      `Projection ${projection} timed out after ${timeoutMs} ms for lens ${describeLens(lens)} and was rolled back. ` +
        `Raise @Projection({ timeout }) or the module's timeout, or narrow the lens.`,
    );
  }
}

function causeMessage(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  return String(cause);
}
