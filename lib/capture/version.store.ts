import type { EntityManager } from 'typeorm';
import { VERSIONS_LOCK } from '../dialect/postgres/advisory-locks.js';

type Run = (text: string, values: unknown[]) => Promise<any[]>;

/**
 * The ledger rows of `projection` built by another version than `$2` and not covered by a newer
 * row of that version (the whole projection `'{}'`, or, for a slice of several keys, a coarser
 * slice): the slices that version has still to rebuild. `$1` the projection, `$2` the version.
 * The whole-projection row is one primary-key look-up; coarser slices are searched only for
 * slices of several keys, so a one-key lens stays linear in the ledger's rows.
 */
const OUTDATED = `FROM "cinema"."freshness" f WHERE f."projection" = $1 AND f."version" IS DISTINCT FROM $2
  AND NOT EXISTS (SELECT 1 FROM "cinema"."freshness" g WHERE g."projection" = f."projection" AND g."slice" = '{}'::jsonb
    AND g."version" = $2 AND g."refreshed_at" >= f."refreshed_at")
  AND NOT ((SELECT count(*) FROM jsonb_object_keys(f."slice")) > 1 AND EXISTS (SELECT 1 FROM "cinema"."freshness" g
    WHERE g."projection" = f."projection" AND g."version" = $2 AND g."refreshed_at" >= f."refreshed_at" AND f."slice" @> g."slice"))`;

/** What startup found of one projection's version. */
export interface VersionState {
  projection: string;
  version: string;
  /** The version deployed last before this process, if any. */
  previous?: string;
  /** Ledger slices built by another version. */
  outdated: number;
}

/** The statements on `cinema.projection_versions` and the ledger's `version`, one place for their SQL. */
export const versionStore = {
  /** Whether the database has the versions migration (`CinemaCaptureMigration1764800000000`). */
  async tracked(run: Run): Promise<boolean> {
    const [row] = await run(`SELECT to_regclass('"cinema"."projection_versions"') IS NOT NULL AS "tracked"`, []);
    return row?.tracked === true;
  },

  /** Takes the versions lock for the rest of the transaction (processes starting at once take turns). */
  async lock(manager: EntityManager): Promise<void> {
    await manager.query(`SELECT pg_advisory_xact_lock($1, $2)`, VERSIONS_LOCK);
  },

  /**
   * The projection's last deployed version and how many of its slices another version built.
   * The first time versions are tracked for it, the ledger rows without a version are taken as
   * built by this one (nothing says otherwise, and a library upgrade must not rebuild everything).
   */
  async state(run: Run, projection: string, version: string): Promise<VersionState> {
    const [last] = await run(`SELECT "version" FROM "cinema"."projection_versions" WHERE "projection" = $1 ORDER BY "seq" DESC LIMIT 1`, [
      projection,
    ]);
    if (!last)
      await run(`UPDATE "cinema"."freshness" SET "version" = $2 WHERE "projection" = $1 AND "version" IS NULL`, [projection, version]);
    const [{ outdated }] = await run(`SELECT count(*)::int AS "outdated" ${OUTDATED}`, [projection, version]);
    return { projection, version, previous: last?.version, outdated };
  },

  /** Records `version` as the projection's newest deployed one (again, when an older version is deployed back). */
  async register(run: Run, projection: string, version: string): Promise<void> {
    await run(
      `INSERT INTO "cinema"."projection_versions" ("projection", "version") VALUES ($1, $2)
       ON CONFLICT ("projection", "version") DO UPDATE SET "seq" = nextval('"cinema"."projection_versions_seq"'), "deployed_at" = clock_timestamp()
       WHERE "projection_versions"."seq" < (SELECT max(p."seq") FROM "cinema"."projection_versions" p WHERE p."projection" = $1)`,
      [projection, version],
    );
  },

  /**
   * Marks the outdated slices dirty for the watchers (least recently refreshed first; one
   * whole-projection mark when the whole projection is outdated), except slices already marked.
   * Returns how many marks it wrote.
   */
  async queue(run: Run, projection: string, version: string): Promise<number> {
    const rows = await run(
      `WITH "outdated" AS (
         SELECT CASE WHEN f."slice" = '{}'::jsonb THEN NULL ELSE f."slice" END AS "lens", f."refreshed_at" ${OUTDATED}),
       "wanted" AS (
         SELECT o."lens", o."refreshed_at" FROM "outdated" o
         WHERE NOT EXISTS (SELECT 1 FROM "outdated" w WHERE w."lens" IS NULL) OR o."lens" IS NULL)
       INSERT INTO "cinema"."changes" ("projection", "lens")
       SELECT $1, w."lens" FROM "wanted" w
       WHERE NOT EXISTS (SELECT 1 FROM "cinema"."changes" c WHERE c."projection" = $1 AND (c."lens" IS NULL OR c."lens" = w."lens"))
       ORDER BY w."refreshed_at"
       RETURNING 1`,
      [projection, version],
    );
    return rows.length;
  },

  /** Ledger slices built by another version, per projection (`cinema status`, `versions()`). */
  async outdated(run: Run, projection: string, version: string): Promise<number> {
    const [{ outdated }] = await run(`SELECT count(*)::int AS "outdated" ${OUTDATED}`, [projection, version]);
    return outdated;
  },

  /**
   * In the transaction that writes a slice: the newer version of the projection deployed since
   * `version` was, if any (then the refresh must roll back).
   */
  async newer(run: Run, projection: string, version: string): Promise<string | undefined> {
    const [row] = await run(
      `SELECT v."version" FROM "cinema"."projection_versions" v
       WHERE v."projection" = $1 AND v."seq" > (SELECT m."seq" FROM "cinema"."projection_versions" m WHERE m."projection" = $1 AND m."version" = $2)
       ORDER BY v."seq" DESC LIMIT 1`,
      [projection, version],
    );
    return row?.version;
  },
};
