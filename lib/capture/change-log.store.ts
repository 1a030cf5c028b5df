import type { DataSource } from 'typeorm';
import { canonicalSql } from './lens-slices.js';

/** The dirty marks of one slice as the watcher reads them: however many writes named it, one entry. */
export interface ChangeMark {
  /** The marks' bigserial ids, kept as text. */
  ids: string[];
  projection: string;
  /** `null`: the whole projection. */
  lens: Record<string, unknown> | null;
}

/** A mark to append: for a projection, one slice (`lens`) or the whole of it (`null`). */
export interface NewMark {
  projection: string;
  lens: Record<string, unknown> | null;
}

/**
 * Whether the mark `c` may cover a slice of `values` (jsonb `{ key: [canonical text, ...] }`):
 * a whole-projection mark, or one whose every key in common has one of the values. A key the
 * lens does not name, or a non-scalar value, never rules a mark out: it may hand on a whole mark.
 */
export function pendingSql(values: string): string {
  return `(c."lens" IS NULL OR NOT EXISTS (
    SELECT 1 FROM jsonb_each(c."lens") e WHERE ${values} ? e.key
      AND jsonb_typeof(e.value) IN ('number', 'string', 'boolean') AND NOT ((${values} -> e.key) ? ${canonicalSql('e.value')})))`;
}

/**
 * Whether the ledger row `f` covers the slice `slice` (jsonb `{ key: canonical text }`): its slice
 * is the same or coarser (`{}`, the whole projection, covers every slice).
 */
export function coversSliceSql(slice: string): string {
  return `NOT EXISTS (SELECT 1 FROM jsonb_each(f."slice") e
    WHERE NOT (${slice} ? e.key AND jsonb_typeof(e.value) IN ('number', 'string', 'boolean') AND ${canonicalSql('e.value')} = ${slice} ->> e.key))`;
}

/** The ledger rows of one projection's rebuilt slices. */
export interface LedgerEntry {
  projection: string;
  slices: readonly Record<string, unknown>[];
  rows: number;
  durationMs: number;
}

/** The statements on `cinema.changes` and `cinema.freshness`, one place for their SQL. */
export const changeLog = {
  /**
   * The `limit` oldest dirty slices (a projection and a lens, with the ids of every mark naming
   * it), except those of projections left out of this cycle. Coalesced in the database: a backlog
   * of 100,000 writes to ten slices is ten entries, not a hundred reads of a thousand marks.
   */
  async read(dataSource: DataSource, limit: number, except: readonly string[]): Promise<ChangeMark[]> {
    const rows: ChangeMark[] = await dataSource.query(
      `SELECT array_agg("id"::text ORDER BY "id") AS "ids", "projection", "lens" FROM "cinema"."changes"
       WHERE NOT ("projection" = ANY($2::text[])) GROUP BY "projection", "lens" ORDER BY min("id") LIMIT $1`,
      [limit, except],
    );
    return rows;
  },

  /** Those of the marks `ids` still in the log (a watcher re-reads them once it holds the projection's lock). */
  async remaining(
    connection: { query(text: string, values: unknown[]): Promise<{ id: string }[]> },
    ids: readonly string[],
  ): Promise<Set<string>> {
    const rows = await connection.query(`SELECT "id"::text AS "id" FROM "cinema"."changes" WHERE "id" = ANY($1::bigint[])`, [ids]);
    return new Set(rows.map((row) => row.id));
  },

  /**
   * Whether every slice (`canonical`, one object per slice) of `projection` was refreshed at most
   * `maxStaleness` ms ago and no mark of it or of the projections upstream (`names`) covers one:
   * one statement, one snapshot of both tables.
   */
  async fresh(
    dataSource: DataSource,
    projection: string,
    names: readonly string[],
    values: Record<string, string[]>,
    canonical: readonly Record<string, string>[],
    maxStaleness: number,
  ): Promise<boolean> {
    const [row]: { fresh: boolean }[] = await dataSource.query(
      `SELECT
         (SELECT COALESCE(bool_and(COALESCE(
            (SELECT max(f."refreshed_at") FROM "cinema"."freshness" f WHERE f."projection" = $1 AND ${coversSliceSql('s')})
              >= clock_timestamp() - $5::float8 * interval '1 millisecond', false)), false)
          FROM jsonb_array_elements($4::jsonb) s)
         AND NOT EXISTS (SELECT 1 FROM "cinema"."changes" c WHERE c."projection" = ANY($2::text[]) AND ${pendingSql('$3::jsonb')}) AS "fresh"`,
      [projection, names, JSON.stringify(values), JSON.stringify(canonical), maxStaleness],
    );
    return row.fresh === true;
  },

  /**
   * In the refresh's own transaction: exactly the claimed marks (never by lens, so that a mark
   * committed meanwhile survives), the hand-off to the projections downstream, and the ledger.
   */
  async settle(
    run: (text: string, values: unknown[]) => Promise<unknown>,
    claimed: readonly string[],
    handOff: readonly NewMark[],
    ledger?: LedgerEntry,
  ): Promise<void> {
    await run(`DELETE FROM "cinema"."changes" WHERE "id" = ANY($1::bigint[])`, [claimed]);
    if (handOff.length > 0) {
      // A JSON null lens (the whole projection) is stored as SQL NULL.
      await run(
        `INSERT INTO "cinema"."changes" ("projection", "lens")
         SELECT m->>'projection', NULLIF(m->'lens', 'null'::jsonb) FROM jsonb_array_elements($1::jsonb) m`,
        [JSON.stringify(handOff)],
      );
    }
    if (ledger) await changeLog.record(run, ledger);
  },

  /** In the transaction that wrote the slices: the freshness ledger's rows for them. */
  async record(run: (text: string, values: unknown[]) => Promise<unknown>, ledger: LedgerEntry): Promise<void> {
    await run(
      `INSERT INTO "cinema"."freshness" ("projection", "slice", "refreshed_at", "snapshot_xmin", "rows", "duration_ms")
             SELECT $1, s, clock_timestamp(), pg_snapshot_xmin(pg_current_snapshot()), $3, $4 FROM jsonb_array_elements($2::jsonb) s
             ON CONFLICT ("projection", "slice") DO UPDATE SET "refreshed_at" = EXCLUDED."refreshed_at", "snapshot_xmin" = EXCLUDED."snapshot_xmin",
               "rows" = EXCLUDED."rows", "duration_ms" = EXCLUDED."duration_ms"`,
      [ledger.projection, JSON.stringify(ledger.slices), ledger.rows, Math.round(ledger.durationMs)],
    );
  },
};
