import { createHash } from 'node:crypto';
import { quoteIdent } from '../dialect/postgres/sql.js';
import type { ChangeModel } from '../model/projection.model.js';

/** One projection fed by one table: what its triggers write. */
export interface CapturedSource {
  projection: string;
  change: ChangeModel;
}

/** The statements that install (up) and remove (down) the capture triggers of some tables. */
export interface CaptureStatements {
  /** Drop and create each table's capture functions and triggers. */
  up: string[];
  /** Drop them. */
  down: string[];
}

const EVENTS = ['insert', 'update', 'delete', 'truncate'] as const;
type CaptureEvent = (typeof EVENTS)[number];

/**
 * Statement-level AFTER triggers with transition tables (one event per trigger, as PostgreSQL
 * requires), one set per table, listing every projection the given sources feed from it: each
 * appends the statement's distinct lens values to `cinema.changes`. An UPDATE marks the old and
 * the new values (a row moved between slices dirties both); TRUNCATE marks whole projections.
 * Installing a table's capture again replaces it: give every projection of a table in one call.
 */
export function captureStatements(sources: readonly CapturedSource[]): CaptureStatements {
  const byTable = new Map<string, CapturedSource[]>();
  for (const source of sources) byTable.set(source.change.table, [...(byTable.get(source.change.table) ?? []), source]);
  const up: string[] = [];
  const down: string[] = [];
  for (const [table, fed] of byTable) {
    for (const event of EVENTS) {
      const fn = functionName(table, event);
      const trigger = quoteIdent(`cinema_capture_${event}`);
      up.push(`DROP TRIGGER IF EXISTS ${trigger} ON ${table}`);
      up.push(
        `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $cinema$ BEGIN ${markStatement(fed, event)}; RETURN NULL; END $cinema$`,
      );
      up.push(
        `CREATE TRIGGER ${trigger} AFTER ${event.toUpperCase()} ON ${table}${referencing(event)} FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`,
      );
      down.push(`DROP TRIGGER IF EXISTS ${trigger} ON ${table}`, `DROP FUNCTION IF EXISTS ${fn}()`);
    }
  }
  return { up, down };
}

/** `"cinema"."capture_<hash>_<event>"`: deterministic and short whatever the table's name. */
function functionName(table: string, event: CaptureEvent): string {
  const hash = createHash('sha256').update(table).digest('hex').slice(0, 16);
  return `"cinema".${quoteIdent(`capture_${hash}_${event}`)}`;
}

function referencing(event: CaptureEvent): string {
  if (event === 'insert') return ' REFERENCING NEW TABLE AS "cinema_new"';
  if (event === 'delete') return ' REFERENCING OLD TABLE AS "cinema_old"';
  if (event === 'update') return ' REFERENCING OLD TABLE AS "cinema_old" NEW TABLE AS "cinema_new"';
  return '';
}

function markStatement(fed: readonly CapturedSource[], event: CaptureEvent): string {
  const into = `INSERT INTO "cinema"."changes" ("projection", "lens")`;
  if (event === 'truncate') return `${into} VALUES ${fed.map((s) => `(${literal(s.projection)}, NULL)`).join(', ')}`;
  const rows = event === 'insert' ? ['"cinema_new"'] : event === 'delete' ? ['"cinema_old"'] : ['"cinema_old"', '"cinema_new"'];
  // Distinct column values first (a sort of scalars), then one jsonb object per slice.
  const branches = fed.map((source) => {
    const columns = [...new Set(source.change.lens.map(({ column }) => quoteIdent(column)))].join(', ');
    const distinct = rows.map((transition) => `SELECT ${columns} FROM ${transition}`).join(' UNION ');
    const pairs = source.change.lens.map(({ key, column }) => `${literal(key)}, t.${quoteIdent(column)}`).join(', ');
    const from = rows.length === 1 ? `(SELECT DISTINCT ${columns} FROM ${rows[0]})` : `(${distinct})`;
    return `SELECT ${literal(source.projection)}, jsonb_build_object(${pairs}) FROM ${from} t`;
  });
  return `${into} ${branches.join(' UNION ALL ')}`;
}

function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
