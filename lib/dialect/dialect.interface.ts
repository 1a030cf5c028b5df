import type { DataSource } from 'typeorm';
import type { LensCondition, NormalizedLens } from '../lens/lens.js';

/** What the dialect needs of a projection's table (see `TableModel`). */
export interface DialectTable {
  /** Quoted, schema-qualified name. */
  path: string;
  /** Columns (database names) of the conflict target. */
  conflictTarget: readonly string[];
  /** `'replace'`, `'ignore'` or the database names of the columns to update. */
  onConflict: 'replace' | 'ignore' | readonly string[];
  /** Every column's database name, and whether the database computes it. */
  columns: readonly { column: string; computed: boolean }[];
}

/** A writable column of a projection's table as the database declares it (for a diff). */
export interface ColumnInfo {
  column: string;
  /** The column's SQL type, as a cast names it. */
  type: string;
  /** Its default expression, `null` when it has none. */
  default: string | null;
  /** The type has no equality of its own (json, xml): compared as text. */
  compareAsText: boolean;
}

/** What one diff of a slice against the derived rows needs (see `SqlDialect.sliceDiff`). */
export interface SliceDiff {
  /** The derived rows: a select whose outputs are named as the table's columns `columns`. */
  derived: string;
  /** The columns (database names) the derived rows set; the conflict target among them. */
  columns: readonly string[];
  /** The slice: a predicate on the table's rows (see `diffColumn`), `''` for the whole table. */
  slice: string;
  /** Delete the slice's rows whose key is not derived (`dematerialize`). */
  deletes: boolean;
  /** The conflict clause of an upsert, after a key conflict; else plain inserts. */
  conflictClause?: string;
  info: readonly ColumnInfo[];
}

/** The format of a copy pipe between two databases (see `SqlDialect.copyFormat`). */
export type CopyFormat = 'binary' | 'text';

/** One end of a copy pipe, as far as its format depends on it. */
export interface CopyEnd {
  serverEncoding: string;
  clientEncoding: string;
  /** The server's major version. */
  version: number;
  /** The type of each column copied, in order; 0 on the write side for one binary must not carry. */
  types: readonly number[];
}

/** A select of another database ready to be copied out (see `SqlDialect.copyOut`). */
export interface CopySource {
  /** Its end of the pipe (one round trip on its connection). */
  describe(): Promise<CopyEnd>;
  statement(format: CopyFormat): string;
}

export interface CopyChoice {
  format: CopyFormat;
  /** Why, for the debug log. */
  reason: string;
}

/** What the opening statement of a write transaction sets up. */
export interface TransactionSettings {
  /** The database's own statement limit (a backstop); 0 for none. */
  statementTimeoutMs: number;
  /** How often a backend checks that its client is still there; 0 leaves it as configured. */
  connectionCheckIntervalMs: number;
  /** The lock statements' select-list expressions (see `lockExpressions`). */
  locks: readonly string[];
}

/** A table as a whole-table rebuild by swap reads it from the catalog (see `TableSwapStatements.inspect`). */
export interface SwapTable {
  /** The table's object id, as text. */
  oid: string;
  schema: string;
  name: string;
  /** `schema.name`, quoted as the database quotes it. */
  qualified: string;
  owner: string;
  /** The current user owns it (else the fresh table is handed to `owner`). */
  ownedByMe: boolean;
  unlogged: boolean;
  tablespace: string | null;
  options: string[] | null;
  comment: string | null;
  /** The transaction's `lock_timeout` before the swap sets its own. */
  lockTimeout: string;
  /** Why this table cannot be swapped; empty when it can; `null` when it is too small to be asked. */
  blockers: string[] | null;
  indexes: {
    name: string;
    /** The name quoted as the database quotes it. */
    quoted: string;
    definition: string;
    /** The key (`'p'`) or unique constraint (`'u'`) the index backs. */
    constraint: 'p' | 'u' | null;
    clustered: boolean;
    comment: string | null;
  }[];
  /** Columns with a statistics target or `n_distinct` options (the planner's settings), quoted. */
  columns: { quoted: string; statistics: number | null; options: string[] }[];
  /** Privileges granted to other roles than the owner; `grantee` null for PUBLIC. */
  grants: { grantee: string | null; privilege: string; grantable: boolean }[];
  /** Whether it is swapped; when not, the inspection deleted its rows in place. */
  swapped: boolean;
  /** Rows the inspection deleted in place (none when swapped), as text. */
  deleted: string;
  /** Its rows before the rebuild when swapped, as text. */
  rows: string | null;
  /**
   * Its planner statistics can be copied onto the fresh table: the server can restore them,
   * autovacuum will analyze the new rows later, and they cover every column and index expression.
   */
  carryStatistics: boolean;
  /** The connection's count of writes into it so far, as text (see `TableSwapStatements.writes`). */
  writes: string;
}

