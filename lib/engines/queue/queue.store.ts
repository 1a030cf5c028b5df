import type pg from 'pg';
import type { NodeReport } from '../../interfaces/run.interface.js';
import type { PgClient } from '../projection.writer.js';
import { quoteIdent } from '../sql.js';

/** The channel a run's completion is announced on; the payload is the run id. */
export const RUN_CHANNEL = 'cinema_runs';

/** Advisory lock namespace (first key) of worker processes' liveness locks. */
export const WORKER_LOCK_NAMESPACE = 0x43494e45; // "CINE"

/** A worker whose id no live process registered is presumed dead once its job is this old. */
const UNREGISTERED_GRACE = '10 seconds';

export interface NodeSpec {
  projection: string;
  position: number;
  virtual: boolean;
  /** Materialized projections of the same run this one waits for. */
  after: string[];
}

export interface RunSpec {
  id: string;
  projection: string;
  lens: Record<string, unknown>;
  skipDependencies: boolean;
  queue: string;
  priority: number;
  attempts: number;
  runAt?: Date;
  /** Runs with the same key that have not started are one run. */
  coalesceKey?: string;
  nodes: NodeSpec[];
}

export interface StoredError {
  name: string;
  message: string;
  projection?: string;
}

export interface StoredNode {
  projection: string;
  virtual: boolean;
  after: string[];
  status: 'waiting' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  attempts: number;
  deleted: number;
  written: number;
  paths: ('insert-select' | 'stream')[];
  error: StoredError | null;
  worker: string | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  durationMs: number | null;
}

export interface StoredRun {
  id: string;
  projection: string;
  lens: Record<string, unknown>;
  skipDependencies: boolean;
  status: 'pending' | 'running' | 'succeeded' | 'failed';
  queue: string;
  generation: number;
  error: StoredError | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  nodes: StoredNode[];
}

/** What a worker needs to run a node it was handed. */
export interface StartedNode {
  lens: Record<string, unknown>;
  attempt: number;
}

export type Queryable = Pick<PgClient, 'query'>;

/** The job payload of one node. */
export interface NodeJob {
  runId: string;
  projection: string;
  generation: number;
}

/** The graphile-worker task a queue's jobs are filed under. */
export function taskIdentifier(queue: string): string {
  return `cinema:${queue}`;
}

/**
 * Every statement of the queue engine on its tables. State changes of one run take the run's row
 * lock first, so that concurrent nodes of the run settle it exactly once.
 */
export class QueueStore {
  private readonly jobs: string;

  constructor(
    private readonly pool: pg.Pool,
    jobSchema: string,
  ) {
    this.jobs = quoteIdent(jobSchema);
  }

  /** Fails with a clear message when the migration was not run. */
  async assertInstalled(): Promise<boolean> {
    const { rows } = await this.pool.query(`SELECT to_regclass('"cinema"."run_nodes"') IS NOT NULL AS installed`);
    return rows[0].installed;
  }

  /** Records a run and queues its first nodes, in one transaction; joins a pending twin instead. */
  async enqueue(spec: RunSpec): Promise<{ id: string; coalesced: boolean }> {
    return this.transaction(async (client) => {
      for (;;) {
        const inserted = await client.query({
          text: `INSERT INTO "cinema"."runs" ("id", "projection", "lens", "skip_dependencies", "queue", "priority", "attempts", "run_at", "coalesce_key")
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT ("coalesce_key") WHERE "status" = 'pending' DO NOTHING RETURNING "id"`,
          values: [spec.id, spec.projection, JSON.stringify(spec.lens), spec.skipDependencies, spec.queue, spec.priority, spec.attempts, spec.runAt ?? null, spec.coalesceKey ?? null],
        });
        if (inserted.rowCount === 1) break;
        const twin = await client.query({
          text: `SELECT "id" FROM "cinema"."runs" WHERE "coalesce_key" = $1 AND "status" = 'pending'`,
          values: [spec.coalesceKey],
        });
        // The twin started in between: try again to record this one.
        if (twin.rows.length === 1) return { id: twin.rows[0].id as string, coalesced: true };
      }
      await client.query({
        text: `INSERT INTO "cinema"."run_nodes" ("run_id", "projection", "position", "virtual", "after", "waiting_on", "status")
               SELECT $1, n.projection, n.position, n.virtual, n.after, cardinality(n.after),
                 CASE WHEN n.virtual THEN 'succeeded' WHEN cardinality(n.after) = 0 THEN 'queued' ELSE 'waiting' END
               FROM jsonb_to_recordset($2::jsonb) AS n(projection text, position integer, virtual boolean, after text[])`,
        values: [spec.id, JSON.stringify(spec.nodes)],
      });
      await this.addJobs(client, spec.id, `n."status" = 'queued'`);
      // A graph of virtual projections only has nothing to run.
      await this.settle(client, spec.id);
      return { id: spec.id, coalesced: false };
    });
  }

