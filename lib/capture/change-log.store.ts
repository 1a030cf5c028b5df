import type { DataSource } from 'typeorm';
import { SupersededVersionError } from '../errors/superseded-version.error.js';
import { canonicalSql } from './lens-slices.js';
import { versionStore } from './version.store.js';

/** The dirty marks of one slice as the watcher reads them: however many writes named it, one entry. */
export interface ChangeMark {
  /** How many marks name the slice. */
  marks: number;
  /** The lens as the database prints it (`'null'` for the whole projection): what settling deletes by. */
  key: string;
  projection: string;
  /** `null`: the whole projection. */
  lens: Record<string, unknown> | null;
  /** Milliseconds since the slice's oldest mark was written, when it was read (the database's clock). */
  ageMs: number;
}

/** The dirty slices of one read and the snapshot it was taken in. */
export interface MarkRead {
  /** `pg_current_snapshot()` of the read, as text. */
  snapshot: string;
  slices: ChangeMark[];
}

/** What a refresh settles: the marks of these slices of a projection visible in a read's snapshot. */
export interface ClaimedMarks {
  projection: string;
  snapshot: string;
  /** Every visible mark of the projection (it was rebuilt whole). */
  whole: boolean;
  /** The slices' keys (`ChangeMark.key`). */
  keys: readonly string[];
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
  /** The version of the projection that built them, when versions are tracked (see `version.store.ts`). */
  version?: string;
}

