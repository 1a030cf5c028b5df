import type { SwapTable, TableSwapStatements } from '../dialect.interface.js';
import { quoteIdent } from './sql.js';

/**
 * The backend's count of rows written into the table that it has not yet reported: it includes
 * earlier transactions of the same connection, but inside a transaction it grows only with that
 * transaction's writes, so two readings tell whether the table was written in between.
 */
const WRITES = `(pg_stat_get_xact_tuples_inserted(c.oid) + pg_stat_get_xact_tuples_updated(c.oid) + pg_stat_get_xact_tuples_deleted(c.oid))::int8::text`;

/**
 * Whether the table's planner statistics can be carried over to the fresh table instead of
 * gathered again: the server restores statistics (`pg_restore_attribute_stats`, PostgreSQL 18),
 * autovacuum will analyze the new rows (on, and not turned off for the table: else the carried
 * statistics would stay stale), every column that has a statistics target, and every expression
 * of its indexes, has them (`pg_stats`, which shows what the current user may read), and it has
 * no extended statistics, whose data cannot be restored.
 */
const CARRY_STATISTICS = `(current_setting('server_version_num')::int >= 180000
    AND current_setting('autovacuum')::bool AND current_setting('track_counts')::bool
    AND NOT EXISTS (SELECT 1 FROM unnest(c.reloptions) o WHERE split_part(o, '=', 1) = 'autovacuum_enabled'
      AND lower(split_part(o, '=', 2)) IN ('f', 'fa', 'fal', 'fals', 'false', 'n', 'no', 'of', 'off', '0'))
    AND NOT EXISTS (SELECT 1 FROM pg_statistic_ext x WHERE x.stxrelid = c.oid)
    AND NOT EXISTS (SELECT 1 FROM (SELECT c.oid AS "rel", c.relname AS "name", NULL::int2vector AS "keys"
        UNION ALL SELECT i.indexrelid, ic.relname, i.indkey FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = c.oid AND i.indexprs IS NOT NULL) r
      JOIN pg_attribute a ON a.attrelid = r."rel" AND a.attnum > 0 AND NOT a.attisdropped AND a.attstattarget IS DISTINCT FROM 0
      WHERE (r."keys" IS NULL OR r."keys"[a.attnum - 1] = 0)
        AND NOT EXISTS (SELECT 1 FROM pg_stats s WHERE s.schemaname = n.nspname AND s.tablename = r."name"
          AND s.attname = a.attname AND NOT s.inherited)))`;

/**
 * What a whole-table rebuild by swap needs to know of a table, in one catalog query (parameter:
 * the table's path): why it cannot be swapped (`blockers`, empty when it can), and everything
 * that must survive the swap and that `CREATE TABLE ... (LIKE ...)` does not copy: indexes (built
 * after the rows, as `REFRESH MATERIALIZED VIEW` does), the keys and unique constraints they back,
 * grants, owner, comment, storage options and the `CLUSTER` index.
 *
 * A table is not swapped when something refers to it by identity rather than by name (views,
 * rules, functions, foreign keys either way, sequences it owns, publications, policies, triggers,
 * inheritance), since the fresh table would leave those behind; nor when it carries what this
 * swap does not copy (identity columns, column privileges or options, exclusion or deferrable
 * keys, indexes in another tablespace); nor when the current user could not drop it.
 */
