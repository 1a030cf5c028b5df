/** What to do when a derived row collides with an existing row on the conflict target. */
export type OnConflict = 'replace' | 'ignore' | readonly string[];

/**
 * An application table that feeds a projection, and how a changed row of it maps to the
 * projection's lens: `{ table: Invoice, lens: { orgId: 'orgId' } }`. Read by the capture
 * migration (`installCapture`), which installs the table's triggers.
 */
export interface ChangeSource {
  /** The table: an entity class of the projection's read data source, or a table name (`'invoices'`, `'billing.invoices'`). */
  table: Function | string;
  /**
   * Lens key of this projection (a column property of its table) → the table's property or
   * column whose value a changed row carries for that key.
   */
  lens: Readonly<Record<string, string>>;
}

/** How stale a projection may get before `CinemaService.freshness()` warns or errs (dbt's style). */
export interface FreshnessThresholds {
  /**
   * Milliseconds of lag (the oldest pending change's age) after which the status is `'warn'`.
   * @default no warning
   */
  warnAfter?: number;
  /**
   * Milliseconds of lag after which the status is `'error'`.
   * @default no error
   */
  errorAfter?: number;
}

/**
 * What startup does with a projection whose version changed (see the README, "Changing a
 * projection"): `'rebuild'` marks every slice built by another version dirty, for the
 * change-capture watchers to rebuild in the background (upstream first, `capture.batch` at a
 * time); `'lazy'` rebuilds a slice only when it is read with `maxStaleness` or its data changes;
 * `'fail'` refuses to start until the slices are rebuilt (by a process started with
 * `CINEMA_ON_VERSION_CHANGE=rebuild`).
 */
export type VersionPolicy = 'rebuild' | 'lazy' | 'fail';

