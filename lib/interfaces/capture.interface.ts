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
    message?: string;
  }
>;
