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

/**
 * Where a timeout was set: `project(..., { timeout })` (`'call'`, the whole run),
 * `@Projection({ timeout })`, or the module's `timeout` or `fullRebuildTimeout` (empty lens).
 */
export type TimeoutOption = 'call' | 'projection' | 'module' | 'fullRebuild';

/** A projection's rebuild ran past its timeout and was rolled back. */
export class ProjectionTimeoutError extends ProjectionFailedError {
  constructor(
    projection: string,
    lens: Readonly<Record<string, unknown>>,
    readonly timeoutMs: number,
    /** The option that set the timeout, which the message says to raise. */
    readonly option: TimeoutOption = 'module',
  ) {
    super(
      projection,
      lens,
      new Error(`timed out after ${timeoutMs} ms`),
      `Projection ${projection} timed out after ${timeoutMs} ms for lens ${describeLens(lens)} and was rolled back. ` +
        `${timeoutFix(projection, option)}, or narrow the lens.`,
    );
  }
}

function timeoutFix(projection: string, option: TimeoutOption): string {
  switch (option) {
    case 'call':
      return 'Raise the timeout passed to project() (it bounds the whole run; 0 for none)';
    case 'projection':
      return `Raise @Projection({ timeout }) on ${projection}`;
    case 'fullRebuild':
      return `Raise CinemaModule.forRoot({ fullRebuildTimeout }) (the limit of a rebuild with an empty lens), or set @Projection({ timeout }) on ${projection}`;
    case 'module':
      return `Raise CinemaModule.forRoot({ timeout }), or set @Projection({ timeout }) on ${projection}`;
  }
}

function causeMessage(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  return String(cause);
}
