import { TransactionClosedError } from '../errors/transaction-closed.error.js';
import type { QueryRunner } from 'typeorm';
import { copyIn, copyInStream } from '../dialect/postgres/copy-text.js';
import { watchConnection, type WatchedClient } from './connection-watch.js';
import type { ProjectionModel } from '../model/projection.model.js';
import type { PgClient } from './write-client.js';

/** How long to wait for `pg_cancel_backend` before rolling back regardless. */
const CANCEL_GRACE_MS = 2_000;

type PostgresQueryRunner = QueryRunner & { releasePostgresConnection?(error?: Error): Promise<void>; transactionDepth?: number };

/**
 * One write transaction; closes exactly once, whether the work finishes or is abandoned. Its
 * connection is watched: if it dies, `onLost` gets PostgreSQL's reason at once (nothing else
 * may ever settle while the write waits on rows or a derivation), and it leaves the pool.
 */
export class WriteTransaction {
  pid?: number;
  /** Set once COMMIT is sent: from then on the outcome is the commit's, not a timeout's. */
  committing?: Promise<void>;
  /** COMMIT was queued behind the last statement, before its result (see `commitAhead`). */
  commitQueued = false;
  /** Why the connection died, if it did. */
  lost?: Error;
  private runner?: PostgresQueryRunner;
  private raw?: PgClient;
  private connecting?: Promise<unknown>;
  private connected = false;
  private closed = false;
  private closing?: Promise<void>;
  private stopWatch?: () => void;
  /** The statement running under a queued COMMIT was cancelled (once is enough). */
  private cancelled = false;
  /** Settles when the last statement sent on the connection has (see `inTurn`). */
  private turn: Promise<unknown> = Promise.resolve();

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
    // "not queryable". Checked when the statement leaves, as it may wait behind others.
    const refusal = () => this.lost ?? (this.closed ? new TransactionClosedError(this.model.name) : undefined);
    // The manager's statements (a derivation's ctx.write) take their turn with Cinema's own.
    const runner = this.runner;
    const runnerQuery = runner.query.bind(runner);
    runner.query = ((...args: Parameters<QueryRunner['query']>) => this.inTurn(() => runnerQuery(...args))) as QueryRunner['query'];
    return {
      query: (config) =>
        this.inTurn(() => {
          const refused = refusal();
          if (refused) return Promise.reject(refused);
          // Statements with parameters repeat with other values: prepared once per connection.
          const name = this.prepare && config.values ? this.model.dialect.statementName(config.text) : undefined;
          return (raw as PgClient).query(name ? ({ ...config, name } as typeof config) : config);
        }),
      copy: (text, data) =>
        this.inTurn(() => {
          const refused = refusal();
          return refused ? Promise.reject(refused) : copyIn(raw, text, data);
        }),
      copyFrom: (text) => {
        const refused = refusal();
        if (refused) throw refused;
        return copyInStream(raw, text);
      },
    };
  }

  /**
   * Opens the transaction with `prelude` (a statement without parameters) in BEGIN's round trip,
   * and the statements `then` after it in the same message (e.g. the slice's DELETE); resolves
   * with the rows each of `then` affected.
   */
  async open(prelude: string, then: readonly string[] = []): Promise<number[]> {
    if (this.closed) throw new TransactionClosedError(this.model.name);
    if (this.lost) throw this.lost;
    const state = this.runner as QueryRunner & { transactionDepth?: unknown };
    const statements = [prelude, ...then].join('; ');
    let results: unknown;
    if (state.transactionDepth === 0 && !state.isTransactionActive) {
      // TypeORM's own bookkeeping, as startTransaction() sets it (before the statement, so that
      // a failure is rolled back), for the manager handed to derivations and for commit/rollback.
      (state as { isTransactionActive: boolean }).isTransactionActive = true;
      state.transactionDepth = 1;
      results = await this.inTurn(() => this.raw!.query({ text: `BEGIN; ${statements}` }));
    } else {
      await this.runner!.startTransaction();
      results = await this.inTurn(() => this.raw!.query({ text: statements }));
    }
    // Several statements in one message: node-postgres resolves with one result per statement.
    const all = (Array.isArray(results) ? results : [results]) as { rowCount?: number | null }[];
    return all.slice(all.length - then.length).map((result) => result.rowCount ?? 0);
  }

  commit(): Promise<void> {
    if (this.committing) return this.committing;
    if (this.closed) return Promise.reject(new TransactionClosedError(this.model.name));
    if (this.lost) return Promise.reject(this.lost);
    this.committing = this.runner!.commitTransaction().then(() => this.close());
    return this.committing;
  }

  /**
   * Queues COMMIT right behind the statement just sent (the transaction's last), so that it
   * leaves the moment that statement's result arrives, with no JavaScript between them. If that
   * statement fails, PostgreSQL answers the COMMIT with `ROLLBACK`: the transaction is over,
   * nothing of it kept, and `committing` rejects. Not done (`false`) when TypeORM has
   * subscribers to tell of the commit, or the transaction is not the plain one `open` began.
   */
  commitAhead(): boolean {
    const state = this.runner;
    if (this.committing || this.closed || this.lost || !this.raw || !state) return false;
    if (state.transactionDepth !== 1 || !state.isTransactionActive || this.model.write!.subscribers.length > 0) return false;
    const raw = this.raw;
    const sent = this.inTurn(() => raw.query({ text: 'COMMIT' }));
    this.commitQueued = true;
    this.committing = sent.then(
      async (result) => {
        this.endTransaction();
        if ((result as { command?: string }).command !== 'COMMIT') throw new TransactionClosedError(this.model.name);
        await this.close();
      },
      (error: Error) => {
        // The connection failed under it: whether it committed is unknown, and the abandon that
        // follows destroys the connection.
        this.endTransaction();
        throw error;
      },
    );
    this.committing.catch(() => undefined);
    return true;
  }

  /**
   * After a failure while a COMMIT queued by `commitAhead` is outstanding: cancels the statement
   * still running when `cancel` (a timeout), then says whether the transaction committed after
   * all (the commit decides, as for any COMMIT already on the wire).
   */
  async committedAfterAll(cancel: boolean): Promise<boolean> {
    if (!this.commitQueued || !this.committing) return false;
    if (cancel && !this.cancelled) {
      this.cancelled = true;
      await this.cancelStatement();
    }
    return this.committing.then(
      () => true,
      () => false,
    );
  }

  /**
   * Sends a statement once every statement sent before it on this connection has settled, in
   * the microtask its result arrives in: queued in order, with no turn of the event loop between
   * (node-postgres deprecates calling `query()` on a client that is still running one).
   */
  private inTurn<T>(send: () => Promise<T>): Promise<T> {
    const sent = this.turn.then(send, send);
    this.turn = sent.catch(() => undefined);
    return sent;
  }

  /** Cancels whatever statement the connection runs, from another connection (ignored by an idle backend). */
  private async cancelStatement(): Promise<void> {
    if (this.pid === undefined) return;
    await withTimeout(this.model.write!.query(this.model.dialect.cancelBackend(), [this.pid]), CANCEL_GRACE_MS).catch(() => undefined);
  }

  /** TypeORM's bookkeeping once the transaction ended outside `commitTransaction()`. */
  private endTransaction(): void {
    const state = this.runner as PostgresQueryRunner & { isTransactionActive: boolean };
    state.isTransactionActive = false;
    state.transactionDepth = 0;
  }

  /**
   * Rolls back and releases the connection. With `cancel`, first cancels whatever statement the
   * connection runs (a cancel that reaches an idle backend is ignored by PostgreSQL). A dead
   * connection has nothing to cancel or roll back (the server did): it is destroyed.
   */
  abandon(cancel: boolean): Promise<void> {
    this.closing ??= (async () => {
      if (!this.runner) return;
      if (this.commitQueued) {
        // COMMIT is queued behind the failed statement: it ends the transaction either way.
        const committed = await this.committedAfterAll(cancel && !this.closed);
        return committed ? undefined : this.close(this.lost);
      }
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
      if (cancel && !this.closed) await this.cancelStatement();
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
