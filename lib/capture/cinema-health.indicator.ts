import { Injectable } from '@nestjs/common';
import type { CinemaHealthResult, ProjectionHealth } from '../interfaces/capture.interface.js';
import { FreshnessReader } from './freshness.reader.js';

/**
 * A `@nestjs/terminus` health indicator: down when a projection's oldest pending change is older
 * than its `@Projection({ freshness: { errorAfter } })`. It returns terminus's result shape
 * (`{ [key]: { status: 'up' | 'down', ... } }`) without importing terminus, so the package loads
 * without that optional peer dependency; terminus reports a `'down'` entry as an error (503).
 *
 * @example
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.cinema.isHealthy()]); }
 */
@Injectable()
export class CinemaHealthIndicator {
  constructor(private readonly reader: FreshnessReader) {}

  /** Checks every projection that has an `errorAfter` threshold (needs `CinemaCaptureMigration1764400000000`). */
  async isHealthy<K extends string = 'cinema'>(key: K = 'cinema' as K): Promise<CinemaHealthResult<K>> {
    const checked = await this.reader.withErrorThresholds();
    const stale: ProjectionHealth[] = checked
      .filter((freshness) => freshness.status === 'error')
      .map(({ projection, pendingChanges, lagMs, oldestPendingChange }) => ({ projection, pendingChanges, lagMs, oldestPendingChange }));
    if (stale.length === 0) return { [key]: { status: 'up', projections: checked.length } } as CinemaHealthResult<K>;
    const names = stale.map((entry) => entry.projection).join(', ');
    return {
      [key]: {
        status: 'down',
        projections: checked.length,
        stale,
        message: `past freshness.errorAfter: ${names}. Is a process with CinemaModule's capture option running, and are its refreshes failing?`,
      },
    } as CinemaHealthResult<K>;
  }
}