const INFO_SQL = `SELECT c.oid::int8::text AS "oid", pg_relation_size(c.oid) AS "bytes", n.nspname AS "schema", c.relname AS "name",
  format('%I.%I', n.nspname, c.relname) AS "qualified",
  pg_get_userbyid(c.relowner) AS "owner", c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) AS "ownedByMe",
  c.relpersistence = 'u' AS "unlogged", (SELECT spcname FROM pg_tablespace WHERE oid = c.reltablespace) AS "tablespace",
  c.reloptions AS "options", obj_description(c.oid, 'pg_class') AS "comment",
  current_setting('lock_timeout') AS "lockTimeout",
  array_remove(ARRAY[
    CASE WHEN c.relkind <> 'r' THEN 'it is not a plain table' END,
    CASE WHEN c.relispartition OR EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = c.oid OR inhparent = c.oid) THEN 'it takes part in inheritance or partitioning' END,
    CASE WHEN c.relrowsecurity OR EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = c.oid) THEN 'it has row-level security' END,
    CASE WHEN c.relreplident NOT IN ('d', 'n') THEN 'its replica identity is not the default' END,
    CASE WHEN EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = c.oid AND NOT tgisinternal) THEN 'it has triggers' END,
    CASE WHEN EXISTS (SELECT 1 FROM pg_constraint WHERE contype = 'f' AND (conrelid = c.oid OR confrelid = c.oid)) THEN 'foreign keys start from it or reference it' END,
    CASE WHEN EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = c.oid AND (contype = 'x' OR (contype IN ('p', 'u') AND condeferrable))) THEN 'it has exclusion or deferrable constraints' END,
    CASE WHEN EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped
      AND (attidentity <> '' OR attacl IS NOT NULL)) THEN 'it has identity columns or column privileges' END,
    CASE WHEN EXISTS (SELECT 1 FROM pg_depend d JOIN pg_class s ON s.oid = d.objid WHERE d.classid = 'pg_class'::regclass
      AND d.refclassid = 'pg_class'::regclass AND d.refobjid = c.oid AND s.relkind = 'S') THEN 'it owns a sequence' END,
    CASE WHEN EXISTS (SELECT 1 FROM pg_publication_rel WHERE prrelid = c.oid) THEN 'it is in a publication' END,
    CASE WHEN EXISTS (SELECT 1 FROM pg_depend d WHERE d.deptype = 'n' AND ((d.refclassid = 'pg_class'::regclass AND d.refobjid = c.oid)
      OR (d.refclassid = 'pg_type'::regclass AND d.refobjid = c.reltype))
      AND NOT (d.classid = 'pg_constraint'::regclass AND EXISTS (SELECT 1 FROM pg_constraint own WHERE own.oid = d.objid AND own.conrelid = c.oid AND own.contype <> 'f')))
      THEN 'views, functions or other objects depend on it' END,
    CASE WHEN EXISTS (SELECT 1 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = c.oid AND ic.reltablespace <> c.reltablespace) THEN 'an index of it is in another tablespace' END,
    CASE WHEN NOT pg_has_role(c.relowner, 'USAGE') THEN 'the current user does not own it' END,
    CASE WHEN EXISTS (SELECT 1 FROM unnest(c.reloptions) o WHERE o !~ '^[a-z_][a-z0-9_.]*=') THEN 'its storage options could not be copied' END
  ], NULL) AS "blockers",
  COALESCE((SELECT json_agg(json_build_object('name', ic.relname, 'quoted', quote_ident(ic.relname), 'definition', pg_get_indexdef(i.indexrelid),
      'constraint', con.contype, 'clustered', i.indisclustered, 'comment', obj_description(i.indexrelid, 'pg_class')) ORDER BY ic.relname)
    FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
    LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = c.oid AND con.contype IN ('p', 'u')
    WHERE i.indrelid = c.oid), '[]') AS "indexes",
  COALESCE((SELECT json_agg(json_build_object('grantee', CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END,
      'privilege', a.privilege_type, 'grantable', a.is_grantable))
    FROM aclexplode(c.relacl) a WHERE a.grantee <> c.relowner), '[]') AS "grants",
  COALESCE((SELECT json_agg(json_build_object('quoted', quote_ident(a.attname), 'statistics', NULLIF(a.attstattarget::int, -1),
      'options', ARRAY(SELECT o FROM unnest(a.attoptions) o WHERE o LIKE 'n_distinct%')))
    FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      AND (a.attstattarget::int >= 0 OR EXISTS (SELECT 1 FROM unnest(a.attoptions) o WHERE o LIKE 'n_distinct%'))), '[]') AS "columns",
  ${CARRY_STATISTICS} AS "carryStatistics",
  ${WRITES} AS "writes"
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::regclass`;

