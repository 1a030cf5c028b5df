import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Account } from '../../sample-app/src/billing/account.entity.js';
import { Invoice } from '../../sample-app/src/billing/invoice.entity.js';
import { CreateBilling1764000000000 } from '../../sample-app/src/database/migrations/1764000000000-create-billing.js';
import { seedBilling } from '../../sample-app/src/database/seed.js';
import { Accounts } from '../../sample-app/src/receivables/accounts.projection.js';
import { AccountsReceivable } from '../../sample-app/src/receivables/accounts-receivable.projection.js';
import { Invoices } from '../../sample-app/src/receivables/invoices.projection.js';
import { OrgReceivables } from '../../sample-app/src/receivables/org-receivables.projection.js';
import { bootApp, type TestApp } from '../support/app.js';
import { createDatabase } from '../support/database.js';
import { applicationBackends, connect } from '../support/postgres.js';
import { orgReceivablesOf, receivablesOf, truthOrgReceivables, truthReceivables } from '../support/receivables.js';

const SECONDS = Number(process.env.CINEMA_LOAD_SECONDS ?? 60);
const CALLERS = 50;
const POOL = 10;
const APP = 'cinema-load';
const SIZE = { orgs: 20, accountsPerOrg: 25, invoicesPerAccount: 20, seed: 23 };

