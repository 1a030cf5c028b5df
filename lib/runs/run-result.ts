import type { Logger } from '@nestjs/common';
import { ProjectionReadError } from '../errors/projection-read.error.js';
import type { NormalizedLens } from '../lens/lens.js';
import type { ProjectionModel } from '../model/projection.model.js';
import type { RunOutputs } from '../read/run-outputs.js';
import { readSlice } from '../read/slice.queries.js';

/** What a run's result needs to read its rows back. */
export interface ResultSpec {
  targets: readonly ProjectionModel[];
  lens: NormalizedLens;
  outputs?: RunOutputs;
  options: { fetch: boolean };
}

/**
 * A run's `result`: once `done` resolves (the run has succeeded and its status says so), the
 * requested projection's rows under the lens; `[]` with `fetch: false` or several targets.
 * Reading happens after the commit, so a failed read never turns the run itself into a failure.
 */
export function settleResult<P>(run: { status: string }, done: Promise<void>, spec: ResultSpec): Promise<P[]> {
  return done.then(async () => {
    if (!spec.options.fetch || spec.targets.length !== 1 || run.status !== 'succeeded') return [];
    const [model] = spec.targets;
    try {
      return (await readSlice(model, spec.lens, spec.outputs)) as P[];
    } catch (error) {
      throw new ProjectionReadError(model.name, spec.lens.display, model.readName, error);
    }
  });
}

/** How a background run's rejection is logged: a failed refresh, or (after its commit) a failed read of its rows. */
export function logBackgroundRun(
  logger: Pick<Logger, 'warn' | 'error'>,
  run: { id: string; projection: string },
  what: string,
  error: Error,
): void {
  if (error instanceof ProjectionReadError)
    logger.warn(`${what} ${run.id} of ${run.projection} succeeded, but its rows could not be read: ${error.message}`);
  else logger.error(`${what} ${run.id} of ${run.projection} failed: ${error.message}`);
}
