import type { Readable, Writable } from 'node:stream';
import { to as copyTo } from 'pg-copy-streams';
import type { DataSource, QueryRunner } from 'typeorm';
import type { CopyChoice, SqlDialect } from '../dialect/dialect.interface.js';
import { watchConnection, type WatchedClient } from './connection-watch.js';
import type { PgClient } from './write-client.js';

export interface CopyPipeParts {
  /** The database the select reads. */
  source: DataSource;
  dialect: SqlDialect;
  select: string;
  values: readonly unknown[];
  /** The write transaction's connection. */
  client: PgClient;
  /** The columns (database names) the select's outputs go into, in order. */
  columns: readonly string[];
  /** Readies the table the rows go into (a staging table, or the projection's); returns its name. */
  into: () => Promise<string>;
  /** Told the format chosen, and why, before the copy starts. */
  onFormat?: (choice: CopyChoice) => void;
  /** Stops both sides. */
  signal: AbortSignal;
}

type SourceClient = WatchedClient & { query<T>(stream: T): T; query(text: string): Promise<unknown> };
type SourceRunner = QueryRunner & { releasePostgresConnection?(error?: Error): Promise<void> };

/**
 * Copies a select of another database into a staging table of the write transaction without a
 * row entering JavaScript: `COPY (<select>) TO STDOUT` there, piped with the streams' back-pressure
 * into `COPY <stage> FROM STDIN` here. In binary when both ends' column types and encodings allow
 * it exactly (`SqlDialect.copyFormat`: less parsing and printing on both servers), else in text.
 * Resolves with the rows copied, or `undefined` (nothing started, nothing staged) when the
 * select's parameters cannot be inlined exactly: the caller reads it with a cursor instead.
 *
 * Whatever stops it first (an error on either side, either connection dying, the signal) stops
 * both: the write side's COPY is failed (`CopyFail`, the transaction then rolls back) and the
 * source connection, mid-COPY, is destroyed rather than pooled again.
 */
export async function pipeCopy(parts: CopyPipeParts): Promise<number | undefined> {
  const { signal } = parts;
  signal.throwIfAborted();
  const runner = parts.source.createQueryRunner('slave') as SourceRunner;
  let reusable = false;
  let failure: Error | undefined;
  try {
    const raw = (await runner.connect()) as SourceClient;
    signal.throwIfAborted();
    const { dialect, client, columns } = parts;
    const source = await dialect.copyOut(raw, parts.select, parts.values);
    if (source === undefined) {
      reusable = true;
      return undefined;
    }
    const from = await source.describe();
    signal.throwIfAborted();
    const table = await parts.into();
    signal.throwIfAborted();
    const choice = dialect.copyFormat(from, await dialect.copyInEnd(client, table, columns), columns);
    parts.onFormat?.(choice);
    signal.throwIfAborted();
    const into = client.copyFrom(dialect.copyOutInto(table, columns, choice.format));
    const rows = await run(raw, source.statement(choice.format), into, signal);
    reusable = true;
    return rows;
  } catch (error) {
    failure = error as Error;
    throw error;
  } finally {
    const release = !reusable && runner.releasePostgresConnection ? runner.releasePostgresConnection(failure) : runner.release();
    await release.catch(() => undefined);
  }
}

/** Runs the pipe; settles once, at the write side's end or the first failure of anything. */
function run(raw: SourceClient, statement: string, into: Writable & { rowCount: number }, signal: AbortSignal): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    let out: Readable | undefined;
    /** `from`: the stream that failed, already done with (its connection may be gone). */
    const settle = (error?: Error, from?: Readable | Writable) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      stopWatch();
      if (!error) return resolve(into.rowCount);
      out?.unpipe(into);
      // CopyFail on the write side: PostgreSQL answers it even mid-stream, and the transaction rolls back.
      if (from !== into && !into.destroyed) into.destroy(error);
      // The source connection, mid-COPY, is destroyed by the caller.
      if (from !== out) out?.destroy();
      reject(error);
    };
    const onAbort = () => settle(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    const stopWatch = watchConnection(raw, (error) => settle(error, out));
    // Kept after settling: a stream may still report the failure that settled it.
    into.on('error', (error: Error) => settle(error, into));
    into.on('finish', () => settle());
    if (settled) return;
    out = raw.query(copyTo(statement));
    out.on('error', (error: Error) => settle(error, out));
    out.pipe(into);
  });
}
