import { Command } from 'nest-commander';
import { CinemaService } from '../../index.js';
import { failed } from '../cli-failure.js';
import { lensFromArguments } from '../lens-arguments.js';
import { SelectionCommand } from './selection.command.js';

/** `cinema plan <selector...> [--lens k=v] [--exclude SEL]`: what a refresh would run, without running it. */
@Command({
  name: 'plan',
  arguments: '<selector...>',
  description: 'Show what a refresh of the selected projections would run, in order, without running it',
})
export class PlanCommand extends SelectionCommand {
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
}
