import type { ProjectionFailedError } from '../errors/projection-failed.error.js';

/**
 * The error a failed run rejects with, for both engines: its first failure, told with the
 * projections it kept from running and the others that failed too.
 */
export function runFailure(failures: readonly ProjectionFailedError[], skipped: readonly string[]): ProjectionFailedError {
  const [first, ...others] = failures;
  if (skipped.length === 0 && others.length === 0) return first;
  return first.inRun({ skipped, others });
}
