import { Logger, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CinemaService, SupersededVersionError, VersionChangedError, type VersionPolicy } from '../../lib/index.js';
import { ChangeWatcher } from '../../lib/capture/change.watcher.js';
import { VERSION_POLICY_ENV } from '../../lib/capture/version-rollout.js';
import {
  VERSIONS_TABLES,
  VerCounts,
  VerGradesV2,
  VerTotalsV1,
  VerTotalsV2,
  versionHooks,
  versionsApp,
  versionsTruth,
  type Deploy,
} from '../fixtures/versions.fixture.js';
import { testModule } from '../support/app.js';
import { CapturingLogger } from '../support/capturing-logger.js';
import { createDatabase } from '../support/database.js';
import { connect, waitFor } from '../support/postgres.js';

type Client = Awaited<ReturnType<typeof connect>>;
type Db = Awaited<ReturnType<typeof createDatabase>>;

interface Booted {
  app: INestApplicationContext;
  cinema: CinemaService;
  watcher: ChangeWatcher;
  logs: string[];
  close(): Promise<void>;
}

const open: Booted[] = [];

/**
 * Boots one process of the application with `deploy`'s code, keeping its log lines. Its watcher
 * runs every `interval` ms (an hour: only its first cycle, at boot).
 */
async function boot(db: Db, deploy: Deploy, onVersionChange?: VersionPolicy, interval = 50, watch = true): Promise<Booted> {
  const logger = new CapturingLogger();
  const app = await NestFactory.createApplicationContext(testModule(versionsApp(db, deploy, { onVersionChange }, interval, watch)), {
    logger,
    abortOnError: false,
  });
  Logger.overrideLogger(['error']);
  const booted: Booted = {
    app,
    cinema: app.get(CinemaService),
    watcher: app.get(ChangeWatcher),
    logs: logger.logs,
    close: async () => {
      open.splice(open.indexOf(booted), 1);
      await app.close();
    },
  };
  open.push(booted);
  return booted;
}

/** Waits until the running watchers left no mark (of `projection`: the capture triggers also mark projections a deploy may lack). */
async function drain(client: Client, projection?: string): Promise<void> {
  await waitFor(async () => {
    const [{ n }] = (
      await client.query(`SELECT count(*)::int AS n FROM cinema.changes WHERE $1::text IS NULL OR projection = $1`, [projection ?? null])
    ).rows;
    return n === 0 ? true : undefined;
  }, 'the watchers to leave no mark');
}

async function rows(client: Client, sql: string): Promise<unknown[]> {
  return (await client.query(sql)).rows;
}

/** The ledger's version of each slice of a projection, by org. */
async function ledgerVersions(client: Client, projection: string): Promise<Record<string, string>> {
  const { rows: found } = await client.query(
    `SELECT slice->>'orgId' AS org, version FROM cinema.freshness WHERE projection = $1 ORDER BY 1`,
    [projection],
  );
  return Object.fromEntries(found.map((row) => [row.org, row.version]));
}

const ORGS = [1, 2, 3, 4, 5];

/** A database with the v1 deploy built: every slice in the ledger, every table equal to v1's truth. */
function useBuiltDatabase(label: string) {
  const state: { db?: Db; client?: Client } = {};
  beforeAll(async () => {
    state.db = await createDatabase(label);
    const v1 = await boot(state.db, 'v1');
    state.client = await connect(state.db.url);
    await state.client.query(`INSERT INTO ver_invoices (id, org_id, amount) SELECT i, 1 + i % 5, i * 10 FROM generate_series(1, 40) i`);
    await drain(state.client);
    expect(await rows(state.client, VERSIONS_TABLES.totals)).toEqual(await rows(state.client, versionsTruth('v1').totals));
    expect(Object.keys(await ledgerVersions(state.client, 'VerTotals'))).toEqual(ORGS.map(String));
    await v1.close();
  });
  afterAll(async () => {
    for (const process of [...open]) await process.close();
    await state.client?.end();
    await state.db?.drop();
  });
  return { db: () => state.db!, client: () => state.client! };
}

