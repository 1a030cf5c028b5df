import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The schema of the queue's own tables. */
export const QUEUE_SCHEMA = 'cinema';

/** Transaction advisory lock (one key) every queue migration takes first: concurrent boots run them one at a time. */
export const MIGRATION_LOCK = 0x43494e4d; // "CINM"

/**
 * Runs `work` in a transaction (the migration runner's, or its own when migrations run without
 * one) after taking the migration lock, so that boots running the migrations at once wait for
 * each other instead of racing on the catalog (`CREATE SCHEMA IF NOT EXISTS` is not safe
 * against a concurrent twin).
 */
export async function serialized(queryRunner: QueryRunner, work: () => Promise<void>): Promise<void> {
  const own = !queryRunner.isTransactionActive;
  if (own) await queryRunner.startTransaction();
  try {
    await queryRunner.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
    await work();
    if (own) await queryRunner.commitTransaction();
  } catch (error) {
    if (own) await queryRunner.rollbackTransaction();
    throw error;
  }
}

/** Whether a relation exists (a migration that waited for a twin finds its work done). */
export async function exists(queryRunner: QueryRunner, relation: string): Promise<boolean> {
  const [row] = await queryRunner.query(`SELECT to_regclass($1) IS NOT NULL AS found`, [relation]);
  return row.found === true;
}

/**
 * Runs and their projection nodes, as the queue engine records them. A node's `after` lists the
 * materialized projections of the same run it waits for; `waiting_on` counts those not done.
 */
const UP = [
  `CREATE SCHEMA IF NOT EXISTS "cinema"`,
  `CREATE TABLE "cinema"."runs" (
    "id" uuid PRIMARY KEY,
    "projection" text NOT NULL,
    "lens" jsonb NOT NULL,
    "skip_dependencies" boolean NOT NULL DEFAULT false,
    "status" text NOT NULL DEFAULT 'pending' CHECK ("status" IN ('pending', 'running', 'succeeded', 'failed')),
    "queue" text NOT NULL,
    "priority" integer NOT NULL DEFAULT 0,
    "attempts" integer NOT NULL,
    "run_at" timestamptz,
    "coalesce_key" text,
    "generation" integer NOT NULL DEFAULT 1,
    "error" jsonb,
    "created_at" timestamptz NOT NULL DEFAULT now(),
    "started_at" timestamptz,
    "finished_at" timestamptz
  )`,
  // At most one run per projection and lens waits to start: a second request joins it.
  `CREATE UNIQUE INDEX "runs_pending_coalesce_key" ON "cinema"."runs" ("coalesce_key") WHERE "status" = 'pending'`,
  `CREATE INDEX "runs_created_at" ON "cinema"."runs" ("created_at")`,
  `CREATE TABLE "cinema"."run_nodes" (
    "run_id" uuid NOT NULL REFERENCES "cinema"."runs" ("id") ON DELETE CASCADE,
    "projection" text NOT NULL,
    "position" integer NOT NULL,
    "virtual" boolean NOT NULL,
    "after" text[] NOT NULL,
    "waiting_on" integer NOT NULL,
    "status" text NOT NULL CHECK ("status" IN ('waiting', 'queued', 'running', 'succeeded', 'failed', 'cancelled')),
    "attempts" integer NOT NULL DEFAULT 0,
    "deleted" integer NOT NULL DEFAULT 0,
    "written" integer NOT NULL DEFAULT 0,
    "paths" text[] NOT NULL DEFAULT '{}',
    "error" jsonb,
    "worker" text,
    "started_at" timestamptz,
    "finished_at" timestamptz,
    "duration_ms" double precision,
    PRIMARY KEY ("run_id", "projection")
  )`,
  // Worker processes: each holds a session advisory lock on its key while it lives.
  `CREATE SEQUENCE "cinema"."process_keys" AS integer CYCLE`,
  `CREATE TABLE "cinema"."workers" (
    "worker_id" text PRIMARY KEY,
    "process_key" integer NOT NULL,
    "registered_at" timestamptz NOT NULL DEFAULT now()
  )`,
];

const DOWN = [`DROP SCHEMA IF EXISTS "cinema" CASCADE`];

/**
 * Creates the `cinema` schema of the queue engine. Add it to the `migrations` of the data source
 * that holds the queue (`queue.dataSource`). graphile-worker's own schema is installed and
 * upgraded by Cinema at startup, with graphile-worker's migrator.
 */
export class CinemaQueueMigration1764200000000 implements MigrationInterface {
  name = 'CinemaQueueMigration1764200000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await serialized(queryRunner, async () => {
      // Another process ran it while this one waited for the lock.
      if (await exists(queryRunner, '"cinema"."workers"')) return;
      for (const statement of UP) await queryRunner.query(statement);
    });
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const statement of DOWN) await queryRunner.query(statement);
  }
}
