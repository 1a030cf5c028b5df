import { describeKeyConflict, KeyConflictError, keyConflictRule } from '../errors/key-conflict.error.js';
import { describeLens } from '../errors/cinema.error.js';
import type { NormalizedLens } from '../lens/lens.js';
import type { ColumnModel, ProjectionModel } from '../model/projection.model.js';
import type { KeyConflict } from './write-client.js';

/** What is known about the key a plain insert met: for the warning, or for `KeyConflictError`. */
export interface KeyConflictReport {
  /** Property names of the key that conflicted. */
  key: string[];
  detail?: string;
  row?: Record<string, unknown>;
  outsideSlice?: boolean;
}

/** PostgreSQL's `unique_violation` detail: `Key (a, b)=(1, x) already exists.` */
const DETAIL = /^Key \((.+?)\)=\((.*)\) (?:already exists|is duplicated)\.$/s;

/**
 * Reads the row that holds the conflicting key, after the failed transaction rolled back (so the
 * committed row is visible), and whether it lies in the lens slice. The key comes from the
 * violation's detail; when PostgreSQL gave none, or it cannot be read back, only the key is named.
 */
export async function inspectKeyConflict(model: ProjectionModel, lens: NormalizedLens, conflict: KeyConflict): Promise<KeyConflictReport> {
  const table = model.table!;
  const detail = (conflict.cause as { detail?: unknown })?.detail;
  const fallback: KeyConflictReport = {
    key: table.conflictTarget.map((column) => table.byColumn.get(column)!.property),
    detail: typeof detail === 'string' ? detail : undefined,
  };
  const match = typeof detail === 'string' ? DETAIL.exec(detail) : null;
  if (!match) return fallback;
  const columns = match[1].split(', ').map((name) => table.byColumn.get(name.replace(/^"(.*)"$/s, '$1').replaceAll('""', '"')));
  // A value holding ", " cannot be told apart from two values: then only the detail is shown.
  const values = columns.length === 1 ? [match[2]] : match[2].split(', ');
  if (columns.some((column) => column === undefined) || values.length !== columns.length) return fallback;
  const key = columns as ColumnModel[];
  const report: KeyConflictReport = { ...fallback, key: key.map((column) => column.property) };
  const { dialect } = model;
  const quoteIdent = dialect.quoteIdent;
  const params: unknown[] = [...values];
  const where = key.map((column, i) => `${quoteIdent(column.column)} = $${i + 1}`);
  const inSlice = lens.reducer
    ? 'NULL'
    : dialect.where(
        lens.conditions,
        (k) => {
          const column = table.byProperty.get(k);
          return column && quoteIdent(column.column);
        },
        params,
      ) || 'TRUE';
  const select = table.columns.map((column) => `${quoteIdent(column.column)} AS ${quoteIdent(column.property)}`).join(', ');
  try {
    const [row] = await model.write!.query(
      `SELECT ${select}, (${inSlice}) AS "cinema_in_slice" FROM ${table.path} WHERE ${where.join(' AND ')} LIMIT 1`,
      params,
    );
    if (!row) return { ...report, outsideSlice: false };
    const { cinema_in_slice: inside, ...held } = row as Record<string, unknown>;
    return { ...report, row: held, outsideSlice: inside === null ? undefined : inside === false };
  } catch {
    // Diagnostics only: the refresh's own outcome must not depend on this lookup.
    return report;
  }
}

export function keyConflictError(model: ProjectionModel, lens: NormalizedLens, report: KeyConflictReport): KeyConflictError {
  return new KeyConflictError(model.name, lens.display, report.key, report.detail, report.row, report.outsideSlice);
}

/** The warning logged the first time a projection falls back to upserting. */
export function keyConflictWarning(model: ProjectionModel, lens: NormalizedLens, report: KeyConflictReport): string {
  const target = model.table!.conflictTarget.map((column) => model.table!.byColumn.get(column)!.property);
  return (
    `${model.name} ${describeLens(lens.display)}: ${describeKeyConflict(report.key, report.detail, report.row, report.outsideSlice)}. ` +
    `Rebuilding it with ON CONFLICT (${target.join(', ')}), as every later refresh of ${model.name} will: ` +
    `a row of another slice with the same key is taken over. ${keyConflictRule(report.key)} ` +
    `Set @Projection({ keyConflicts: 'error' }) to fail such a refresh instead.`
  );
}
