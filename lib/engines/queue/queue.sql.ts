import type pg from 'pg';
import { quoteIdent } from '../../dialect/postgres/sql.js';
import type { Queryable } from './queue.types.js';

/**
 * What the queue's stores share: the pool, graphile-worker's schema, and the calls that move a
 * run along (queue its nodes' jobs, give parked nodes a job again, settle the run). Those are
 * functions in the `cinema` schema (`queue.schema.v4.ts`), so that the hot path of a node is two
 * round trips. State changes of one run take the run's row lock first, so that concurrent nodes of
 * the run settle it exactly once.
 */
export abstract class QueueSql {
  /** graphile-worker's schema, quoted, for statements on its tables. */
  protected readonly jobs: string;

  constructor(
    protected readonly pool: pg.Pool,
    /** graphile-worker's schema, as the functions take it (they quote it themselves). */
    protected readonly jobSchema: string,
  ) {
    this.jobs = quoteIdent(jobSchema);
  }

  /** Queues a graphile-worker job for each node of the run in `status`. */
  protected async addJobs(client: Queryable, runId: string, status: 'queued'): Promise<void> {
    await client.query({
      text: `SELECT "cinema"."add_node_jobs"($1, ARRAY(SELECT "projection" FROM "cinema"."run_nodes" WHERE "run_id" = $1 AND "status" = $2 ORDER BY "position"), $3, true)`,
      values: [runId, status, this.jobSchema],
    });
  }

  /**
   * Parked nodes of the run get a job again (a node of the run left `running`); each checks for
   * a free slot when it starts. Without a job key: the job that parked the node may not be
   * deleted yet, and a key would dedupe the new job against it.
   */
  protected async unpark(client: Queryable, runId: string): Promise<void> {
    await client.query({ text: `SELECT "cinema"."unpark_nodes"($1, $2)`, values: [runId, this.jobSchema] });
  }

  /** Ends the run once none of its nodes waits, is queued or runs; announces it at commit. */
  protected async settle(client: Queryable, runId: string): Promise<void> {
    await client.query({ text: `SELECT "cinema"."settle_run"($1)`, values: [runId] });
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
