import { CinemaError } from './cinema.error.js';

/**
 * Logical change capture cannot start: the server's `wal_level`, the publication, or a captured
 * table's replica identity does not let it see every change. The message names the fix.
 */
export class LogicalCaptureError extends CinemaError {
  constructor(
    reason: string,
    fix: string,
    /** The projection concerned, when one is. */
    readonly projection?: string,
    /** The captured table concerned, when one is. */
    readonly table?: string,
  ) {
    super(`Logical change capture cannot start: ${reason}. ${fix}`);
  }
}
