import type { Writable } from 'node:stream';

/** The connection of a projection's write transaction, as the writer and the queue's bookkeeping use it. */
export interface PgClient {
  query(config: { text: string; values?: unknown[] }): Promise<{ rowCount: number | null; rows: any[]; fields?: { name: string }[] }>;
  /** Runs `COPY ... FROM STDIN` with `data` (COPY text lines); returns the rows copied. */
  copy(text: string, data: string): Promise<number>;
  /** Starts `COPY ... FROM STDIN`: pipe COPY text into it; it finishes once PostgreSQL has taken it all. */
  copyFrom(text: string): Writable & { rowCount: number };
}

/**
 * A plain insert met a key already in the table (held by a row outside the slice, or derived
 * twice). Not an error users see: the runner rebuilds the projection in upsert mode, or turns
 * it into a `KeyConflictError` under `keyConflicts: 'error'`.
 */
export class KeyConflict extends Error {
  constructor(
    readonly projection: string,
    override readonly cause: unknown,
  ) {
    super(`${projection}: a derived key is already in the table`);
  }
}
