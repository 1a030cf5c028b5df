import type { BenchContext } from './bench-context.js';
import type { ScenarioResult } from './results.interface.js';

/** One scenario of the issue: sets up what it needs, measures its contenders, checks its targets. */
export interface Scenario {
  /** What `--only` names. */
  id: string;
  title: string;
  /** Uses the seeded sample app (`ctx.billing()`): it is closed after the last scenario that does. */
  usesBillingApp?: boolean;
  run(ctx: BenchContext): Promise<ScenarioResult>;
}
