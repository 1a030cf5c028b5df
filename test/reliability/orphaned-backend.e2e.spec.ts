import { spawn } from 'node:child_process';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPrivateCopy, type Build } from '../support/build.js';
import { createDatabase } from '../support/database.js';
import { connect, waitFor } from '../support/postgres.js';

const APP = 'cinema-orphan';
/** Each of the three rows of the child's INSERT ... SELECT sleeps this long: a 6-second statement. */
const SLEEP_S = 2;

/**
 * The application process is SIGKILLed while its write transaction runs a long statement: its
 * backend holds the slice's advisory lock until it notices. With `connectionCheckInterval`
 * PostgreSQL (14+) checks the client socket during the statement; without, only when the
 * statement ends.
 */
describe('SIGKILL of the application in the middle of a long statement', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let build: Build;
  let admin: pg.Client;

  beforeAll(async () => {
    db = await createDatabase('orphan');
    build = await buildPrivateCopy(['lib', 'test/support', 'test/reliability/children']);
    admin = await connect(db.url, 'cinema-test-admin');
  });
  afterAll(async () => {
    await admin?.end();
    await build?.remove();
    await db?.drop();
  });

  /** Milliseconds from the SIGKILL until no backend of the killed process holds an advisory lock. */
  async function lockHeldAfterKill(checkInterval: number): Promise<number> {
    const child = spawn(process.execPath, ['--enable-source-maps', build.path('test/reliability/children/orphan-refresh.ts')], {
      env: { ...process.env, DATABASE_URL: db.url, CHECK_INTERVAL: String(checkInterval), ORPHAN_SLEEP_S: String(SLEEP_S) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      // The write transaction holds its lock and sleeps inside its INSERT ... SELECT.
      await waitFor(async () => {
        if (child.exitCode !== null) throw new Error(`the child exited early:\n${output}`);
        const { rows } = await admin.query(
          `SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
           WHERE a.application_name = $1 AND a.wait_event = 'PgSleep' AND l.locktype = 'advisory' AND l.granted`,
          [APP],
        );
        return rows[0]?.pid as number | undefined;
      }, 'the child sleeping inside its write transaction');
      const killed = performance.now();
      child.kill('SIGKILL');
      await exited;
      await waitFor(async () => {
        const { rows } = await admin.query(
          `SELECT COUNT(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
           WHERE a.application_name = $1 AND l.locktype = 'advisory'`,
          [APP],
        );
        return rows[0].n === 0 ? true : undefined;
      }, 'the orphaned backend to free its lock');
      return performance.now() - killed;
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }

  it('the lock is free within about a second with connectionCheckInterval, only at the end of the statement without', async () => {
    const withCheck = await lockHeldAfterKill(1_000);
    const withoutCheck = await lockHeldAfterKill(0);
    console.log(
      `advisory lock free after SIGKILL: ${Math.round(withCheck)} ms with connectionCheckInterval 1000, ${Math.round(withoutCheck)} ms with 0`,
    );
    expect(withCheck).toBeLessThan(2_000);
    // The statement had at least two sleeping rows left when the process died.
    expect(withoutCheck).toBeGreaterThan(2_500);
  });
});
