import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProjectionFailedError } from '../../lib/index.js';
import { bootApp } from '../support/app.js';
import { createDatabase } from '../support/database.js';
import { deferred } from '../support/deferred.js';
import { backendRunning, connect } from '../support/postgres.js';
import { A, behaviour, DagOrgs, source } from '../fixtures/dag.fixture.js';

describe('application shutdown', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;

  beforeAll(async () => {
    db = await createDatabase('shutdown');
  });
  afterAll(async () => {
    delete behaviour.a;
    source.value = 1;
    await db?.drop();
  });

  it('rolls back runs in flight before the connections close', async () => {
    const t = await bootApp({
      dataSources: [{ url: db.url, synchronize: true }],
      projections: [DagOrgs, A],
      cinema: { allowEmptyLens: true },
    });
    await t.cinema.project(A, {});
    source.value = 50;
    const entered = deferred();
    behaviour.a = { delayMs: 20_000, entered: () => entered.resolve() };
    const run = await t.cinema.project(A, {}, { async: true });
    // In flight for real: the derivation was entered and its 20-second statement runs in PostgreSQL.
    await entered.promise;
    const observer = await connect(db.url);
    try {
      await backendRunning(observer, 'pg_sleep');
    } finally {
      await observer.end();
    }
    expect(run.status).toBe('running');

    const started = performance.now();
    await t.close();
    expect(performance.now() - started).toBeLessThan(5_000);
    const error = await run.result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProjectionFailedError);
    expect((error as Error).message).toMatch(/Projection a failed .* the application is shutting down/);

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query(`SELECT org_id, value FROM dag_a ORDER BY org_id`);
      expect(rows).toEqual([1, 2, 3].map((org_id) => ({ org_id, value: 2 })));
      const active = await client.query(
        `SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      );
      expect(active.rows[0].n).toBe(0);
    } finally {
      await client.end();
    }
  });
});
