import type { MigrationInterface, QueryRunner } from 'typeorm';
import { serialized } from '../engines/queue/queue.schema.js';

/**
 * The change log (dirty marks the capture triggers append, the watcher deletes those its read's snapshot saw) and the
 * freshness ledger (one row per projection and slice, written with the slice). The log is
 * append-only with no unique key: writers never wait behind a refresh. Idempotent.
 */
const UP = [
  `CREATE SCHEMA IF NOT EXISTS "cinema"`,
  `CREATE TABLE IF NOT EXISTS "cinema"."changes" (
    "id" bigserial PRIMARY KEY,
    "projection" text NOT NULL,
    "lens" jsonb,
    "xid" xid8 NOT NULL DEFAULT pg_current_xact_id(),
    "at" timestamptz NOT NULL DEFAULT clock_timestamp()
  )`,
  `COMMENT ON COLUMN "cinema"."changes"."lens" IS 'the dirty slice; NULL: the whole projection'`,
  `CREATE TABLE IF NOT EXISTS "cinema"."freshness" (
    "projection" text NOT NULL,
    "slice" jsonb NOT NULL,
    "refreshed_at" timestamptz NOT NULL,
    "snapshot_xmin" xid8,
    "rows" integer,
    "duration_ms" integer,
    PRIMARY KEY ("projection", "slice")
  )`,
];

const DOWN = [`DROP TABLE IF EXISTS "cinema"."freshness"`, `DROP TABLE IF EXISTS "cinema"."changes"`];

/** The change log and the freshness ledger of change capture (add it before `installCapture` migrations). */
export class CinemaCaptureMigration1764400000000 implements MigrationInterface {
  name = 'CinemaCaptureMigration1764400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await serialized(queryRunner, async () => {
      for (const statement of UP) await queryRunner.query(statement);
    });
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const statement of DOWN) await queryRunner.query(statement);
  }
}

/**
 * An index on the change log by projection: the watcher's reads, `freshness()` and the
 * read-through check filter marks by projection. Idempotent.
 */
export class CinemaCaptureMigration1764600000000 implements MigrationInterface {
  name = 'CinemaCaptureMigration1764600000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await serialized(queryRunner, async () => {
      await queryRunner.query(`CREATE INDEX IF NOT EXISTS "changes_projection_id" ON "cinema"."changes" ("projection", "id")`);
    });
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX IF EXISTS "cinema"."changes_projection_id"`);
  }
}

/**
 * Projection versions: the version that built each ledger row, and the versions deployed per
 * projection in the order they were last deployed (`seq`), by which a process still running an
 * older version sees that a newer one exists. Idempotent.
 */
export class CinemaCaptureMigration1764800000000 implements MigrationInterface {
  name = 'CinemaCaptureMigration1764800000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await serialized(queryRunner, async () => {
      await queryRunner.query(`ALTER TABLE "cinema"."freshness" ADD COLUMN IF NOT EXISTS "version" text`);
      await queryRunner.query(`COMMENT ON COLUMN "cinema"."freshness"."version" IS 'the projection version that built the slice'`);
      await queryRunner.query(`CREATE SEQUENCE IF NOT EXISTS "cinema"."projection_versions_seq"`);
      await queryRunner.query(`CREATE TABLE IF NOT EXISTS "cinema"."projection_versions" (
        "projection" text NOT NULL,
        "version" text NOT NULL,
        "seq" bigint NOT NULL DEFAULT nextval('"cinema"."projection_versions_seq"'),
        "deployed_at" timestamptz NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY ("projection", "version")
      )`);
    });
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE IF EXISTS "cinema"."projection_versions"`);
    await queryRunner.query(`DROP SEQUENCE IF EXISTS "cinema"."projection_versions_seq"`);
    await queryRunner.query(`ALTER TABLE "cinema"."freshness" DROP COLUMN IF EXISTS "version"`);
  }
}

/** Change capture's schema migrations, in order. */
export const CINEMA_CAPTURE_MIGRATIONS = [
  CinemaCaptureMigration1764400000000,
  CinemaCaptureMigration1764600000000,
  CinemaCaptureMigration1764800000000,
] as const;
