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
   * Marks a node running for the worker that took its job (one call, its own transaction).
   * `undefined` when there is nothing to do: the node already succeeded (a job replayed after a
   * crash), was cancelled, or the job belongs to an earlier attempt of a retried run. `PARKED`
   * when the run already runs as many nodes as its `concurrency`: the node gets a new job when
   * one of them finishes. A job whose own node is done returns the node it carried, if that one
   * never finished (the worker that ran it died): see `succeedNode`.
   */
  async startNode(job: NodeJob, worker: string, carrier: string): Promise<StartedNode | typeof PARKED | undefined> {
    const { rows } = await this.pool.query({
      text: `SELECT * FROM "cinema"."start_node"($1, $2, $3, $4, $5)`,
      values: [job.runId, job.projection, job.generation, worker, carrier],
    });
    const row = rows[0];
    if (!row) return undefined;
    if (row.is_parked) return PARKED;
    return {
      projection: row.node as string,
      lens: row.node_lens,
      attempt: row.attempt as number,
      maxAttempts: row.run_attempts as number,
      timeoutMs: row.run_timeout_ms as number | null,
    };
  }

  /**
   * Inside the node's own write transaction, just before it commits (one call): the node
   * succeeded, the dependents whose inputs are now all done are queued, the run settles. Either
   * all of it commits with the slice or none of it does. With `next`, the first ready dependent
   * gets no job: it is marked running under `next.worker`, carried by the job `next.carrier`,
   * and returned for this worker to run at once. Throws if the node is no longer this worker's.
   */
  async succeedNode(
    client: Queryable,
    node: NodeJob,
    worker: string,
    report: NodeReport,
    next?: { worker: string; carrier: string },
  ): Promise<{ projection: string; attempt: number } | undefined> {
    const { rows } = await client.query({
      text: `SELECT * FROM "cinema"."succeed_node"($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      values: [
        node.runId,
        node.projection,
        worker,
        report.deleted,
        report.written,
        report.paths,
        this.jobSchema,
        next?.worker ?? null,
        next?.carrier ?? null,
      ],
    });
    if (rows.length !== 1) throw new NodeTakenOverError(node.projection, node.runId);
    const row = rows[0] as { next_node: string | null; next_attempt: number | null };
    return row.next_node === null ? undefined : { projection: row.next_node, attempt: row.next_attempt! };
  }

  /**
   * Records a failed attempt. When it was the last one, the node fails for good: its pending
   * dependents are cancelled and the run carries the error (and fails once nothing else runs).
   * A carried node (run at once after its input, without a job of its own) that will be retried
   * gets its own job, due after `retry.delayMs`, with the attempts it has left.
   */
  async failNode(
    job: NodeJob,
    worker: string,
    error: StoredError,
    final: boolean,
    retry?: { delayMs: number; maxAttempts: number },
  ): Promise<void> {
    await this.transaction(async (client) => {
      await client.query({ text: `SELECT 1 FROM "cinema"."runs" WHERE "id" = $1 FOR UPDATE`, values: [job.runId] });
      const updated = await client.query({
        text: `UPDATE "cinema"."run_nodes" SET "status" = $4, "error" = $5, "finished_at" = clock_timestamp(),
                 "duration_ms" = EXTRACT(EPOCH FROM clock_timestamp() - "started_at") * 1000, "carrier" = NULL
               WHERE "run_id" = $1 AND "projection" = $2 AND "status" = 'running' AND "worker" = $3`,
        values: [job.runId, job.projection, worker, final ? 'failed' : 'queued', JSON.stringify(error)],
      });
      if (updated.rowCount !== 1) return;
      await this.unpark(client, job.runId);
      if (!final) {
        if (retry) {
          await client.query({
            text: `SELECT "cinema"."add_node_jobs"($1, ARRAY[$2::text], $3, false, clock_timestamp() + $4 * interval '1 millisecond', $5)`,
            values: [job.runId, job.projection, this.jobSchema, retry.delayMs, retry.maxAttempts],
          });
        }
        return;
      }
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
        text: `UPDATE "cinema"."run_nodes" SET "status" = 'queued', "attempts" = GREATEST("attempts" - 1, 0), "carrier" = NULL
               WHERE "run_id" = $1 AND "projection" = $2 AND "status" = 'running' AND "worker" = $3 RETURNING "projection"`,
        values: [job.runId, job.projection, worker],
      });
      if (updated.rowCount !== 1) return;
      await this.unpark(client, job.runId);
      await client.query({
        text: `SELECT "cinema"."add_node_jobs"($1, ARRAY[$2::text], $3, false)`,
        values: [job.runId, job.projection, this.jobSchema],
      });
    });
  }
}