/**
 * The statements of a whole-table rebuild that builds a fresh table and swaps it in (see
 * `lib/execution/table-swap.ts`). `undefined` from a builder: this table cannot be swapped.
 */
export interface TableSwapStatements {
  /**
   * One row: `small` (the table at `path` is smaller than the second parameter, in bytes), and
   * `deleted`, its rows deleted in place when it is (parameters: the path, the size).
   */
  deleteIfSmall(path: string): string;
  /**
   * One row: the {@link SwapTable} of the table at `path` (parameters: the same path, and the
   * least size in bytes to swap). A table not swapped (smaller, or blocked) is deleted by the same
   * statement: `swapped` false and `deleted` its rows.
   */
  inspect(path: string): string;
  /** The roles the fresh table `shadow` was granted privileges to by default (no parameter). */
  defaultGrantees(table: SwapTable, shadow: string): string;
  /**
   * One row, `writes`: the connection's count of writes into the table (parameter: its path). It
   * grows inside a transaction only with that transaction's writes: compared with the count the
   * inspection read, it tells whether anything but the swap wrote the table in between.
   */
  writes(): string;
  shadowName(table: SwapTable): string;
  create(table: SwapTable, shadow: string): string | undefined;
  /** The indexes and the constraints they back, built on the filled shadow under temporary names. */
  indexes(table: SwapTable, shadow: string): string[] | undefined;
  /** The old table's grants, column statistics settings and owner on the shadow (revoking those in `defaults` first). */
  grants(table: SwapTable, shadow: string, defaults: readonly (string | null)[]): string[];
  /**
   * The planner's statistics of the filled shadow (after its indexes and column settings), which
   * a fresh table has none of: the old table's carried over where `carryStatistics` (what
   * `REFRESH MATERIALIZED VIEW` keeps), with the fresh table's size (`rows` written into it),
   * else gathered (`ANALYZE`).
   */
  statistics(table: SwapTable, shadow: string, rows: number): string;
  /** A savepoint, then the table's exclusive lock waiting at most `timeoutMs`. */
  lock(table: SwapTable, timeoutMs: number): string;
  lockFailed(): string;
  /** Under the lock: drops the table, renames the shadow and its indexes in, releases the savepoint. */
  swap(table: SwapTable, shadow: string): string;
  /** Instead of a swap: the table rewritten in place from the shadow, which is dropped. */
  copyBack(table: SwapTable, shadow: string, columns: readonly string[]): string;
  isLockNotAvailable(error: unknown): boolean;
  isDependentObjects(error: unknown): boolean;
}

/**
 * Every statement that depends on the database product, in one place: the transaction prelude,
 * the slice delete, inserts and the conflict clause, staging tables and bulk copy, cancelling a
 * backend and reading the catalog. Engines, execution, the planner and the lens speak only
 * through it; a second database would be a sibling of `postgres/`.
 */
