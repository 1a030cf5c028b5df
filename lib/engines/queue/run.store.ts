import { QueueSql } from './queue.sql.js';
import type { Queryable, RunSpec, StoredError, StoredNode, StoredRun } from './queue.types.js';

/** A `run_nodes` row as JSON. */
interface NodeRow {
  projection: string;
  virtual: boolean;
  after: string[];
  status: StoredNode['status'];
  attempts: number;
  deleted: number;
  written: number;
  paths: StoredNode['paths'];
  error: StoredError | null;
  worker: string | null;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
}

/** A run's own row: recorded (or joined to a pending twin), read, retried, deleted once old. */
export class RunStore extends QueueSql {
  /** Records a run and queues its first nodes, in one transaction; joins a pending twin instead. */
  async enqueue(spec: RunSpec): Promise<{ id: string; coalesced: boolean }> {
    return this.transaction(async (client) => {
      for (;;) {
        const inserted = await client.query({
          text: `INSERT INTO "cinema"."runs" ("id", "projection", "lens", "skip_dependencies", "queue", "priority", "attempts", "run_at", "coalesce_key", "timeout_ms", "concurrency", "trace")
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                 ON CONFLICT ("coalesce_key") WHERE "status" = 'pending' DO NOTHING RETURNING "id"`,
          values: [
            spec.id,
            spec.projection,
            JSON.stringify(spec.lens),
            spec.skipDependencies,
            spec.queue,
            spec.priority,
            spec.attempts,
            spec.runAt ?? null,
            spec.coalesceKey ?? null,
            spec.timeoutMs ?? null,
            spec.concurrency,
            spec.trace && Object.keys(spec.trace).length > 0 ? JSON.stringify(spec.trace) : null,
          ],
        });
        if (inserted.rowCount === 1) break;
        const twin = await this.join(client, spec);
        // The twin started in between: try again to record this one.
        if (twin) return { id: twin, coalesced: true };
      }
      // The nodes, and jobs for those that wait for nothing, in one statement.
      await client.query({
        text: `WITH n AS (
                 INSERT INTO "cinema"."run_nodes" ("run_id", "projection", "position", "virtual", "after", "waiting_on", "status")
                 SELECT $1, n.projection, n.position, n.virtual, n.after, cardinality(n.after),
                   CASE WHEN n.virtual THEN 'succeeded' WHEN cardinality(n.after) = 0 THEN 'queued' ELSE 'waiting' END
                 FROM jsonb_to_recordset($2::jsonb) AS n(projection text, position integer, virtual boolean, after text[])
                 RETURNING "projection", "position", "status"
               )
               SELECT "cinema"."add_node_jobs"($1, ARRAY(SELECT "projection" FROM n WHERE "status" = 'queued' ORDER BY "position"), $3, true)`,
        values: [spec.id, JSON.stringify(spec.nodes), this.jobSchema],
      });
      // A graph of virtual projections only has nothing to run: the run is done at once.
      if (spec.nodes.every((node) => node.virtual)) await this.settle(client, spec.id);
      return { id: spec.id, coalesced: false };
    });
  }

