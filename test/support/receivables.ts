import type { DataSource } from 'typeorm';

/** Ground truth for the sample projections, computed straight from the source tables. */
export const TRUTH_ACCOUNTS_RECEIVABLE = `
  SELECT a.id AS account_id, a.org_id, a.name,
         COALESCE(SUM(i.amount_cents) FILTER (WHERE i.status = 'open'), 0)::bigint AS open_cents,
         COUNT(i.id) FILTER (WHERE i.status = 'open')::int AS open_invoices,
         MIN(i.issued_on) FILTER (WHERE i.status = 'open') AS oldest_open_on
  FROM accounts a LEFT JOIN invoices i ON i.account_id = a.id AND i.status <> 'void'
  GROUP BY a.id, a.org_id, a.name`;

export const TRUTH_ORG_RECEIVABLES = `
  WITH ar AS MATERIALIZED (${TRUTH_ACCOUNTS_RECEIVABLE}),
  days AS (
    SELECT org_id, issued_on AS day, SUM(amount_cents)::bigint AS invoiced_cents,
           COALESCE(SUM(amount_cents) FILTER (WHERE status = 'open'), 0)::bigint AS open_cents
    FROM invoices WHERE status <> 'void' GROUP BY 1, 2)
  SELECT d.org_id, d.day, d.invoiced_cents, d.open_cents,
         (SELECT COUNT(*) FROM ar WHERE ar.org_id = d.org_id AND ar.oldest_open_on = d.day)::int AS accounts_aging_from_day
  FROM days d`;

// Dates as text: the same 'YYYY-MM-DD' that TypeORM hydrates, in any time zone.
const AR_COLUMNS = 'account_id, org_id, name, open_cents, open_invoices, oldest_open_on::text';
const OR_COLUMNS = 'org_id, day::text, invoiced_cents, open_cents, accounts_aging_from_day';

/** A TypeORM `DataSource`, or a `pg` client (whose `query` resolves to a result with `rows`). */
export type Queryable = Pick<DataSource, 'query'> | { query(sql: string, params: unknown[]): Promise<{ rows: Record<string, unknown>[] }> };

/** Rows of a query as sorted JSON lines: equal sets compare equal. */
async function rows(dataSource: Queryable, sql: string, params: unknown[] = []): Promise<string[]> {
  const result: Record<string, unknown>[] | { rows: Record<string, unknown>[] } = await dataSource.query(sql, params);
  return (Array.isArray(result) ? result : result.rows).map((row) => JSON.stringify(row)).sort();
}

export function receivablesOf(dataSource: Queryable, where = 'TRUE', params: unknown[] = []) {
  return rows(dataSource, `SELECT ${AR_COLUMNS} FROM accounts_receivable WHERE ${where}`, params);
}

export function truthReceivables(dataSource: Queryable, where = 'TRUE', params: unknown[] = []) {
  return rows(dataSource, `SELECT ${AR_COLUMNS} FROM (${TRUTH_ACCOUNTS_RECEIVABLE}) t WHERE ${where}`, params);
}

export function orgReceivablesOf(dataSource: Queryable, where = 'TRUE', params: unknown[] = []) {
  return rows(dataSource, `SELECT ${OR_COLUMNS} FROM org_receivables WHERE ${where}`, params);
}

export function truthOrgReceivables(dataSource: Queryable, where = 'TRUE', params: unknown[] = []) {
  return rows(dataSource, `SELECT ${OR_COLUMNS} FROM (${TRUTH_ORG_RECEIVABLES}) t WHERE ${where}`, params);
}
