import type { DataSource } from 'typeorm';

export interface SeedOptions {
  orgs: number;
  accountsPerOrg: number;
  invoicesPerAccount: number;
  /** Deterministic data for the same seed. */
  seed?: number;
}

export const DEFAULT_SEED: SeedOptions = { orgs: 50, accountsPerOrg: 40, invoicesPerAccount: 12, seed: 42 };

/**
 * Generates orgs, accounts and invoices over one year inside PostgreSQL (`generate_series`), so
 * millions of rows take seconds. Amounts, days and statuses are pseudo-random but repeatable.
 */
export async function seedBilling(
  dataSource: DataSource,
  options: SeedOptions = DEFAULT_SEED,
): Promise<{ accounts: number; invoices: number }> {
  const { orgs, accountsPerOrg, invoicesPerAccount } = options;
  const seed = options.seed ?? 42;
  await dataSource.transaction(async (manager) => {
    await manager.query(`TRUNCATE invoices, accounts`);
    await manager.query(`SELECT setseed($1)`, [((seed % 1000) / 1000) * 2 - 1]);
    await manager.query(
      `INSERT INTO accounts (id, org_id, name)
       SELECT a, (a - 1) / $2 + 1, 'Account ' || a
       FROM generate_series(1, $1::int * $2::int) AS a`,
      [orgs, accountsPerOrg],
    );
    await manager.query(
      `INSERT INTO invoices (id, org_id, account_id, amount_cents, issued_on, status)
       SELECT (a.id::bigint - 1) * $1 + n, a.org_id, a.id,
              (500 + floor(random() * 250000))::bigint,
              DATE '2026-01-01' + floor(random() * 365)::int,
              CASE WHEN r < 0.55 THEN 'paid' WHEN r < 0.95 THEN 'open' ELSE 'void' END
       FROM accounts a
       CROSS JOIN generate_series(1, $1::int) AS n
       CROSS JOIN LATERAL (SELECT random() + n * 0 + a.id * 0 AS r) s`,
      [invoicesPerAccount],
    );
  });
  await dataSource.query(`ANALYZE accounts; ANALYZE invoices`).catch(() => undefined);
  const [{ accounts }] = await dataSource.query(`SELECT COUNT(*)::int AS accounts FROM accounts`);
  const [{ invoices }] = await dataSource.query(`SELECT COUNT(*)::int AS invoices FROM invoices`);
  return { accounts, invoices };
}
