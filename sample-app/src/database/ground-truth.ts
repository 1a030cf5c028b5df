import type { DataSource } from 'typeorm';

/** What the receivables projections must hold, computed straight from the billing tables. */
const TRUTH_ACCOUNTS_RECEIVABLE = `
  SELECT a.id AS account_id, a.org_id, a.name,
         COALESCE(SUM(i.amount_cents) FILTER (WHERE i.status = 'open'), 0)::bigint AS open_cents,
         COUNT(i.id) FILTER (WHERE i.status = 'open')::int AS open_invoices,
         MIN(i.issued_on) FILTER (WHERE i.status = 'open') AS oldest_open_on
  FROM accounts a LEFT JOIN invoices i ON i.account_id = a.id AND i.status <> 'void'
  WHERE a.org_id = $1
  GROUP BY a.id, a.org_id, a.name`;

const TRUTH_ORG_RECEIVABLES = `
  WITH ar AS MATERIALIZED (${TRUTH_ACCOUNTS_RECEIVABLE}),
  days AS (
    SELECT org_id, issued_on AS day, SUM(amount_cents)::bigint AS invoiced_cents,
           COALESCE(SUM(amount_cents) FILTER (WHERE status = 'open'), 0)::bigint AS open_cents
    FROM invoices WHERE status <> 'void' AND org_id = $1 GROUP BY 1, 2)
  SELECT d.org_id, d.day, d.invoiced_cents, d.open_cents,
         (SELECT COUNT(*) FROM ar WHERE ar.oldest_open_on = d.day)::int AS accounts_aging_from_day
  FROM days d`;

/**
 * Rows of the org's slice that differ from the ground truth, in either direction, per table
 * (both 0: the stored slice is exactly what the billing tables say). Reads the tables, never rebuilds.
 */
export async function sliceDifferences(
  dataSource: DataSource,
  orgId: number,
): Promise<{ accountsReceivable: number; orgReceivables: number }> {
  const differing = async (stored: string, truth: string): Promise<number> => {
    const [{ n }] = await dataSource.query(
      `SELECT count(*)::int AS n FROM ((${stored} EXCEPT ALL ${truth}) UNION ALL (${truth} EXCEPT ALL ${stored})) d`,
      [orgId],
    );
    return n;
  };
  const ar = 'account_id, org_id, name, open_cents, open_invoices, oldest_open_on';
  const or = 'org_id, day, invoiced_cents, open_cents, accounts_aging_from_day';
  return {
    accountsReceivable: await differing(
      `SELECT ${ar} FROM accounts_receivable WHERE org_id = $1`,
      `SELECT ${ar} FROM (${TRUTH_ACCOUNTS_RECEIVABLE}) t`,
    ),
    orgReceivables: await differing(
      `SELECT ${or} FROM org_receivables WHERE org_id = $1`,
      `SELECT ${or} FROM (${TRUTH_ORG_RECEIVABLES}) t`,
    ),
  };
}
