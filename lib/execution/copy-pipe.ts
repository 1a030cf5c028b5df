import type { Readable, Writable } from 'node:stream';
import { to as copyTo } from 'pg-copy-streams';
import type { DataSource, QueryRunner } from 'typeorm';
import type { SqlDialect } from '../dialect/dialect.interface.js';
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
  /** Readies the staging table; returns the `COPY ... FROM STDIN` that fills it. */
  into: () => Promise<string>;
  /** Stops both sides. */
  signal: AbortSignal;
}

type SourceClient = WatchedClient & { query<T>(stream: T): T; query(text: string): Promise<unknown> };
type SourceRunner = QueryRunner & { releasePostgresConnection?(error?: Error): Promise<void> };

/**
 * Copies a select of another database into a staging table of the write transaction without a
 * row entering JavaScript: `COPY (<select>) TO STDOUT` there, piped with the streams' back-pressure
 * into `COPY <stage> FROM STDIN` here. Resolves with the rows copied, or `undefined` (nothing
 * started, nothing staged) when the select's parameters cannot be inlined exactly: the caller
 * reads it with a cursor instead.
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
    const statement = await parts.dialect.copyOut(raw, parts.select, parts.values);
    if (statement === undefined) {
      reusable = true;
      return undefined;
    }
    const copyIn = await parts.into();
    signal.throwIfAborted();
    const rows = await run(raw, statement, parts.client.copyFrom(copyIn), signal);
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
