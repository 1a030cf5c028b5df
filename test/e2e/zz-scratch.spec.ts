import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootApp, type TestApp } from '../support/app.js';
import { createDatabase } from '../support/database.js';
import { bulk, BulkRows, Numbers } from '../fixtures/bulk.fixture.js';

describe('scratch', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let t: TestApp;
  beforeAll(async () => {
    db = await createDatabase('scratch');
    t = await bootApp({ dataSources: [{ url: db.url, synchronize: true }], projections: [Numbers, BulkRows], cinema: { allowEmptyLens: true } });
  });
  afterAll(async () => { await t?.close(); await db?.drop(); });
  for (const n of [100_000, 400_000, 1_000_000]) {
    it(`rows ${n}`, async () => {
      bulk.rows = n;
      global.gc?.();
      let peak = 0;
      const base = process.memoryUsage().rss;
      const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
      const started = performance.now();
      const run = await t.cinema.project(BulkRows, {}, { async: true, fetch: false });
      await run.result;
      clearInterval(timer);
      const ms = performance.now() - started;
      console.log(`rows ${n}: ${ms.toFixed(0)} ms, ${(n / ms * 1000).toFixed(0)} rows/s, base ${(base/1e6).toFixed(0)} MB peak ${(peak/1e6).toFixed(0)} MB`);
      expect(run.status).toBe('succeeded');
    }, 300_000);
  }
});