  /**
   * Joins the pending run `spec` coalesces with: it takes the more urgent priority (graphile-worker
   * runs lower numbers first), the larger attempts and concurrency and the longer timeout (none is
   * the longest), and its queued jobs are rescheduled to match. The twin's id, or `undefined`
   * when it started meanwhile.
   */
  private async join(client: Queryable, spec: RunSpec): Promise<string | undefined> {
    const { rows } = await client.query({
      text: `UPDATE "cinema"."runs" SET "priority" = LEAST("priority", $2), "attempts" = GREATEST("attempts", $3),
               "timeout_ms" = CASE WHEN "timeout_ms" IS NULL OR $4::integer IS NULL THEN NULL ELSE GREATEST("timeout_ms", $4::integer) END,
               "concurrency" = GREATEST("concurrency", $5)
             WHERE "coalesce_key" = $1 AND "status" = 'pending'
             RETURNING "id", "priority", "attempts"`,
      values: [spec.coalesceKey, spec.priority, spec.attempts, spec.timeoutMs ?? null, spec.concurrency],
    });
    if (rows.length === 0) return undefined;
    const twin = rows[0];
    // Jobs a worker already locked keep theirs: their node is starting, the run is no longer pending.
    await client.query({
      text: `SELECT ${this.jobs}.reschedule_jobs(array_agg(j.id), priority => $2::smallint, max_attempts => $3::smallint)
             FROM ${this.jobs}."jobs" j WHERE j.key LIKE 'cinema:' || $1 || ':%' HAVING count(*) > 0`,
      values: [twin.id, twin.priority, twin.attempts],
    });
    return twin.id as string;
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
        // Attempts count within a generation: a retried node starts again from its first.
        text: `UPDATE "cinema"."run_nodes" n SET "error" = NULL, "finished_at" = NULL, "duration_ms" = NULL, "attempts" = 0, "parked" = false,
                 "waiting_on" = (SELECT count(*) FROM "cinema"."run_nodes" u WHERE u."run_id" = n."run_id" AND u."projection" = ANY(n."after") AND u."status" <> 'succeeded'),
                 "status" = CASE WHEN EXISTS (SELECT 1 FROM "cinema"."run_nodes" u WHERE u."run_id" = n."run_id" AND u."projection" = ANY(n."after") AND u."status" <> 'succeeded')
                   THEN 'waiting' ELSE 'queued' END
               WHERE n."run_id" = $1 AND n."status" IN ('failed', 'cancelled')`,
        values: [runId],
      });
      await this.addJobs(client, runId, 'queued');
      return status;
    });
  }

  /** The ids of the latest runs, newest first. */
  async recent(limit: number): Promise<string[]> {
    const { rows } = await this.pool.query(`SELECT "id" FROM "cinema"."runs" ORDER BY "created_at" DESC, "id" LIMIT $1`, [limit]);
    return rows.map((row: { id: string }) => row.id);
  }

  /** The run and its nodes, in one round trip (the nodes as JSON: their timestamps come back as text). */
  async load(runId: string): Promise<StoredRun | undefined> {
    const runs = await this.pool.query(
      `SELECT r.*, (SELECT coalesce(json_agg(n ORDER BY n."position"), '[]') FROM "cinema"."run_nodes" n WHERE n."run_id" = r."id") AS "nodes"
       FROM "cinema"."runs" r WHERE r."id" = $1`,
      [runId],
    );
    if (runs.rows.length === 0) return undefined;
    const run = runs.rows[0];
    return {
      id: run.id,
      projection: run.projection,
      lens: run.lens,
      skipDependencies: run.skip_dependencies,
      status: run.status,
      queue: run.queue,
      generation: run.generation,
      priority: run.priority,
      attempts: run.attempts,
      timeoutMs: run.timeout_ms,
      concurrency: run.concurrency,
      error: run.error,
      createdAt: run.created_at,
      startedAt: run.started_at,
      finishedAt: run.finished_at,
      nodes: (run.nodes as NodeRow[]).map((node) => ({
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
        startedAt: timestamp(node.started_at),
        finishedAt: timestamp(node.finished_at),
        durationMs: node.duration_ms,
      })),
    };
  }

  /** Deletes up to `batch` runs (and their nodes) that finished more than `retentionMs` ago; returns how many. */
  async deleteFinished(retentionMs: number, batch: number): Promise<number> {
    const deleted = await this.pool.query(
      `DELETE FROM "cinema"."runs" WHERE "id" IN (
         SELECT "id" FROM "cinema"."runs"
         WHERE "status" IN ('succeeded', 'failed') AND "finished_at" < clock_timestamp() - $1 * interval '1 millisecond'
         ORDER BY "finished_at" LIMIT $2)`,
      [retentionMs, batch],
    );
    return deleted.rowCount ?? 0;
  }
}

/** A timestamp read back from JSON, as pg would have parsed it (to the millisecond). */
function timestamp(value: string | null): Date | null {
  return value === null ? null : new Date(value);
}
