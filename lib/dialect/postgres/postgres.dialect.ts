import type { DialectTable, SqlDialect, TransactionSettings } from '../dialect.interface.js';
import { positionalBinder, renderConditions, type LensCondition, type NormalizedLens } from '../../lens/lens.js';
import { lockExpressions } from './advisory-locks.js';
import { copyFormat, copyInEnd, copyInStatement, copyOutStatement, firstNullRow } from './copy-out.js';
import { COLUMN_INFO_SQL, DIFF_TABLE_ALIAS, sliceDiffStatement, stageSourceStatement } from './diff-statements.js';
import { estimatedRowWidth } from './row-width.js';
import { inlineUntyped } from './inline-parameters.js';
import { inlineIntegers, quoteIdent, quoteTable } from './sql.js';
import { statementNames } from './statement-names.js';
import { postgresTableSwap } from './table-swap.js';

/** PostgreSQL's SQLSTATEs Cinema acts on. */
const UNIQUE_VIOLATION = '23505';
/** SQLSTATE class 23: a constraint refused a row (23502 not-null, 23503 foreign key, 23505 unique, 23514 check). */
const INTEGRITY_CONSTRAINT_VIOLATION_CLASS = '23';
/** An `ON CONFLICT DO UPDATE` met the same key twice in one statement. */
const CARDINALITY_VIOLATION = '21000';
const QUERY_CANCELED = '57014';

const codeOf = (error: unknown) => (error as { code?: unknown })?.code;

