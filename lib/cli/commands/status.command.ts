import { Command, CommandRunner, Option } from 'nest-commander';
import { CinemaService, type ProjectionFreshness } from '../../index.js';
import { failed } from '../cli-failure.js';
import { collect } from '../lens-arguments.js';
import { duration, textTable } from '../text-table.js';

/**
 * `cinema status [selector...]`: the freshness table under change capture, with each
 * projection's version and the slices another version built (`cinema status state:modified`: only
 * the projections whose version changed). Exits 1 when a projection is past its
 * `freshness.errorAfter`, as `dbt source freshness` does.
 */
@Command({
  name: 'status',
  arguments: '[selector...]',
  description: 'Show how fresh each projection is and its version (change capture); state:modified selects the changed ones',
})
export class StatusCommand extends CommandRunner {
  constructor(private readonly cinema: CinemaService) {
    super();
  }

  async run(selector: string[], options: { exclude?: string[] }): Promise<void> {
    try {
      const targets = this.cinema.select(selector.length > 0 ? selector : '*', { exclude: options.exclude });
      const rows: ProjectionFreshness[] = [];
      for (const target of targets) rows.push(await this.cinema.freshness(target));
      const table = textTable(
        ['projection', 'status', 'refreshed at', 'pending', 'oldest pending', 'lag', 'version'],
        rows.map((row) => [
          row.projection,
          row.status,
          row.refreshedAt?.toISOString() ?? 'never',
          String(row.pendingChanges),
          row.oldestPendingChange?.toISOString() ?? '',
          row.pendingChanges > 0 ? duration(row.lagMs) : '',
          row.version === undefined
            ? ''
            : row.definitionChanged
              ? `${row.version} (changed: ${row.outdatedSlices} slice(s) outdated)`
              : row.version,
        ]),
      );
      const errors = rows.filter((row) => row.status === 'error').length;
      const warnings = rows.filter((row) => row.status === 'warn').length;
      const changed = rows.filter((row) => row.definitionChanged).length;
      const versions = changed > 0 ? ` ${changed} with slices built by another version.` : '';
      process.stdout.write(`${table}\n${rows.length} projection(s): ${errors} past errorAfter, ${warnings} past warnAfter.${versions}\n`);
      if (errors > 0) process.exitCode = 1;
    } catch (error) {
      failed(error);
    }
  }

  @Option({ flags: '-x, --exclude <selector>', description: 'leave out what this selector picks (repeatable)' })
  parseExclude(value: string, previous?: string[]): string[] {
    return collect(value, previous);
  }
}
