import { CommandRunner, Option } from 'nest-commander';
import { collect } from '../lens-arguments.js';

/** The options of the commands that take a selector and a lens: `--lens k=v` and `--exclude SEL` (both repeatable). */
export abstract class SelectionCommand extends CommandRunner {
  @Option({ flags: '-l, --lens <key=value>', description: 'a lens key and its value(s): orgId=42 or orgId=3,4 (repeatable)' })
  parseLens(value: string, previous?: string[]): string[] {
    return collect(value, previous);
  }

  @Option({ flags: '-x, --exclude <selector>', description: 'leave out what this selector picks (repeatable)' })
  parseExclude(value: string, previous?: string[]): string[] {
    return collect(value, previous);
  }
}
