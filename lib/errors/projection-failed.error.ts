import { CinemaError, describeLens } from './cinema.error.js';

/** What the rest of a run did when a projection failed: shown in the message, kept on the error. */
export interface RunFailureContext {
  /** Projections of the same run that were not started because this one failed. */
  skipped?: readonly string[];
  /** Other projections of the same run that failed too. */
  others?: readonly ProjectionFailedError[];
}

/**
 * A projection's rebuild failed and was rolled back: its previous slice is intact, and the
 * projections that read it were not started.
 */
export class ProjectionFailedError extends CinemaError {
  /** Projections of the same run that were not started because this one failed. */
  readonly skipped: string[];
  /** Other projections of the same run that failed too. */
  readonly others: ProjectionFailedError[];
  /** The message without what the rest of the run did. */
  readonly reason: string;

  constructor(
    readonly projection: string,
    readonly lens: Readonly<Record<string, unknown>>,
    override readonly cause: unknown,
    message?: string,
    context: RunFailureContext = {},
  ) {
    const reason = message ?? `Projection ${projection} failed for lens ${describeLens(lens)} and was rolled back: ${causeMessage(cause)}`;
    super(reason + contextMessage(context), { cause });
    this.reason = reason;
    this.skipped = [...(context.skipped ?? [])];
    this.others = [...(context.others ?? [])];
  }

  /** The same failure, told with what the rest of its run did (a new error: messages never change). */
  inRun(context: RunFailureContext): ProjectionFailedError {
    return new ProjectionFailedError(this.projection, this.lens, this.cause, this.reason, context);
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
    context: RunFailureContext = {},
  ) {
    super(
      projection,
      lens,
      new Error(`timed out after ${timeoutMs} ms`),
      `Projection ${projection} timed out after ${timeoutMs} ms for lens ${describeLens(lens)} and was rolled back. ` +
        `${timeoutFix(projection, option)}, or narrow the lens.`,
      context,
    );
  }

  override inRun(context: RunFailureContext): ProjectionTimeoutError {
    return new ProjectionTimeoutError(this.projection, this.lens, this.timeoutMs, this.option, context);
  }
}

function contextMessage(context: RunFailureContext): string {
  let text = '';
  if (context.skipped && context.skipped.length > 0) text += ` Not run because of it: ${context.skipped.join(', ')}.`;
  if (context.others && context.others.length > 0) text += ` Also failed: ${context.others.map((e) => e.projection).join(', ')}.`;
  return text;
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