  /**
   * Marks a node running for the worker that took its job. `undefined` when there is nothing to
   * do: the node already succeeded (a job replayed after a crash), was cancelled, or the job
   * belongs to an earlier attempt of a retried run.
   */
  async startNode(job: NodeJob, worker: string): Promise<StartedNode | undefined> {
    const { rows } = await this.pool.query(
      `WITH node AS (
         UPDATE "cinema"."run_nodes" n SET "status" = 'running', "attempts" = n."attempts" + 1, "started_at" = now(), "worker" = $4
         FROM "cinema"."runs" r
         WHERE n."run_id" = $1 AND n."projection" = $2 AND n."status" IN ('queued', 'running')
           AND r."id" = n."run_id" AND r."generation" = $3 AND r."status" IN ('pending', 'running')
         RETURNING r."lens", n."attempts"
       ), run AS (
         UPDATE "cinema"."runs" SET "status" = 'running', "started_at" = COALESCE("started_at", now())
         WHERE "id" = $1 AND "status" = 'pending' AND EXISTS (SELECT 1 FROM node)
       )
       SELECT "lens", "attempts" FROM node`,
      [job.runId, job.projection, job.generation, worker],
    );
    return rows[0] ? { lens: rows[0].lens, attempt: rows[0].attempts } : undefined;
  }

  /**
   * Inside the node's own write transaction, just before it commits: the node succeeded, and the
   * dependents whose inputs are now all done are queued. Either all of it commits with the slice
   * or none of it does. Throws if the node is no longer this worker's to finish.
   */
  async succeedNode(client: Queryable, job: NodeJob, worker: string, report: NodeReport): Promise<void> {
    await client.query({ text: `SELECT 1 FROM "cinema"."runs" WHERE "id" = $1 FOR UPDATE`, values: [job.runId] });
    const mine = await client.query({
      text: `UPDATE "cinema"."run_nodes" SET "status" = 'succeeded', "deleted" = $4, "written" = $5, "paths" = $6,
               "finished_at" = now(), "duration_ms" = EXTRACT(EPOCH FROM now() - "started_at") * 1000, "error" = NULL
             WHERE "run_id" = $1 AND "projection" = $2 AND "status" = 'running' AND "worker" = $3`,
      values: [job.runId, job.projection, worker, report.deleted, report.written, report.paths],
    });
    if (mine.rowCount !== 1) {
      throw new Error(`the queue handed ${job.projection} of run ${job.runId} to another worker meanwhile; this attempt is rolled back`);
    }
    await client.query({
      text: `WITH ready AS (
               UPDATE "cinema"."run_nodes" SET "waiting_on" = "waiting_on" - 1,
                 "status" = CASE WHEN "waiting_on" = 1 THEN 'queued' ELSE "status" END
               WHERE "run_id" = $1 AND "status" = 'waiting' AND $2 = ANY("after")
               RETURNING "projection", "status"
             )
             ${this.addJobSelect('ready', `ready."status" = 'queued'`)}`,
      values: [job.runId, job.projection],
    });
    await this.settle(client, job.runId);
  }

