import type { FactoryProvider, ModuleMetadata, Type } from '@nestjs/common';
import type { VersionPolicy } from './projection-options.interface.js';
import type { CinemaCaptureOptions, ResolvedCaptureOptions } from './capture.interface.js';
import type { CinemaQueueOptions, ResolvedQueueOptions } from './queue-options.interface.js';

export interface CinemaModuleOptions {
  /**
   * Default `@nestjs/typeorm` data source that projection tables are written to (the primary).
   * @default 'default'
   */
  writeDataSource?: string;
  /**
   * Default `@nestjs/typeorm` data source that the application's tables are read from: by
   * virtual projections' `output(ctx)` and as `ctx.read` of derivations. When it is not the write
   * database, derivations stream rows between the two. Materialized projections' tables are read
   * from it only when it is the write database (or a `replication` data source over it), else
   * from their write data source (see `@Projection({ readDataSource })`).
   * @default 'default'
   */
  readDataSource?: string;
  /**
   * Projections of one run that may rebuild at the same time.
   * @default 4
   */
  concurrency?: number;
  /**
   * Projections of all runs together that may hold a write transaction at the same time, per
   * write data source. Each holds one pooled connection and, while it streams, one read
   * connection: keep it at most half the pool so that runs cannot starve each other.
   * @default half the write data source's pool size (at least 1)
   */
  maxConcurrentProjections?: number;
  /**
   * Milliseconds one projection's transaction may take; `0` means no limit. A projection's
   * `@Projection({ timeout })` overrides it; an empty lens uses `fullRebuildTimeout` instead.
   * @default 60000
   */
  timeout?: number;
  /**
   * Milliseconds one projection's transaction may take when the lens is empty (a whole-table
   * rebuild), unless the projection sets its own `@Projection({ timeout })`; `0` means no limit.
   * @default 600000 (10 minutes)
   */
  fullRebuildTimeout?: number;
  /**
   * PostgreSQL's `client_connection_check_interval` (milliseconds) for Cinema's write
   * transactions: if the application process dies mid-statement, its orphaned backend notices
   * within this interval, rolls back and frees the slice's locks, instead of running on until
   * the statement ends. Needs PostgreSQL 14+ on Linux (ignored on older servers); `0` leaves the
   * server's setting.
   * @default 1000
   */
  connectionCheckInterval?: number;
  /**
   * Prepare the statements a refresh sends again and again (a slice's `INSERT ... SELECT`, and
   * its `DELETE` when that cannot ride in BEGIN's round trip with its values written in: their
   * text is the same for every lens value) as named statements on each write
   * connection: PostgreSQL parses them once per connection and, after five runs, plans them once
   * when its generic plan costs no more than a custom one. Only for lenses of equalities (a list,
   * a range or a reducer is planned for its values every time). Set `false` behind a connection pooler
   * that cannot keep prepared statements (PgBouncer before 1.21 in transaction mode), or when
   * something runs `DISCARD ALL` on the pool's connections.
   * @default true
   */
  preparedStatements?: boolean;
  /**
   * Allow an empty lens (rebuild everything) without a warning.
   * @default false
   */
  allowEmptyLens?: boolean;
  /**
   * Rows per `COPY` when derived rows are written from Node (the streamed path). Larger batches
   * are no faster and let the process's memory grow with the row count.
   * @default 1000
   */
  batchSize?: number;
  /**
   * Rows fetched per cursor round trip when an input is streamed.
   * @default 5000
   */
  streamBatchSize?: number;
  /**
   * Finished runs kept in memory for `CinemaService.getRun(id)`.
   * @default 1000
   */
  runHistory?: number;
  /**
   * Where `project()` runs a graph by default: in this process (`'inline'`), or as jobs on the
   * PostgreSQL job queue that any worker process may take (`'queue'`, see `queue`).
   * @default 'inline'
   */
  engine?: 'inline' | 'queue';
  /** The durable runtime. Set it (even to `{}`) to use `engine: 'queue'`. */
  queue?: CinemaQueueOptions;
  /**
   * Change capture: a watcher in this process rebuilds the slices that the capture triggers
   * (installed by a migration, see `installCapture`) marked dirty. Set it (even to `{}`) to start it
   * (`{ watch: false }`: no watcher here, but the freshness ledger and `maxStaleness` reads). With
   * the queue engine, set it on the workers too: they run the watcher, and record the ledger of
   * the queued runs they work.
   * @default off
   */
  capture?: CinemaCaptureOptions;
  /**
   * What startup does with a projection whose version changed, unless the projection sets its
   * own `onVersionChange` (see `VersionPolicy`). The environment variable
   * `CINEMA_ON_VERSION_CHANGE` overrides both in one process: an operator's rollout.
   * @default 'rebuild'
   */
  onVersionChange?: VersionPolicy;
}

/** Options after defaults were merged and validated. */
export type ResolvedCinemaOptions = Required<Omit<CinemaModuleOptions, 'maxConcurrentProjections' | 'queue' | 'capture'>> &
  Pick<CinemaModuleOptions, 'maxConcurrentProjections'> & { queue?: ResolvedQueueOptions; capture?: ResolvedCaptureOptions };

export interface CinemaOptionsFactory {
  createCinemaOptions(): Promise<CinemaModuleOptions> | CinemaModuleOptions;
}

export interface CinemaModuleAsyncOptions {
  imports?: ModuleMetadata['imports'];
  useFactory?: (...args: any[]) => Promise<CinemaModuleOptions> | CinemaModuleOptions;
  inject?: FactoryProvider['inject'];
  useClass?: Type<CinemaOptionsFactory>;
  useExisting?: Type<CinemaOptionsFactory>;
  extraProviders?: ModuleMetadata['providers'];
}
