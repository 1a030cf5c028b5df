import type { MigrationInterface, QueryRunner } from 'typeorm';
import { serialized } from './queue.schema.js';

/**
 * Per-run `timeout_ms` and `concurrency` (the caller's `project()` options), `parked` nodes (a
 * node whose run already runs `concurrency` nodes waits, without a job, for one to finish), and
 * an index for the retention sweep. Idempotent: concurrent boots wait on the migration lock.
 */
const UP = [
  `ALTER TABLE "cinema"."runs" ADD COLUMN IF NOT EXISTS "timeout_ms" integer, ADD COLUMN IF NOT EXISTS "concurrency" integer`,
  `ALTER TABLE "cinema"."run_nodes" ADD COLUMN IF NOT EXISTS "parked" boolean NOT NULL DEFAULT false`,
  `CREATE INDEX IF NOT EXISTS "runs_finished_at" ON "cinema"."runs" ("finished_at") WHERE "status" IN ('succeeded', 'failed')`,
];

const DOWN = [
  `DROP INDEX IF EXISTS "cinema"."runs_finished_at"`,
  `ALTER TABLE "cinema"."run_nodes" DROP COLUMN IF EXISTS "parked"`,
  `ALTER TABLE "cinema"."runs" DROP COLUMN IF EXISTS "timeout_ms", DROP COLUMN IF EXISTS "concurrency"`,
];

/** The queue engine's second migration: add it after `CinemaQueueMigration1764200000000`. */
export class CinemaQueueMigration1764300000000 implements MigrationInterface {
  name = 'CinemaQueueMigration1764300000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await serialized(queryRunner, async () => {
      for (const statement of UP) await queryRunner.query(statement);
    });
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const statement of DOWN) await queryRunner.query(statement);
  }
}