/** The statements on `cinema.changes` and `cinema.freshness`, one place for their SQL. */
export const changeLog = {
  /**
   * The `limit` oldest dirty slices (a projection and a lens, and how many marks name it), except
   * those of projections left out of this cycle, and the snapshot they were read in. Coalesced in
   * the database: a backlog of 100,000 writes to ten slices is ten entries. The snapshot stands
   * for the marks read: settling deletes the marks of a slice *visible in it*, exactly those read,
   * whatever committed since, without sending their ids back and forth.
   */
  async read(dataSource: DataSource, limit: number, except: readonly string[], only?: readonly string[]): Promise<MarkRead> {
    // One REPEATABLE READ snapshot for both statements: pg_current_snapshot() is the one the read used.
    return dataSource.transaction('REPEATABLE READ', async (manager) => {
      const [{ snapshot }]: { snapshot: string }[] = await manager.query(`SELECT pg_current_snapshot()::text AS "snapshot"`);
      const slices: ChangeMark[] = await manager.query(
        `SELECT "projection", "lens", COALESCE("lens"::text, 'null') AS "key", count(*)::int AS "marks",
                (extract(epoch FROM clock_timestamp() - min("at")) * 1000)::float8 AS "ageMs" FROM "cinema"."changes"
         WHERE NOT ("projection" = ANY($2::text[])) AND ($3::text[] IS NULL OR "projection" = ANY($3::text[]))
         GROUP BY "projection", "lens" ORDER BY min("id") LIMIT $1`,
        [limit, except, only ?? null],
      );
      return { snapshot, slices };
    });
  },

  /**
   * Which of the slices `keys` of `projection` still have marks visible in `snapshot` (another
   * watcher, holding the projection's lock before, may have settled some): re-read under the lock.
   */
  async remaining(
    connection: { query(text: string, values: unknown[]): Promise<{ key: string }[]> },
    projection: string,
    snapshot: string,
    keys: readonly string[],
  ): Promise<Set<string>> {
    // One EXISTS per slice: it stops at the first visible mark, not after all of them.
    const rows = await connection.query(
      `SELECT k AS "key" FROM unnest($3::text[]) k WHERE EXISTS (SELECT 1 FROM "cinema"."changes" c
         WHERE c."projection" = $1 AND COALESCE(c."lens"::text, 'null') = k AND pg_visible_in_snapshot(c."xid", $2::pg_snapshot))`,
      [projection, snapshot, keys],
    );
    return new Set(rows.map((row) => row.key));
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
    version?: string,
  ): Promise<boolean> {
    // Each slice's newest covering ledger row decides: recent enough, and (versions tracked) built by this version.
    const [row]: { fresh: boolean }[] = await dataSource.query(
      `SELECT
         (SELECT COALESCE(bool_and(COALESCE(
            (SELECT f."refreshed_at" >= clock_timestamp() - $5::float8 * interval '1 millisecond'
                    ${version !== undefined ? `AND f."version" IS NOT DISTINCT FROM $6` : ''}
             FROM "cinema"."freshness" f WHERE f."projection" = $1 AND ${coversSliceSql('s')}
             ORDER BY f."refreshed_at" DESC LIMIT 1), false)), false)
          FROM jsonb_array_elements($4::jsonb) s)
         AND NOT EXISTS (SELECT 1 FROM "cinema"."changes" c WHERE c."projection" = ANY($2::text[]) AND ${pendingSql('$3::jsonb')}) AS "fresh"`,
      [projection, names, JSON.stringify(values), JSON.stringify(canonical), maxStaleness, ...(version !== undefined ? [version] : [])],
    );
    return row.fresh === true;
  },

  /**
   * In the refresh's own transaction: exactly the marks the group read (those of its slices
   * visible in the read's snapshot; every visible mark of the projection when it was rebuilt
   * whole), so that a mark committed since survives; the hand-off to the projections downstream;
   * and the ledger.
   */
  async settle(
    run: (text: string, values: unknown[]) => Promise<unknown>,
    claimed: ClaimedMarks,
    handOff: readonly NewMark[],
    ledger?: LedgerEntry,
  ): Promise<void> {
    // One statement: the hand-off marks keep the time of the oldest change they carry on, so that a
    // dependent's lag (freshness(), the cinema.capture.lag metric) counts from the write, not the hand-off.
    // A JSON null lens (the whole projection) is stored as SQL NULL.
    await run(
      `WITH "settled" AS (
         DELETE FROM "cinema"."changes" WHERE "projection" = $1 AND pg_visible_in_snapshot("xid", $2::pg_snapshot)
           AND ($3::boolean OR COALESCE("lens"::text, 'null') = ANY($4::text[]))
         RETURNING "at")
       INSERT INTO "cinema"."changes" ("projection", "lens", "at")
       SELECT m->>'projection', NULLIF(m->'lens', 'null'::jsonb), (SELECT COALESCE(min("at"), clock_timestamp()) FROM "settled")
       FROM jsonb_array_elements($5::jsonb) m`,
      [claimed.projection, claimed.snapshot, claimed.whole, claimed.keys, JSON.stringify(handOff)],
    );
    if (ledger) await changeLog.record(run, ledger);
  },

  /**
   * In the transaction that wrote the slices: the freshness ledger's rows for them. With a
   * version, first fails with `SupersededVersionError` (rolling the slices back) when a newer
   * version of the projection was deployed since this one: an old process never overwrites what
   * a newer definition builds.
   */
  async record(run: (text: string, values: unknown[]) => Promise<unknown>, ledger: LedgerEntry): Promise<void> {
    if (ledger.version !== undefined) {
      // TypeORM's query() gives the rows, pg's the result.
      const rows = async (text: string, values: unknown[]) => {
        const result = await run(text, values);
        return Array.isArray(result) ? result : ((result as { rows: any[] }).rows ?? []);
      };
      const newer = await versionStore.newer(rows, ledger.projection, ledger.version);
      if (newer !== undefined) throw new SupersededVersionError(ledger.projection, ledger.version, newer);
    }
    if (ledger.slices.length === 0) return;
    await run(
      `INSERT INTO "cinema"."freshness" ("projection", "slice", "refreshed_at", "snapshot_xmin", "rows", "duration_ms"${ledger.version !== undefined ? ', "version"' : ''})
             SELECT $1, s, clock_timestamp(), pg_snapshot_xmin(pg_current_snapshot()), $3, $4${ledger.version !== undefined ? ', $5' : ''} FROM jsonb_array_elements($2::jsonb) s
             ON CONFLICT ("projection", "slice") DO UPDATE SET "refreshed_at" = EXCLUDED."refreshed_at", "snapshot_xmin" = EXCLUDED."snapshot_xmin",
               "rows" = EXCLUDED."rows", "duration_ms" = EXCLUDED."duration_ms"${ledger.version !== undefined ? ', "version" = EXCLUDED."version"' : ''}`,
      [
        ledger.projection,
        JSON.stringify(ledger.slices),
        ledger.rows,
        Math.round(ledger.durationMs),
        ...(ledger.version !== undefined ? [ledger.version] : []),
      ],
    );
  },
};
