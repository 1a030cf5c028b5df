import type { DataSource, QueryRunner } from 'typeorm';
import { watcherLockKeys } from '../dialect/postgres/advisory-locks.js';
import { changeLog } from './change-log.store.js';

/**
 * The session advisory locks by which concurrent watchers (several processes with `capture`)
 * split the work: a watcher refreshes a projection's marks only while it holds that
 * projection's lock, and one that cannot take it leaves the projection to its holder. The locks
 * live on one connection of the watcher, taken for a cycle and handed back without any lock.
 */
export class WatcherLocks {
  private runner?: QueryRunner;

  constructor(private readonly dataSource: DataSource) {}

  /**
   * Takes the projection's lock without waiting and returns which of its slices `keys` (as read
   * in `snapshot`) still have marks visible in that snapshot: a watcher that held the lock before
   * may have settled some. `undefined` when another watcher holds the lock.
   */
  async claim(projection: string, snapshot: string, keys: readonly string[]): Promise<Set<string> | undefined> {
    if (!(await this.tryLock(projection))) return undefined;
    return changeLog.remaining(this.runner!, projection, snapshot, keys);
  }

  private async tryLock(projection: string): Promise<boolean> {
    if (!this.runner) {
      const runner = this.dataSource.createQueryRunner('master');
      await runner.connect();
      this.runner = runner;
    }
    const [row]: { locked: boolean }[] = await this.runner.query(`SELECT pg_try_advisory_lock($1, $2) AS "locked"`, [
      ...watcherLockKeys(projection),
    ]);
    return row.locked;
  }

  async unlock(projection: string): Promise<void> {
    await this.runner?.query(`SELECT pg_advisory_unlock($1, $2)`, [...watcherLockKeys(projection)]);
  }

  /**
   * Ends the cycle: drops every lock and hands the connection back. A statement fails here only
   * when the connection broke, and then the server has dropped its locks and TypeORM discards it.
   */
  async releaseAll(): Promise<void> {
    const runner = this.runner;
    this.runner = undefined;
    if (!runner) return;
    try {
      await runner.query(`SELECT pg_advisory_unlock_all()`);
    } finally {
      await runner.release();
    }
  }
}
