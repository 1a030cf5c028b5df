import { NodeTakenOverError } from '../../errors/queue.error.js';
import type { NodeReport } from '../../interfaces/run.interface.js';
import { PARKED } from './queue.constants.js';
import { QueueSql } from './queue.sql.js';
import type { NodeJob, Queryable, StartedNode, StoredError } from './queue.types.js';

/**
 * A node's life under a worker: started (or parked), succeeded with its dependents handed their
 * jobs, failed (cancelling its dependents on the last attempt), or queued again on shutdown.
 */
export class NodeStore extends QueueSql {
  /**
   * Marks a node running for the worker that took its job. `undefined` when there is nothing to
   * do: the node already succeeded (a job replayed after a crash), was cancelled, or the job
   * belongs to an earlier attempt of a retried run. `PARKED` when the run already runs as many
   * nodes as its `concurrency`: the node gets a new job when one of them finishes.
   */
  async startNode(job: NodeJob, worker: string): Promise<StartedNode | typeof PARKED | undefined> {
    return this.transaction(async (client) => {
      const runs = await client.query({
        text: `SELECT "lens", "concurrency", "timeout_ms" FROM "cinema"."runs"
               WHERE "id" = $1 AND "generation" = $2 AND "status" IN ('pending', 'running') FOR UPDATE`,
        values: [job.runId, job.generation],
      });
      const run = runs.rows[0];
      if (!run) return undefined;
      const nodes = await client.query({
        text: `SELECT "projection", "status" FROM "cinema"."run_nodes" WHERE "run_id" = $1 AND "status" IN ('queued', 'running')`,
        values: [job.runId],
      });
      const node = nodes.rows.find((row) => row.projection === job.projection);
      if (!node) return undefined;
      const others = nodes.rows.filter((row) => row.status === 'running' && row.projection !== job.projection).length;
      if (node.status === 'queued' && run.concurrency !== null && others >= run.concurrency) {
        await client.query({
          text: `UPDATE "cinema"."run_nodes" SET "parked" = true WHERE "run_id" = $1 AND "projection" = $2`,
          values: [job.runId, job.projection],
        });
        return PARKED;
      }
      // The statement's clock, not the transaction's: stamps must be when things happened.
      const started = await client.query({
        text: `UPDATE "cinema"."run_nodes" SET "status" = 'running', "attempts" = "attempts" + 1, "started_at" = clock_timestamp(), "worker" = $3, "parked" = false
               WHERE "run_id" = $1 AND "projection" = $2 RETURNING "attempts"`,
        values: [job.runId, job.projection, worker],
      });
      await client.query({
        text: `UPDATE "cinema"."runs" SET "status" = 'running', "started_at" = COALESCE("started_at", clock_timestamp()) WHERE "id" = $1 AND "status" = 'pending'`,
        values: [job.runId],
      });
      return { lens: run.lens, attempt: started.rows[0].attempts as number, timeoutMs: run.timeout_ms as number | null };
    });
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
               "finished_at" = clock_timestamp(), "duration_ms" = EXTRACT(EPOCH FROM clock_timestamp() - "started_at") * 1000, "error" = NULL
             WHERE "run_id" = $1 AND "projection" = $2 AND "status" = 'running' AND "worker" = $3`,
      values: [job.runId, job.projection, worker, report.deleted, report.written, report.paths],
    });
    if (mine.rowCount !== 1) {
      throw new NodeTakenOverError(job.projection, job.runId);
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
    await this.unpark(client, job.runId);
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
        text: `UPDATE "cinema"."run_nodes" SET "status" = $4, "error" = $5, "finished_at" = clock_timestamp(),
                 "duration_ms" = EXTRACT(EPOCH FROM clock_timestamp() - "started_at") * 1000
               WHERE "run_id" = $1 AND "projection" = $2 AND "status" = 'running' AND "worker" = $3`,
        values: [job.runId, job.projection, worker, final ? 'failed' : 'queued', JSON.stringify(error)],
      });
      if (updated.rowCount !== 1) return;
      await this.unpark(client, job.runId);
      if (!final) return;
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
      await this.unpark(client, job.runId);
      await client.query({
        text: `SELECT ${this.jobs}.add_job(identifier => 'cinema:' || r."queue",
                 payload => json_build_object('runId', r."id", 'projection', $2::text, 'generation', r."generation", 'trace', r."trace"),
                 max_attempts => r."attempts", priority => r."priority")
               FROM "cinema"."runs" r WHERE r."id" = $1`,
        values: [job.runId, job.projection],
      });
    });
  }
}
