import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../support/database.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CONSUMER = fileURLToPath(new URL('./consumer/app.ts', import.meta.url));

/** The compilers a consumer may type-check the package's declarations with. */
const COMPILERS = { ts5: 'typescript@5.9.3', ts6: 'typescript@6.0.3', ts7: 'typescript@7.0.2' } as const;
/** What a consumer installs next to the package: its peers (as this repository tests them) and types. */
const PEERS = [
  '@nestjs/common',
  '@nestjs/core',
  '@nestjs/typeorm',
  'typeorm',
  'pg',
  'reflect-metadata',
  'rxjs',
  'nest-commander',
  '@nestjs/platform-express',
  '@mermaid-js/tiny',
  '@types/inquirer',
  '@types/pg',
  '@types/node',
];

/** The settings the README asks of a consumer compiling decorators with tsc. */
const CONSUMER_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    // The declarations are checked too, with everything they import.
    skipLibCheck: false,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    useDefineForClassFields: false,
    types: ['node'],
    outDir: '.',
  },
  files: ['app.ts'],
};

interface PackResult {
  filename: string;
  size: number;
  files: { path: string }[];
}

let app: string;
let tarball: string;
let packed: PackResult;
let database: Awaited<ReturnType<typeof createDatabase>>;

async function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(command, args, { cwd, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${stdout ?? ''}\n${stderr ?? ''}`, { cause: error });
  }
}

async function installedVersion(name: string): Promise<string> {
  return (JSON.parse(await readFile(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

/** tsc of one of the installed compilers, run in one of the consumer's folders. */
function tsc(compiler: keyof typeof COMPILERS, folder: string, ...args: string[]): Promise<string> {
  return run(process.execPath, [join(app, 'node_modules', compiler, 'bin', 'tsc'), '-p', 'tsconfig.json', ...args], join(app, folder));
}

beforeAll(async () => {
  app = await mkdtemp(join(tmpdir(), 'cinema-consumer-'));
  await run('npm', ['run', 'build'], ROOT);
  packed = (JSON.parse(await run('npm', ['pack', '--json', '--pack-destination', app], ROOT)) as PackResult[])[0];
  tarball = join(app, packed.filename);

  const dependencies: Record<string, string> = { 'cinema-nestjs': `file:${tarball}` };
  for (const name of PEERS) dependencies[name] = await installedVersion(name);
  for (const [alias, spec] of Object.entries(COMPILERS)) dependencies[alias] = `npm:${spec}`;
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'cinema-consumer', private: true, dependencies }, null, 2));
  // From npm's cache when it holds them (every peer is a devDependency of this repository).
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], app);

  // One source, two module systems: the nearest package.json's "type" decides, as for a user.
  for (const [folder, type] of [
    ['esm', 'module'],
    ['cjs', 'commonjs'],
  ] as const) {
    await mkdir(join(app, folder));
    await cp(CONSUMER, join(app, folder, 'app.ts'));
    await writeFile(join(app, folder, 'package.json'), JSON.stringify({ type }));
    await writeFile(join(app, folder, 'tsconfig.json'), JSON.stringify(CONSUMER_TSCONFIG, null, 2));
  }
  database = await createDatabase('pack');
});

afterAll(async () => {
  await database?.drop();
  if (app) await rm(app, { recursive: true, force: true });
});

describe('the package from npm pack', () => {
  it('ships the license, the compiled library, its declarations and the sources its maps name', async () => {
    const files = new Set(packed.files.map((file) => file.path));
    expect(files).toContain('LICENSE');
    expect(files).toContain('dist/lib/index.js');
    expect(files).toContain('dist/lib/index.d.ts');
    expect([...files].filter((file) => !/^(dist\/lib\/|lib\/|LICENSE$|README\.md$|package\.json$)/.test(file))).toEqual([]);

    const maps = [...files].filter((file) => file.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(0);
    const installed = join(app, 'node_modules', 'cinema-nestjs');
    const missing: string[] = [];
    for (const map of maps) {
      const { sources } = JSON.parse(await readFile(join(installed, map), 'utf8')) as { sources: string[] };
      for (const source of sources) {
        const target = posix.normalize(posix.join(posix.dirname(map), source));
        if (!files.has(target)) missing.push(`${map} -> ${source}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('passes publint and Are the Types Wrong (require of ES modules allowed, as on Node 20.19+; node16 and bundler resolution)', async () => {
    await run(join(ROOT, 'node_modules', '.bin', 'publint'), ['run', '--strict', tarball], app);
    // cjs-resolves-to-esm: `require('cinema-nestjs')` loads the ES module (Node 20.19+, TypeScript 5.8+).
    // node16 profile: `moduleResolution: node10` knows no `exports`, so no subpath (`cinema-nestjs/cli`)
    // can resolve there; TypeScript 7 removes that mode and the package is ES modules anyway.
    await run(join(ROOT, 'node_modules', '.bin', 'attw'), [tarball, '--profile', 'node16', '--ignore-rules', 'cjs-resolves-to-esm'], app);
  });

  // Compiled with TypeScript 6 and no skipLibCheck: this also type-checks the declarations on 6.
  it.each(['esm', 'cjs'] as const)('boots a Nest app and refreshes a projection on PostgreSQL (%s, TypeScript 6)', async (folder) => {
    await tsc('ts6', folder);
    const compiled = await readFile(join(app, folder, 'app.js'), 'utf8');
    expect(compiled).toContain(folder === 'esm' ? "from 'cinema-nestjs'" : 'require("cinema-nestjs")');

    const output = await run(process.execPath, ['app.js'], join(app, folder), { DATABASE_URL: database.url, NODE_NO_WARNINGS: '1' });
    const result = JSON.parse(output.trim().split('\n').at(-1)!) as { rows: unknown[]; refused: string };
    expect(result.rows).toEqual([{ orgId: 1, totalCents: '350' }]);
    expect(result.refused).toBe('UnknownLensKeyError');
  });

  it.each(['esm', 'cjs'] as const)('runs the cinema command line of cinema-nestjs/cli over the app (%s)', async (folder) => {
    const cli = (...args: string[]) =>
      promisify(execFile)(process.execPath, ['app.js', 'cli', ...args], {
        cwd: join(app, folder),
        env: { ...process.env, DATABASE_URL: database.url, NODE_NO_WARNINGS: '1' },
      }).then(
        ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
        (error: { code?: number; stdout?: string; stderr?: string }) => ({
          code: error.code ?? 1,
          stdout: error.stdout ?? '',
          stderr: error.stderr ?? '',
        }),
      );
    await tsc('ts6', folder);
    const refresh = await cli('refresh', 'OrgTotals', '--lens', 'orgId=1');
    expect(refresh).toMatchObject({ code: 0, stderr: '' });
    expect(refresh.stdout).toMatch(/^OrgTotals\s+succeeded\s+1\s+\d+\s/m);
    const refused = await cli('plan', 'Nope');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('no projection is named "Nope"');
  });

  it.each(['esm', 'cjs'] as const)('serves the board of cinema-nestjs/board, its files and its API (%s)', async (folder) => {
    await tsc('ts6', folder);
    const output = await run(process.execPath, ['app.js', 'board'], join(app, folder), {
      DATABASE_URL: database.url,
      NODE_NO_WARNINGS: '1',
    });
    expect(JSON.parse(output.trim().split('\n').at(-1)!)).toEqual({
      page: 200,
      base: true,
      assets: { 'board.js': 200, 'board.css': 200, 'mermaid.js': 200 },
      started: 202,
      run: 'succeeded',
      projections: ['Orders', 'OrgTotals'],
    });
  });

  it.each([
    ['5.9', 'ts5'],
    ['7.0', 'ts7'],
  ] as const)('its declarations compile in a consumer on TypeScript %s', async (_version, compiler) => {
    for (const folder of ['esm', 'cjs']) await tsc(compiler, folder, '--noEmit');
  });
});