/** Every PostgreSQL statement Cinema writes (the queue engine's own schema aside). */
export const postgresDialect: SqlDialect = {
  name: 'postgres',
  quoteIdent,
  quoteTable,

  where(conditions: readonly LensCondition[], column: (key: string) => string | undefined, params: unknown[]): string {
    return renderConditions(conditions, column, positionalBinder(params)).join(' AND ');
  },

  transactionPrelude(settings: TransactionSettings, params: unknown[]): string {
    const select: string[] = [];
    params.push(settings.statementTimeoutMs);
    select.push(`set_config('statement_timeout', $${params.length}::text, true)`);
    if (settings.connectionCheckIntervalMs > 0) {
      // If the client dies mid-statement, its backend stops and frees the locks within the
      // interval instead of running on to the statement's end (PostgreSQL 14+, Linux).
      params.push(settings.connectionCheckIntervalMs);
      select.push(
        `CASE WHEN current_setting('server_version_num')::int >= 140000 THEN set_config('client_connection_check_interval', $${params.length}::text, true) END`,
      );
    }
    return inlineIntegers(`SELECT ${[...select, ...settings.locks].join(', ')}`, params);
  },

  sliceLocks(table: DialectTable, partitionKey: string | undefined, lens: NormalizedLens, params: unknown[]): string[] {
    return lockExpressions(table.path, partitionKey, lens, params);
  },

  deleteWhere(table: DialectTable, where: string): string {
    return `DELETE FROM ${table.path}${where ? ` WHERE ${where}` : ''}`;
  },

  inlineValues: inlineUntyped,

  deleteSelected(table: DialectTable, select: string): string {
    return `DELETE FROM ${table.path} WHERE ctid IN (SELECT "cinema_ctid" FROM (${select}) AS "cinema_slice")`;
  },

  rowIdSource(table: DialectTable): string {
    return `(SELECT ctid AS "cinema_ctid", * FROM ${table.path})`;
  },

  insertSelect(table: DialectTable, columns: readonly string[], select: string): string {
    return `INSERT INTO ${table.path} (${columns.map(quoteIdent).join(', ')}) ${select}`;
  },

  conflictClause(table: DialectTable, columns: readonly string[]): string {
    const target = `ON CONFLICT (${table.conflictTarget.map(quoteIdent).join(', ')})`;
    if (table.onConflict === 'ignore') return `${target} DO NOTHING`;
    const candidates = table.onConflict === 'replace' ? columns : table.onConflict.filter((c) => columns.includes(c));
    const updates = candidates.filter((column) => !table.conflictTarget.includes(column));
    if (updates.length === 0) return `${target} DO NOTHING`;
    return `${target} DO UPDATE SET ${updates.map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`).join(', ')}`;
  },

  createStage(name: string, table: DialectTable): string {
    const writable = table.columns.filter((column) => !column.computed).map((column) => quoteIdent(column.column));
    return `CREATE TEMPORARY TABLE ${name} ON COMMIT DROP AS SELECT ${writable.join(', ')} FROM ${table.path} WITH NO DATA`;
  },

  stageName(index: number): string {
    return `pg_temp.${quoteIdent(`cinema_stage_${index}`)}`;
  },

  emptyStage(name: string): string {
    return `TRUNCATE ${name}`;
  },

  copyInto(name: string, columns: readonly string[]): string {
    return `COPY ${name} (${columns.map(quoteIdent).join(', ')}) FROM STDIN`;
  },

  copyOut: copyOutStatement,
  copyOutInto: copyInStatement,
  copyInEnd,
  copyFormat,
  firstNullRow,

  notNullColumns(): string {
    return `SELECT attname AS "column" FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attnotnull`;
  },

  savepoint: (name: string) => `SAVEPOINT ${quoteIdent(name)}`,
  releaseSavepoint: (name: string) => `RELEASE SAVEPOINT ${quoteIdent(name)}`,
  rollbackToSavepoint: (name: string) => `ROLLBACK TO SAVEPOINT ${quoteIdent(name)}`,

  lastPerKey(table: DialectTable, stage: string, columns: readonly string[], selected: string, filter: string): string {
    const keys = table.conflictTarget;
    if (!keys.every((column) => columns.includes(column))) return `SELECT ${selected} FROM ${stage} AS "src"${filter}`;
    const on = keys.map((column) => `"src".${quoteIdent(column)}`).join(', ');
    // Rows sit in the staging table in the order they were derived.
    const order = table.onConflict === 'ignore' ? 'ASC' : 'DESC';
    return `SELECT DISTINCT ON (${on}) ${selected} FROM ${stage} AS "src"${filter} ORDER BY ${on}, "src".ctid ${order}`;
  },

  columnInfo: () => COLUMN_INFO_SQL,
  sliceDiff: sliceDiffStatement,
  diffColumn: (column: string) => `${DIFF_TABLE_ALIAS}.${quoteIdent(column)}`,
  diffRowIds: (select: string) => `${DIFF_TABLE_ALIAS}.ctid IN (SELECT "cinema_ctid" FROM (${select}) AS "cinema_slice")`,

  createDiffStage(table: DialectTable) {
    const name = `pg_temp.${quoteIdent('cinema_diff')}`;
    return { name, sql: postgresDialect.createStage(name, table) };
  },

  stageSource: stageSourceStatement,

  describe(select: string): string {
    return `SELECT * FROM (${select}) AS "cinema_describe" LIMIT 0`;
  },

  estimatedRowWidth,

  tableSwap: postgresTableSwap,
  statementName: (text: string) => statementNames.nameOf(text),

  cancelBackend(): string {
    return 'SELECT pg_cancel_backend($1)';
  },

  tableExists(): string {
    return 'SELECT to_regclass($1) IS NOT NULL AS "exists"';
  },

  isUniqueViolation: (error) => codeOf(error) === UNIQUE_VIOLATION,
  isIntegrityViolation: (error) => {
    const code = codeOf(error);
    return typeof code === 'string' && code.startsWith(INTEGRITY_CONSTRAINT_VIOLATION_CLASS);
  },
  isCardinalityViolation: (error) => codeOf(error) === CARDINALITY_VIOLATION,
  isStatementTimeout: (error) => codeOf(error) === QUERY_CANCELED && /statement timeout/.test((error as Error)?.message ?? ''),
};