const VERSION = /^[0-9a-f]{16}$/;

describe("a changed derivation under onVersionChange: 'rebuild'", () => {
  const { db, client } = useBuiltDatabase('versions_rebuild');

  it('an unchanged restart reports nothing changed and queues nothing', async () => {
    const again = await boot(db(), 'v1');
    expect(again.logs).toContainEqual(expect.stringMatching(/^Projection versions: none changed \(3 tracked\)\.$/));
    expect(await rows(client(), `SELECT * FROM cinema.changes`)).toEqual([]);
    expect(again.cinema.select('state:modified')).toEqual([]);
    const derivations = versionHooks.v1.length;
    await drain(client());
    expect(versionHooks.v1.length).toBe(derivations);
    await again.close();
  });

  it('reports the changed projection and its dependent, and rebuilds every slice until it carries the new version and equals the new truth', async () => {
    const before = await ledgerVersions(client(), 'VerTotals');
    const countsBefore = await ledgerVersions(client(), 'VerCounts');
    // A web process first (no watcher): it reports; a worker then rebuilds.
    const v2 = await boot(db(), 'v2', undefined, 50, false);
    const totals = v2.app.get(CinemaService).graph();
    expect(totals.nodes.length).toBe(3);
    const line = v2.logs.find((log) => log.startsWith('Projection versions:'))!;
    expect(line).toMatch(/^Projection versions: 2 changed\. /);
    expect(line).toMatch(
      new RegExp(
        `VerTotals ${before['1']} -> [0-9a-f]{16} \\(its definition changed\\), policy 'rebuild': 5 outdated slice\\(s\\), 5 queued`,
      ),
    );
    expect(line).toMatch(
      /VerGrades [0-9a-f]{16} -> [0-9a-f]{16} \(its input VerTotals changed\), policy 'rebuild': 5 outdated slice\(s\), 5 queued/,
    );
    expect(line).not.toMatch(/VerCounts/);
    expect(v2.cinema.select('state:modified')).toEqual([VerTotalsV2, VerGradesV2]);
    expect(v2.cinema.select('state:modified', { exclude: 'VerGrades' })).toEqual([VerTotalsV2]);

    const versions = await v2.cinema.versions();
    const totalsVersion = versions.find((v) => v.projection === 'VerTotals')!;
    expect(totalsVersion).toMatchObject({ modified: true, policy: 'rebuild', previous: before['1'], outdatedSlices: 5 });
    expect(totalsVersion.version).toMatch(VERSION);
    expect(totalsVersion.version).not.toBe(before['1']);
    expect(versions.find((v) => v.projection === 'VerCounts')).toMatchObject({
      modified: false,
      outdatedSlices: 0,
      version: countsBefore['1'],
    });
    // freshness() says the definition changed, with both versions.
    expect(await v2.cinema.freshness(VerTotalsV2, { orgId: 1 })).toMatchObject({
      definitionChanged: true,
      builtBy: before['1'],
      version: totalsVersion.version,
    });
    expect(await v2.cinema.freshness(VerTotalsV2)).toMatchObject({ definitionChanged: true, outdatedSlices: 5 });

    versionHooks.v2.length = 0;
    const worker = await boot(db(), 'v2');
    expect(worker.logs.find((log) => log.startsWith('Projection versions:'))).toMatch(
      /VerTotals [0-9a-f]{16} -> [0-9a-f]{16} \(deployed by another process, slices still outdated\), policy 'rebuild': 5 outdated slice\(s\), 0 queued/,
    );
    await drain(client());
    await worker.close();
    // Each slice rebuilt once, by the new code.
    expect(versionHooks.v2.flatMap((orgs) => orgs ?? [0]).sort()).toEqual(ORGS);
    const after = await ledgerVersions(client(), 'VerTotals');
    expect(Object.values(after)).toEqual(ORGS.map(() => totalsVersion.version));
    const gradesVersion = versions.find((v) => v.projection === 'VerGrades')!.version;
    expect(Object.values(await ledgerVersions(client(), 'VerGrades'))).toEqual(ORGS.map(() => gradesVersion));
    expect(await rows(client(), VERSIONS_TABLES.totals)).toEqual(await rows(client(), versionsTruth('v2').totals));
    expect(await rows(client(), VERSIONS_TABLES.grades)).toEqual(await rows(client(), versionsTruth('v2').grades));
    // The untouched projection was not rebuilt.
    expect(await ledgerVersions(client(), 'VerCounts')).toEqual(countsBefore);
    expect((await v2.cinema.versions()).map((v) => v.outdatedSlices)).toEqual([0, 0, 0]);
    expect(await v2.cinema.freshness(VerTotalsV2, { orgId: 1 })).toMatchObject({
      definitionChanged: false,
      builtBy: totalsVersion.version,
    });
    await v2.close();

    // Restarting the new code again changes nothing.
    const again = await boot(db(), 'v2');
    expect(again.logs).toContainEqual('Projection versions: none changed (3 tracked).');
    expect(await rows(client(), `SELECT * FROM cinema.changes`)).toEqual([]);
    await again.close();
  });
});

