/**
 * Resolves once everything written to the standard output so far is handed to the system:
 * applications often call `process.exit()` right after a command, which would cut a long write
 * to a pipe short (a `graph --format html` page is megabytes).
 */
export function flushStdout(): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write('', (error) => (error ? reject(error) : resolve())));
}