export interface ProjectionOptions {
  /**
   * A virtual projection has no table of its own: its `output(ctx)` method returns the query
   * (or rows) that projections taking it as an input read. It is never deleted or written.
   * @default false
   */
  virtual?: boolean;
  /**
   * Name shown in the graph, plans, logs and errors.
   * @default the class name
   */
  name?: string;
  /**
   * Columns (property names) of the unique key that upserts resolve conflicts on.
   * @default the entity's primary columns
   */
  conflictTarget?: readonly string[];
  /**
   * How an upsert resolves a conflicting row (see `keyConflicts`): `'replace'` updates every
   * written column of it, `'ignore'` keeps the existing row, a list of property names updates
   * only those columns.
   * @default 'replace'
   */
  onConflict?: OnConflict;
  /**
   * What a refresh does when a derived row's conflict key is already in the table, held by a
   * row outside the lens slice (or derived twice). `'upsert'` rebuilds the slice again with
   * `ON CONFLICT` (resolved by `onConflict`), which this projection then keeps using, and logs a
   * warning the first time; `'error'` fails the refresh with `KeyConflictError` (its cause) and
   * keeps the previous slice. The lens columns should be determined by the conflict key: then
   * deleting a slice frees every key it derives, and no conflict happens.
   * @default 'upsert'
   */
  keyConflicts?: 'upsert' | 'error';
  /**
   * Properties every derived row must carry (not `null` or `undefined`). Checked per row on the
   * streamed path and against the selected columns on the `INSERT ... SELECT` path.
   * @default []
   */
  requiredFields?: readonly string[];
  /**
   * `@nestjs/typeorm` data source that this projection's output is read from: by the
   * projections that take it as input, and for the rows `project()` returns.
   *
   * Virtual: where `output(ctx)` reads the application's tables (`ctx.read`). Materialized: a
   * database that holds its table: its write database or a replica of it (startup fails when
   * that data source lacks the table the write one has).
   * @default virtual: the module's `readDataSource`; materialized: the module's `readDataSource`
   * when it is the write database (or a TypeORM `replication` data source over it), else the
   * projection's `writeDataSource`
   */
  readDataSource?: string;
  /**
   * `@nestjs/typeorm` data source whose table this projection writes. Ignored when virtual.
   * @default the module's `writeDataSource`
   */
  writeDataSource?: string;
  /**
   * Milliseconds the delete-and-derive transaction of this projection may take before it is
   * rolled back and the run fails with `ProjectionTimeoutError`.
   * @default the module's `timeout`
   */
  timeout?: number;
  /**
   * How a refresh writes the slice. `'replace'` deletes the slice and inserts every derived row.
   * `'diff'` derives the slice first, then, in the same transaction, deletes only the rows whose
   * conflict key is no longer derived, inserts the new keys and updates only the rows whose other
   * written columns are `IS DISTINCT FROM` the derived ones: unchanged rows are not rewritten
   * (less WAL, fewer dead rows), and with change capture a refresh that changed nothing hands
   * nothing on to the projections downstream. Rows are matched by `conflictTarget`; columns no
   * derivation writes keep their value on an updated row. See the README, "Writing only what changed".
   * @default 'replace'
   */
  write?: 'replace' | 'diff';
  /**
   * How a whole-table rebuild (an empty lens) writes. `'auto'` swaps a table of 1 MiB or more
   * (`pg_relation_size`) and rebuilds a smaller one in place, where the swap's fixed cost (a few
   * more round trips and DDL) outweighs the index maintenance it saves. `'swap'` builds the rows
   * into a fresh table of the same shape with no index to maintain, builds the indexes once the
   * rows are in, copies the grants and owner, sets its planner statistics (the old table's on
   * PostgreSQL 18, as REFRESH keeps them, else by `ANALYZE`), then swaps it in under a lock held
   * for a few milliseconds (a try of the lock gives up after 20 ms so readers are never queued
   * behind it for long; the rows are copied in place if it cannot be had): `REFRESH MATERIALIZED
   * VIEW`'s strategy without locking readers out, and no dead rows left behind. A table that
   * something refers to by identity (views, foreign keys, triggers, publications, policies,
   * inheritance, sequences it owns) is rebuilt in place, with a log line saying why.
   * `'in-place'` always deletes and inserts, as a slice does.
   * `write: 'diff'`, upserts after a key conflict and `dematerialize: false` are always in place.
   * See docs/ARCHITECTURE.md, "Whole-table rebuilds".
   * @default 'auto'
   */
  fullRebuild?: 'auto' | 'swap' | 'in-place';
  /**
   * Delete the lens slice before deriving it again. `false` only upserts.
   * @default true
   */
  dematerialize?: boolean;
  /**
   * Lens key (property name) whose single value partitions this projection's table for locking.
   * Refreshes of different values of this key run in parallel; any other lens takes the whole
   * table. Without it every refresh of this table is serialized. See docs/ARCHITECTURE.md.
   */
  partitionKey?: string;
  /**
   * Output column names of a virtual projection, when they should not be discovered from the
   * database (one `LIMIT 0` query the first time the projection is planned).
   */
  columns?: readonly string[];
  /**
   * The application tables this projection reads and how their rows map to its lens: with the
   * capture migration installed and `CinemaModule.forRoot({ capture: {} })`, a change to a row
   * marks that slice (and the slices downstream) dirty, and the watcher rebuilds it.
   * @default [] (no change capture)
   */
  changes?: readonly ChangeSource[];
  /**
   * Thresholds of `CinemaService.freshness()`'s status.
   * @default {} (always `'pass'`)
   */
  freshness?: FreshnessThresholds;
  /**
   * Labels for selecting projections with `tag:NAME` (`CinemaService.select()`, in dbt's
   * style). Letters, digits, `_`, `-` and `.`.
   * @default []
   */
  tags?: readonly string[];
  /**
   * This projection's version, instead of the fingerprint Cinema computes from the source text of
   * its derivations and `output()`, its table, its inputs and the options that change its rows.
   * Set it (and change it) when its rows change for a reason the fingerprint cannot see: a
   * helper function the derivation calls, a lookup table, a SQL function. The versions of its
   * inputs still count: a change upstream still reaches it.
   * @default the fingerprint
   */
  version?: string;
  /**
   * What startup does when this projection's version differs from the one that built its slices
   * (change capture only: the versions live in its freshness ledger).
   * @default the module's `onVersionChange` ('rebuild')
   */
  onVersionChange?: VersionPolicy;
}
