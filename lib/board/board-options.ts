import { InvalidCinemaOptionsError } from '../index.js';
import type { CinemaBoardOptions, ResolvedBoardOptions } from './board-options.interface.js';

/** Merges the defaults into `CinemaBoardModule.forRoot()`'s options and validates them. */
export function resolveBoardOptions(options: CinemaBoardOptions): ResolvedBoardOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidCinemaOptionsError('CinemaBoardModule.forRoot', 'takes an options object with at least a guard');
  }
  const { guard, canAct = false, runs = 25 } = options;
  const path = (options.path ?? 'cinema').replace(/^\/+|\/+$/g, '');
  if (!/^[A-Za-z0-9._~\-/]*$/.test(path) || path.includes('//')) {
    throw new InvalidCinemaOptionsError(
      'board path',
      `must be a URL path of letters, digits, '-', '_', '.', '~' and '/', got "${options.path}"`,
    );
  }
  const guardIsClass = typeof guard === 'function';
  const guardIsInstance =
    typeof guard === 'object' && guard !== null && typeof (guard as { canActivate?: unknown }).canActivate === 'function';
  if (!guardIsClass && !guardIsInstance) {
    throw new InvalidCinemaOptionsError(
      'board guard',
      'is required: give a CanActivate class or instance that admits who may see the board (one returning true makes it public)',
    );
  }
  if (typeof canAct !== 'boolean' && typeof canAct !== 'function') {
    throw new InvalidCinemaOptionsError('board canAct', 'must be a boolean or a function of the request');
  }
  if (!Number.isInteger(runs) || runs < 1 || runs > 500) {
    throw new InvalidCinemaOptionsError('board runs', `must be an integer from 1 to 500, got ${String(runs)}`);
  }
  return { path, guard, canAct: typeof canAct === 'function' ? canAct : () => canAct, runs };
}
