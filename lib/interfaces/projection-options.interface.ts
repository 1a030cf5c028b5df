/** What to do when a derived row collides with an existing row on the conflict target. */
export type OnConflict = 'replace' | 'ignore' | readonly string[];

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
   * `'replace'` updates every written column of a conflicting row, `'ignore'` keeps the existing
   * row, a list of property names updates only those columns.
   * @default 'replace'
   */
  onConflict?: OnConflict;
  /**
   * Properties every derived row must carry (not `null` or `undefined`). Checked per row on the
   * streamed path and against the selected columns on the `INSERT ... SELECT` path.
   * @default []
   */
  requiredFields?: readonly string[];
  /**
   * `@nestjs/typeorm` data source that this projection's output is read from: by the
   * projections that take it as input, and for the rows `project()` returns.
   * @default the module's `readDataSource`
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
}
