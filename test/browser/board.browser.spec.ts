import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphHtml } from '../../lib/board/index.js';
import { CinemaService } from '../../lib/index.js';
import { AppModule } from '../../sample-app/src/app.module.js';
import { seedBilling } from '../../sample-app/src/database/seed.js';
import { createDatabase } from '../support/database.js';
import { orgReceivablesOf, receivablesOf, truthOrgReceivables, truthReceivables } from '../support/receivables.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const PASSWORDS = { viewer: 'look-only', operator: 'may-refresh' };
const SIZE = { orgs: 4, accountsPerOrg: 5, invoicesPerAccount: 6, seed: 7 };

/** The sample app, booted and listening, with its board at /cinema; one Chromium for all tests. */
describe('the board in a browser (sample app, headless Chromium)', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let app: INestApplication;
  let base: string;
  let browser: Browser;
  let dataSource: DataSource;
  const contexts: BrowserContext[] = [];
  /** Every URL the pages asked for: the board must need nothing but the application. */
  const requested: string[] = [];

  async function open(user?: keyof typeof PASSWORDS): Promise<Page> {
    const context = await browser.newContext(user ? { httpCredentials: { username: user, password: PASSWORDS[user] } } : {});
    contexts.push(context);
    const page = await context.newPage();
    page.on('request', (request) => requested.push(request.url()));
    return page;
  }

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`No Chromium at ${CHROMIUM}: install Debian's package (apt-get install chromium) or set CHROMIUM_PATH`);
    }
    db = await createDatabase('board');
    app = await NestFactory.create(
      AppModule.forRoot({ databaseUrl: db.url, poolSize: 6, capture: true, schedule: false, boardPasswords: PASSWORDS }),
      { logger: ['error'], abortOnError: false },
    );
    await app.listen(0, '127.0.0.1');
    base = await app.getUrl();
    dataSource = app.get(DataSource);
    await seedBilling(dataSource, SIZE);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // As root in a container, without a GPU; and no calls home, which a closed network refuses.
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  });

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await app?.close();
    await db?.drop();
  });

  it('draws the graph with every projection, from the application alone', async () => {
    const page = await open('viewer');
    const response = await page.goto(`${base}/cinema`);
    expect(response?.status()).toBe(200);
    await page.waitForSelector('#graph svg');
    const names = app
      .get(CinemaService)
      .graph()
      .nodes.map((node) => node.name);
    expect(names.length).toBeGreaterThan(2);
    const drawn = await page.locator('#graph svg').textContent();
    for (const name of names) expect(drawn).toContain(name);
    // One edge per input.
    const edges = app.get(CinemaService).graph().edges.length;
    expect(await page.locator('#graph svg .flowchart-link').count()).toBe(edges);
    const rows = await page.locator('#projections tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-projection')));
    expect(rows.sort()).toEqual([...names].sort());
    const origin = new URL(base).origin;
    expect(requested.filter((url) => new URL(url).origin !== origin)).toEqual([]);
  });

  it('starts a refresh from the page, which shows up as a run and rebuilds the slice', async () => {
    const page = await open('operator');
    await page.goto(`${base}/cinema`);
    await page.waitForSelector('#graph svg');
    const before = new Set((await app.get(CinemaService).recentRuns(100)).map((run) => run.id));

    const row = page.locator('#projections tr[data-projection="OrgReceivables"]');
    await row.getByRole('textbox').fill('orgId=3');
    await row.getByRole('button', { name: 'Refresh' }).click();

    const run = page.locator('#runs tbody tr[data-status="succeeded"]', { hasText: 'orgId = "3"' });
    await run.first().waitFor({ timeout: 15_000 });
    const id = await run.first().getAttribute('data-run');
    expect(before.has(id!)).toBe(false);
    const recorded = app.get(CinemaService).getRun(id!);
    expect(recorded?.status).toBe('succeeded');
    expect(recorded?.projection).toBe('OrgReceivables');
    expect(await receivablesOf(dataSource, 'org_id = $1', [3])).toEqual(await truthReceivables(dataSource, 'org_id = $1', [3]));
    expect(await orgReceivablesOf(dataSource, 'org_id = $1', [3])).toEqual(await truthOrgReceivables(dataSource, 'org_id = $1', [3]));
    // The run's timeline: a lane per projection of the plan; the chain that decided its end
    // (AccountsReceivable, then OrgReceivables, which reads it) on the critical path.
    await page.locator('#timeline .lane[data-projection="OrgReceivables"] .bar.critical').waitFor();
    await page.locator('#timeline .lane[data-projection="AccountsReceivable"] .bar.critical').waitFor();
    expect(await page.locator('#timeline .lane').count()).toBe(recorded!.nodes.length);
    // The graph colours both projections by that outcome.
    for (const name of ['AccountsReceivable', 'OrgReceivables']) {
      await page.locator('#graph svg .node.succeeded_pass', { hasText: name }).waitFor();
    }

    if (process.env.BOARD_SCREENSHOT) {
      await page.setViewportSize({ width: 1280, height: 1100 });
      await page.screenshot({ path: process.env.BOARD_SCREENSHOT, fullPage: true });
    }
  });

  it('is read-only for a user the canAct check refuses: no buttons, and its actions answer 403', async () => {
    const page = await open('viewer');
    await page.goto(`${base}/cinema`);
    await page.waitForSelector('#projections tbody tr');
    const runs = (await app.get(CinemaService).recentRuns(100)).length;
    await expect.poll(() => page.locator('#mode').textContent()).toBe('read-only');
    expect(await page.locator('#projections form.refresh').count()).toBe(0);
    const status = await page.evaluate(async () => {
      const response = await fetch('api/refresh', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-cinema-board': '1' },
        body: JSON.stringify({ projection: 'AccountsReceivable', lens: { orgId: 1 } }),
      });
      return response.status;
    });
    expect(status).toBe(403);
    expect((await app.get(CinemaService).recentRuns(100)).length).toBe(runs);
  });

  it('refuses a request without the guard’s permission, and an action not sent by the board', async () => {
    const runs = (await app.get(CinemaService).recentRuns(100)).length;
    // (Chromium itself gives up on a Basic challenge it has no credentials for: asked from Node.)
    const page = await fetch(`${base}/cinema`);
    expect(page.status).toBe(401);
    expect(page.headers.get('www-authenticate')).toMatch(/^Basic/);
    for (const path of ['/cinema/api/state', '/cinema/assets/mermaid.js']) {
      expect((await fetch(`${base}${path}`)).status).toBe(401);
    }
    const operator = `Basic ${Buffer.from(`operator:${PASSWORDS.operator}`).toString('base64')}`;
    const wrong = `Basic ${Buffer.from('operator:guess').toString('base64')}`;
    expect((await fetch(`${base}/cinema/api/state`, { headers: { authorization: wrong } })).status).toBe(401);
    // A cross-site form can post, but not as JSON with the board's header.
    const form = await fetch(`${base}/cinema/api/refresh`, {
      method: 'POST',
      headers: { authorization: operator, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'projection=AccountsReceivable',
    });
    expect(form.status).toBe(403);
    expect((await app.get(CinemaService).recentRuns(100)).length).toBe(runs);
  });

  it('draws the standalone graph page of `cinema graph --format html` from a file, offline', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'cinema-graph-'));
    try {
      const file = join(folder, 'graph.html');
      await writeFile(file, graphHtml(app.get(CinemaService).graph()));
      const page = await open();
      await page.goto(pathToFileURL(file).toString());
      await page.waitForSelector('svg .node');
      const drawn = await page.locator('svg').first().textContent();
      for (const node of app.get(CinemaService).graph().nodes) expect(drawn).toContain(node.name);
      expect(requested.filter((url) => !url.startsWith('file:') && !url.startsWith(base) && !url.startsWith('data:'))).toEqual([]);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