export interface SqlDialect {
  readonly name: string;
  readonly quoteIdent: (name: string) => string;
  /** `"schema"."table"` (or `"table"`). */
  readonly quoteTable: (schema: string | undefined, table: string) => string;
  /** `(column, placeholder)` comparisons of a lens, joined with AND ('' when none applies). */
  where(conditions: readonly LensCondition[], column: (key: string) => string | undefined, params: unknown[]): string;
  /** The statement sent in BEGIN's round trip (parameters already inlined: integers only). */
  transactionPrelude(settings: TransactionSettings, params: unknown[]): string;
  /** Transaction-scoped locks of a slice (select-list expressions, parameters appended). */
  sliceLocks(table: DialectTable, partitionKey: string | undefined, lens: NormalizedLens, params: unknown[]): string[];
  deleteWhere(table: DialectTable, where: string): string;
  /**
   * The statement with its parameters written in as literals that mean what the parameters
   * would, to send with other statements in one round trip; `undefined` when a value cannot be.
   */
  inlineValues(sql: string, values: readonly unknown[]): string | undefined;
  /** Deletes the rows a narrowed query over the table (selecting `cinema_ctid`) returns. */
  deleteSelected(table: DialectTable, select: string): string;
  /** The table's rows with their row id, as the source of a narrowed delete. */
  rowIdSource(table: DialectTable): string;
  insertSelect(table: DialectTable, columns: readonly string[], select: string): string;
  /** The clause that turns an insert into an upsert on the conflict target. */
  conflictClause(table: DialectTable, columns: readonly string[]): string;
  /** A temporary table (dropped at commit) with the writable columns of `table`. */
  createStage(name: string, table: DialectTable): string;
  stageName(index: number): string;
  emptyStage(name: string): string;
  copyInto(name: string, columns: readonly string[]): string;
  /**
   * `COPY (<select>) TO STDOUT` with the select's parameters put into its text exactly (asking
   * `client`, the source connection that will run it, what it needs, and what its output is), or
   * `undefined` when that cannot be done exactly for these values.
   */
  copyOut(client: { query(text: string): Promise<unknown> }, select: string, values: readonly unknown[]): Promise<CopySource | undefined>;
  /** `COPY <table> FROM STDIN` for the bytes of {@link copyOut}: into a staging table, or the projection's own. */
  copyOutInto(name: string, columns: readonly string[], format: CopyFormat): string;
  /** The write side's {@link CopyEnd} for `columns` of the table `name` (asking `client`, the write connection). */
  copyInEnd(
    client: { query(config: { text: string; values?: unknown[] }): Promise<{ rows: any[] }> },
    name: string,
    columns: readonly string[],
  ): Promise<CopyEnd>;
  /** The format a pipe from `source` into `target` runs in: binary only when it carries every value exactly as text does. */
  copyFormat(source: CopyEnd, target: CopyEnd, columns: readonly string[]): CopyChoice;
  /** The columns of a table (parameter: its path) that refuse NULL: `"column"` rows. */
  notNullColumns(): string;
  /** A savepoint in the write transaction, and the statements that keep or undo what followed it. */
  savepoint(name: string): string;
  releaseSavepoint(name: string): string;
  rollbackToSavepoint(name: string): string;
  /** The first staged row with a NULL in one of `columns`: `"null_<i>"` flags and its position `"row"`. */
  firstNullRow(stage: string, columns: readonly string[]): string;
  /** Staged rows with one per conflict key, the last derived winning (the first when ignoring). */
  lastPerKey(table: DialectTable, stage: string, columns: readonly string[], selected: string, filter: string): string;
  /** The table's columns as `ColumnInfo` rows (parameter: the table's path). */
  columnInfo(): string;
  /**
   * Writes only what differs between the slice and the derived rows: deletes, inserts and
   * updates in one statement, returning one row of counts (`deleted`, `inserted`, `updated`, `derived`).
   */
  sliceDiff(table: DialectTable, diff: SliceDiff): string;
  /** A column of the table's row in a diff's slice predicate. */
  diffColumn(column: string): string;
  /** A diff's slice predicate from a narrowed query over the table (selecting `cinema_ctid`). */
  diffRowIds(select: string): string;
  /** A temporary table (dropped at commit) for the derived rows of a diff with several sources. */
  createDiffStage(table: DialectTable): { name: string; sql: string };
  /** Copies one source into the diff's staging table; columns it leaves out get their default. */
  stageSource(
    stage: string,
    columns: readonly string[],
    source: { select: string; columns: readonly string[] },
    info: readonly ColumnInfo[],
  ): string;
  /** A statement's output columns without running it. */
  describe(select: string): string;
  /** The planner's estimate of a statement's average row width in bytes (cached per statement). */
  estimatedRowWidth(dataSource: DataSource, select: string, params: unknown[]): Promise<number | undefined>;
  /**
   * The name to prepare a statement under on each connection (the second time its text is seen),
   * or `undefined` to send it unnamed.
   */
  statementName(text: string): string | undefined;
  /** A whole-table rebuild that builds a fresh table and swaps it in. */
  readonly tableSwap: TableSwapStatements;
  cancelBackend(): string;
  tableExists(): string;
  /** Errors by meaning, not by code. */
  isUniqueViolation(error: unknown): boolean;
  /** A row a constraint of the table refused (unique, not-null, check, foreign key). */
  isIntegrityViolation(error: unknown): boolean;
  isCardinalityViolation(error: unknown): boolean;
  isStatementTimeout(error: unknown): boolean;
}