  /**
   * Records a failed attempt. When it was the last one, the node fails for good: its pending
   * dependents are cancelled and the run carries the error (and fails once nothing else runs).
   */
  async failNode(job: NodeJob, worker: string, error: StoredError, final: boolean): Promise<void> {
    await this.transaction(async (client) => {
      await client.query({ text: `SELECT 1 FROM "cinema"."runs" WHERE "id" = $1 FOR UPDATE`, values: [job.runId] });
      const updated = await client.query({
        text: `UPDATE "cinema"."run_nodes" SET "status" = $4, "error" = $5, "finished_at" = now(),
                 "duration_ms" = EXTRACT(EPOCH FROM now() - "started_at") * 1000
               WHERE "run_id" = $1 AND "projection" = $2 AND "status" = 'running' AND "worker" = $3`,
        values: [job.runId, job.projection, worker, final ? 'failed' : 'queued', JSON.stringify(error)],
      });
      if (updated.rowCount !== 1 || !final) return;
      await client.query({
        text: `WITH RECURSIVE downstream AS (
                 SELECT "projection" FROM "cinema"."run_nodes" WHERE "run_id" = $1 AND $2 = ANY("after")
                 UNION
                 SELECT n."projection" FROM "cinema"."run_nodes" n JOIN downstream d ON d."projection" = ANY(n."after") WHERE n."run_id" = $1
               )
               UPDATE "cinema"."run_nodes" SET "status" = 'cancelled'
               WHERE "run_id" = $1 AND "status" = 'waiting' AND "projection" IN (SELECT "projection" FROM downstream)`,
        values: [job.runId, job.projection],
      });
      await client.query({
        text: `UPDATE "cinema"."runs" SET "error" = COALESCE("error", $2) WHERE "id" = $1`,
        values: [job.runId, JSON.stringify(error)],
      });
      await this.settle(client, job.runId);
    });
  }

  /**
   * Runs a failed run again from its failed and cancelled nodes; nodes that succeeded are not
   * redone. Returns the run's state before: only a failed run is retried.
   */
  async retry(runId: string): Promise<StoredRun['status'] | undefined> {
    return this.transaction(async (client) => {
      const { rows } = await client.query({ text: `SELECT "status" FROM "cinema"."runs" WHERE "id" = $1 FOR UPDATE`, values: [runId] });
      if (rows.length === 0) return undefined;
      const status = rows[0].status as StoredRun['status'];
      if (status !== 'failed') return status;
      await client.query({
        text: `UPDATE "cinema"."runs" SET "status" = 'running', "error" = NULL, "finished_at" = NULL, "run_at" = NULL, "generation" = "generation" + 1 WHERE "id" = $1`,
        values: [runId],
      });
      await client.query({
        text: `UPDATE "cinema"."run_nodes" n SET "error" = NULL, "finished_at" = NULL, "duration_ms" = NULL,
                 "waiting_on" = (SELECT count(*) FROM "cinema"."run_nodes" u WHERE u."run_id" = n."run_id" AND u."projection" = ANY(n."after") AND u."status" <> 'succeeded'),
                 "status" = CASE WHEN EXISTS (SELECT 1 FROM "cinema"."run_nodes" u WHERE u."run_id" = n."run_id" AND u."projection" = ANY(n."after") AND u."status" <> 'succeeded')
                   THEN 'waiting' ELSE 'queued' END
               WHERE n."run_id" = $1 AND n."status" IN ('failed', 'cancelled')`,
        values: [runId],
      });
      await this.addJobs(client, runId, `n."status" = 'queued'`);
      return status;
    });
  }

