import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { estimatedRowWidth } from '../../lib/dialect/postgres/row-width.js';
import { createDatabase } from '../support/database.js';

describe("the planner's row width, which sizes cursor fetches of wide rows by bytes", () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let dataSource: DataSource;

  beforeAll(async () => {
    db = await createDatabase('width');
    dataSource = await new DataSource({ type: 'postgres', url: db.url }).initialize();
    await dataSource.query(`CREATE TABLE narrow AS SELECT g AS id, g % 7 AS n FROM generate_series(1, 1000) AS g`);
    // 1.5 KB of varied text a row: below the TOAST threshold, so stored (and estimated) at full width.
    await dataSource.query(
      `CREATE TABLE wide AS SELECT g AS id, (SELECT string_agg(md5((g * 100 + i)::text), '') FROM generate_series(1, 48) AS i) AS memo
       FROM generate_series(1, 1000) AS g`,
    );
    await dataSource.query(`ANALYZE narrow, wide`);
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });

  it('tells wide rows from narrow ones, parameters bound', async () => {
    const narrow = await estimatedRowWidth(dataSource, 'SELECT id, n FROM narrow WHERE id <= $1', [500]);
    const wide = await estimatedRowWidth(dataSource, 'SELECT id, memo FROM wide WHERE id <= $1', [500]);
    expect(narrow).toBeGreaterThan(0);
    expect(narrow).toBeLessThan(50);
    expect(wide).toBeGreaterThan(1_500);
    expect(wide).toBeLessThan(1_700);
  });

  it('asks PostgreSQL once per statement', async () => {
    const sql = 'SELECT id, memo FROM wide WHERE id > $1';
    const first = await estimatedRowWidth(dataSource, sql, [1]);
    await dataSource.query(`DROP TABLE wide`);
    // The statement could not even be planned now: the estimate comes from the cache.
    expect(await estimatedRowWidth(dataSource, sql, [2])).toBe(first);
  });
});
