import type { DataSource } from 'typeorm';

/** A dirty mark as the watcher reads it. */
export interface ChangeMark {
  /** bigserial, kept as text. */
  id: string;
  projection: string;
  /** `null`: the whole projection. */
  lens: Record<string, unknown> | null;
}

/** A mark to append: for a projection, one slice (`lens`) or the whole of it (`null`). */
export interface NewMark {
  projection: string;
  lens: Record<string, unknown> | null;
}

/** The statements on `cinema.changes` and `cinema.freshness`, one place for their SQL. */
export const changeLog = {
  /** The oldest marks, except those of projections that failed in this cycle. */
  async read(dataSource: DataSource, limit: number, except: readonly string[]): Promise<ChangeMark[]> {
    const rows: { id: string; projection: string; lens: Record<string, unknown> | null }[] = await dataSource.query(
      `SELECT "id"::text AS "id", "projection", "lens" FROM "cinema"."changes"
       WHERE NOT ("projection" = ANY($2::text[])) ORDER BY "id" LIMIT $1`,
      [limit, except],
    );
    return rows;
  },

  /**
   * In the refresh's own transaction: exactly the claimed marks (never by lens, so that a mark
   * committed meanwhile survives), the hand-off to the projections downstream, and the ledger.
   */
  async settle(
    run: (text: string, values: unknown[]) => Promise<unknown>,
    claimed: readonly string[],
    handOff: readonly NewMark[],
    ledger?: { projection: string; slices: readonly Record<string, unknown>[]; rows: number; durationMs: number },
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
    if (ledger) {
      await run(
        `INSERT INTO "cinema"."freshness" ("projection", "slice", "refreshed_at", "snapshot_xmin", "rows", "duration_ms")
               SELECT $1, s, clock_timestamp(), pg_snapshot_xmin(pg_current_snapshot()), $3, $4 FROM jsonb_array_elements($2::jsonb) s
               ON CONFLICT ("projection", "slice") DO UPDATE SET "refreshed_at" = EXCLUDED."refreshed_at", "snapshot_xmin" = EXCLUDED."snapshot_xmin",
                 "rows" = EXCLUDED."rows", "duration_ms" = EXCLUDED."duration_ms"`,
        [ledger.projection, JSON.stringify(ledger.slices), ledger.rows, Math.round(ledger.durationMs)],
      );
    }
  },
};
