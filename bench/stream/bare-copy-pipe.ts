import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';

/**
 * The reference of the streamed scenario: the first `rows` source rows moved by a bare
 * `COPY (...) TO STDOUT` piped into `COPY streamed_invoices FROM STDIN`, binary on both ends,
 * with `pg` and `pg-copy-streams` and nothing else: no transaction bookkeeping, no slice, no
 * checks. What the two servers and one Node process can move on this machine.
 */
export async function bareCopyPipe(readUrl: string, writeUrl: string, table: string, rows: number): Promise<void> {
  const source = new pg.Client({ connectionString: readUrl });
  const target = new pg.Client({ connectionString: writeUrl });
  await Promise.all([source.connect(), target.connect()]);
  try {
    const select = `SELECT id, org_id, account_id, amount_cents, issued_on, status, memo, meta FROM ${table} WHERE id <= ${Number(rows)}`;
    await target.query('BEGIN');
    await pipeline(
      source.query(copyTo(`COPY (${select}) TO STDOUT (FORMAT binary)`)),
      target.query(
        copyFrom(
          `COPY streamed_invoices (invoice_id, org_id, account_id, amount_cents, issued_on, status, memo, meta) FROM STDIN (FORMAT binary)`,
        ),
      ),
    );
    await target.query('COMMIT');
  } finally {
    await Promise.all([source.end(), target.end()]);
  }
}
