import pg from 'pg';

/** A connection of its own (outside the application's pool), named in `pg_stat_activity`. */
export async function connect(url: string, applicationName = 'cinema-test'): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: applicationName });
  // A terminated or restarted server must not crash the test process.
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/**
 * Holds `ACCESS EXCLUSIVE` on a table from another connection: a rebuild that reads it waits
 * inside its transaction (after its slice was deleted) until `release()`.
 */
export async function lockTable(url: string, table: string): Promise<{ release(): Promise<void> }> {
  const client = await connect(url, 'cinema-test-blocker');
  await client.query('BEGIN');
  await client.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await client.query('ROLLBACK').catch(() => undefined);
      await client.end().catch(() => undefined);
    },
  };
}

/** Polls until `probe` returns something other than `undefined`. */
export async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * The backend of a rebuild that has deleted rows of `table` (it holds the lock a `DELETE`
 * takes) and now waits on a lock: a write transaction stopped in the middle of its derivation.
 */
export async function writerWaitingOnLock(client: pg.Client, table: string): Promise<number> {
  return waitFor(async () => {
    const { rows } = await client.query(
      `SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
       WHERE a.datname = current_database() AND a.wait_event_type = 'Lock'
         AND l.relation = $1::regclass AND l.mode = 'RowExclusiveLock' AND l.granted`,
      [table],
    );
    return rows[0]?.pid as number | undefined;
  }, `a rebuild of ${table} waiting on a lock`);
}

/** The backend running a statement that contains `marker` (other than the asking one). */
export async function backendRunning(client: pg.Client, marker: string): Promise<number> {
  return waitFor(async () => {
    const { rows } = await client.query(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
         AND state = 'active' AND position($1 in query) > 0`,
      [marker],
    );
    return rows[0]?.pid as number | undefined;
  }, `a statement containing ${marker}`);
}

/** Connections of the application (by `application_name`) and what they are doing. */
export async function applicationBackends(client: pg.Client, applicationName: string): Promise<{ state: string; query: string }[]> {
  const { rows } = await client.query(
    `SELECT state, query FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`,
    [applicationName],
  );
  return rows;
}

/** Rows of a query as sorted JSON lines: equal sets compare equal. */
export async function rowsOf(
  client: { query(sql: string, params?: unknown[]): Promise<any> },
  sql: string,
  params: unknown[] = [],
): Promise<string[]> {
  const result = await client.query(sql, params);
  const rows: Record<string, unknown>[] = Array.isArray(result) ? result : result.rows;
  return rows.map((row) => JSON.stringify(row)).sort();
}
