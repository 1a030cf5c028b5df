import type { MigrationInterface, QueryRunner } from 'typeorm';
import { serialized } from './queue.schema.js';

/**
 * The caller's trace context (W3C `traceparent`, `tracestate`) on each run, so that the workers'
 * spans continue the trace of the request that queued it. Idempotent.
 */
const UP = [`ALTER TABLE "cinema"."runs" ADD COLUMN IF NOT EXISTS "trace" jsonb`];

const DOWN = [`ALTER TABLE "cinema"."runs" DROP COLUMN IF EXISTS "trace"`];

/** The queue engine's third migration: add it after `CinemaQueueMigration1764300000000`. */
export class CinemaQueueMigration1764700000000 implements MigrationInterface {
  name = 'CinemaQueueMigration1764700000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await serialized(queryRunner, async () => {
      for (const statement of UP) await queryRunner.query(statement);
    });
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const statement of DOWN) await queryRunner.query(statement);
  }
}