describe("onVersionChange: 'lazy'", () => {
  const { db, client } = useBuiltDatabase('versions_lazy');

  it('queues nothing; a read with maxStaleness rebuilds exactly that slice, then serves it', async () => {
    const v1Version = (await ledgerVersions(client(), 'VerTotals'))['1'];
    const v2 = await boot(db(), 'v2', 'lazy');
    expect(v2.logs.find((log) => log.startsWith('Projection versions:'))).toMatch(
      /VerTotals .*policy 'lazy': 5 outdated slice\(s\), rebuilt as they are read/,
    );
    expect(await rows(client(), `SELECT * FROM cinema.changes`)).toEqual([]);
    // The v1 slice is fresh by time, but built by another version: not served.
    versionHooks.v2.length = 0;
    const read = await v2.cinema.project(VerTotalsV2, { orgId: 2 }, { maxStaleness: 3_600_000, async: true });
    const result = await read.result;
    expect(read.fresh).toBeFalsy();
    expect(versionHooks.v2).toEqual([[2]]);
    const [truth] = (await client().query(`SELECT (2 * SUM(amount))::int AS total FROM ver_invoices WHERE org_id = 2`)).rows;
    expect(result).toEqual([expect.objectContaining({ orgId: 2, total: truth.total })]);
    const ledger = await ledgerVersions(client(), 'VerTotals');
    const v2Version = (await v2.cinema.versions()).find((v) => v.projection === 'VerTotals')!.version;
    expect(ledger).toEqual({ '1': v1Version, '2': v2Version, '3': v1Version, '4': v1Version, '5': v1Version });
    // The next read is served from the store.
    const again = await v2.cinema.project(VerTotalsV2, { orgId: 2 }, { maxStaleness: 3_600_000, async: true });
    expect(again.fresh).toBe(true);
    expect(versionHooks.v2).toEqual([[2]]);
    expect((await v2.cinema.versions()).find((v) => v.projection === 'VerTotals')!.outdatedSlices).toBe(4);
    // A change to an org rebuilds that slice with the new version too (the watcher treats it as dirty).
    await client().query(`INSERT INTO ver_invoices (id, org_id, amount) VALUES (1001, 3, 1)`);
    await drain(client());
    expect((await ledgerVersions(client(), 'VerTotals'))['3']).toBe(v2Version);
    await v2.close();
  });
});