/**
 * The inspection and the decision in one statement (parameters: the table's path, the least size
 * in bytes to swap; the catalog is read only for a table that large): a table that is not swapped
 * (too small, or blocked) has its rows deleted by the same statement, so whatever a derivation sends next on the connection sees them gone, as
 * it would after a plain delete. `%TABLE%` is the table's path.
 */
const INSPECT_SQL = `WITH "size" AS (SELECT pg_relation_size($1::regclass) AS "bytes"),
  "info" AS (${INFO_SQL} AND (SELECT "bytes" FROM "size") >= $2::int8),
  "decided" AS (SELECT COALESCE((SELECT cardinality("blockers") = 0 FROM "info"), false) AS "swapped"),
  "deleted" AS (DELETE FROM %TABLE% WHERE NOT (SELECT "swapped" FROM "decided") RETURNING 1)
SELECT "info".*, (SELECT "swapped" FROM "decided") AS "swapped", (SELECT count(*) FROM "deleted")::int8::text AS "deleted",
  CASE WHEN (SELECT "swapped" FROM "decided") THEN (SELECT count(*) FROM %TABLE%) END::int8::text AS "rows"
FROM (SELECT 1) AS "one" LEFT JOIN "info" ON true`;

const WRITES_SQL = `SELECT ${WRITES} AS "writes" FROM pg_class c WHERE c.oid = $1::regclass`;

const LOCK_NOT_AVAILABLE = '55P03';
/** `DROP TABLE` met an object that depends on the table. */
const DEPENDENT_OBJECTS_STILL_EXIST = '2BP01';

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** `key=value` storage options as `WITH (...)` renders them; `undefined` for an option it cannot. */
function storageOptions(options: readonly string[] | null): string | undefined {
  if (!options?.length) return '';
  const rendered: string[] = [];
  for (const option of options) {
    const at = option.indexOf('=');
    const key = option.slice(0, at);
    if (!/^[a-z_][a-z0-9_.]*$/.test(key)) return undefined;
    rendered.push(`${key}=${literal(option.slice(at + 1))}`);
  }
  return ` WITH (${rendered.join(', ')})`;
}

/** The `CREATE [UNIQUE] INDEX` of `index` on `table`, named `name`. */
function indexOn(index: SwapTable['indexes'][number], qualified: string, table: string, name: string): string | undefined {
  const { definition } = index;
  const named = definition.indexOf(` ${index.quoted} ON `);
  const using = definition.indexOf(` ON ${qualified} USING `);
  if (named < 0 || using !== named + index.quoted.length + 1) return undefined;
  return `${definition.slice(0, named)} ${quoteIdent(name)} ON ${table}${definition.slice(using + ` ON ${qualified}`.length)}`;
}

