import type pg from 'pg';
import { MIGRATION_LOCK } from './queue.schema.js';

/** Whether the queue's tables are installed, and graphile-worker's migrator run one process at a time. */
export class SchemaStore {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Runs `work` (graphile-worker's migrator) while holding the queue's migration lock on a
   * connection of its own, so that processes booting at once migrate one after the other.
   */
  async serialized<T>(work: () => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query(`SELECT pg_advisory_lock(${MIGRATION_LOCK})`);
      try {
        return await work();
      } finally {
        await client.query(`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`);
      }
    } finally {
      client.release();
    }
  }

  /** The first queue migration that was not run, if any. */
  async missingMigration(): Promise<string | undefined> {
    const { rows } = await this.pool.query(
      `SELECT to_regclass('"cinema"."run_nodes"') IS NOT NULL AS v1,
         EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'cinema' AND table_name = 'run_nodes' AND column_name = 'parked') AS v2,
         EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'cinema' AND table_name = 'runs' AND column_name = 'trace') AS v3,
         to_regprocedure('"cinema"."succeed_node"(uuid, text, text, integer, integer, text[], text, text, bigint)') IS NOT NULL AS v4`,
    );
    if (!rows[0].v1) return 'CinemaQueueMigration1764200000000';
    if (!rows[0].v2) return 'CinemaQueueMigration1764300000000';
    if (!rows[0].v3) return 'CinemaQueueMigration1764700000000';
    if (!rows[0].v4) return 'CinemaQueueMigration1765000000000';
    return undefined;
  }
}
