import { afterAll, beforeAll } from 'vitest';
import { bootApp, type TestApp } from './app.js';
import { CINEMA_QUEUE_MIGRATIONS } from '../../lib/index.js';
import { createDatabase } from './database.js';

export type TestDatabase = Awaited<ReturnType<typeof createDatabase>>;

/**
 * A fresh database and an application booted on it, for the tests of one `describe`: made in a
 * `beforeAll`, closed and dropped in an `afterAll`. `t` and `db` are usable inside tests and
 * later hooks (a spec adds its own `beforeAll` for data, run after the boot).
 */
export function useTestApp(
  label: string,
  options: (db: TestDatabase) => Parameters<typeof bootApp>[0] | Promise<Parameters<typeof bootApp>[0]>,
): { t: TestApp; db: TestDatabase } {
  let booted: TestApp | undefined;
  let database: TestDatabase | undefined;
  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the test ${what} of "${label}" is not ready: use it in a test or a later hook`);
    return value;
  };
  const t: TestApp = {
    get app() {
      return ready(booted, 'app').app;
    },
    get cinema() {
      return ready(booted, 'app').cinema;
    },
    dataSource: (name) => ready(booted, 'app').dataSource(name),
    close: async () => {
      const app = booted;
      booted = undefined;
      await app?.close();
    },
  };
  const db: TestDatabase = {
    get url() {
      return ready(database, 'database').url;
    },
    get name() {
      return ready(database, 'database').name;
    },
    drop: () => ready(database, 'database').drop(),
  };
  beforeAll(async () => {
    database = await createDatabase(label);
    booted = await bootApp(await options(database));
  });
  afterAll(async () => {
    await t.close();
    await database?.drop();
  });
  return { t, db };
}

/**
 * A fresh database with two applications on the queue engine, for one `describe`: a worker (works
 * jobs in this process) and an API process (enqueues and awaits, never works a job).
 */
export function useQueueApps(
  label: string,
  projections: Parameters<typeof bootApp>[0]['projections'],
  worker: Record<string, unknown>,
): { worker: TestApp; api: TestApp; db: TestDatabase; boot: (queue: Record<string, unknown>) => Promise<TestApp> } {
  const apps: { worker?: TestApp; api?: TestApp; db?: TestDatabase } = {};
  const boot = (queue: Record<string, unknown>) =>
    bootApp({
      dataSources: [{ url: apps.db!.url, synchronize: true, migrations: [...CINEMA_QUEUE_MIGRATIONS] }],
      projections,
      cinema: { allowEmptyLens: true, queue: { pollInterval: 100, sweepInterval: 200, ...queue } },
    });
  beforeAll(async () => {
    apps.db = await createDatabase(label);
    apps.worker = await boot({ worker: true, ...worker });
    await apps.worker.app.init();
    apps.api = await boot({ worker: false });
    await apps.api.app.init();
  });
  afterAll(async () => {
    await apps.api?.close();
    await apps.worker?.close();
    await apps.db?.drop();
  });
  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the ${what} of "${label}" is not ready: use it in a test or a later hook`);
    return value;
  };
  const face = (which: 'worker' | 'api'): TestApp => ({
    get app() {
      return ready(apps[which], which).app;
    },
    get cinema() {
      return ready(apps[which], which).cinema;
    },
    dataSource: (name) => ready(apps[which], which).dataSource(name),
    close: () => ready(apps[which], which).close(),
  });
  return {
    worker: face('worker'),
    api: face('api'),
    /** Another application on the same database (close it in the test). */
    boot,
    get db() {
      return ready(apps.db, 'database');
    },
  };
}
