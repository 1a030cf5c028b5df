import { Inject, Injectable } from '@nestjs/common';
import { CINEMA_MODULE_OPTIONS } from '../cinema.constants.js';
import type { ResolvedCinemaOptions } from '../interfaces/cinema-options.interface.js';
import type { CinemaHealthResult, ProjectionHealth } from '../interfaces/capture.interface.js';
import { FreshnessReader } from './freshness.reader.js';
import { SlotReader } from './logical/slot.reader.js';

/**
 * A `@nestjs/terminus` health indicator: down when a projection's oldest pending change is older
 * than its `@Projection({ freshness: { errorAfter } })`, and in logical mode when the replication
 * slot is lost or retains more WAL than `capture.maxRetainedWal`. It returns terminus's result shape
 * (`{ [key]: { status: 'up' | 'down', ... } }`) without importing terminus, so the package loads
 * without that optional peer dependency; terminus reports a `'down'` entry as an error (503).
 *
 * @example
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.cinema.isHealthy()]); }
 */
@Injectable()
export class CinemaHealthIndicator {
  constructor(
    private readonly reader: FreshnessReader,
    private readonly slotReader: SlotReader,
    @Inject(CINEMA_MODULE_OPTIONS) private readonly options: ResolvedCinemaOptions,
  ) {}

  /** Checks every projection that has an `errorAfter` threshold (needs `CinemaCaptureMigration1764400000000`). */
  async isHealthy<K extends string = 'cinema'>(key: K = 'cinema' as K): Promise<CinemaHealthResult<K>> {
    const [checked, slot] = await Promise.all([this.reader.withErrorThresholds(), this.slotReader.health()]);
    const stale: ProjectionHealth[] = checked
      .filter((freshness) => freshness.status === 'error')
      .map(({ projection, pendingChanges, lagMs, oldestPendingChange }) => ({ projection, pendingChanges, lagMs, oldestPendingChange }));
    const problems: string[] = [];
    if (stale.length > 0) {
      const names = stale.map((entry) => entry.projection).join(', ');
      problems.push(
        `past freshness.errorAfter: ${names}. Is a process with CinemaModule's capture option running, and are its refreshes failing?`,
      );
    }
    if (slot?.lost)
      problems.push(
        `replication slot "${slot.name}" is missing or lost; the watcher makes it again and rebuilds every captured projection.`,
      );
    const limit = this.options.capture?.maxRetainedWal ?? Infinity;
    if (slot && !slot.lost && slot.retainedWal > limit) {
      problems.push(
        `replication slot "${slot.name}" retains ${slot.retainedWal} bytes of WAL, more than capture.maxRetainedWal (${limit}). Is the watcher reading it?`,
      );
    }
    const entry = {
      status: problems.length === 0 ? 'up' : 'down',
      projections: checked.length,
      ...(stale.length > 0 ? { stale } : {}),
      ...(slot ? { slot } : {}),
      ...(problems.length > 0 ? { message: problems.join(' ') } : {}),
    };
    return { [key]: entry } as CinemaHealthResult<K>;
  }
}
