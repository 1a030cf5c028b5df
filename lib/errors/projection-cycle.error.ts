import { CinemaError } from './cinema.error.js';

/** The projections' inputs form a cycle, so no order can rebuild them. */
export class ProjectionCycleError extends CinemaError {
  constructor(readonly cycle: readonly string[]) {
    super(
      `Projection graph has a cycle: ${cycle.join(' -> ')}. ` +
        `A projection cannot (indirectly) read itself: remove one of these @Input declarations.`,
    );
  }
}
