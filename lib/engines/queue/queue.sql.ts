import type pg from 'pg';
import { quoteIdent } from '../../dialect/postgres/sql.js';
import { RUN_CHANNEL } from './queue.constants.js';
import type { Queryable } from './queue.types.js';

/**
 * What the queue's stores share: the pool, the job schema and the statements that move a run
 * along (queue its nodes' jobs, give parked nodes a job again, settle the run). State changes of
 * one run take the run's row lock first, so that concurrent nodes of the run settle it exactly once.
 */
export abstract class QueueSql {
  protected readonly jobs: string;

  constructor(
    protected readonly pool: pg.Pool,
    jobSchema: string,
  ) {
    this.jobs = quoteIdent(jobSchema);
  }

  /** Queues a graphile-worker job for each node of the run matching `where` (over alias `n`). */
  protected async addJobs(client: Queryable, runId: string, where: string): Promise<void> {
    await client.query({
      text: `WITH n AS (SELECT * FROM "cinema"."run_nodes" n WHERE n."run_id" = $1 AND ${where}) ${this.addJobSelect('n', 'TRUE')}`,
      values: [runId],
    });
  }

  /**
   * Parked nodes of the run get a job again (a node of the run left `running`); each checks for
   * a free slot when it starts. Without a job key: the job that parked the node may not be
   * deleted yet, and a key would dedupe the new job against it.
   */
  protected async unpark(client: Queryable, runId: string): Promise<void> {
    await client.query({
      text: `WITH p AS (
               UPDATE "cinema"."run_nodes" SET "parked" = false WHERE "run_id" = $1 AND "parked" AND "status" = 'queued' RETURNING "projection"
             ) ${this.addJobSelect('p', 'TRUE', false)}`,
      values: [runId],
    });
  }

  /** `SELECT add_job(...)` for the rows of `source` (with `projection`; the run is `$1`). */
  protected addJobSelect(source: string, where: string, keyed = true): string {
    return `SELECT ${this.jobs}.add_job(
              identifier => 'cinema:' || r."queue",
              payload => json_build_object('runId', r."id", 'projection', ${source}."projection", 'generation', r."generation", 'trace', r."trace"),
              run_at => r."run_at",
              max_attempts => r."attempts",
              priority => r."priority",
              job_key => ${keyed ? `'cinema:' || r."id" || ':' || ${source}."projection" || ':' || r."generation"` : 'NULL'},
              job_key_mode => 'unsafe_dedupe')
            FROM ${source} JOIN "cinema"."runs" r ON r."id" = $1 WHERE ${where}`;
  }

  /** Ends the run once none of its nodes waits, is queued or runs; announces it at commit. */
  protected async settle(client: Queryable, runId: string): Promise<void> {
    await client.query({
      text: `WITH done AS (
               UPDATE "cinema"."runs" r SET "status" = CASE WHEN r."error" IS NULL THEN 'succeeded' ELSE 'failed' END, "finished_at" = clock_timestamp()
               WHERE r."id" = $1 AND r."status" IN ('pending', 'running')
                 AND NOT EXISTS (SELECT 1 FROM "cinema"."run_nodes" n WHERE n."run_id" = r."id" AND n."status" IN ('waiting', 'queued', 'running'))
               RETURNING r."id"
             )
             SELECT pg_notify('${RUN_CHANNEL}', "id"::text) FROM done`,
      values: [runId],
    });
  }

  protected async transaction<T>(work: (client: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}
