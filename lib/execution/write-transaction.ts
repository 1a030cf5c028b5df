import { TransactionClosedError } from '../errors/transaction-closed.error.js';
import type { QueryRunner } from 'typeorm';
import { copyIn, copyInStream } from '../dialect/postgres/copy-text.js';
import { watchConnection, type WatchedClient } from './connection-watch.js';
import type { ProjectionModel } from '../model/projection.model.js';
import type { PgClient } from './write-client.js';

/** How long to wait for `pg_cancel_backend` before rolling back regardless. */
const CANCEL_GRACE_MS = 2_000;

type PostgresQueryRunner = QueryRunner & { releasePostgresConnection?(error?: Error): Promise<void> };

/**
 * One write transaction; closes exactly once, whether the work finishes or is abandoned. Its
 * connection is watched: if it dies, `onLost` gets PostgreSQL's reason at once (nothing else
 * may ever settle while the write waits on rows or a derivation), and it leaves the pool.
 */
export class WriteTransaction {
  pid?: number;
  /** Set once COMMIT is sent: from then on the outcome is the commit's, not a timeout's. */
  committing?: Promise<void>;
  /** Why the connection died, if it did. */
  lost?: Error;
  private runner?: PostgresQueryRunner;
  private raw?: PgClient;
  private connecting?: Promise<unknown>;
  private connected = false;
  private closed = false;
  private closing?: Promise<void>;
  private stopWatch?: () => void;

  constructor(
    private readonly model: ProjectionModel,
    private readonly onLost: (error: Error) => void,
    /** Name the statements with parameters (see `StatementNames`): a lens of equalities only. */
    private readonly prepare = false,
  ) {}

  get manager() {
    return this.runner!.manager;
  }

  /** A pooled connection of the write data source, guarded: it refuses statements once closed. */
  async connect(): Promise<PgClient> {
    this.runner = this.model.write!.createQueryRunner('master');
    this.connecting = this.runner.connect();
    const raw = (await this.connecting) as PgClient & WatchedClient & { processID?: number; query<T>(stream: T): T };
    this.connected = true;
    if (this.closed) throw new TransactionClosedError(this.model.name);
    this.pid = raw.processID;
    this.raw = raw;
    this.stopWatch = watchConnection(raw, (error) => {
      this.lost = error;
      this.onLost(error);
    });
    // A derivation still running after a timeout must not reach the pooled connection after it
    // was handed to someone else; on a dead connection it gets the server's reason, not pg's
    // "not queryable".
    const refusal = () => this.lost ?? (this.closed ? new TransactionClosedError(this.model.name) : undefined);
    return {
      query: (config) => {
        const refused = refusal();
        if (refused) return Promise.reject(refused);
        // Statements with parameters repeat with other values: prepared once per connection.
        const name = this.prepare && config.values ? this.model.dialect.statementName(config.text) : undefined;
        return (raw as PgClient).query(name ? ({ ...config, name } as typeof config) : config);
      },
      copy: (text, data) => {
        const refused = refusal();
        return refused ? Promise.reject(refused) : copyIn(raw, text, data);
      },
      copyFrom: (text) => {
        const refused = refusal();
        if (refused) throw refused;
        return copyInStream(raw, text);
      },
    };
  }

  /** Opens the transaction with `prelude` (a statement without parameters) in BEGIN's round trip. */
  async open(prelude: string): Promise<void> {
    if (this.closed) throw new TransactionClosedError(this.model.name);
    if (this.lost) throw this.lost;
    const state = this.runner as QueryRunner & { transactionDepth?: unknown };
    if (state.transactionDepth === 0 && !state.isTransactionActive) {
      // TypeORM's own bookkeeping, as startTransaction() sets it (before the statement, so that
      // a failure is rolled back), for the manager handed to derivations and for commit/rollback.
      (state as { isTransactionActive: boolean }).isTransactionActive = true;
      state.transactionDepth = 1;
      await this.raw!.query({ text: `BEGIN; ${prelude}` });
    } else {
      await this.runner!.startTransaction();
      await this.raw!.query({ text: prelude });
    }
  }

  commit(): Promise<void> {
    if (this.closed) return Promise.reject(new TransactionClosedError(this.model.name));
    if (this.lost) return Promise.reject(this.lost);
    this.committing = this.runner!.commitTransaction().then(() => this.close());
    return this.committing;
  }

  /**
   * Rolls back and releases the connection. With `cancel`, first cancels whatever statement the
   * connection runs (a cancel that reaches an idle backend is ignored by PostgreSQL). A dead
   * connection has nothing to cancel or roll back (the server did): it is destroyed.
   */
  abandon(cancel: boolean): Promise<void> {
    this.closing ??= (async () => {
      if (!this.runner) return;
      if (!this.connected) {
        // Still waiting for a pooled connection: hand it back as soon as it arrives.
        this.closed = true;
        const runner = this.runner;
        const released = this.connecting!.then(
          () => runner.release(),
          () => undefined,
        );
        await withTimeout(released, CANCEL_GRACE_MS);
        return;
      }
      if (this.lost) return this.close(this.lost);
      if (cancel && this.pid !== undefined && !this.closed) {
        await withTimeout(this.model.write!.query(this.model.dialect.cancelBackend(), [this.pid]), CANCEL_GRACE_MS).catch(() => undefined);
      }
      let failure: Error | undefined;
      try {
        if (this.runner.isTransactionActive && !this.lost) await this.runner.rollbackTransaction();
      } catch (error) {
        failure = error as Error;
      }
      await this.close(this.lost ?? failure);
    })();
    return this.closing;
  }

  private async close(failure?: Error): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopWatch?.();
    // A connection that died or whose rollback failed is destroyed rather than returned to the pool.
    const runner = this.runner!;
    const release = failure && runner.releasePostgresConnection ? runner.releasePostgresConnection(failure) : runner.release();
    await release.catch(() => undefined);
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([promise, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms).unref())]);
}
