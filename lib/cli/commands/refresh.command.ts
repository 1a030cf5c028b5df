import { Command, Option } from 'nest-commander';
import { CinemaService, InvalidCinemaOptionsError, type CinemaRun } from '../../index.js';
import { failed } from '../cli-failure.js';
import { lensFromArguments } from '../lens-arguments.js';
import { SelectionCommand } from './selection.command.js';
import { followRun, runSummary } from '../run-progress.js';

/**
 * `cinema refresh <selector...> [--lens k=v] [--exclude SEL] [--engine queue]`: one run of the
 * selected projections, with live progress, then the plan's timings. Exits 1 when the run fails.
 */
@Command({ name: 'refresh', arguments: '<selector...>', description: 'Rebuild the selected projections (dbt selectors) under a lens' })
export class RefreshCommand extends SelectionCommand {
  constructor(private readonly cinema: CinemaService) {
    super();
  }

  async run(selector: string[], options: { lens?: string[]; exclude?: string[]; engine?: string }): Promise<void> {
    try {
      const engine = options.engine ?? 'inline';
      if (engine !== 'inline' && engine !== 'queue') {
        throw new InvalidCinemaOptionsError('--engine', `must be inline or queue, got "${engine}"`);
      }
      const targets = this.cinema.select(selector, { exclude: options.exclude });
      const started = await this.cinema.refresh(targets, lensFromArguments(options.lens), { async: true, engine, allowEmptyLens: true });
      process.stdout.write(`Run ${started.id} (${engine}): ${targets.map((target) => target.name).join(', ')}\n`);
      const poll = async (run: CinemaRun) => (engine === 'queue' ? ((await this.cinema.findRun(run.id)) ?? run) : run);
      const run = await followRun(started, process.stdout, poll, engine === 'queue' ? 250 : 100);
      process.stdout.write(`${runSummary(run)}\n`);
      if (run.status !== 'succeeded') process.exitCode = 1;
    } catch (error) {
      failed(error);
    }
  }

  @Option({ flags: '-e, --engine <engine>', description: 'inline (default: in this process) or queue (worker processes)' })
  parseEngine(value: string): string {
    return value;
  }
}
