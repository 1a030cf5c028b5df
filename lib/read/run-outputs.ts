import type { NormalizedLens } from '../lens/lens.js';
import type { ProjectionModel } from '../model/projection.model.js';
import { outputContext, outputOf, type OutputSource } from './slice.queries.js';

/**
 * What each projection outputs under one run's lens, built once per run: a virtual projection's
 * `output()` is called once, whether the lens checks, the projections reading it or the final
 * read ask for it.
 */
export class RunOutputs {
  private readonly built = new Map<ProjectionModel, Promise<OutputSource>>();

  constructor(
    readonly lens: NormalizedLens,
    private readonly signal?: AbortSignal,
  ) {}

  of(model: ProjectionModel): Promise<OutputSource> {
    let output = this.built.get(model);
    if (!output) {
      output = outputOf(model, outputContext(model, this.lens, this.signal));
      this.built.set(model, output);
      // A failure is reported to whoever asks; a later ask builds again.
      output.catch(() => this.built.delete(model));
    }
    return output;
  }
}
