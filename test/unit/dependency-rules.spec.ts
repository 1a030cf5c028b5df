import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, it } from 'vitest';

const run = promisify(execFile);
const CONFIG = resolve('test/architecture/dependency-rules.cjs');
const DEPCRUISE = resolve('node_modules/.bin/depcruise');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

/** dependency-cruiser's verdict on the `lib` folder under `cwd`. */
async function violations(cwd: string): Promise<Violation[]> {
  const { stdout } = await run(DEPCRUISE, ['--config', CONFIG, '--output-type', 'json', 'lib'], { cwd, maxBuffer: 64 * 1024 * 1024 }).catch(
    // depcruise exits non-zero when it finds violations; its report is still on stdout.
    (error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }),
  );
  return (JSON.parse(stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

// The two cruises run side by side: each is a process of its own.
describe.concurrent('the import directions of lib/ (test/architecture/dependency-rules.cjs)', () => {
  const scratch: string[] = [];
  afterAll(async () => {
    for (const dir of scratch) await rm(dir, { recursive: true, force: true });
  });

  // Each cruise is a process of its own parsing every file: generous on a busy machine.
  it('hold for the library', { timeout: 60_000 }, async ({ expect }) => {
    expect(await violations(process.cwd())).toEqual([]);
  });

  it('fail when an engine imports the registry or change capture, or the lens imports Nest', { timeout: 60_000 }, async ({ expect }) => {
    const dir = await mkdtemp(join(tmpdir(), 'cinema-rules-'));
    scratch.push(dir);
    const file = async (path: string, text: string) => {
      await mkdir(join(dir, path, '..'), { recursive: true });
      await writeFile(join(dir, path), text);
    };
    await file('tsconfig.json', JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext' } }));
    await file('lib/model/projection.registry.ts', 'export class ProjectionRegistry {}\n');
    await file(
      'lib/engines/inline.engine.ts',
      "import { ProjectionRegistry } from '../../lib/model/projection.registry.js';\nexport const r = ProjectionRegistry;\n",
    );
    await file('lib/lens/lens.ts', "import { Injectable } from '@nestjs/common';\nexport const i = Injectable;\n");
    await file('lib/capture/change.watcher.ts', 'export class ChangeWatcher {}\n');
    await file(
      'lib/execution/projection.runner.ts',
      "import { ChangeWatcher } from '../capture/change.watcher.js';\nexport const w = ChangeWatcher;\n",
    );
    const found = (await violations(dir)).map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`);
    expect(found).toEqual(
      expect.arrayContaining([
        'engines-import-no-upward: lib/engines/inline.engine.ts -> lib/model/projection.registry.ts',
        'engines-import-no-upward: lib/execution/projection.runner.ts -> lib/capture/change.watcher.ts',
        expect.stringMatching(/^pure-core-without-nest: lib\/lens\/lens\.ts -> .*@nestjs/),
      ]),
    );
  });
});
