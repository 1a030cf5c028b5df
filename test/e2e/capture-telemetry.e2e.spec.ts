import 'reflect-metadata';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
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
});
