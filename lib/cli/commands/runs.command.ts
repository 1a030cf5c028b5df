import { Command, CommandRunner, Option, SubCommand } from 'nest-commander';
import { CinemaService, InvalidCinemaOptionsError, UnknownRunError, type CinemaRun } from '../../index.js';
import { failed } from '../cli-failure.js';
import { followRun, runSummary } from '../run-progress.js';
import { duration, textTable } from '../text-table.js';

/** `cinema runs list [--limit N]`: the latest runs, queued ones included. */
@SubCommand({ name: 'list', description: 'List the latest runs' })
export class RunsListCommand extends CommandRunner {
  constructor(private readonly cinema: CinemaService) {
    super();
  }

  async run(_params: string[], options: { limit?: number }): Promise<void> {
    try {
      const runs = await this.cinema.recentRuns(options.limit ?? 20);
      const rows = runs.map((run) => [
        run.id,
        run.engine,
        run.status,
        run.projection,
        JSON.stringify(run.lens),
        run.createdAt.toISOString(),
        duration(run.durationMs),
      ]);
      process.stdout.write(`${textTable(['id', 'engine', 'status', 'projection', 'lens', 'created at', 'took'], rows)}\n`);
    } catch (error) {
      failed(error);
    }
  }

  @Option({ flags: '-n, --limit <count>', description: 'how many runs (default 20)' })
  parseLimit(value: string): number {
    const limit = Number(value);
    if (!Number.isInteger(limit) || limit < 1)
      throw new InvalidCinemaOptionsError('--limit', `must be a positive whole number, got "${value}"`);
    return limit;
  }
}

/** `cinema runs show <id>`: one run's projections, rows and timings. */
@SubCommand({ name: 'show', arguments: '<id>', description: "Show one run's projections and timings" })
export class RunsShowCommand extends CommandRunner {
  constructor(private readonly cinema: CinemaService) {
    super();
  }

  async run([id]: string[]): Promise<void> {
    try {
      const run = await this.cinema.findRun(id);
      if (!run) throw new UnknownRunError(id);
      process.stdout.write(`${runSummary(run)}\n`);
    } catch (error) {
      failed(error);
    }
  }
}

/** `cinema runs retry <id>`: a failed queued run again, from what failed, followed to its end. */
@SubCommand({ name: 'retry', arguments: '<id>', description: 'Retry a failed queued run from its failed projections' })
export class RunsRetryCommand extends CommandRunner {
  constructor(private readonly cinema: CinemaService) {
    super();
  }

  async run([id]: string[]): Promise<void> {
    try {
      const started = await this.cinema.retryRun(id);
      const poll = async (run: CinemaRun) => (await this.cinema.findRun(run.id)) ?? run;
      const run = await followRun(started, process.stdout, poll, 250);
      process.stdout.write(`${runSummary(run)}\n`);
      if (run.status !== 'succeeded') process.exitCode = 1;
    } catch (error) {
      failed(error);
    }
  }
}

/** `cinema runs <list|show|retry>`. */
@Command({ name: 'runs', description: 'List, show and retry runs', subCommands: [RunsListCommand, RunsShowCommand, RunsRetryCommand] })
export class RunsCommand extends CommandRunner {
  async run(): Promise<void> {
    await Promise.resolve();
    this.command.help();
  }
}
