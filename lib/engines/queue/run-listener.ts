import pg from 'pg';
import { RUN_CHANNEL, WORKER_LOCK_NAMESPACE } from './queue.constants.js';

/**
 * This process's own connection to the queue's database: it LISTENs for finished runs and, in a
 * worker process, holds the session advisory lock that tells other processes this one is alive.
 * Reconnects when the connection drops, then re-checks every run still awaited.
 */
export class RunListener {
  private client?: pg.Client;
  private readonly waiters = new Map<string, Set<() => void>>();
  private stopped = false;
  private reconnecting?: NodeJS.Timeout;
  /** Key of this process's liveness lock, once taken (workers only). */
  processKey?: number;

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly holdLiveness: boolean,
    private readonly onError: (error: Error) => void,
    /** Called after a reconnect, so awaited runs that finished meanwhile are noticed. */
    private readonly onReconnect: () => void,
  ) {}

  async start(): Promise<void> {
    const client = new pg.Client({ application_name: 'cinema-queue-listener', ...this.config });
    client.on('notification', (message) => {
      if (message.channel === RUN_CHANNEL && message.payload) this.notify(message.payload);
    });
    client.on('error', (error) => {
      this.onError(error);
      this.scheduleReconnect();
    });
    client.on('end', () => this.scheduleReconnect());
    await client.connect();
    await client.query(`LISTEN ${RUN_CHANNEL}`);
    if (this.holdLiveness) {
      const { rows } = await client.query(`SELECT nextval('"cinema"."process_keys"')::int AS key`);
      this.processKey = rows[0].key as number;
      await client.query('SELECT pg_advisory_lock($1, $2)', [WORKER_LOCK_NAMESPACE, this.processKey]);
    }
    this.client = client;
  }

  /** Calls `listener` when the run is announced as finished; returns the unsubscribe. */
  subscribe(runId: string, listener: () => void): () => void {
    let set = this.waiters.get(runId);
    if (!set) this.waiters.set(runId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.waiters.delete(runId);
    };
  }

  /** Every awaited run checks its state again (after a reconnect may have missed announcements). */
  recheck(): void {
    for (const runId of [...this.waiters.keys()]) this.notify(runId);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnecting);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private notify(runId: string): void {
    for (const listener of [...(this.waiters.get(runId) ?? [])]) listener();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnecting) return;
    const dead = this.client;
    this.client = undefined;
    dead?.removeAllListeners('end');
    dead?.end().catch(() => undefined);
    this.reconnecting = setTimeout(() => {
      this.reconnecting = undefined;
      if (this.stopped) return;
      this.start().then(
        () => this.onReconnect(),
        (error: Error) => {
          this.onError(error);
          this.scheduleReconnect();
        },
      );
    }, 1_000);
  }
}
