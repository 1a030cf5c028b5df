import { Injectable, Logger } from '@nestjs/common';
import { Cron } from '@nestjs/schedule';
import { CinemaService } from '../../../lib/index.js';
import { summarizeRun, type RunSummary } from '../projections/run-summary.js';
import { OrgReceivables } from './org-receivables.projection.js';

export const NIGHTLY_REBUILD_JOB = 'cinema-nightly-rebuild';

@Injectable()
export class ReceivablesScheduler {
  private readonly logger = new Logger(ReceivablesScheduler.name);

  constructor(private readonly cinema: CinemaService) {}

  /**
   * Rebuilds every org from the billing tables: repairs whatever a missed refresh left stale.
   * waitForCompletion: a slow night never overlaps the next one.
   */
  @Cron('0 3 * * *', { name: NIGHTLY_REBUILD_JOB, waitForCompletion: true })
  async rebuildAll(): Promise<RunSummary> {
    const started = performance.now();
    try {
      const run = await this.cinema.project(OrgReceivables, {}, { async: true, allowEmptyLens: true, fetch: false });
      await run.result;
      const summary = summarizeRun(run);
      const written = summary.nodes.filter((node) => !node.virtual).map((node) => `${node.projection} ${node.written} rows`);
      this.logger.log(`Rebuilt all orgs in ${summary.durationMs} ms (${written.join(', ')})`);
      return summary;
    } catch (error) {
      const elapsed = Math.round(performance.now() - started);
      this.logger.error(`Rebuilding all orgs failed after ${elapsed} ms: ${(error as Error).message}`, (error as Error).stack);
      // The cron runner logs it again; callers (main.ts, demo.ts, tests) must see it.
      throw error;
    }
  }
}
