import QueryStream from 'pg-query-stream';
import { Observable } from 'rxjs';
import type { DataSource } from 'typeorm';
import type { Row } from '../interfaces/derivation-context.interface.js';
import type { Valve } from './valve.js';

export interface RowStreamOptions {
  /** Rows fetched per cursor round trip. */
  batchSize: number;
  /** Paused while closed. */
  valve?: Valve;
  /** Ends the stream with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Rows of a statement, read with a server-side cursor on a connection of its own. Lazy: nothing
 * runs until subscription, and unsubscribing closes the cursor and releases the connection.
 */
export function streamRows(dataSource: DataSource, sql: string, params: unknown[], options: RowStreamOptions): Observable<Row> {
  return new Observable<Row>((subscriber) => {
    let closed = false;
    let stream: QueryStream | undefined;
    let stopValve: (() => void) | undefined;
    const runner = dataSource.createQueryRunner('slave');
    const onAbort = () => subscriber.error(options.signal!.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const cleanup = () => {
      if (closed) return;
      closed = true;
      options.signal?.removeEventListener('abort', onAbort);
      stopValve?.();
      if (stream && !stream.destroyed) stream.destroy();
      runner.release().catch(() => undefined);
    };

    (async () => {
      if (options.signal?.aborted) throw options.signal.reason;
      const client = await runner.connect();
      if (closed) return;
      const current: QueryStream = client.query(new QueryStream(sql, params as any[], { batchSize: options.batchSize }));
      stream = current;
      if (options.valve) {
        stopValve = options.valve.onOpen(() => {
          if (!current.destroyed) current.resume();
        });
      }
      current.on('data', (row: Row) => {
        subscriber.next(row);
        if (options.valve && !options.valve.open) current.pause();
      });
      current.on('error', (error) => subscriber.error(error));
      current.on('end', () => subscriber.complete());
    })().catch((error) => subscriber.error(error));

    return cleanup;
  });
}
