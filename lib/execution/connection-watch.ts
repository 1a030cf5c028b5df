import { ConnectionLostError } from '../errors/connection-lost.error.js';
import type { EventEmitter } from 'node:events';

/** The parts of a `pg` client a watch listens to (`connection` is the protocol stream). */
export interface WatchedClient extends EventEmitter {
  connection?: EventEmitter;
  _ending?: boolean;
  _ended?: boolean;
  _queryable?: boolean;
}

/** Severities after which PostgreSQL closes the connection. */
const FATAL = new Set(['FATAL', 'PANIC']);

/**
 * Calls `onLost` once when a checked-out connection dies (terminated backend, server restart,
 * network): a statement in flight may never settle (pg-query-stream's `destroy()` waits for a
 * reply a dead connection never sends), so the client's own `'error'` and `'end'` are watched.
 * `onLost` gets PostgreSQL's own reason (e.g. 57P01) when the server sent one, else the socket's.
 * Returns the function that stops watching.
 */
export function watchConnection(client: WatchedClient, onLost: (error: Error) => void): () => void {
  let fatal: Error | undefined;
  let reported = false;
  const report = (error: Error) => {
    if (reported) return;
    reported = true;
    onLost(fatal ?? error);
  };
  // The server's FATAL message goes to the statement in flight (if any), not to 'error'.
  const onMessage = (message: Error & { severity?: string }) => {
    if (message.severity && FATAL.has(message.severity)) fatal ??= message;
  };
  const onError = (error: Error) => report(error);
  const onEnd = () => report(new ConnectionLostError('the connection to PostgreSQL ended'));
  client.connection?.on('errorMessage', onMessage);
  client.on('error', onError);
  client.on('end', onEnd);
  const stop = () => {
    client.connection?.removeListener('errorMessage', onMessage);
    client.removeListener('error', onError);
    client.removeListener('end', onEnd);
  };
  // Died before it was watched (between the pool's hand-over and now).
  if (client._ended || client._queryable === false) report(new ConnectionLostError('the connection to PostgreSQL was already closed'));
  return stop;
}
