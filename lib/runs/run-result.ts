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
    return (await readSlice(spec.targets[0], spec.lens, spec.outputs)) as P[];
  });
}
