import type { Type } from '@nestjs/common';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CINEMA_QUEUE_MIGRATIONS, ProjectionFailedError, type DerivationContext } from '../../lib/index.js';
import { bootApp, type TestApp } from '../support/app.js';
import { createDatabase } from '../support/database.js';
import { connect, rowsOf, waitFor } from '../support/postgres.js';
import {
  CopiedNumbers,
  CursorCopiedNumbers,
  DEAD_CONNECTIONS,
  GATE_LOCK,
  hooks,
  SelectedNumbers,
  SOURCE_DDL,
  StreamedNumbers,
} from './fixtures/dead-connections.fixture.js';

const APP = 'cinema-dead-app';
const REPORTING = 'cinema-dead-reporting';
const POOL = 4;
const ROWS = 4_000;
const ORGS = 4;
/** From the kill to the run's rejection. */
const PROMPTLY_MS = 2_000;
/** How long a run may hang before the test calls it hung. */
const HUNG_MS = 10_000;

const TABLES = {
  SelectedNumbers: 'dead_selected',
  StreamedNumbers: 'dead_streamed',
  CopiedNumbers: 'dead_copied',
  CursorCopiedNumbers: 'dead_cursor_copied',
} as const;
type Name = keyof typeof TABLES;
const CLASSES: Record<Name, Type<unknown>> = { SelectedNumbers, StreamedNumbers, CopiedNumbers, CursorCopiedNumbers };

/** Holds the gate lock on its own connection: statements reaching `dead_gate()` past the first rows wait. */
async function holdGate(url: string): Promise<{ release(): Promise<void> }> {
  const client = await connect(url, 'cinema-dead-gate');
  await client.query('SELECT pg_advisory_lock($1)', [GATE_LOCK]);
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await client.end().catch(() => undefined);
    },
  };
}

/** The backend of `applicationName` that waits at the gate: a statement stopped mid-way. */
function waitingAtGate(admin: pg.Client, applicationName: string): Promise<number> {
  return waitFor(async () => {
    const { rows } = await admin.query(
      `SELECT a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND l.objid = $1 AND NOT l.granted AND a.application_name = $2`,
      [GATE_LOCK, applicationName],
    );
    return rows[0]?.pid as number | undefined;
  }, `a statement of ${applicationName} waiting at the gate`);
}

/**
 * The write transaction holding Cinema's advisory lock while it waits on its derivation or rows:
 * idle, or `active` in a `COPY ... FROM STDIN` waiting for the bytes piped from the other database.
 */
function idleLockHolder(admin: pg.Client, state = 'idle in transaction'): Promise<number> {
  return waitFor(async () => {
    const { rows } = await admin.query(
      `SELECT a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND l.granted AND l.objid <> $1 AND a.application_name = $2
         AND a.state = $3 AND ($3 <> 'active' OR a.query LIKE 'COPY %FROM STDIN%')`,
      [GATE_LOCK, REPORTING, state],
    );
    return rows[0]?.pid as number | undefined;
  }, `a write transaction (${state}) holding its advisory lock`);
}

/**
 * Every connection a run uses is killed in turn (the reader streaming its input from the other
 * database, the writer in the middle of a statement, the writer idle while holding the slice's
 * locks), on every write path, with no timeout at all: the run must fail at once, with
 * PostgreSQL's reason, leave the slice and the pool intact, and the next run must succeed.
 */
