/** The change-capture watcher: refreshes the slices that the capture triggers marked dirty. */
export interface CinemaCaptureOptions {
  /**
   * Milliseconds between two cycles of the watcher (a cycle drains what it finds, then waits).
   * @default 200
   */
  interval?: number;
  /**
   * Dirty marks read from `cinema.changes` per round of a cycle.
   * @default 1000
   */
  batch?: number;
  /**
   * The `@nestjs/typeorm` data source holding `cinema.changes` (the database the capture
   * triggers write to, and the projections' write database).
   * @default the module's `writeDataSource`
   */
  dataSource?: string;
  /**
   * Whether this process runs the watcher. `false`: it only reads (`freshness()`,
   * `project(..., { maxStaleness })`) and records the ledger of the slices it rebuilds, while
   * other processes watch: e.g. web processes leave it to the queue's workers
   * (`bootstrapCinemaWorker`), which run it in their own process. Several watchers on one
   * database split the work per projection.
   * @default true
   */
  watch?: boolean;
  /**
   * How changes are captured. `'triggers'`: statement triggers (installed by `installCapture`)
   * append the marks in the writing transaction. `'logical'`: writers pay only WAL; the watcher
   * reads a logical replication slot (`pgoutput`) in batches through SQL and writes the marks
   * itself. Needs `wal_level = logical`, a publication (`installLogicalCapture`) and a replica
   * identity that carries the lens columns.
   * @default 'triggers'
   */
  mode?: 'triggers' | 'logical';
  /**
   * Logical mode: the replication slot (one per database; slot names are unique in the whole
   * server). Created by the watcher when absent.
   * @default 'cinema_capture'
   */
  slot?: string;
  /**
   * Logical mode: the publication `installLogicalCapture` created.
   * @default 'cinema_capture'
   */
  publication?: string;
  /**
   * Logical mode: `CinemaHealthIndicator` reports down when the slot retains more WAL than this
   * many bytes (a watcher that stopped reading pins WAL on the server's disk).
   * @default 1073741824 (1 GiB)
   */
  maxRetainedWal?: number;
}

export type ResolvedCaptureOptions = Required<CinemaCaptureOptions>;

/** How fresh a projection (or one slice of it) is: `CinemaService.freshness()`. */
export interface ProjectionFreshness {
  projection: string;
  /** When the newest refresh covering the slice committed (a whole-projection refresh covers every slice). */
  refreshedAt?: Date;
  /** Dirty marks waiting for this projection whose lens is the whole projection or matches the given one. */
  pendingChanges: number;
  /** When the oldest of those marks was written. */
  oldestPendingChange?: Date;
  /** Milliseconds since the oldest pending change (0 when nothing is pending). */
  lagMs?: number;
  /** Against the projection's `freshness: { warnAfter, errorAfter }`. */
  status: 'pass' | 'warn' | 'error';
  /** The projection's version in this process (when versions are tracked: capture and its migrations). */
  version?: string;
  /** For a slice: the version that built it (its newest ledger row's). */
  builtBy?: string;
  /**
   * The definition changed: the slice was built by another version (`builtBy`), or, for the whole
   * projection, some slices were (`outdatedSlices`). `project(P, lens, { maxStaleness })`
   * rebuilds such a slice on read.
   */
  definitionChanged?: boolean;
  /** For the whole projection: ledger slices built by another version. */
  outdatedSlices?: number;
}

/** A projection past its `freshness.errorAfter`, as `CinemaHealthIndicator` reports it. */
export interface ProjectionHealth {
  projection: string;
  pendingChanges: number;
  lagMs?: number;
  oldestPendingChange?: Date;
}

/**
 * What `CinemaHealthIndicator.isHealthy()` returns: the shape of `@nestjs/terminus`'s
 * `HealthIndicatorResult` (terminus treats `status: 'down'` as a failed check).
 */
export type CinemaHealthResult<K extends string = 'cinema'> = Record<
  K,
  {
    status: 'up' | 'down';
    /** Projections with an `errorAfter` threshold that were checked. */
    projections: number;
    /** Those past it (down only). */
    stale?: ProjectionHealth[];
    /** Logical mode: the slot's WAL retained on the server (bytes), and whether the slot is lost or missing. */
    slot?: { name: string; retainedWal: number; lost: boolean };
    message?: string;
  }
>;

/** A projection's version as `CinemaService.versions()` and `cinema status` show it. */
export interface ProjectionVersionStatus {
  projection: string;
  /** The version this process runs (16 hex digits): its definition's fingerprint or its `version` option, with its inputs'. */
  version: string;
  /** The version deployed before this process started, when it was another one. */
  previous?: string;
  /** Whether the version changed at this startup, or slices built by another version were left (`state:modified`). */
  modified: boolean;
  /** Its `onVersionChange` as this process applied it. */
  policy: 'rebuild' | 'lazy' | 'fail';
  /** Ledger slices built by another version, still to rebuild; `undefined` when versions are not tracked. */
  outdatedSlices?: number;
}