interface Figures {
  seconds: number;
  callers: number;
  calls: number;
  callsPerSecond: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  errors: number;
  invoiceWrites: number;
  maxPoolConnections: number;
  poolSize: number;
  rowsLost: number;
  rowsWrong: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Rows of `truth` missing from `table` (lost), and rows of `table` that are not in `truth` (wrong). */
function difference(table: string[], truth: string[]): { lost: number; wrong: number } {
  const stored = new Set(table);
  const expected = new Set(truth);
  return { lost: truth.filter((row) => !stored.has(row)).length, wrong: table.filter((row) => !expected.has(row)).length };
}

/**
 * `npm run test:load`: 50 callers refresh random org slices for a minute while another
 * connection writes invoices without pause. No call may fail, the pool must stay within its
 * size, and after a final refresh every table must equal the ground truth. Prints the figures.
 */
describe(`load: ${CALLERS} concurrent project() calls for ${SECONDS} s while invoices are written`, () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let t: TestApp;
  let writer: pg.Client;
  let sampler: pg.Client;

  beforeAll(async () => {
    db = await createDatabase('load');
    t = await bootApp({
      dataSources: [
        { url: db.url, entities: [Account, Invoice], migrations: [CreateBilling1764000000000], poolSize: POOL, applicationName: APP },
      ],
      projections: [Accounts, Invoices, AccountsReceivable, OrgReceivables],
      cinema: { allowEmptyLens: true },
    });
    await seedBilling(t.dataSource(), SIZE);
    await t.cinema.project(OrgReceivables, {}, { fetch: false });
    writer = await connect(db.url, 'cinema-load-writer');
    sampler = await connect(db.url, 'cinema-load-sampler');
  });
  afterAll(async () => {
    await writer?.end();
    await sampler?.end();
    await t?.close();
    await db?.drop();
  });

  it('holds: no error, a bounded pool, every table at the ground truth afterwards', async () => {
    const deadline = performance.now() + SECONDS * 1_000;
    const latencies: number[] = [];
    const errors: Error[] = [];
    let stop = false;

    // Invoices written back to back: new ones, paid, reopened, re-amounted, deleted.
    let invoiceWrites = 0;
    const writing = (async () => {
      const [{ max }] = (await writer.query(`SELECT MAX(id)::bigint AS max FROM invoices`)).rows;
      let nextId = BigInt(max) + 1n;
      while (!stop) {
        const account = 1 + Math.floor(Math.random() * SIZE.orgs * SIZE.accountsPerOrg);
        const roll = Math.random();
        if (roll < 0.4) {
          await writer.query(
            `INSERT INTO invoices (id, org_id, account_id, amount_cents, issued_on, status)
             SELECT $1, org_id, id, $2, DATE '2026-01-01' + $3::int, $4 FROM accounts WHERE id = $5`,
            [
              String(nextId++),
              500 + Math.floor(Math.random() * 250_000),
              Math.floor(Math.random() * 365),
              Math.random() < 0.7 ? 'open' : 'paid',
              account,
            ],
          );
        } else if (roll < 0.8) {
          await writer.query(
            `UPDATE invoices SET status = CASE status WHEN 'open' THEN 'paid' ELSE 'open' END
             WHERE id = (SELECT id FROM invoices WHERE account_id = $1 AND status <> 'void' ORDER BY random() LIMIT 1)`,
            [account],
          );
        } else if (roll < 0.95) {
          await writer.query(
            `UPDATE invoices SET amount_cents = amount_cents + 100 WHERE id = (SELECT id FROM invoices WHERE account_id = $1 LIMIT 1)`,
            [account],
          );
        } else {
          await writer.query(`DELETE FROM invoices WHERE id = (SELECT id FROM invoices WHERE account_id = $1 ORDER BY id DESC LIMIT 1)`, [
            account,
          ]);
        }
        invoiceWrites++;
      }
    })();

    // The application's connections, sampled from pg_stat_activity.
    let maxPoolConnections = 0;
    const sampling = (async () => {
      while (!stop) {
        maxPoolConnections = Math.max(maxPoolConnections, (await applicationBackends(sampler, APP)).length);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();

    const caller = async () => {
      while (performance.now() < deadline) {
        const org = 1 + Math.floor(Math.random() * SIZE.orgs);
        const roll = Math.random();
        const started = performance.now();
        try {
          if (roll < 0.45) {
            const rows = await t.cinema.project(AccountsReceivable, { orgId: org });
            if (rows.some((row) => row.orgId !== org)) throw new Error(`rows outside org ${org}`);
          } else if (roll < 0.9) {
            const rows = await t.cinema.project(OrgReceivables, { orgId: org });
            if (rows.some((row) => row.orgId !== org)) throw new Error(`rows outside org ${org}`);
          } else {
            const other = 1 + ((org + Math.floor(Math.random() * (SIZE.orgs - 1))) % SIZE.orgs);
            await t.cinema.project(OrgReceivables, { orgId: [org, other] }, { fetch: false });
          }
          latencies.push(performance.now() - started);
        } catch (error) {
          errors.push(error as Error);
        }
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: CALLERS }, caller));
    const elapsed = (performance.now() - started) / 1_000;
    stop = true;
    await writing;
    await sampling;

    // One final refresh of everything, then compare every table with the ground truth.
    await t.cinema.project(OrgReceivables, {}, { fetch: false });
    const ds = t.dataSource();
    const receivables = difference(await receivablesOf(ds), await truthReceivables(ds));
    const orgs = difference(await orgReceivablesOf(ds), await truthOrgReceivables(ds));

    latencies.sort((a, b) => a - b);
    const round = (ms: number) => Math.round(ms * 10) / 10;
    const figures: Figures = {
      seconds: round(elapsed),
      callers: CALLERS,
      calls: latencies.length + errors.length,
      callsPerSecond: round(latencies.length / elapsed),
      latencyMs: {
        p50: round(percentile(latencies, 50)),
        p95: round(percentile(latencies, 95)),
        p99: round(percentile(latencies, 99)),
        max: round(latencies.at(-1) ?? 0),
      },
      errors: errors.length,
      invoiceWrites,
      maxPoolConnections,
      poolSize: POOL,
      rowsLost: receivables.lost + orgs.lost,
      rowsWrong: receivables.wrong + orgs.wrong,
    };
    console.log(`load figures: ${JSON.stringify(figures)}`);
    console.log(
      `load: ${figures.calls} calls in ${figures.seconds} s = ${figures.callsPerSecond} calls/s; ` +
        `latency p50 ${figures.latencyMs.p50} ms, p95 ${figures.latencyMs.p95} ms, p99 ${figures.latencyMs.p99} ms, max ${figures.latencyMs.max} ms; ` +
        `${figures.invoiceWrites} invoice writes; pool max ${figures.maxPoolConnections}/${POOL}; errors ${figures.errors}; rows lost ${figures.rowsLost}, wrong ${figures.rowsWrong}`,
    );

    expect(errors.map((error) => error.message).slice(0, 5)).toEqual([]);
    expect(elapsed).toBeGreaterThanOrEqual(SECONDS);
    expect(latencies.length).toBeGreaterThan(CALLERS);
    expect(invoiceWrites).toBeGreaterThan(0);
    expect(maxPoolConnections).toBeGreaterThan(0);
    expect(maxPoolConnections).toBeLessThanOrEqual(POOL);
    expect({ lost: figures.rowsLost, wrong: figures.rowsWrong }).toEqual({ lost: 0, wrong: 0 });
  });
});