  async load(runId: string): Promise<StoredRun | undefined> {
    const runs = await this.pool.query(`SELECT * FROM "cinema"."runs" WHERE "id" = $1`, [runId]);
    if (runs.rows.length === 0) return undefined;
    const nodes = await this.pool.query(`SELECT * FROM "cinema"."run_nodes" WHERE "run_id" = $1 ORDER BY "position"`, [runId]);
    const run = runs.rows[0];
    return {
      id: run.id,
      projection: run.projection,
      lens: run.lens,
      skipDependencies: run.skip_dependencies,
      status: run.status,
      queue: run.queue,
      generation: run.generation,
      error: run.error,
      createdAt: run.created_at,
      startedAt: run.started_at,
      finishedAt: run.finished_at,
      nodes: nodes.rows.map((node) => ({
        projection: node.projection,
        virtual: node.virtual,
        after: node.after,
        status: node.status,
        attempts: node.attempts,
        deleted: node.deleted,
        written: node.written,
        paths: node.paths,
        error: node.error,
        worker: node.worker,
        startedAt: node.started_at,
        finishedAt: node.finished_at,
        durationMs: node.duration_ms,
      })),
    };
  }

  /** Records which process a graphile-worker worker belongs to. */
  async registerWorker(workerId: string, processKey: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO "cinema"."workers" ("worker_id", "process_key") VALUES ($1, $2) ON CONFLICT ("worker_id") DO UPDATE SET "process_key" = EXCLUDED."process_key"`,
      [workerId, processKey],
    );
  }

  /**
   * Inside the node's transaction when this process stops before the node finished: the node is
   * queued again as a fresh job, so that stopping a worker costs no attempt.
   */
  async requeueNode(job: NodeJob, worker: string): Promise<void> {
    await this.transaction(async (client) => {
      const updated = await client.query({
        text: `UPDATE "cinema"."run_nodes" SET "status" = 'queued', "attempts" = GREATEST("attempts" - 1, 0)
               WHERE "run_id" = $1 AND "projection" = $2 AND "status" = 'running' AND "worker" = $3 RETURNING "projection"`,
        values: [job.runId, job.projection, worker],
      });
      if (updated.rowCount !== 1) return;
      await client.query({
        text: `SELECT ${this.jobs}.add_job(identifier => 'cinema:' || r."queue",
                 payload => json_build_object('runId', r."id", 'projection', $2::text, 'generation', r."generation"),
                 max_attempts => r."attempts", priority => r."priority")
               FROM "cinema"."runs" r WHERE r."id" = $1`,
        values: [job.runId, job.projection],
      });
    });
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

  /** Queues a graphile-worker job for each node of the run matching `where` (over alias `n`). */
  private async addJobs(client: Queryable, runId: string, where: string): Promise<void> {
    await client.query({
      text: `WITH n AS (SELECT * FROM "cinema"."run_nodes" n WHERE n."run_id" = $1 AND ${where}) ${this.addJobSelect('n', 'TRUE')}`,
      values: [runId],
    });
  }

  /** `SELECT add_job(...)` for the rows of `source` (with `projection`; the run is `$1`). */
  private addJobSelect(source: string, where: string): string {
    return `SELECT ${this.jobs}.add_job(
              identifier => 'cinema:' || r."queue",
              payload => json_build_object('runId', r."id", 'projection', ${source}."projection", 'generation', r."generation"),
              run_at => r."run_at",
              max_attempts => r."attempts",
              priority => r."priority",
              job_key => 'cinema:' || r."id" || ':' || ${source}."projection" || ':' || r."generation",
              job_key_mode => 'unsafe_dedupe')
            FROM ${source} JOIN "cinema"."runs" r ON r."id" = $1 WHERE ${where}`;
  }

  /** Ends the run once none of its nodes waits, is queued or runs; announces it at commit. */
  private async settle(client: Queryable, runId: string): Promise<void> {
    await client.query({
      text: `WITH done AS (
               UPDATE "cinema"."runs" r SET "status" = CASE WHEN r."error" IS NULL THEN 'succeeded' ELSE 'failed' END, "finished_at" = now()
               WHERE r."id" = $1 AND r."status" IN ('pending', 'running')
                 AND NOT EXISTS (SELECT 1 FROM "cinema"."run_nodes" n WHERE n."run_id" = r."id" AND n."status" IN ('waiting', 'queued', 'running'))
               RETURNING r."id"
             )
             SELECT pg_notify('${RUN_CHANNEL}', "id"::text) FROM done`,
      values: [runId],
    });
  }

  private async transaction<T>(work: (client: Queryable) => Promise<T>): Promise<T> {
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
