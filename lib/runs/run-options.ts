import { integer, queueName } from '../cinema-options.js';
import { InvalidCinemaOptionsError } from '../errors/invalid-options.error.js';
import type { ResolvedCinemaOptions } from '../interfaces/cinema-options.interface.js';
import type { ProjectOptions } from '../interfaces/run.interface.js';

/** A call's options with the module's defaults filled in, checked once before anything runs. */
export interface RunOptions {
  engine: 'inline' | 'queue';
  concurrency: number;
  /** Milliseconds the whole run may take; 0 for no limit of its own. */
  timeout: number;
  allowEmptyLens: boolean;
  skipDependencies: boolean;
  fetch: boolean;
  async: boolean;
  /** Milliseconds a stored slice may be old to be served without a rebuild; `undefined`: always rebuild. */
  maxStaleness?: number;
  /** When the call was made (`Date.now()`): a queued run's timeout counts from it. */
  requestedAt: number;
  /** Given explicitly: the queue engine applies only what the caller set. */
  given: ProjectOptions;
}

/** Fills in and validates one call's options; throws `InvalidCinemaOptionsError` naming the option. */
export function resolveRunOptions(options: ProjectOptions, module: ResolvedCinemaOptions): RunOptions {
  const requestedAt = Date.now();
  if (options === null || typeof options !== 'object') throw new InvalidCinemaOptionsError('options', 'must be an object');
  const concurrency = options.concurrency ?? module.concurrency;
  integer(concurrency, 'concurrency', 1);
  integer(options.timeout ?? 0, 'timeout', 0);
  if (options.maxStaleness !== undefined) {
    integer(options.maxStaleness, 'maxStaleness', 0);
    if (!module.capture) {
      throw new InvalidCinemaOptionsError(
        'maxStaleness',
        'needs change capture, whose freshness ledger tells how old a slice is: set CinemaModule.forRoot({ capture: {} }) and add CINEMA_CAPTURE_MIGRATIONS, or leave maxStaleness out',
      );
    }
  }
  const engine = options.engine ?? module.engine;
  if (engine !== 'inline' && engine !== 'queue')
    throw new InvalidCinemaOptionsError('engine', `must be 'inline' or 'queue', got ${String(engine)}`);
  if (engine === 'queue') {
    if (!module.queue) {
      throw new InvalidCinemaOptionsError('engine', "'queue' needs the queue engine: set CinemaModule.forRoot({ queue: { ... } })");
    }
    if (options.queue !== undefined) queueName(options.queue, 'queue');
    if (options.priority !== undefined) integer(options.priority, 'priority', -32_768, 32_767);
    if (options.attempts !== undefined) integer(options.attempts, 'attempts', 1, 100);
    if (options.runAt !== undefined && !(options.runAt instanceof Date && !Number.isNaN(options.runAt.getTime()))) {
      throw new InvalidCinemaOptionsError('runAt', 'must be a valid Date');
    }
  }
  return {
    engine,
    concurrency,
    timeout: options.timeout ?? 0,
    allowEmptyLens: options.allowEmptyLens ?? module.allowEmptyLens,
    skipDependencies: options.skipDependencies ?? false,
    fetch: options.fetch ?? true,
    async: options.async ?? false,
    maxStaleness: options.maxStaleness,
    requestedAt,
    given: options,
  };
}
