import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootApp, type TestApp } from '../support/app.js';
import { createDatabase } from '../support/database.js';
import { MomentCopies, MomentCopiesAsDates, MomentCopiesFromContext, MomentEvents, received } from '../fixtures/moments.fixture.js';

const COLUMNS = ['at', 'stamp', 'day', 'clock', 'span', 'ats'];

describe('date/time values through a stream derivation', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let t: TestApp;

  /** Ids of rows whose copy differs from the source, compared as PostgreSQL prints them (interval '1 day' = '24 hours' otherwise). */
  const differing = async (table: string): Promise<number[]> => {
    const rows = await t.dataSource().query(
      `SELECT coalesce(e.id, c.id) AS id FROM moment_events e FULL JOIN ${table} c ON c.id = e.id
       WHERE ROW(${COLUMNS.map((c) => `e.${c}`).join(', ')})::text IS DISTINCT FROM ROW(${COLUMNS.map((c) => `c.${c}`).join(', ')})::text
       ORDER BY 1`,
    );
    return rows.map((row: { id: number }) => row.id);
  };

  beforeAll(async () => {
    db = await createDatabase('dates');
    t = await bootApp({
      dataSources: [{ url: db.url, synchronize: true }],
      projections: [MomentEvents, MomentCopies, MomentCopiesFromContext, MomentCopiesAsDates],
      cinema: { allowEmptyLens: true },
    });
    await t.dataSource().query(`
      CREATE TABLE moment_events (
        id integer PRIMARY KEY, at timestamptz, stamp timestamp, day date, clock time, span interval, ats timestamptz[]
      )`);
    // Microseconds everywhere, an offset that is not the session's, infinities, BC, NULLs in arrays.
    await t.dataSource().query(`
      INSERT INTO moment_events VALUES
        (1, '2026-03-01 12:34:56.123456+05:30', '2026-03-01 12:34:56.654321', '2026-03-01', '23:59:59.999999',
            '1 year 2 mons 3 days 04:05:06.000007', ARRAY['2026-03-01 00:00:00.000001+00', '1999-12-31 23:59:59.999999-08']::timestamptz[]),
        (2, 'infinity', '-infinity', '0044-03-15 BC', '00:00:00', '-1 day +00:00:00.5', '{}'),
        (3, '1970-01-01 00:00:00.000999+00', '2000-02-29 00:00:00.1', '2000-02-29', NULL, '00:00:00.000001', ARRAY[NULL, 'epoch']::timestamptz[]),
        (4, NULL, NULL, NULL, NULL, NULL, NULL)`);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  it('copies every value exactly with @Input({ dateStrings: true })', async () => {
    await t.cinema.project(MomentCopies, {});
    expect(await t.dataSource().query(`SELECT count(*)::int AS n FROM moment_copies`)).toEqual([{ n: 4 }]);
    expect(await differing('moment_copies')).toEqual([]);
  });

  it('copies every value exactly with ctx.stream(input, { dateStrings: true })', async () => {
    await t.cinema.project(MomentCopiesFromContext, {});
    expect(await t.dataSource().query(`SELECT count(*)::int AS n FROM moment_copies_ctx`)).toEqual([{ n: 4 }]);
    expect(await differing('moment_copies_ctx')).toEqual([]);
  });

  it('hands the derivation the text PostgreSQL sends, arrays as arrays of strings', async () => {
    await t.cinema.project(MomentCopies, {});
    const row = received.find((r) => r.id === 1)!;
    expect(row.at).toMatch(/^2026-03-01 \d\d:\d\d:56\.123456[+-]\d\d/);
    expect(row).toMatchObject({
      stamp: '2026-03-01 12:34:56.654321',
      day: '2026-03-01',
      clock: '23:59:59.999999',
      span: '1 year 2 mons 3 days 04:05:06.000007',
    });
    expect(row.ats).toEqual([expect.stringMatching(/\.000001/), expect.stringMatching(/\.999999/)]);
    expect(received.find((r) => r.id === 3)!.ats).toEqual([null, expect.any(String)]);
    expect(received.find((r) => r.id === 2)!).toMatchObject({ at: 'infinity', stamp: '-infinity', day: '0044-03-15 BC' });
  });

  it('loses microseconds by default (JavaScript Dates), which is what the option is for', async () => {
    await t.cinema.project(MomentCopiesAsDates, {});
    const ids = await differing('moment_copies_dates');
    expect(ids).toEqual(expect.arrayContaining([1, 3]));
    const [row] = await t.dataSource().query(`SELECT span::text FROM moment_copies_dates WHERE id = 1`);
    // An interval object is written back through its own text, not as JSON.
    expect(row.span).toBe('1 year 2 mons 3 days 04:05:06.000007');
  });
});
