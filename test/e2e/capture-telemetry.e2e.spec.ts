import 'reflect-metadata';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CINEMA_EVENTS, CinemaService, type ProjectionRefreshedEvent, type SliceDirtiedEvent } from '../../lib/index.js';
import { RunTelemetry, type TelemetryEvent } from '../../lib/telemetry/run-telemetry.js';
import { AppModule } from '../../sample-app/src/app.module.js';
import { InvoicesService } from '../../sample-app/src/billing/invoices.service.js';
import { seedBilling } from '../../sample-app/src/database/seed.js';
import { OrgReceivables } from '../../sample-app/src/receivables/org-receivables.projection.js';
import { createDatabase } from '../support/database.js';
import { waitFor } from '../support/postgres.js';
import { orgReceivablesOf, receivablesOf, truthOrgReceivables, truthReceivables } from '../support/receivables.js';

// An application's metrics SDK, registered before the app boots.
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const metricReader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [metricReader] }));

/** The cinema.capture.lag histogram's points by projection: how many refreshes, and their lag range. */
async function lagByProjection(): Promise<Record<string, { count: number; min: number; max: number }>> {
  await metricReader.forceFlush();
  const points = metricExporter
    .getMetrics()
    .at(-1)!
    .scopeMetrics.flatMap((scope) => scope.metrics)
    .filter((metric) => metric.descriptor.name === 'cinema.capture.lag')
    .flatMap((metric) => [...metric.dataPoints] as { attributes: Record<string, unknown>; value: unknown }[]);
  return Object.fromEntries(
    points.map((point) => {
      const value = point.value as { count: number; min?: number; max?: number };
      return [String(point.attributes['cinema.projection']), { count: value.count, min: value.min ?? NaN, max: value.max ?? NaN }];
    }),
  );
}

// The sample app with its watcher: a write to invoices dirties the virtual Invoices, whose two
// dependents (AccountsReceivable, and OrgReceivables, which reads both) each rebuild the org once.
describe('change capture reports to telemetry, and rebuilds a dependent once per change', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let app: INestApplicationContext;
  let dataSource: DataSource;
  const heard: TelemetryEvent[] = [];

  beforeAll(async () => {
    db = await createDatabase('capture_telemetry');
    app = await NestFactory.createApplicationContext(
      AppModule.forRoot({ databaseUrl: db.url, schedule: false, cinema: { capture: { interval: 20 } } }),
      { logger: ['error'] },
    );
    dataSource = app.get(DataSource);
    await seedBilling(dataSource, { orgs: 3, accountsPerOrg: 4, invoicesPerAccount: 5, seed: 9 });
    await app.get(CinemaService).project(OrgReceivables, {});
    await waitFor(
      async () => ((await dataSource.query(`SELECT count(*)::int AS n FROM cinema.changes`))[0].n === 0 ? true : undefined),
      'the seed marks to be settled',
    );
    app.get(RunTelemetry).listen((event) => heard.push(event));
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('one write: each projection of the org refreshed once, with the dirty slices reported first', async () => {
    const [account] = await dataSource.query(`SELECT id FROM accounts WHERE org_id = 2 ORDER BY id LIMIT 1`);
    await app.get(InvoicesService).create(2, { accountId: account.id, amountCents: '12345', status: 'open' } as never);
    const where = ['org_id = $1', [2]] as [string, unknown[]];
    await waitFor(async () => {
      const [{ n }] = await dataSource.query(`SELECT count(*)::int AS n FROM cinema.changes`);
      return n === 0 &&
        JSON.stringify(await orgReceivablesOf(dataSource, ...where)) === JSON.stringify(await truthOrgReceivables(dataSource, ...where))
        ? true
        : undefined;
    }, "org 2's receivables to be fresh with no mark left");
    expect(await receivablesOf(dataSource, ...where)).toEqual(await truthReceivables(dataSource, ...where));
    const refreshed = heard
      .filter((event) => event.name === CINEMA_EVENTS.projectionRefreshed)
      .map((event) => event.payload as ProjectionRefreshedEvent);
    // Without the same-round claim, OrgReceivables would be rebuilt twice: for the invoice, then for its receivables.
    expect(refreshed.map((event) => [event.projection, event.engine, event.lens])).toEqual([
      ['AccountsReceivable', 'capture', { orgId: [2] }],
      ['OrgReceivables', 'capture', { orgId: [2] }],
    ]);
    const dirtied = heard.filter((event) => event.name === CINEMA_EVENTS.sliceDirtied).map((event) => event.payload as SliceDirtiedEvent);
    expect(dirtied[0]).toEqual({ projection: 'Invoices', slices: [{ orgId: 2 }], marks: 1 });
  });

  it('measures the freshness lag from the write, through the hand-off to the dependents', async () => {
    const before = await lagByProjection();
    const [account] = await dataSource.query(`SELECT id FROM accounts WHERE org_id = 3 ORDER BY id LIMIT 1`);
    const written = performance.now();
    // The change is marked at the INSERT and seen at the COMMIT, half a second later: its lag starts at the INSERT.
    await dataSource.transaction(async (manager) => {
      await manager.query(
        `INSERT INTO invoices (id, org_id, account_id, amount_cents, issued_on, status)
         VALUES ((SELECT max(id) + 1 FROM invoices), 3, $1, 500, current_date, 'open')`,
        [account.id],
      );
      await manager.query(`SELECT pg_sleep(0.5)`);
    });
    await waitFor(async () => {
      const lag = await lagByProjection();
      return (['AccountsReceivable', 'OrgReceivables'] as const).every((name) => (lag[name]?.count ?? 0) > (before[name]?.count ?? 0))
        ? true
        : undefined;
    }, 'both dependents refreshed with a lag recorded');
    const elapsed = performance.now() - written;
    const lag = await lagByProjection();
    for (const name of ['AccountsReceivable', 'OrgReceivables']) {
      // The Invoices mark was handed on to them; the hand-off kept the write's time.
      expect(lag[name].max).toBeGreaterThanOrEqual(500);
      expect(lag[name].max).toBeLessThanOrEqual(elapsed + 50);
    }
    // Invoices is virtual: nothing is stored, so it has no lag of its own.
    expect(lag.Invoices).toBeUndefined();
    // Every mark, the handed-on ones included, was settled.
    const [{ n }] = await dataSource.query(`SELECT count(*)::int AS n FROM cinema.changes`);
    expect(n).toBe(0);
  });
});
