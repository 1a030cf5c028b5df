import { spawn, type ChildProcess } from 'node:child_process';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAPTURE_TABLES, CAPTURE_TRUTH } from '../fixtures/capture.fixture.js';
import { buildPrivateCopy, type Build } from '../support/build.js';
import { createDatabase } from '../support/database.js';
import { connect, rowsOf, waitFor } from '../support/postgres.js';

interface Child {
  child: ChildProcess;
  output: () => string;
  /** Resolves once the child has printed `line`; rejects if it exits first. */
  printed: (line: string) => Promise<void>;
  exited: Promise<void>;
}

/**
 * A process running the change-capture watcher is SIGKILLed while a refresh is open; writes go
 * on; a new process converges with no mark lost. The same for a queue worker running the watcher.
 */
describe.each(['app', 'worker'] as const)('SIGKILL of a %s process in the middle of a change-capture refresh', (kind) => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let build: Build;
  let admin: pg.Client;
  const children: Child[] = [];

  beforeAll(async () => {
    db = await createDatabase(`capture_sigkill_${kind}`);
    build = await buildPrivateCopy(['lib', 'test/support', 'test/fixtures', 'test/reliability/children']);
    admin = await connect(db.url, 'cinema-test-admin');
  });
  afterAll(async () => {
    for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(children.map((child) => child.exited));
    await admin?.end();
    await build?.remove();
    await db?.drop();
  });

  function start(gate: boolean): Child {
    const child = spawn(process.execPath, ['--enable-source-maps', build.path('test/reliability/children/capture-watcher.ts')], {
      env: { ...process.env, DATABASE_URL: db.url, CAPTURE_CHILD: kind, CAPTURE_GATE: gate ? '1' : '0', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const listeners = new Set<() => void>();
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      for (const listener of listeners) listener();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const printed = (line: string) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (output.split('\n').includes(line)) resolve();
        };
        listeners.add(check);
        check();
        void exited.then(() => reject(new Error(`the ${kind} exited before printing "${line}":\n${output}`)));
      });
    const handle = { child, output: () => output, printed, exited };
    children.push(handle);
    return handle;
  }

  const marked = async () =>
    (
      await admin.query(`SELECT DISTINCT (lens->>'orgId')::int AS org FROM cinema.changes WHERE projection = 'CapOrgTotals' ORDER BY 1`)
    ).rows.map((row) => row.org as number);

  it('leaves every mark in place, and a new process converges', async () => {
    const first = start(true);
    await first.printed('ready');
    await admin.query(`INSERT INTO cap_invoices (id, org_id, amount) SELECT i, 1 + i % 5, i FROM generate_series(1, 50) i`);
    // The refresh of orgs 1 to 5 has read its rows and stays open.
    await first.printed('entered');
    // Writes go on while it is open...
    await admin.query(`INSERT INTO cap_invoices (id, org_id, amount) VALUES (101, 6, 600)`);
    await admin.query(`UPDATE cap_invoices SET amount = amount * 2 WHERE org_id = 1`);
    first.child.kill('SIGKILL');
    await first.exited;
    // ...and after it died.
    await admin.query(`DELETE FROM cap_invoices WHERE org_id = 2 AND id > 20`);
    await admin.query(`UPDATE cap_invoices SET org_id = 7 WHERE id = 3`);
    // Nothing of the killed refresh committed, and every change is still marked.
    expect(await marked()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect((await admin.query(`SELECT count(*)::int AS n FROM cap_org_totals`)).rows[0].n).toBe(0);

    const second = start(false);
    await second.printed('ready');
    if (kind === 'worker') expect(second.output()).toMatch(/Working queued projections \(.*watching changes/);
    await waitFor(async () => {
      const [{ n }] = (await admin.query(`SELECT count(*)::int AS n FROM cinema.changes`)).rows;
      if (n !== 0) return undefined;
      for (const key of ['totals', 'grades', 'grand'] as const) {
        if (JSON.stringify(await rowsOf(admin, CAPTURE_TRUTH[key])) !== JSON.stringify(await rowsOf(admin, CAPTURE_TABLES[key])))
          return undefined;
      }
      return true;
    }, 'the new process to converge with no mark left');
    expect((await admin.query(`SELECT count(*)::int AS n FROM cap_org_totals`)).rows[0].n).toBe(7);
    second.child.kill('SIGKILL');
    await second.exited;
  });
});