describe('a connection of a run dies, with timeout: 0', () => {
  let app: Awaited<ReturnType<typeof createDatabase>>;
  let reporting: Awaited<ReturnType<typeof createDatabase>>;
  let t: TestApp;
  let appAdmin: pg.Client;
  let reportingAdmin: pg.Client;
  let gates: { release(): Promise<void> }[] = [];
  let releaseHold: (() => void) | undefined;
  let before: Record<string, string[]>;

  const gate = async (url: string) => {
    const held = await holdGate(url);
    gates.push(held);
  };
  /** The derivation waits (its transaction idle, holding the slice's locks) until the test lets go. */
  const hold = () => {
    const held = new Promise<void>((resolve) => (releaseHold = resolve));
    hooks.before = () => held;
  };
  const tables = async () => {
    const result: Record<string, string[]> = {};
    for (const [name, table] of Object.entries(TABLES))
      result[name] = await rowsOf(reportingAdmin, `SELECT id, org_id, amount FROM ${table}`);
    return result;
  };

  /** Starts the run, kills the backend `find` names, and returns the run's error and how long it took after the kill. */
  async function kill(
    start: () => Promise<unknown>,
    find: () => Promise<number>,
    admin: pg.Client,
  ): Promise<{ error: unknown; afterKillMs: number }> {
    const run = start().then(
      () => new Error('the run succeeded'),
      (error: unknown) => error,
    );
    const pid = await find();
    const killed = performance.now();
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    const hung = new Promise<Error>((resolve) =>
      setTimeout(() => resolve(new Error(`the run still hung ${HUNG_MS} ms after the kill`)), HUNG_MS).unref(),
    );
    const error = await Promise.race([run, hung]);
    const afterKillMs = performance.now() - killed;
    console.log(`${expect.getState().currentTestName}: rejected ${Math.round(afterKillMs)} ms after the kill`);
    return { error, afterKillMs };
  }

  function expectTerminated(outcome: { error: unknown; afterKillMs: number }, projection: Name): void {
    const { error, afterKillMs } = outcome;
    expect((error as Error).message).toMatch(
      new RegExp(
        `^Projection ${projection} failed for lens \\{ orgId: 2 \\} and was rolled back: terminating connection due to administrator command`,
      ),
    );
    expect(error).toBeInstanceOf(ProjectionFailedError);
    expect((error as ProjectionFailedError).projection).toBe(projection);
    expect(((error as ProjectionFailedError).cause as { code?: string }).code).toBe('57P01');
    expect(afterKillMs).toBeLessThan(PROMPTLY_MS);
  }

  /** No lock, no transaction left; every pooled connection works; the next runs succeed. */
  async function expectRecovery(): Promise<void> {
    expect(await tables()).toEqual(before);
    await waitFor(
      async () => {
        const { rows } = await reportingAdmin.query(
          `SELECT COUNT(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND a.application_name = $1`,
          [REPORTING],
        );
        return rows[0].n === 0 ? true : undefined;
      },
      'the advisory locks to be free',
      PROMPTLY_MS,
    );
    for (const gateHeld of gates) await gateHeld.release();
    gates = [];
    releaseHold?.();
    delete hooks.before;
    for (const admin of [appAdmin, reportingAdmin]) {
      const { rows } = await admin.query(
        `SELECT application_name, state FROM pg_stat_activity WHERE application_name IN ($1, $2) AND state LIKE 'idle in transaction%'`,
        [APP, REPORTING],
      );
      expect(rows).toEqual([]);
    }
    // A dead connection handed back to a pool would fail one of these.
    for (const name of ['app', 'reporting']) {
      await Promise.all(Array.from({ length: POOL }, () => t.dataSource(name).query('SELECT 1')));
    }
    for (const name of Object.keys(TABLES) as Name[]) await t.cinema.project(CLASSES[name], { orgId: 2 }, { fetch: false });
    const truth = await rowsOf(reportingAdmin, 'SELECT id, org_id, amount FROM dead_numbers WHERE org_id = 2');
    for (const table of Object.values(TABLES)) {
      expect(await rowsOf(reportingAdmin, `SELECT id, org_id, amount FROM ${table} WHERE org_id = 2`)).toEqual(truth);
    }
  }

  beforeAll(async () => {
    app = await createDatabase('dead_app');
    reporting = await createDatabase('dead_reporting');
    appAdmin = await connect(app.url, 'cinema-dead-admin');
    reportingAdmin = await connect(reporting.url, 'cinema-dead-admin');
    for (const admin of [appAdmin, reportingAdmin]) {
      await admin.query(SOURCE_DDL);
      await admin.query(`INSERT INTO dead_numbers SELECT g, (g - 1) % ${ORGS} + 1, g * 10 FROM generate_series(1, ${ROWS}) g`);
    }
    t = await bootApp({
      dataSources: [
        { name: 'app', url: app.url, poolSize: POOL, applicationName: APP },
        {
          name: 'reporting',
          url: reporting.url,
          synchronize: true,
          poolSize: POOL,
          applicationName: REPORTING,
          migrations: [...CINEMA_QUEUE_MIGRATIONS],
        },
      ],
      projections: DEAD_CONNECTIONS,
      featureDataSources: ['reporting'],
      cinema: {
        readDataSource: 'reporting',
        writeDataSource: 'reporting',
        timeout: 0,
        fullRebuildTimeout: 0,
        allowEmptyLens: true,
        // Small batches: the streamed paths have copied rows before they reach the gate.
        batchSize: 100,
        streamBatchSize: 100,
        queue: { worker: true, attempts: 1, pollInterval: 100, sweepInterval: 200 },
      },
    });
    await t.app.init();
  });
  beforeEach(async () => {
    delete hooks.before;
    for (const name of Object.keys(TABLES) as Name[]) await t.cinema.project(CLASSES[name], {}, { fetch: false });
    // Every slice goes stale: a rebuild that went through would change each table.
    for (const admin of [appAdmin, reportingAdmin]) await admin.query('UPDATE dead_numbers SET amount = amount + 1');
    before = await tables();
  });
  afterEach(async () => {
    for (const gateHeld of gates) await gateHeld.release();
    gates = [];
    releaseHold?.();
    delete hooks.before;
  });
  afterAll(async () => {
    await t?.close();
    await appAdmin?.end();
    await reportingAdmin?.end();
    await app?.drop();
    await reporting?.drop();
  });

  it('takes client_connection_check_interval for its write transactions', async () => {
    let setting: string | undefined;
    hooks.before = async (ctx: DerivationContext) => {
      [{ client_connection_check_interval: setting }] = await ctx.write.query('SHOW client_connection_check_interval');
    };
    await t.cinema.project(SelectedNumbers, { orgId: 1 }, { fetch: false });
    expect(setting).toBe('1s');
  });

  it('writes each projection on the path its tests name', async () => {
    const paths = async (projection: Type<unknown>) => {
      const run = await t.cinema.project(projection, { orgId: 1 }, { async: true, fetch: false });
      await run.result;
      return run.nodes.at(-1)!.paths;
    };
    expect(await paths(SelectedNumbers)).toEqual(['insert-select']);
    expect(await paths(StreamedNumbers)).toEqual(['stream']);
    expect(await paths(CopiedNumbers)).toEqual(['copy-pipe']);
    expect(await paths(CursorCopiedNumbers)).toEqual(['stream']);
  });

  describe('INSERT ... SELECT (the write database reads its own tables)', () => {
    it('the writer, in the middle of the INSERT', async () => {
      await gate(reporting.url);
      expectTerminated(
        await kill(
          () => t.cinema.project(SelectedNumbers, { orgId: 2 }),
          () => waitingAtGate(reportingAdmin, REPORTING),
          reportingAdmin,
        ),
        'SelectedNumbers',
      );
      await expectRecovery();
    });

    it('the writer holding the slice locks, idle while its derivation runs', async () => {
      hold();
      expectTerminated(
        await kill(
          () => t.cinema.project(SelectedNumbers, { orgId: 2 }),
          () => idleLockHolder(reportingAdmin),
          reportingAdmin,
        ),
        'SelectedNumbers',
      );
      await expectRecovery();
    });
  });

  describe.each([
    ['COPY of rows from Node, streamed from the other database', 'StreamedNumbers' as const, 'idle in transaction'],
    ['COPY of a query on the other database, piped from COPY TO into COPY FROM', 'CopiedNumbers' as const, 'active'],
    ['COPY of a query on the other database, read as text with a cursor', 'CursorCopiedNumbers' as const, 'idle in transaction'],
  ])('%s', (_title, name, writerState) => {
    const projection = CLASSES[name];

    it('the reader, streaming the input mid-way', async () => {
      await gate(app.url);
      expectTerminated(
        await kill(
          () => t.cinema.project(projection, { orgId: 2 }),
          () => waitingAtGate(appAdmin, APP),
          appAdmin,
        ),
        name,
      );
      await expectRecovery();
    });

    it('the writer, in the middle of a statement', async () => {
      await gate(reporting.url);
      hooks.before = async (ctx) => void (await ctx.write.query('SELECT dead_gate(999999, 0)'));
      expectTerminated(
        await kill(
          () => t.cinema.project(projection, { orgId: 2 }),
          () => waitingAtGate(reportingAdmin, REPORTING),
          reportingAdmin,
        ),
        name,
      );
      await expectRecovery();
    });

    it('the writer holding the slice locks, waiting while the reader is mid-way', async () => {
      await gate(app.url);
      const find = async () => {
        await waitingAtGate(appAdmin, APP);
        return idleLockHolder(reportingAdmin, writerState);
      };
      expectTerminated(await kill(() => t.cinema.project(projection, { orgId: 2 }), find, reportingAdmin), name);
      await expectRecovery();
    });
  });

  describe('the queue engine', () => {
    it('a node whose reader dies fails at once (no retry left) with the reason, and the next run succeeds', async () => {
      await gate(app.url);
      const outcome = await kill(
        () => t.cinema.project(StreamedNumbers, { orgId: 2 }, { engine: 'queue', fetch: false }),
        () => waitingAtGate(appAdmin, APP),
        appAdmin,
      );
      expect(outcome.error).toBeInstanceOf(ProjectionFailedError);
      expect((outcome.error as ProjectionFailedError).projection).toBe('StreamedNumbers');
      expect((outcome.error as Error).message).toMatch(/terminating connection due to administrator command/);
      expect(outcome.afterKillMs).toBeLessThan(PROMPTLY_MS);
      await expectRecovery();
      await t.cinema.project(StreamedNumbers, { orgId: 2 }, { engine: 'queue', fetch: false });
    });

    it('a node whose writer dies while holding the slice locks fails at once', async () => {
      hold();
      const outcome = await kill(
        () => t.cinema.project(CopiedNumbers, { orgId: 2 }, { engine: 'queue', fetch: false }),
        () => idleLockHolder(reportingAdmin),
        reportingAdmin,
      );
      expect((outcome.error as Error).message).toMatch(
        /^Projection CopiedNumbers failed .*terminating connection due to administrator command/,
      );
      expect(outcome.afterKillMs).toBeLessThan(PROMPTLY_MS);
      await expectRecovery();
    });
  });
});