/** PostgreSQL's statements of a whole-table rebuild by swap (see `lib/execution/table-swap.ts`). */
export const postgresTableSwap: TableSwapStatements = {
  inspect: (path: string) => INSPECT_SQL.replaceAll('%TABLE%', path),

  deleteIfSmall: (path: string) => `WITH "size" AS (SELECT pg_relation_size($1::regclass) AS "bytes"),
  "deleted" AS (DELETE FROM ${path} WHERE (SELECT "bytes" FROM "size") < $2::int8 RETURNING 1)
SELECT (SELECT "bytes" FROM "size") < $2::int8 AS "small", (SELECT count(*) FROM "deleted")::int8::text AS "deleted"`,
  defaultGrantees(table: SwapTable, shadow: string): string {
    const path = literal(`${quoteIdent(table.schema)}.${quoteIdent(shadow)}`);
    return `SELECT DISTINCT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END AS "grantee"
      FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = ${path}::regclass AND a.grantee <> c.relowner`;
  },
  writes: () => WRITES_SQL,

  shadowName: (table: SwapTable) => `cinema_swap_${table.oid}`,

  create(table: SwapTable, shadow: string): string | undefined {
    const path = `${quoteIdent(table.schema)}.${quoteIdent(shadow)}`;
    const like = `LIKE ${table.qualified} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION INCLUDING COMMENTS INCLUDING STATISTICS`;
    const tablespace = table.tablespace ? ` TABLESPACE ${quoteIdent(table.tablespace)}` : '';
    const options = storageOptions(table.options);
    if (options === undefined) return undefined;
    return `CREATE ${table.unlogged ? 'UNLOGGED ' : ''}TABLE ${path} (${like})${options}${tablespace}`;
  },

  indexes(table: SwapTable, shadow: string): string[] | undefined {
    const path = `${quoteIdent(table.schema)}.${quoteIdent(shadow)}`;
    const statements: string[] = [];
    for (const [i, index] of table.indexes.entries()) {
      const name = `${shadow}_${i}`;
      const create = indexOn(index, table.qualified, path, name);
      if (create === undefined) return undefined;
      statements.push(create);
      if (index.constraint) {
        const kind = index.constraint === 'p' ? 'PRIMARY KEY' : 'UNIQUE';
        statements.push(`ALTER TABLE ${path} ADD CONSTRAINT ${quoteIdent(name)} ${kind} USING INDEX ${quoteIdent(name)}`);
      }
    }
    return statements;
  },

  grants(table: SwapTable, shadow: string, defaults: readonly (string | null)[]): string[] {
    const path = `${quoteIdent(table.schema)}.${quoteIdent(shadow)}`;
    const role = (grantee: string | null) => (grantee === null ? 'PUBLIC' : quoteIdent(grantee));
    const statements = defaults.map((grantee) => `REVOKE ALL ON ${path} FROM ${role(grantee)}`);
    for (const grant of table.grants) {
      statements.push(`GRANT ${grant.privilege} ON ${path} TO ${role(grant.grantee)}${grant.grantable ? ' WITH GRANT OPTION' : ''}`);
    }
    for (const column of table.columns) {
      if (column.statistics !== null)
        statements.push(`ALTER TABLE ${path} ALTER COLUMN ${column.quoted} SET STATISTICS ${Number(column.statistics)}`);
      const options = storageOptions(column.options);
      if (options) statements.push(`ALTER TABLE ${path} ALTER COLUMN ${column.quoted} SET (${options.slice(' WITH ('.length)}`);
    }
    if (!table.ownedByMe) statements.push(`ALTER TABLE ${path} OWNER TO ${quoteIdent(table.owner)}`);
    return statements;
  },

  statistics(table: SwapTable, shadow: string, rows: number): string {
    const path = `${quoteIdent(table.schema)}.${quoteIdent(shadow)}`;
    const analyze = `ANALYZE ${path}`;
    if (!table.carryStatistics) return analyze;
    // The table's columns by name (a dropped column shifts the numbers), its indexes' by number.
    const pairs = [
      `(${literal(table.name)}, ${literal(shadow)}, false)`,
      ...table.indexes.map((index, i) => `(${literal(index.name)}, ${literal(`${shadow}_${i}`)}, true)`),
    ];
    const schema = literal(table.schema);
    const restore = `SELECT COALESCE(bool_and(pg_restore_attribute_stats('schemaname', ${schema}::text, 'relname', x.target,
        'attname', CASE WHEN NOT x.index THEN s.attname::text END, 'attnum', CASE WHEN x.index THEN a.attnum END,
        'inherited', s.inherited, 'null_frac', s.null_frac, 'avg_width', s.avg_width, 'n_distinct', s.n_distinct,
        'most_common_vals', s.most_common_vals::text, 'most_common_freqs', s.most_common_freqs,
        'histogram_bounds', s.histogram_bounds::text, 'correlation', s.correlation,
        'most_common_elems', s.most_common_elems::text, 'most_common_elem_freqs', s.most_common_elem_freqs,
        'elem_count_histogram', s.elem_count_histogram, 'range_length_histogram', s.range_length_histogram::text,
        'range_empty_frac', s.range_empty_frac, 'range_bounds_histogram', s.range_bounds_histogram::text)), true)
      FROM (VALUES ${pairs.join(', ')}) AS x(source, target, index)
      JOIN pg_attribute a ON a.attrelid = format('%I.%I', ${schema}, x.source)::regclass AND a.attnum > 0 AND NOT a.attisdropped
        AND a.attstattarget IS DISTINCT FROM 0
      JOIN pg_stats s ON s.schemaname = ${schema} AND s.tablename = x.source AND s.attname = a.attname AND NOT s.inherited`;
    // The table's size is the fresh one's: its pages, and the rows written (CREATE INDEX counts
    // them only when autovacuum is on for the table).
    const size = `SELECT pg_restore_relation_stats('schemaname', ${schema}::text, 'relname', ${literal(shadow)}::text,
        'relpages', (pg_relation_size(${literal(path)}) / current_setting('block_size')::int)::int, 'reltuples', ${Number(rows)}::real)`;
    // A value the server would not take back (it warns and returns false) falls back to gathering them.
    return `DO ${literal(`BEGIN IF NOT ((${size}) AND (${restore})) THEN ${analyze}; END IF; END`)}`;
  },

  lock(table: SwapTable, timeoutMs: number): string {
    return `SAVEPOINT "cinema_swap"; SELECT set_config('lock_timeout', '${Math.max(1, Math.round(timeoutMs))}ms', true); LOCK TABLE ${table.qualified} IN ACCESS EXCLUSIVE MODE`;
  },

  lockFailed: () => `ROLLBACK TO SAVEPOINT "cinema_swap"`,

  swap(table: SwapTable, shadow: string): string {
    const schema = quoteIdent(table.schema);
    const statements = [
      `SELECT set_config('lock_timeout', ${literal(table.lockTimeout)}, true)`,
      `DROP TABLE ${table.qualified}`,
      `ALTER TABLE ${schema}.${quoteIdent(shadow)} RENAME TO ${quoteIdent(table.name)}`,
    ];
    for (const [i, index] of table.indexes.entries()) {
      statements.push(`ALTER INDEX ${schema}.${quoteIdent(`${shadow}_${i}`)} RENAME TO ${index.quoted}`);
      if (index.clustered) statements.push(`ALTER TABLE ${table.qualified} CLUSTER ON ${index.quoted}`);
      if (index.comment !== null) statements.push(`COMMENT ON INDEX ${schema}.${index.quoted} IS ${literal(index.comment)}`);
    }
    if (table.comment !== null) statements.push(`COMMENT ON TABLE ${table.qualified} IS ${literal(table.comment)}`);
    statements.push(`RELEASE SAVEPOINT "cinema_swap"`);
    return statements.join('; ');
  },

  copyBack(table: SwapTable, shadow: string, columns: readonly string[]): string {
    const list = columns.map(quoteIdent).join(', ');
    const path = `${quoteIdent(table.schema)}.${quoteIdent(shadow)}`;
    return `DELETE FROM ${table.qualified}; INSERT INTO ${table.qualified} (${list}) SELECT ${list} FROM ${path}; DROP TABLE ${path}`;
  },

  isLockNotAvailable: (error: unknown) => (error as { code?: unknown })?.code === LOCK_NOT_AVAILABLE,
  isDependentObjects: (error: unknown) => (error as { code?: unknown })?.code === DEPENDENT_OBJECTS_STILL_EXIST,
};
