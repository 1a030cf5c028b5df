import { Command, CommandRunner, Option } from 'nest-commander';
import { CinemaService } from '../../index.js';
import { failed } from '../cli-failure.js';
import { collect, lensFromArguments } from '../lens-arguments.js';

/** `cinema plan <selector...> [--lens k=v] [--exclude SEL]`: what a refresh would run, without running it. */
@Command({
  name: 'plan',
  arguments: '<selector...>',
  description: 'Show what a refresh of the selected projections would run, in order, without running it',
})
export class PlanCommand extends CommandRunner {
  constructor(private readonly cinema: CinemaService) {
    super();
  }

  async run(selector: string[], options: { lens?: string[]; exclude?: string[] }): Promise<void> {
    try {
      const targets = this.cinema.select(selector, { exclude: options.exclude });
      const plan = await this.cinema.plan(targets, lensFromArguments(options.lens));
      process.stdout.write(`${plan.toString()}\n`);
    } catch (error) {
      failed(error);
    }
  }

  @Option({ flags: '-l, --lens <key=value>', description: 'a lens key and its value(s): orgId=42 or orgId=3,4 (repeatable)' })
  parseLens(value: string, previous?: string[]): string[] {
    return collect(value, previous);
  }

  @Option({ flags: '-x, --exclude <selector>', description: 'leave out what this selector picks (repeatable)' })
  parseExclude(value: string, previous?: string[]): string[] {
    return collect(value, previous);
  }
}
