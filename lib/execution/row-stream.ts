import QueryStream from 'pg-query-stream';
import { Observable } from 'rxjs';
import type { DataSource } from 'typeorm';
import type { Row } from '../interfaces/derivation-context.interface.js';
import { watchConnection, type WatchedClient } from './connection-watch.js';
import { dateStringTypes } from './date-strings.js';
import type { Valve } from './valve.js';

export interface RowStreamOptions {
  /** Rows fetched per cursor round trip. */
  batchSize: number;
  /** Paused while closed. */
  valve?: Valve;
  /** Ends the stream with the signal's reason. */
  signal?: AbortSignal;
  /** Date/time types as PostgreSQL's text instead of `Date`s (see `date-strings.ts`). */
  dateStrings?: boolean;
}

/** A row as PostgreSQL prints it: each field's text, in the order the statement selects them. */
export type TextRow = (string | null)[];

/** Every type read as the text PostgreSQL sends: no parsing, ready to be copied elsewhere. */
const TEXT_TYPES = { getTypeParser: () => (text: string) => text };

/**
 * Rows of a statement, read with a server-side cursor on a connection of its own. Lazy: nothing
 * runs until subscription, and unsubscribing closes the cursor and releases the connection.
 */
export function streamRows(dataSource: DataSource, sql: string, params: unknown[], options: RowStreamOptions): Observable<Row> {
  return cursorRows<Row>(dataSource, sql, params, options, {});
}

/** Like {@link streamRows}, but each row is its fields' text: what a `COPY` into another database needs. */
export function streamTextRows(dataSource: DataSource, sql: string, params: unknown[], options: RowStreamOptions): Observable<TextRow> {
  return cursorRows<TextRow>(dataSource, sql, params, options, { rowMode: 'array', types: TEXT_TYPES });
}

function cursorRows<T>(
  dataSource: DataSource,
  sql: string,
  params: unknown[],
  options: RowStreamOptions,
  mode: { rowMode?: 'array'; types?: typeof TEXT_TYPES },
): Observable<T> {
  return new Observable<T>((subscriber) => {
    let closed = false;
    let stream: QueryStream | undefined;
    let stopValve: (() => void) | undefined;
    let stopWatch: (() => void) | undefined;
    /** Why the connection died, if it did: it must leave the pool, and its cursor cannot be closed. */
    let lost: Error | undefined;
    const runner = dataSource.createQueryRunner('slave') as ReturnType<DataSource['createQueryRunner']> & {
      releasePostgresConnection?(error?: Error): Promise<void>;
    };
    const onAbort = () => subscriber.error(options.signal!.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const cleanup = () => {
      if (closed) return;
      closed = true;
      options.signal?.removeEventListener('abort', onAbort);
      stopValve?.();
      stopWatch?.();
      // On a dead connection destroy() would wait forever for the cursor's close.
      if (stream && !stream.destroyed && !lost) stream.destroy();
      const release = lost && runner.releasePostgresConnection ? runner.releasePostgresConnection(lost) : runner.release();
      release.catch(() => undefined);
    };

    (async () => {
      if (options.signal?.aborted) throw options.signal.reason;
      const client = await runner.connect();
      if (closed) return;
      stopWatch = watchConnection(client as WatchedClient, (error) => {
        lost = error;
        subscriber.error(error);
      });
      if (lost) return;
      const types = options.dateStrings && !mode.types ? { types: dateStringTypes(client) } : {};
      const current: QueryStream = client.query(new QueryStream(sql, params as any[], { batchSize: options.batchSize, ...mode, ...types }));
      stream = current;
      if (options.valve) {
        stopValve = options.valve.onOpen(() => {
          if (!current.destroyed) current.resume();
        });
      }
      current.on('data', (row: T) => {
        subscriber.next(row);
        if (options.valve && !options.valve.open) current.pause();
      });
      current.on('error', (error) => subscriber.error(lost ?? error));
      current.on('end', () => subscriber.complete());
    })().catch((error) => subscriber.error(error));

    return cleanup;
  });
}
