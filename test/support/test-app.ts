import { afterAll, beforeAll } from 'vitest';
import { bootApp, type TestApp } from './app.js';
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
