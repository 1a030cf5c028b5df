// Compiles lib/ and sample-app/src/ to dist/ (dist/lib/..., dist/sample-app/src/...) with swc.
// Other source folders can be named as arguments, e.g. `node sample-app/build.mjs lib sample-app/src bench`.
// Why not tsc or a loader: TypeScript 7 has no JS API for loaders, and esbuild/tsx do not emit
// decorator metadata, which Nest's injection and TypeORM's columns need.
import { transformFile } from '@swc/core';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'dist');
const sources = process.argv.length > 2 ? process.argv.slice(2) : ['lib', 'sample-app/src'];

/** Same transform as test/vitest.config.ts, so the app runs as it is tested. */
const swcOptions = {
  swcrc: false,
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
    target: 'es2022',
  },
  module: { type: 'es6' },
  sourceMaps: 'inline',
};

async function* typescriptFiles(directory) {
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) yield* typescriptFiles(path);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) yield path;
  }
}

const started = performance.now();
// Stale output of every source but lib: dist/lib may also hold tsc's declarations from `npm run build`.
for (const source of sources.filter((s) => s !== 'lib')) {
  await rm(join(outDir, source.split('/')[0]), { recursive: true, force: true });
}
let count = 0;
for (const source of sources) {
  for await (const file of typescriptFiles(join(root, source))) {
    const target = join(outDir, relative(root, file)).replace(/\.ts$/, '.js');
    const { code } = await transformFile(file, {
      ...swcOptions,
      filename: file,
      // Relative to the output file, so stack traces point at the .ts sources.
      sourceFileName: relative(dirname(target), file),
    });
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, code);
    count++;
  }
}
console.log(`build: ${count} files to ${relative(process.cwd(), outDir) || '.'}/ in ${Math.round(performance.now() - started)} ms`);