describe("onVersionChange: 'fail'", () => {
  const { db, client } = useBuiltDatabase('versions_fail');
  afterEach(() => {
    delete process.env[VERSION_POLICY_ENV];
  });

  it('refuses to start naming the projections, changes nothing, and starts once an operator rolled the change out', async () => {
    const before = await rows(client(), `SELECT projection, slice, version FROM cinema.freshness ORDER BY 1, 2`);
    const error = await boot(db(), 'v2', 'fail').catch((e: Error) => e);
    expect(error).toBeInstanceOf(VersionChangedError);
    expect((error as VersionChangedError).changed.map((c) => c.projection)).toEqual(['VerTotals', 'VerGrades']);
    expect((error as Error).message).toMatch(/definition of VerTotals changed \([0-9a-f]{16} -> [0-9a-f]{16}, 5 slice\(s\)/);
    expect((error as Error).message).toMatch(/CINEMA_ON_VERSION_CHANGE=rebuild/);
    expect(await rows(client(), `SELECT projection, slice, version FROM cinema.freshness ORDER BY 1, 2`)).toEqual(before);
    expect(await rows(client(), `SELECT * FROM cinema.changes`)).toEqual([]);
    // The old version is still the newest deployed: old processes keep working.
    const { rows: deployed } = await client().query(
      `SELECT DISTINCT ON (projection) projection, version FROM cinema.projection_versions ORDER BY projection, seq DESC`,
    );
    const oldVersion = (before as { projection: string; version: string }[]).find((row) => row.projection === 'VerTotals')!.version;
    expect(deployed.find((row) => row.projection === 'VerTotals').version).toBe(oldVersion);

    // An operator's rollout: one process with the override.
    process.env[VERSION_POLICY_ENV] = 'rebuild';
    const rollout = await boot(db(), 'v2', 'fail');
    await drain(client());
    await rollout.close();
    delete process.env[VERSION_POLICY_ENV];
    const started = await boot(db(), 'v2', 'fail');
    expect(started.logs).toContainEqual('Projection versions: none changed (3 tracked).');
    expect(await rows(client(), VERSIONS_TABLES.totals)).toEqual(await rows(client(), versionsTruth('v2').totals));
    await started.close();
  });

  it('refuses a bad override by name', async () => {
    process.env[VERSION_POLICY_ENV] = 'sometimes';
    await expect(boot(db(), 'v2')).rejects.toThrow(/CINEMA_ON_VERSION_CHANGE.*'rebuild', 'lazy' or 'fail'/);
  });
});

describe('processes during a rollout', () => {
  const { db, client } = useBuiltDatabase('versions_processes');

  it('two new processes rebuild each slice once; a process still on the old code cannot overwrite a new slice', async () => {
    // Every mark written from now on.
    await client().query(`CREATE TABLE mark_log (projection text, lens jsonb)`);
    await client().query(`CREATE FUNCTION log_mark() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO mark_log VALUES (NEW.projection, NEW.lens); RETURN NULL; END $$`);
    await client().query(`CREATE TRIGGER log_mark AFTER INSERT ON cinema.changes FOR EACH ROW EXECUTE FUNCTION log_mark()`);
    const old = await boot(db(), 'v1', undefined, 3_600_000);
    versionHooks.v2.length = 0;
    const [a, b] = await Promise.all([boot(db(), 'v2'), boot(db(), 'v2')]);
    // The first to take the versions lock sees both changed. The second sees the new version
    // already deployed, and counts as modified only what still has slices of the old one: the
    // first may have rebuilt some already. The slices were queued once between them.
    const modified = await Promise.all(
      [a, b].map(async (process) => (await process.cinema.versions()).filter((v) => v.modified).map((v) => v.projection)),
    );
    expect(modified).toContainEqual(['VerTotals', 'VerGrades']);
    for (const list of modified) expect(['VerTotals', 'VerGrades']).toEqual(expect.arrayContaining(list));
    await drain(client());
    const { rows: marks } = await client().query(`SELECT lens->>'orgId' AS org FROM mark_log WHERE projection = 'VerTotals' ORDER BY 1`);
    expect(marks.map((mark) => Number(mark.org))).toEqual(ORGS);
    expect(versionHooks.v2.flatMap((orgs) => orgs ?? [0]).sort()).toEqual(ORGS);
    expect(await rows(client(), VERSIONS_TABLES.totals)).toEqual(await rows(client(), versionsTruth('v2').totals));
    const newVersion = (await a.cinema.versions()).find((v) => v.projection === 'VerTotals')!.version;
    const oldVersion = (await old.cinema.versions()).find((v) => v.projection === 'VerTotals')!.version;

    // The old process's explicit refresh fails, naming both versions, and the slice keeps the new rows.
    const error = await old.cinema.project(VerTotalsV1, { orgId: 1 }).catch((e: Error) => e);
    expect((error as Error & { cause?: unknown }).cause).toBeInstanceOf(SupersededVersionError);
    expect((error as Error).message).toContain(oldVersion);
    expect((error as Error).message).toContain(newVersion);
    expect(await rows(client(), VERSIONS_TABLES.totals)).toEqual(await rows(client(), versionsTruth('v2').totals));
    // Its watcher fails the slice too and leaves the marks to a new process.
    await b.close();
    await a.close();
    await client().query(`INSERT INTO ver_invoices (id, org_id, amount) VALUES (1001, 4, 3)`);
    const cycle = await old.watcher.cycle();
    expect(cycle.failed).toBeGreaterThanOrEqual(1);
    expect((await ledgerVersions(client(), 'VerTotals'))['4']).toBe(newVersion);
    expect((await rows(client(), `SELECT count(*)::int AS n FROM cinema.changes WHERE projection = 'VerTotals'`))[0]).toEqual({ n: 1 });
    await old.close();
    const fresh = await boot(db(), 'v2');
    await drain(client());
    await fresh.close();
    expect(await rows(client(), VERSIONS_TABLES.totals)).toEqual(await rows(client(), versionsTruth('v2').totals));
    expect((await rows(client(), `SELECT count(*)::int AS n FROM ver_counts`))[0]).toEqual({ n: 5 });
    expect(VerCounts).toBeDefined();
    expect(VerTotalsV1).toBeDefined();
  });
});

describe('the version option', () => {
  const state: { db?: Db; client?: Client } = {};
  beforeAll(async () => {
    state.db = await createDatabase('versions_option');
    state.client = await connect(state.db.url);
  });
  afterAll(async () => {
    for (const process of [...open]) await process.close();
    await state.client?.end();
    await state.db?.drop();
  });

  it('hides a source change while it stays the same, and rolls the projection out when it changes', async () => {
    const client = state.client!;
    const first = await boot(state.db!, 'pinned1');
    await client.query(`INSERT INTO ver_invoices (id, org_id, amount) SELECT i, 1 + i % 5, i * 10 FROM generate_series(1, 40) i`);
    await drain(client, 'VerTotals');
    const pinned = (await first.cinema.versions())[0].version;
    await first.close();
    // Another derivation, the same version option: the same version, nothing rebuilt.
    versionHooks.v2.length = 0;
    const same = await boot(state.db!, 'pinned1-changed');
    expect(same.logs).toContainEqual('Projection versions: none changed (1 tracked).');
    expect((await same.cinema.versions())[0].version).toBe(pinned);
    await drain(client, 'VerTotals');
    expect(versionHooks.v2).toEqual([]);
    expect(await rows(client, VERSIONS_TABLES.totals)).toEqual(await rows(client, versionsTruth('v1').totals));
    await same.close();
    // The option changed: every slice rebuilt by the new code.
    const next = await boot(state.db!, 'pinned2');
    expect(next.logs.find((log) => log.startsWith('Projection versions:'))).toMatch(
      new RegExp(`VerTotals ${pinned} -> [0-9a-f]{16} \\(its definition changed\\), policy 'rebuild': 5 outdated slice\\(s\\), 5 queued`),
    );
    await drain(client, 'VerTotals');
    expect(versionHooks.v2.flatMap((orgs) => orgs ?? [0]).sort()).toEqual(ORGS);
    expect(await rows(client, VERSIONS_TABLES.totals)).toEqual(await rows(client, versionsTruth('v2').totals));
    await next.close();
  });
});
