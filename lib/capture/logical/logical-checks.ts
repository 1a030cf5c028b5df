import type { DataSource } from 'typeorm';
import { LogicalCaptureError } from '../../errors/logical-capture.error.js';
import type { ResolvedCaptureOptions } from '../../interfaces/capture.interface.js';
import type { ProjectionModel } from '../../model/projection.model.js';
import type { LogicalSource } from './change-marks.js';

interface TableState {
  oid: number | null;
  ident: string;
  published: boolean;
  /** The columns of the replica identity: the primary key's (`d`) or the index's (`i`). */
  identity: string[] | null;
  /** A unique, non-partial, immediate index holding every lens column: a `USING INDEX` candidate. */
  candidate: string | null;
}

/**
 * What logical capture needs before it starts, checked against the catalog: `wal_level =
 * logical`, the publication with every captured table, and a replica identity per table that
 * carries the lens columns in the old row of an UPDATE and a DELETE (`FULL`; an index, or the
 * primary key by default, holding every lens column). Returns the projections each table feeds,
 * by table OID. `models` is called after the first query: the registry is built by then.
 */
export async function checkLogicalCapture(
  dataSource: DataSource,
  models: () => readonly ProjectionModel[],
  options: ResolvedCaptureOptions,
): Promise<Map<number, LogicalSource[]>> {
  const [{ wal_level: level }] = await dataSource.query<{ wal_level: string }[]>(`SHOW wal_level`);
  if (level !== 'logical') {
    throw new LogicalCaptureError(
      `the server's wal_level is "${level}", and logical decoding needs "logical"`,
      `Run ALTER SYSTEM SET wal_level = logical and restart PostgreSQL (or start it with -c wal_level=logical), or use capture: { mode: 'triggers' }.`,
    );
  }
  const publication = options.publication;
  const [pub] = await dataSource.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [publication]);
  if (!pub) {
    throw new LogicalCaptureError(
      `publication "${publication}" does not exist`,
      'Add a migration that calls installLogicalCapture(queryRunner, [...projections with changes]) (with { publication } if capture.publication is not the default).',
    );
  }
  const sources = new Map<number, LogicalSource[]>();
  for (const model of models()) {
    for (const change of model.changes) {
      const columns = [...new Set(change.lens.map(({ column }) => column))];
      const [state] = await dataSource.query<TableState[]>(
        `SELECT c.oid::int AS oid, c.relreplident::text AS ident,
           EXISTS (SELECT 1 FROM pg_publication_tables p WHERE p.pubname = $2
             AND format('%I.%I', p.schemaname, p.tablename)::regclass = c.oid) AS published,
           (SELECT array_agg(a.attname::text) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
             WHERE i.indrelid = c.oid AND ((c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND i.indisreplident))) AS identity,
           (SELECT i.indexrelid::regclass::text FROM pg_index i
             WHERE i.indrelid = c.oid AND i.indisunique AND i.indimmediate AND i.indpred IS NULL AND i.indexprs IS NULL
               AND (SELECT array_agg(a.attname::text) FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) @> $3::text[]
               AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) AND NOT a.attnotnull)
             ORDER BY i.indisprimary DESC, i.indexrelid LIMIT 1) AS candidate
         FROM pg_class c WHERE c.oid = to_regclass($1)`,
        [change.table, publication, columns],
      );
      const fail = (reason: string, fix: string): never => {
        throw new LogicalCaptureError(
          `table ${change.table}, which feeds projection ${model.name}, ${reason}`,
          fix,
          model.name,
          change.table,
        );
      };
      if (!state) fail('does not exist', 'Create it, or fix the table named in its changes option.');
      if (!state.published) {
        fail(
          `is not in publication "${publication}"`,
          `Add a migration that calls installLogicalCapture(queryRunner, [${model.name}]), or run ALTER PUBLICATION "${publication}" ADD TABLE ${change.table}.`,
        );
      }
      const missing = columns.filter((column) => !(state.identity ?? []).includes(column));
      const usable =
        state.ident === 'f' || ((state.ident === 'd' || state.ident === 'i') && state.identity !== null && missing.length === 0);
      if (!usable) {
        const what =
          state.ident === 'n'
            ? 'has REPLICA IDENTITY NOTHING'
            : state.ident === 'i'
              ? `has a replica identity index that lacks lens column(s) ${missing.join(', ')}`
              : state.identity
                ? `has the default replica identity, and its primary key lacks lens column(s) ${missing.join(', ')}`
                : 'has the default replica identity and no primary key';
        const index = state.candidate ? `, or ALTER TABLE ${change.table} REPLICA IDENTITY USING INDEX ${state.candidate}` : '';
        fail(
          `${what}: a DELETE or an UPDATE that moves a row would not carry the old lens values`,
          `Run ALTER TABLE ${change.table} REPLICA IDENTITY FULL${index} (in a migration).`,
        );
      }
      const fed = sources.get(state.oid!) ?? [];
      fed.push({ projection: model.name, lens: change.lens });
      sources.set(state.oid!, fed);
    }
  }
  return sources;
}
