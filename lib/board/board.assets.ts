import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidCinemaOptionsError } from '../index.js';

/** The board's browser files, read once: its own script and style, and Mermaid's bundle. */
export interface BoardAssetFiles {
  script: string;
  style: string;
  mermaid: string;
}

const require = createRequire(import.meta.url);

/**
 * Mermaid's self-contained browser bundle: `@mermaid-js/tiny` (one file, no dependencies), else
 * the full `mermaid` package's. Either is an optional peer dependency, needed by the board only.
 */
export function readMermaid(): string {
  for (const bundle of ['@mermaid-js/tiny/dist/mermaid.tiny.js', 'mermaid/dist/mermaid.min.js']) {
    let file: string;
    try {
      file = require.resolve(bundle);
    } catch {
      continue;
    }
    return readFileSync(file, 'utf8');
  }
  throw new InvalidCinemaOptionsError(
    'CinemaBoardModule',
    'draws the graph with Mermaid, served by the application itself (no CDN): install it with `npm install @mermaid-js/tiny@11` (or `mermaid@11`)',
  );
}

/**
 * The board's script and style are plain files in `lib/board/client/`: beside this module when it
 * runs from the sources, else in the package's `lib/` folder (which the package ships), found
 * through the package's own name.
 */
export function readBoardAssets(): BoardAssetFiles {
  const beside = fileURLToPath(new URL('./client/', import.meta.url));
  // Both files, as written: a build that compiled the script alone (swc takes .js files) does not count.
  const client = ['board.js', 'board.css'].every((file) => existsSync(join(beside, file)))
    ? beside
    : join(dirname(require.resolve('cinema-nestjs/package.json')), 'lib', 'board', 'client');
  return {
    script: readFileSync(join(client, 'board.js'), 'utf8'),
    style: readFileSync(join(client, 'board.css'), 'utf8'),
    mermaid: readMermaid(),
  };
}
