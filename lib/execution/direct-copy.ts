import type { DialectTable } from '../dialect/dialect.interface.js';
import { pipeCopy, type CopyPipeParts } from './copy-pipe.js';

export interface DirectCopyParts extends Omit<CopyPipeParts, 'into'> {
  /** The projection's table, its slice already deleted in this transaction. */
  table: DialectTable;
}

/**
 * `copied`: the rows are in the table. `unpiped`: nothing started (the select's parameters have
 * no exact literal): read it with a cursor. `refused`: a constraint of the table refused a row
 * (a duplicate key, a NULL where none may be): everything the copy wrote is undone, and the
 * caller copies through a staging table, which says which row and why.
 */
export type DirectCopy = { kind: 'copied'; rows: number } | { kind: 'unpiped' } | { kind: 'refused' };

const SAVEPOINT = 'cinema_direct_copy';

/**
 * Pipes a select of another database straight into the projection's table (`copy-pipe.ts`),
 * without the staging table and its `INSERT ... SELECT`: about half the time of a whole copy.
 * A savepoint taken just before the COPY makes a refused row cost only the copy: rolled back to
 * it, the transaction goes on as if the copy had never started. Any other failure (a lost
 * connection, a timeout, the source's error) fails the write as the staging path would.
 */
export async function copyDirect(parts: DirectCopyParts): Promise<DirectCopy> {
  const { client, dialect } = parts;
  let guarded = false;
  try {
    const rows = await pipeCopy({
      ...parts,
      into: async () => {
        await client.query({ text: dialect.savepoint(SAVEPOINT) });
        guarded = true;
        return parts.table.path;
      },
    });
    if (rows === undefined) return { kind: 'unpiped' };
    await client.query({ text: dialect.releaseSavepoint(SAVEPOINT) });
    return { kind: 'copied', rows };
  } catch (error) {
    if (!guarded || !dialect.isIntegrityViolation(error)) throw error;
    parts.signal.throwIfAborted();
    await client.query({ text: dialect.rollbackToSavepoint(SAVEPOINT) });
    await client.query({ text: dialect.releaseSavepoint(SAVEPOINT) });
    return { kind: 'refused' };
  }
}
