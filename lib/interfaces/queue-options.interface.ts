/** The durable runtime: projection graphs as jobs on a PostgreSQL job queue (graphile-worker). */
export interface CinemaQueueOptions {
  /**
   * `@nestjs/typeorm` data source whose database holds the queue: the `cinema` schema (see
   * `CinemaQueueMigration`) and graphile-worker's schema, which Cinema installs at startup.
   * @default the module's `writeDataSource`
   */
  dataSource?: string;
  /**
   * Work queued projections in this process. Without it the process only enqueues and waits,
   * like an API process whose jobs run on dedicated worker processes.
   * @default false
   */
  worker?: boolean;
  /**
   * Queues this process works when `worker` is on.
   * @default ['default']
   */
  queues?: readonly string[];
  /**
   * Projections this process works at the same time when `worker` is on.
   * @default 2
   */
  concurrency?: number;
  /**
   * Attempts per projection before it fails for good; between attempts graphile-worker waits
   * exp(min(attempt, 10)) seconds (about 3 s, 7 s, 20 s, ...).
   * @default 3
   */
  attempts?: number;
  /**
   * Milliseconds between checks for queued jobs, as a fallback to LISTEN/NOTIFY.
   * @default 2000
   */
  pollInterval?: number;
  /**
   * Milliseconds between checks for jobs held by worker processes that died; their jobs are
   * handed to live workers.
   * @default 2000
   */
  sweepInterval?: number;
  /**
   * Milliseconds a finished run (and its nodes) is kept in `cinema.runs` and `cinema.run_nodes`
   * after it succeeded or failed; worker processes delete older ones in small batches every
   * `sweepInterval`. 0 keeps runs forever. A failed run that is deleted can no longer be retried.
   * @default 604800000 (7 days)
   */
  retention?: number;
  /**
   * graphile-worker's schema.
   * @default 'graphile_worker'
   */
  jobSchema?: string;
}

export type ResolvedQueueOptions = Required<Omit<CinemaQueueOptions, 'dataSource'>> & { dataSource: string };

/** Per call: how a queued run is scheduled. */
export interface QueueRunOptions {
  /** Do not start before this time. */
  runAt?: Date;
  /**
   * Lower runs first (graphile-worker's priority). A request that joins a pending run for the
   * same projection and lens makes the run as urgent as the more urgent of the two.
   * @default 0
   */
  priority?: number;
  /** Queue whose workers run it. @default 'default' */
  queue?: string;
  /**
   * Attempts per projection. A request that joins a pending run raises its attempts to the larger of the two.
   * @default the module's `queue.attempts`
   */
  attempts?: number;
}
