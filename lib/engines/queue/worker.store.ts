import { WORKER_LOCK_NAMESPACE } from './queue.constants.js';
import { QueueSql } from './queue.sql.js';

/** A worker whose id no live process registered is presumed dead once its job is this old. */
const UNREGISTERED_GRACE = '10 seconds';

/** Worker processes' liveness: which process a graphile-worker worker belongs to, and the jobs of dead ones. */
export class WorkerStore extends QueueSql {
  /** Records which process a graphile-worker worker belongs to. */
  async registerWorker(workerId: string, processKey: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO "cinema"."workers" ("worker_id", "process_key") VALUES ($1, $2) ON CONFLICT ("worker_id") DO UPDATE SET "process_key" = EXCLUDED."process_key"`,
      [workerId, processKey],
    );
  }

  /**
   * Hands the jobs of dead worker processes back to the queue. A process is alive while its
   * session advisory lock is held; a killed process's connection closes and the lock goes.
   * The attempt a dead worker took is given back: a crash is not the projection's failure.
   * Returns the graphile-worker ids of the dead workers.
   */
  async sweep(): Promise<string[]> {
    const liveLock = `EXISTS (
        SELECT 1 FROM pg_locks l
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = $1::oid AND l.objid = w."process_key"::oid)`;
    return this.transaction(async (client) => {
      const { rows } = await client.query({
        text: `WITH live AS (SELECT w."worker_id" FROM "cinema"."workers" w WHERE ${liveLock})
               SELECT coalesce(array_agg(DISTINCT j.locked_by), '{}') AS dead, coalesce(array_agg(j.id), '{}') AS jobs
               FROM ${this.jobs}."jobs" j
               WHERE j.locked_by IS NOT NULL AND j.task_identifier LIKE 'cinema:%'
                 AND j.locked_by NOT IN (SELECT "worker_id" FROM live)
                 AND (j.locked_by IN (SELECT "worker_id" FROM "cinema"."workers") OR j.locked_at < now() - interval '${UNREGISTERED_GRACE}')`,
        values: [WORKER_LOCK_NAMESPACE],
      });
      const dead = rows[0].dead as string[];
      if (dead.length > 0) {
        await client.query({ text: `SELECT ${this.jobs}.force_unlock_workers($1::text[])`, values: [dead] });
        await client.query({
          text: `SELECT ${this.jobs}.reschedule_jobs(ARRAY[j.id], run_at => now(), attempts => GREATEST(j.attempts - 1, 0))
                 FROM ${this.jobs}."jobs" j WHERE j.id = ANY($1::bigint[])`,
          values: [rows[0].jobs],
        });
      }
      await client.query({
        text: `DELETE FROM "cinema"."workers" w WHERE NOT ${liveLock}`,
        values: [WORKER_LOCK_NAMESPACE],
      });
      return dead;
    });
  }
}
