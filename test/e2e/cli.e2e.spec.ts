import 'reflect-metadata';
import { execFile } from 'node:child_process';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CinemaService } from '../../lib/index.js';
import { AppModule } from '../../sample-app/src/app.module.js';
import { seedBilling } from '../../sample-app/src/database/seed.js';
import { OrgReceivables } from '../../sample-app/src/receivables/org-receivables.projection.js';
import { buildPrivateCopy, type Build } from '../support/build.js';
import { createDatabase } from '../support/database.js';
import { orgReceivablesOf, receivablesOf, truthOrgReceivables, truthReceivables } from '../support/receivables.js';

/** What one `cinema` command printed and its exit code. */
interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

// Each command is its own process (`npm run cinema -- ...` runs the same file), on the test database.
describe('the cinema command line inside the sample application', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let build: Build;
  let app: INestApplicationContext;
  let dataSource: DataSource;

  const cinema = (...args: string[]) =>
    new Promise<Outcome>((resolve) => {
      execFile(
        process.execPath,
        [build.path('sample-app/src/cli.ts'), ...args],
        { env: { ...process.env, DATABASE_URL: db.url, FORCE_COLOR: '0' }, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
        (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  const org = (orgId: number): [string, unknown[]] => ['org_id = $1', [orgId]];

  beforeAll(async () => {
    db = await createDatabase('cli');
    build = await buildPrivateCopy(['lib', 'sample-app/src']);
    app = await NestFactory.createApplicationContext(AppModule.forRoot({ databaseUrl: db.url, schedule: false, capture: false }), {
      logger: ['error'],
    });
    dataSource = app.get(DataSource);
    await seedBilling(dataSource, { orgs: 4, accountsPerOrg: 5, invoicesPerAccount: 6, seed: 3 });
    await app.get(CinemaService).project(OrgReceivables, {});
  });
  afterAll(async () => {
    await app?.close();
    await build?.remove();
    await db?.drop();
  });

  it('graph: Mermaid by default, JSON on request, or a standalone HTML page', async () => {
    const mermaid = await cinema('graph');
    expect(mermaid).toMatchObject({ code: 0, stderr: '' });
    expect(mermaid.stdout).toContain('AccountsReceivable --> OrgReceivables');
    const json = await cinema('graph', '--format', 'json');
    expect(json.code).toBe(0);
    const graph = JSON.parse(json.stdout) as { nodes: { name: string }[] };
    expect(graph.nodes.map((node) => node.name).sort()).toEqual(['Accounts', 'AccountsReceivable', 'Invoices', 'OrgReceivables']);
    const html = await cinema('graph', '--format', 'html');
    expect(html.code).toBe(0);
    expect(html.stdout).toMatch(/^<!doctype html>/);
    // Mermaid itself is inside the page (it opens offline), and so is the graph to draw.
    expect(html.stdout).toContain('globalThis["mermaid"]');
    expect(html.stdout).not.toMatch(/<script[^>]+src=/);
    expect(html.stdout).toContain('p_AccountsReceivable --&#62; p_OrgReceivables');
  });

  it('plan: what a refresh of a selection would run, nothing run', async () => {
    await dataSource.query(`UPDATE invoices SET status = 'paid' WHERE org_id = 2`);
    const plan = await cinema('plan', 'AccountsReceivable+', '--lens', 'orgId=2');
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/Plan for AccountsReceivable, OrgReceivables with lens \{ orgId: "2" \}/);
    expect(plan.stdout).toContain('OrgReceivables after Invoices, AccountsReceivable -> delete slice');
    expect(await receivablesOf(dataSource, ...org(2))).not.toEqual(await truthReceivables(dataSource, ...org(2)));
  });

  it('refresh: rebuilds the selection under the lens, prints each projection and the timings', async () => {
    const otherBefore = await receivablesOf(dataSource, ...org(3));
    await dataSource.query(`UPDATE invoices SET status = 'paid' WHERE org_id IN (2, 3)`);
    const refresh = await cinema('refresh', 'AccountsReceivable+', '--lens', 'orgId=2');
    expect(refresh.code).toBe(0);
    expect(refresh.stdout).toMatch(/^Run [0-9a-f-]{36} \(inline\): AccountsReceivable, OrgReceivables$/m);
    // Plain lines when the output is not a terminal, then the table of the plan's timings.
    expect(refresh.stdout).toMatch(/^✓ OrgReceivables succeeded, \d+ rows, /m);
    expect(refresh.stdout).toMatch(/^OrgReceivables\s+succeeded\s+\d+\s+\d+\s+\d+ ms$/m);
    expect(refresh.stdout).toMatch(/succeeded in \d+/);
    expect(await receivablesOf(dataSource, ...org(2))).toEqual(await truthReceivables(dataSource, ...org(2)));
    expect(await orgReceivablesOf(dataSource, ...org(2))).toEqual(await truthOrgReceivables(dataSource, ...org(2)));
    // Outside the lens, nothing was touched.
    expect(await receivablesOf(dataSource, ...org(3))).toEqual(otherBefore);
  });

  it('refuses a bad selector, lens key or option with exit code 2 and the reason, and changes nothing', async () => {
    const before = await receivablesOf(dataSource, ...org(3));
    const selector = await cinema('refresh', 'OrgReceivable+');
    expect(selector).toMatchObject({ code: 2, stdout: '' });
    expect(selector.stderr).toContain('Selector "OrgReceivable+": no projection is named "OrgReceivable"');
    const lens = await cinema('refresh', 'OrgReceivables', '--lens', 'orgid=3');
    expect(lens.code).toBe(2);
    expect(lens.stderr).toContain('did you mean "orgId"?');
    const usage = await cinema('refresh');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("missing required argument 'selector'");
    expect((await cinema('graph', '--format', 'svg')).stderr).toContain('"--format": must be one of mermaid, json, html, got "svg"');
    expect(await receivablesOf(dataSource, ...org(3))).toEqual(before);
  });

  it('status: the freshness table, exit code 1 once a projection is past errorAfter', async () => {
    await dataSource.query(`DELETE FROM cinema.changes`);
    const fresh = await cinema('status', 'tag:receivables');
    expect(fresh.code).toBe(0);
    expect(fresh.stdout).toMatch(/^AccountsReceivable\s+pass\s/m);
    expect(fresh.stdout).toContain('2 projection(s): 0 past errorAfter, 0 past warnAfter.');
    // Each projection's version; nothing changed since the sample app was deployed.
    expect(fresh.stdout).toMatch(/^AccountsReceivable\s+pass\s.*\s[0-9a-f]{16}$/m);
    const modified = await cinema('status', 'state:modified');
    expect(modified.code).toBe(0);
    expect(modified.stdout).toContain('0 projection(s): 0 past errorAfter');
    // A change of org 1's invoices pending for two minutes (the sample's errorAfter is one).
    await dataSource.query(`UPDATE invoices SET status = 'paid' WHERE org_id = 1`);
    await dataSource.query(`UPDATE cinema.changes SET "at" = clock_timestamp() - interval '2 minutes'`);
    const stale = await cinema('status');
    expect(stale.code).toBe(1);
    expect(stale.stdout).toMatch(/^OrgReceivables\s+error\s+\S+\s+[1-9]\d*\s+\S+\s+2 min/m);
    expect(stale.stdout).toContain('4 projection(s): 2 past errorAfter');
  });

  it('runs: lists and shows queued runs recorded in the database', async () => {
    const run = await app.get(CinemaService).refresh([OrgReceivables], { orgId: 4 }, { engine: 'queue', async: true });
    const list = await cinema('runs', 'list');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`^${run.id}\\s+queue\\s+pending\\s+OrgReceivables\\s+\\{"orgId":4\\}`, 'm'));
    const show = await cinema('runs', 'show', run.id);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/^AccountsReceivable\s+pending\s+0\s+0/m);
    const unknown = await cinema('runs', 'show', '00000000-0000-0000-0000-000000000000');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('No run 00000000-0000-0000-0000-000000000000');
  });
});
