/**
 * Writes to the standard output and resolves once the text is handed to the system: the command
 * line exits right after a command, which would cut a long write to a pipe short.
 */
export function writeOut(text: string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(text, (error) => (error ? reject(error) : resolve())));
}
