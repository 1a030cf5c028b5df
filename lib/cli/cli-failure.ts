import { CinemaError } from '../index.js';

/**
 * Reports a command's failure on the standard error and sets the exit code: 2 for what the
 * caller got wrong or Cinema refused (a selector, a lens, an option), 1 for anything else.
 */
export function failed(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`cinema: ${message}\n`);
  process.exitCode = error instanceof CinemaError ? 2 : 1;
}
