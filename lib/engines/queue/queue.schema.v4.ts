import type { MigrationInterface, QueryRunner } from 'typeorm';
import { RUN_CHANNEL } from './queue.constants.js';
import { serialized } from './queue.schema.js';

/**
 * The statements that move a run along, as functions: a worker starts a node with one call and,
 * in the node's own transaction, finishes it with one more (instead of a transaction of five
 * statements and four), so each node costs two round trips of bookkeeping. graphile-worker's
 * schema is configurable (`queue.jobSchema`), so the functions take its name and call `add_job`
 * through `EXECUTE format('%I')`. `carrier` is the graphile-worker job that carries a node run
 * straight after its input by the same worker (no job of its own): if that worker dies, the
 * carrier's job, handed back by the sweep, finds the node and finishes it. Idempotent.
 */
const UP = [
  `ALTER TABLE "cinema"."run_nodes" ADD COLUMN IF NOT EXISTS "carrier" bigint`,
  // Jobs for the given nodes of a run (keyed, so a replayed statement cannot queue a node twice;
  // unkeyed where the job that parked or requeued the node may not be deleted yet).
  `CREATE OR REPLACE FUNCTION "cinema"."add_node_jobs"(p_run uuid, p_nodes text[], p_job_schema text, p_keyed boolean,
     p_run_at timestamptz DEFAULT NULL, p_max_attempts integer DEFAULT NULL) RETURNS void LANGUAGE plpgsql AS $fn$
   BEGIN
     IF coalesce(cardinality(p_nodes), 0) = 0 THEN RETURN; END IF;
     EXECUTE format($sql$
       SELECT count(%1$I.add_job(
         identifier => 'cinema:' || r."queue",
         payload => json_build_object('runId', r."id", 'projection', n.node, 'generation', r."generation", 'trace', r."trace"),
         run_at => coalesce($3, r."run_at"),
         max_attempts => coalesce($4, r."attempts"),
         priority => r."priority",
         job_key => CASE WHEN $5 THEN 'cinema:' || r."id" || ':' || n.node || ':' || r."generation" END,
         job_key_mode => 'unsafe_dedupe'))
       FROM unnest($2::text[]) AS n(node) JOIN "cinema"."runs" r ON r."id" = $1$sql$, p_job_schema)
     USING p_run, p_nodes, p_run_at, p_max_attempts, p_keyed;
   END $fn$`,
  // A node of the run left running: its parked nodes get a job again (unkeyed, see above).
  `CREATE OR REPLACE FUNCTION "cinema"."unpark_nodes"(p_run uuid, p_job_schema text) RETURNS void LANGUAGE plpgsql AS $fn$
   DECLARE unparked text[];
   BEGIN
     WITH p AS (
       UPDATE "cinema"."run_nodes" SET "parked" = false WHERE "run_id" = p_run AND "parked" AND "status" = 'queued' RETURNING "projection"
     ) SELECT array_agg("projection") INTO unparked FROM p;
     PERFORM "cinema"."add_node_jobs"(p_run, unparked, p_job_schema, false);
   END $fn$`,
  // Ends the run once none of its nodes waits, is queued or runs; announces it at commit.
  `CREATE OR REPLACE FUNCTION "cinema"."settle_run"(p_run uuid) RETURNS void LANGUAGE plpgsql AS $fn$
   BEGIN
     UPDATE "cinema"."runs" r SET "status" = CASE WHEN r."error" IS NULL THEN 'succeeded' ELSE 'failed' END, "finished_at" = clock_timestamp()
     WHERE r."id" = p_run AND r."status" IN ('pending', 'running')
       AND NOT EXISTS (SELECT 1 FROM "cinema"."run_nodes" n WHERE n."run_id" = r."id" AND n."status" IN ('waiting', 'queued', 'running'));
     IF FOUND THEN PERFORM pg_notify('${RUN_CHANNEL}', p_run::text); END IF;
   END $fn$`,
  // A worker took a node's job: under the run's row lock, the node runs under the worker's token,
  // or is parked (the run runs \`concurrency\` nodes). No row: nothing to do. A job whose node is
  // done finds the node it carried, if that one never finished (its worker died).
  `CREATE OR REPLACE FUNCTION "cinema"."start_node"(p_run uuid, p_node text, p_generation integer, p_worker text, p_carrier bigint)
   RETURNS TABLE (node text, node_lens jsonb, attempt integer, run_attempts integer, run_timeout_ms integer, is_parked boolean)
   LANGUAGE plpgsql AS $fn$
   DECLARE the_run record; found_node record; others integer; taken integer;
   BEGIN
     SELECT r."lens", r."concurrency", r."timeout_ms", r."attempts" INTO the_run FROM "cinema"."runs" r
     WHERE r."id" = p_run AND r."generation" = p_generation AND r."status" IN ('pending', 'running') FOR UPDATE;
     IF NOT FOUND THEN RETURN; END IF;
     SELECT n."projection", n."status" INTO found_node FROM "cinema"."run_nodes" n
     WHERE n."run_id" = p_run AND n."projection" = p_node AND n."status" IN ('queued', 'running');
     IF NOT FOUND THEN
       IF p_carrier IS NULL THEN RETURN; END IF;
       SELECT n."projection", n."status" INTO found_node FROM "cinema"."run_nodes" n
       WHERE n."run_id" = p_run AND n."carrier" = p_carrier AND n."status" = 'running' ORDER BY n."position" LIMIT 1;
       IF NOT FOUND THEN RETURN; END IF;
     END IF;
     SELECT count(*) INTO others FROM "cinema"."run_nodes" n
     WHERE n."run_id" = p_run AND n."status" = 'running' AND n."projection" <> found_node."projection";
     IF found_node."status" = 'queued' AND the_run."concurrency" IS NOT NULL AND others >= the_run."concurrency" THEN
       UPDATE "cinema"."run_nodes" SET "parked" = true WHERE "run_id" = p_run AND "projection" = found_node."projection";
       RETURN QUERY SELECT found_node."projection", NULL::jsonb, 0, the_run."attempts", the_run."timeout_ms", true;
       RETURN;
     END IF;
     -- The statement's clock, not the transaction's: stamps must be when things happened.
     UPDATE "cinema"."run_nodes" SET "status" = 'running', "attempts" = "attempts" + 1, "started_at" = clock_timestamp(),
       "worker" = p_worker, "parked" = false
     WHERE "run_id" = p_run AND "projection" = found_node."projection" RETURNING "attempts" INTO taken;
     UPDATE "cinema"."runs" SET "status" = 'running', "started_at" = coalesce("started_at", clock_timestamp())
     WHERE "id" = p_run AND "status" = 'pending';
     RETURN QUERY SELECT found_node."projection", the_run."lens", taken, the_run."attempts", the_run."timeout_ms", false;
   END $fn$`,
  // In the node's own transaction, just before it commits: the node succeeded, its dependents
  // whose inputs are all done are queued, the run settles. With p_next_worker, the first ready
  // dependent is not queued but taken by that token at once, carried by p_carrier. No row: the
  // node is no longer this worker's to finish.
  `CREATE OR REPLACE FUNCTION "cinema"."succeed_node"(p_run uuid, p_node text, p_worker text, p_deleted integer, p_written integer,
     p_paths text[], p_job_schema text, p_next_worker text, p_carrier bigint)
   RETURNS TABLE (next_node text, next_attempt integer) LANGUAGE plpgsql AS $fn$
   DECLARE ready text[]; next text; taken integer;
   BEGIN
     PERFORM 1 FROM "cinema"."runs" WHERE "id" = p_run FOR UPDATE;
     UPDATE "cinema"."run_nodes" SET "status" = 'succeeded', "deleted" = p_deleted, "written" = p_written, "paths" = p_paths,
       "finished_at" = clock_timestamp(), "duration_ms" = EXTRACT(EPOCH FROM clock_timestamp() - "started_at") * 1000, "error" = NULL
     WHERE "run_id" = p_run AND "projection" = p_node AND "status" = 'running' AND "worker" = p_worker;
     IF NOT FOUND THEN RETURN; END IF;
     WITH r AS (
       UPDATE "cinema"."run_nodes" SET "waiting_on" = "waiting_on" - 1,
         "status" = CASE WHEN "waiting_on" = 1 THEN 'queued' ELSE "status" END
       WHERE "run_id" = p_run AND "status" = 'waiting' AND p_node = ANY("after")
       RETURNING "projection", "status", "position"
     ) SELECT array_agg("projection" ORDER BY "position") INTO ready FROM r WHERE "status" = 'queued';
     IF p_next_worker IS NOT NULL AND coalesce(cardinality(ready), 0) > 0 THEN
       next := ready[1];
       ready := ready[2:];
       UPDATE "cinema"."run_nodes" SET "status" = 'running', "attempts" = "attempts" + 1, "started_at" = clock_timestamp(),
         "worker" = p_next_worker, "parked" = false, "carrier" = p_carrier
       WHERE "run_id" = p_run AND "projection" = next RETURNING "attempts" INTO taken;
     END IF;
     PERFORM "cinema"."add_node_jobs"(p_run, ready, p_job_schema, true);
     -- A node taken at once takes this one's slot of the run's concurrency: none was freed.
     IF next IS NULL THEN PERFORM "cinema"."unpark_nodes"(p_run, p_job_schema); END IF;
     PERFORM "cinema"."settle_run"(p_run);
     RETURN QUERY SELECT next, taken;
   END $fn$`,
];

const DOWN = [
  `DROP FUNCTION IF EXISTS "cinema"."succeed_node"(uuid, text, text, integer, integer, text[], text, text, bigint)`,
  `DROP FUNCTION IF EXISTS "cinema"."start_node"(uuid, text, integer, text, bigint)`,
  `DROP FUNCTION IF EXISTS "cinema"."settle_run"(uuid)`,
  `DROP FUNCTION IF EXISTS "cinema"."unpark_nodes"(uuid, text)`,
  `DROP FUNCTION IF EXISTS "cinema"."add_node_jobs"(uuid, text[], text, boolean, timestamptz, integer)`,
  `ALTER TABLE "cinema"."run_nodes" DROP COLUMN IF EXISTS "carrier"`,
];

/** The queue engine's fourth migration: add it after `CinemaQueueMigration1764700000000`. */
export class CinemaQueueMigration1765000000000 implements MigrationInterface {
  name = 'CinemaQueueMigration1765000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await serialized(queryRunner, async () => {
      for (const statement of UP) await queryRunner.query(statement);
    });
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const statement of DOWN) await queryRunner.query(statement);
  }
}
