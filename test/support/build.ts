import { transformFile } from '@swc/core';
import { copyFile, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The transform of test/vitest.config.ts (and of `nest build`, see nest-cli.json), so a child runs what is tested. */
const SWC_OPTIONS = {
  swcrc: false,
  jsc: {
    parser: { syntax: 'typescript' as const, decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
    target: 'es2022' as const,
  },
  module: { type: 'es6' as const },
  sourceMaps: 'inline' as const,
};

export interface Build {
  /** The compiled form of a source file of the repository, e.g. `sample-app/src/main.ts`. */
  path(source: string): string;
  remove(): Promise<void>;
}

/**
 * Compiles folders of the repository (`lib`, `sample-app/src`, ...) into a private temporary
 * directory, so that child processes run them without touching `dist/`, which `npm run demo`
 * and other builds rewrite. Packages resolve through a link to the repository's node_modules.
 */
export async function buildPrivateCopy(sources: string[]): Promise<Build> {
  const outDir = await mkdtemp(join(tmpdir(), 'cinema-build-'));
  await writeFile(join(outDir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  await symlink(join(ROOT, 'node_modules'), join(outDir, 'node_modules'), 'dir');
  for (const source of sources) {
    for await (const file of sourceFiles(join(ROOT, source))) {
      if (!file.endsWith('.ts')) {
        // Files served as they are (the board's browser script and style).
        await mkdir(dirname(join(outDir, relative(ROOT, file))), { recursive: true });
        await copyFile(file, join(outDir, relative(ROOT, file)));
        continue;
      }
      const target = join(outDir, relative(ROOT, file)).replace(/\.ts$/, '.js');
      const { code } = await transformFile(file, { ...SWC_OPTIONS, filename: file, sourceFileName: file });
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, code);
    }
  }
  return {
    path: (source) => join(outDir, source).replace(/\.ts$/, '.js'),
    remove: () => rm(outDir, { recursive: true, force: true }),
  };
}

/** TypeScript sources to compile, and the `.js` and `.css` files to copy. */
async function* sourceFiles(directory: string): AsyncGenerator<string> {
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) yield* sourceFiles(path);
    else if ((entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) || /\.(js|css)$/.test(entry.name)) yield path;
  }
}
