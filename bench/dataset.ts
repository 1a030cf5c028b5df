import type { DataSource } from 'typeorm';
import { seedBilling } from '../sample-app/src/database/seed.js';
import type { BenchSizes } from './bench-sizes.js';
import { CREATE_VIEWS_SQL, FULL_SQL } from './fixtures/receivables.queries.js';

/**
 * The sample app's data set at the bench's size: billing rows generated inside PostgreSQL by the
 * sample's own seeder, both projection tables filled (so a slice refresh deletes real rows),
 * the equivalent materialized views created, and statistics gathered.
 */
export async function seedBillingDataset(dataSource: DataSource, sizes: BenchSizes, log: (line: string) => void): Promise<void> {
  const began = performance.now();
  const { accounts, invoices } = await seedBilling(dataSource, {
    orgs: sizes.orgs,
    accountsPerOrg: sizes.accountsPerOrg,
    invoicesPerAccount: sizes.invoicesPerAccount,
    seed: 42,
  });
  log(
    `  seeded ${sizes.orgs.toLocaleString()} orgs, ${accounts.toLocaleString()} accounts, ${invoices.toLocaleString()} invoices in ${seconds(began)}`,
  );
  const built = performance.now();
  await dataSource.transaction(async (manager) => {
    for (const sql of FULL_SQL) await manager.query(sql);
  });
  for (const sql of CREATE_VIEWS_SQL) await dataSource.query(sql);
  await dataSource.query(
    `VACUUM ANALYZE accounts, invoices, accounts_receivable, org_receivables, accounts_receivable_mv, org_receivables_mv`,
  );
  log(`  projection tables and materialized views built in ${seconds(built)}`);
}

/** Anything that runs a statement: a TypeORM DataSource or a `pg` client. */
export interface SqlRunner {
  query(text: string, values?: unknown[]): Promise<unknown>;
}

/**
 * An invoice-like table of `rows` rows (bigint, integers, a date, text, jsonb) for the streamed
 * scenario to read, generated inside PostgreSQL.
 */
export async function seedStreamSource(dataSource: SqlRunner, rows: number): Promise<void> {
  await dataSource.query(`DROP TABLE IF EXISTS stream_source`);
  await dataSource.query(streamSourceDdl('stream_source'));
  await dataSource.query(
    `INSERT INTO stream_source
     SELECT g, 1 + g % 1000, 1 + g % 100000, 500 + (g * 7919) % 250000, DATE '2026-01-01' + (g % 365)::int,
            (ARRAY['open', 'paid', 'void'])[1 + g % 3], 'Invoice ' || g || ' for services rendered',
            jsonb_build_object('lines', 1 + g % 5, 'currency', 'EUR')
     FROM generate_series(1, $1::bigint) AS g`,
    [rows],
  );
  await dataSource.query(`VACUUM ANALYZE stream_source`);
}

/**
 * The same columns with wide rows (about 1.1 KB each: a 200-character memo and a jsonb of eight
 * invoice lines), as a user's rows of a few text and jsonb columns are: what makes memory follow
 * bytes rather than rows.
 */
export async function seedWideStreamSource(dataSource: SqlRunner, rows: number): Promise<void> {
  await dataSource.query(`DROP TABLE IF EXISTS stream_source_wide`);
  await dataSource.query(streamSourceDdl('stream_source_wide'));
  await dataSource.query(
    `INSERT INTO stream_source_wide
     SELECT g, 1 + g % 1000, 1 + g % 100000, 500 + (g * 7919) % 250000, DATE '2026-01-01' + (g % 365)::int,
            (ARRAY['open', 'paid', 'void'])[1 + g % 3],
            'Invoice ' || g || ' ' || repeat('for services rendered, ', 8),
            jsonb_build_object('currency', 'EUR', 'lines', (
              SELECT jsonb_agg(jsonb_build_object('sku', 'SKU-' || ((g * 31 + i) % 100000), 'quantity', 1 + (g + i) % 9,
                                                  'unitCents', (g * i) % 10000, 'description', 'Line ' || i || ' of invoice ' || g))
              FROM generate_series(1, 8) AS i))
     FROM generate_series(1, $1::bigint) AS g`,
    [rows],
  );
  await dataSource.query(`VACUUM ANALYZE stream_source_wide`);
}

function streamSourceDdl(table: string): string {
  return `
    CREATE TABLE ${table} (
      id bigint PRIMARY KEY,
      org_id integer NOT NULL,
      account_id integer NOT NULL,
      amount_cents bigint NOT NULL,
      issued_on date NOT NULL,
      status text NOT NULL,
      memo text NOT NULL,
      meta jsonb NOT NULL
    )`;
}

/** The streamed scenario's target, in the write database: the same columns under projection names. */
export const STREAM_TARGET_DDL = `
  CREATE TABLE IF NOT EXISTS streamed_invoices (
    invoice_id bigint PRIMARY KEY,
    org_id integer NOT NULL,
    account_id integer NOT NULL,
    amount_cents bigint NOT NULL,
    issued_on date NOT NULL,
    status text NOT NULL,
    memo text NOT NULL,
    meta jsonb NOT NULL
  )`;

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}
