import { Logger, type Type } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyConflictError, ProjectionFailedError } from '../../lib/index.js';
import { CapturingLogger } from '../support/capturing-logger.js';
import { useTestApp } from '../support/test-app.js';
import { TellerActivity, TellerActivityStreamed, TellerActivityStrict, TellerHistory } from '../fixtures/tellers.fixture.js';

/** Teller 7 works at branches 1, 2 and 3; the others at one branch each. */
const HISTORY = `INSERT INTO teller_history (tid, bid, delta) VALUES
  (1, 1, 10), (2, 1, 20), (7, 1, 5), (7, 1, 6),
  (3, 2, 30), (7, 2, 40),
  (4, 3, 50), (7, 3, 60)`;
const TABLE = (table: string) => `SELECT tid, bid, delta::text, txns FROM ${table} ORDER BY tid`;

describe('a lens key the conflict key does not determine', () => {
  const { t } = useTestApp('key_conflicts', (db) => ({
    dataSources: [{ url: db.url, synchronize: true }],
    projections: [TellerHistory, TellerActivity, TellerActivityStrict, TellerActivityStreamed],
  }));
  const logger = new CapturingLogger();

  beforeAll(async () => {
    await t.dataSource().query(`CREATE TABLE teller_history (tid integer NOT NULL, bid integer NOT NULL, delta integer NOT NULL)`);
    await t.dataSource().query(HISTORY);
    t.app.useLogger(logger);
    Logger.overrideLogger(logger);
  });
  afterAll(async () => {
    Logger.overrideLogger(['error']);
  });

  it('warns once, naming the projection, the lens, the key and the row it took over, then upserts', async () => {
    await t.cinema.project(TellerActivity, { bid: 1 }, { fetch: false });
    expect(logger.warnings).toEqual([]);
    // Teller 7's row belongs to branch 1: refreshing branch 2 moves it.
    const rows = await t.cinema.project(TellerActivity, { bid: 2 });
    expect(rows.map((row) => row.tid).sort()).toEqual([3, 7]);
    expect(logger.warnings).toHaveLength(1);
    const [warning] = logger.warnings;
    expect(warning).toContain('TellerActivity');
    expect(warning).toContain('{ bid: 2 }');
    expect(warning).toContain('conflict key (tid)');
    expect(warning).toContain('Key (tid)=(7) already exists');
    expect(warning).toMatch(/held by \{"tid":7,"bid":1,"delta":"11","txns":2\}, outside the slice/);
    expect(warning).toMatch(/lens columns must be determined by the conflict key/);
    expect(warning).toMatch(/keyConflicts: 'error'/);
    await t.cinema.project(TellerActivity, { bid: 3 }, { fetch: false });
    expect(logger.warnings).toHaveLength(1);
    expect(await t.dataSource().query(TABLE('teller_activity'))).toEqual([
      { tid: 1, bid: 1, delta: '10', txns: 1 },
      { tid: 2, bid: 1, delta: '20', txns: 1 },
      { tid: 3, bid: 2, delta: '30', txns: 1 },
      { tid: 4, bid: 3, delta: '50', txns: 1 },
      { tid: 7, bid: 3, delta: '60', txns: 1 },
    ]);
  });

  it.each<[Type<TellerActivityStrict>, string, string]>([
    [TellerActivityStrict, 'teller_activity_strict', 'insert-select'],
    [TellerActivityStreamed as Type<never>, 'teller_activity_streamed', 'stream'],
  ])("with keyConflicts: 'error' fails the refresh and keeps the table (%o)", async (projection, table, path) => {
    const warnings = logger.warnings.length;
    const first = await t.cinema.project(projection, { bid: 1 }, { async: true, fetch: false });
    await first.result;
    expect(first.nodes.at(-1)!.paths).toEqual([path]);
    const before = await t.dataSource().query(TABLE(table));
    expect(before).toHaveLength(3);
    const error = await t.cinema.project(projection, { bid: 2 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProjectionFailedError);
    const cause = (error as ProjectionFailedError).cause as KeyConflictError;
    expect(cause).toBeInstanceOf(KeyConflictError);
    expect(cause).toMatchObject({ projection: projection.name, lens: { bid: 2 }, key: ['tid'] });
    expect(cause.detail).toBe('Key (tid)=(7) already exists.');
    expect(cause.row).toEqual({ tid: 7, bid: 1, delta: '11', txns: 2 });
    expect((error as Error).message).toMatch(/failed for lens \{ bid: 2 \}/);
    expect((error as Error).message).toMatch(/lens columns must be determined by the conflict key \(tid\)/);
    expect(await t.dataSource().query(TABLE(table))).toEqual(before);
    // It keeps failing rather than switching to upserts, and logs no warning: the error says it all.
    await expect(t.cinema.project(projection, { bid: 2 }, { fetch: false })).rejects.toThrow(/Key \(tid\)=\(7\) already exists/);
    expect(logger.warnings.length).toBe(warnings);
    expect(await t.dataSource().query(TABLE(table))).toEqual(before);
  });
});
