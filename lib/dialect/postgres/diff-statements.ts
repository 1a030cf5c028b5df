import type { ColumnInfo, DialectTable, SliceDiff } from '../dialect.interface.js';
import { quoteIdent } from './sql.js';

/** The alias of the projection's table in a diff: slice predicates are written against it. */
export const DIFF_TABLE_ALIAS = '"cinema_t"';

/**
 * Each writable column's type, default expression and whether it has no equality operator of
 * its own (json, xml, ...): such a column is compared as text.
 */
export const COLUMN_INFO_SQL = `SELECT a.attname AS "column", format_type(a.atttypid, a.atttypmod) AS "type",
  pg_get_expr(d.adbin, d.adrelid) AS "default",
  (t.typcategory <> 'A' AND NOT EXISTS (SELECT 1 FROM pg_opclass o JOIN pg_am m ON m.oid = o.opcmethod
    WHERE m.amname = 'btree' AND o.opcdefault AND o.opcintype = a.atttypid)) AS "compareAsText"
  FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.attgenerated = ''
  WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`;

/**
 * One statement that turns the slice into the derived rows, touching only what differs: it
 * deletes the slice's rows whose key is not derived, updates those whose key is derived and
 * whose written columns are distinct from the derived ones, and inserts the derived keys the
 * slice lacks. Every part sees the table as it was before the statement, so the parts never
 * meet the same row. Returns one row: `deleted`, `inserted`, `updated` and `derived`.
 */
export function sliceDiffStatement(table: DialectTable, diff: SliceDiff): string {
  const t = DIFF_TABLE_ALIAS;
  const info = new Map(diff.info.map((column) => [column.column, column]));
  const keys = table.conflictTarget;
  const values = diff.columns.filter((column) => !keys.includes(column));
  const inSlice = diff.slice ? ` AND ${diff.slice}` : '';
  const sameKey = keys.map((column) => `"d".${quoteIdent(column)} = ${t}.${quoteIdent(column)}`).join(' AND ');
  // Typed as the table's columns: the comparison must be the one the stored values would get.
  const typed = diff.columns
    .map((column) => {
      const type = info.get(column)?.type;
      const ref = `"src".${quoteIdent(column)}`;
      return `${type ? `CAST(${ref} AS ${type})` : ref} AS ${quoteIdent(column)}`;
    })
    .join(', ');
  const compared = (alias: string) =>
    values.map((column) => `${alias}.${quoteIdent(column)}${info.get(column)?.compareAsText ? '::text' : ''}`).join(', ');
  const parts = [`"cinema_derived" AS MATERIALIZED (SELECT ${typed} FROM (${diff.derived}) AS "src")`];
  const counts = [`(SELECT count(*) FROM "cinema_derived")::int AS "derived"`];
  if (diff.deletes) {
    parts.push(
      `"cinema_deleted" AS (DELETE FROM ${table.path} AS ${t} WHERE NOT EXISTS (SELECT 1 FROM "cinema_derived" AS "d" WHERE ${sameKey})${inSlice} RETURNING 1)`,
    );
    counts.push(`(SELECT count(*) FROM "cinema_deleted")::int AS "deleted"`);
  } else {
    counts.push(`0 AS "deleted"`);
  }
  if (values.length > 0) {
    // ROW(...) IS DISTINCT FROM ROW(...): NULL against NULL is the same, NULL against a value differs.
    parts.push(
      `"cinema_updated" AS (UPDATE ${table.path} AS ${t} SET ${values.map((column) => `${quoteIdent(column)} = "d".${quoteIdent(column)}`).join(', ')}` +
        ` FROM "cinema_derived" AS "d" WHERE ${sameKey}${inSlice} AND ROW(${compared(t)}) IS DISTINCT FROM ROW(${compared('"d"')}) RETURNING 1)`,
    );
    counts.push(`(SELECT count(*) FROM "cinema_updated")::int AS "updated"`);
  } else {
    counts.push(`0 AS "updated"`);
  }
  const insertColumns = diff.columns.map(quoteIdent).join(', ');
  parts.push(
    `"cinema_inserted" AS (INSERT INTO ${table.path} (${insertColumns}) SELECT ${diff.columns.map((column) => `"d".${quoteIdent(column)}`).join(', ')}` +
      ` FROM "cinema_derived" AS "d" WHERE NOT EXISTS (SELECT 1 FROM ${table.path} AS ${t} WHERE ${sameKey}${inSlice})` +
      `${diff.conflictClause ? ` ${diff.conflictClause}` : ''} RETURNING 1)`,
  );
  counts.push(`(SELECT count(*) FROM "cinema_inserted")::int AS "inserted"`);
  return `WITH ${parts.join(',\n')}\nSELECT ${counts.join(', ')}`;
}

/** Rows of one source into the diff's own staging table; a column the source leaves out gets its default. */
export function stageSourceStatement(
  stage: string,
  union: readonly string[],
  source: { select: string; columns: readonly string[] },
  info: readonly ColumnInfo[],
): string {
  const defaults = new Map(info.map((column) => [column.column, column.default]));
  const selected = union.map((column) =>
    source.columns.includes(column) ? `"src".${quoteIdent(column)}` : (defaults.get(column) ?? 'NULL'),
  );
  return `INSERT INTO ${stage} (${union.map(quoteIdent).join(', ')}) SELECT ${selected.join(', ')} FROM (${source.select}) AS "src"`;
}
