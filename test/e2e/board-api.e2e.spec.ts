import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CinemaBoardModule, type BoardState } from '../../lib/board/index.js';
import { CINEMA_QUEUE_MIGRATIONS, CinemaService } from '../../lib/index.js';
import { behaviour, DAG, source, Z } from '../fixtures/dag.fixture.js';
import { bootApp, testModule, type TestApp } from '../support/app.js';
import { createDatabase } from '../support/database.js';

const ACTION = { 'content-type': 'application/json', 'x-cinema-board': '1' };

// The board's JSON API over HTTP, on the queue engine: a failed queued run shows as such, and the
// board retries it; its errors answer with Cinema's HTTP statuses. (The page itself: test/browser.)
describe('the board API: outcomes of queued runs, retry and refresh, errors', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let worker: TestApp;
  let app: INestApplication;
  let board: string;

  const options = (queue: Record<string, unknown>, imports: unknown[] = []) => ({
    dataSources: [{ url: db.url, synchronize: true, migrations: [...CINEMA_QUEUE_MIGRATIONS] }],
    projections: DAG,
    cinema: { allowEmptyLens: true, queue: { pollInterval: 100, sweepInterval: 200, ...queue } },
    imports: imports as never,
  });
  const state = async (): Promise<BoardState> => (await fetch(`${board}/api/state`)).json() as Promise<BoardState>;
  const post = (path: string, body: unknown = {}) =>
    fetch(`${board}${path}`, { method: 'POST', headers: ACTION, body: JSON.stringify(body) });

  beforeAll(async () => {
    db = await createDatabase('board_api');
    worker = await bootApp(options({ worker: true, concurrency: 2, attempts: 1 }));
    await worker.app.init();
    const guard = { canActivate: () => true };
    app = await NestFactory.create(
      testModule(options({ worker: false }, [CinemaBoardModule.forRoot({ path: 'ops/board', guard, canAct: true })])),
      {
        logger: ['error'],
        abortOnError: false,
      },
    );
    await app.listen(0, '127.0.0.1');
    board = `${await app.getUrl()}/ops/board`;
  });
  afterAll(async () => {
    await app?.close();
    await worker?.close();
    await db?.drop();
  });
  beforeEach(() => {
    source.value = 1;
    for (const key of Object.keys(behaviour)) delete behaviour[key];
  });

  it('shows a failed queued run, its failed and skipped projections, and retries it from the board', async () => {
    const cinema = app.get(CinemaService);
    behaviour.c = { fail: 'c broke' };
    const run = await cinema.project(Z, {}, { engine: 'queue', async: true, fetch: false, attempts: 1 });
    await run.result.catch(() => undefined);

    let seen = await state();
    const shown = seen.runs.find((candidate) => candidate.id === run.id)!;
    expect(shown).toMatchObject({ engine: 'queue', status: 'failed', retryable: true, projection: 'z' });
    expect(shown.error).toMatch(/c broke/);
    const status = Object.fromEntries(shown.nodes.map((node) => [node.projection, node.status]));
    expect(status).toMatchObject({ a: 'succeeded', b: 'succeeded', c: 'failed', d: 'skipped', z: 'skipped' });
    expect(seen.projections.find((p) => p.name === 'c')?.last).toMatchObject({
      status: 'failed',
      runId: run.id,
      error: expect.stringMatching(/c broke/),
    });
    expect(seen.mermaid).toMatch(/class [^\n]*\bp_c\b[^\n]* failed_pass/);

    delete behaviour.c;
    const retried = await post(`/api/runs/${run.id}/retry`);
    expect(retried.status).toBe(202);
    expect((await cinema.awaitRun(run.id)).status).toBe('succeeded');
    seen = await state();
    expect(seen.runs.find((candidate) => candidate.id === run.id)).toMatchObject({ status: 'succeeded', retryable: false });
    expect(seen.projections.find((p) => p.name === 'z')?.last?.status).toBe('succeeded');
    // The critical path ends at the sink and starts at a source.
    const critical = seen.runs
      .find((candidate) => candidate.id === run.id)!
      .nodes.filter((node) => node.critical)
      .map((node) => node.projection);
    expect(critical.at(-1)).toBe('z');
    expect(['a', 'b']).toContain(critical[0]);

    // Retrying a run that succeeded: 409; one that does not exist: 404 (CinemaExceptionFilter).
    expect((await post(`/api/runs/${run.id}/retry`)).status).toBe(409);
    expect((await post('/api/runs/00000000-0000-4000-8000-000000000000/retry')).status).toBe(404);
  });

  it('refreshes on the queue on request, and refuses an unknown projection or a bad lens before anything runs', async () => {
    const before = (await state()).runs.length;
    const started = await post('/api/refresh', { projection: 'd', lens: { orgId: 2 }, engine: 'queue' });
    expect(started.status).toBe(202);
    const { id } = (await started.json()) as { id: string };
    expect((await app.get(CinemaService).awaitRun(id)).status).toBe('succeeded');
    const seen = await state();
    expect(seen.runs.find((run) => run.id === id)).toMatchObject({
      engine: 'queue',
      projection: 'd',
      lens: 'orgId = 2',
      status: 'succeeded',
    });

    expect((await post('/api/refresh', { projection: 'nope' })).status).toBe(404);
    const badKey = await post('/api/refresh', { projection: 'd', lens: { nope: 1 } });
    expect(badKey.status).toBe(400);
    expect(((await badKey.json()) as { message: string }).message).toMatch(/nope/);
    expect((await post('/api/refresh', { projection: 'd', lens: [1] })).status).toBe(400);
    expect((await post('/api/refresh', { projection: 'd', engine: 'cron' })).status).toBe(400);
    expect((await state()).runs.length).toBe(before + 1);
  });
});
