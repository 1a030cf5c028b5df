/** Row counts of one run, derived from `--scale`. */
export interface BenchSizes {
  scale: number;
  orgs: number;
  /** Fixed: scaling changes how many slices there are, not how big one slice is. */
  accountsPerOrg: number;
  invoicesPerAccount: number;
  accounts: number;
  invoices: number;
  /** Rows of the streamed scenario's large run, and of its small run (a tenth) for memory. */
  streamRows: number;
  streamRowsSmall: number;
  /** Rows of the streamed scenario's wide-row runs (about 1.1 KB each), large and small (a tenth). */
  wideRows: number;
  wideRowsSmall: number;
}

const FULL_ORGS = 1_000;
const ACCOUNTS_PER_ORG = 100;
const INVOICES_PER_ACCOUNT = 30;
const FULL_STREAM_ROWS = 2_000_000;
const FULL_WIDE_ROWS = 1_000_000;

/**
 * `--scale` multiplies the number of orgs (and the streamed rows): one org's slice keeps the
 * same 100 accounts and 3,000 invoices at every scale, so a slice refresh costs the same and
 * only what scales with the whole table (REFRESH MATERIALIZED VIEW, a full rebuild) shrinks.
 */
export function benchSizes(scale: number): BenchSizes {
  const orgs = Math.max(2, Math.round(FULL_ORGS * scale));
  const accounts = orgs * ACCOUNTS_PER_ORG;
  const streamRows = Math.max(10_000, Math.round(FULL_STREAM_ROWS * scale));
  const wideRows = Math.max(10_000, Math.round(FULL_WIDE_ROWS * scale));
  return {
    scale,
    orgs,
    accountsPerOrg: ACCOUNTS_PER_ORG,
    invoicesPerAccount: INVOICES_PER_ACCOUNT,
    accounts,
    invoices: accounts * INVOICES_PER_ACCOUNT,
    streamRows,
    streamRowsSmall: Math.round(streamRows / 10),
    wideRows,
    wideRowsSmall: Math.round(wideRows / 10),
  };
}
