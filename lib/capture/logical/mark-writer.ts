import type { QueryRunner } from 'typeorm';
import type { CollectedMarks } from './change-marks.js';

/** Type OID → its SQL name (`integer`, `public.mood`), per query runner's database. */
const typeNames = new WeakMap<object, Map<number, string>>();

/**
 * Appends the marks of a batch of decoded changes to `cinema.changes` in one transaction. Each
 * lens value is cast from pgoutput's text to its column's type and then to jsonb, so a mark has
 * the very shape the capture triggers write (`{"orgId": 42}`, numbers as numbers).
 */
export async function writeMarks(runner: QueryRunner, marks: CollectedMarks): Promise<void> {
  if (marks.whole.size === 0 && marks.slices.length === 0) return;
  const names = await typesOf(runner, [...new Set(marks.slices.flatMap((shape) => shape.typeOids))]);
  await runner.startTransaction();
  try {
    if (marks.whole.size > 0) {
      await runner.query(`INSERT INTO "cinema"."changes" ("projection", "lens") SELECT unnest($1::text[]), NULL`, [[...marks.whole]]);
    }
    for (const shape of marks.slices) {
      const pairs = shape.keys.map((key, i) => `${literal(key)}, (v ->> ${i})::${names.get(shape.typeOids[i])}`).join(', ');
      await runner.query(
        `INSERT INTO "cinema"."changes" ("projection", "lens") SELECT $1, jsonb_build_object(${pairs}) FROM jsonb_array_elements($2::jsonb) v`,
        [shape.projection, JSON.stringify(shape.rows)],
      );
    }
    await runner.commitTransaction();
  } catch (error) {
    if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
    throw error;
  }
}

async function typesOf(runner: QueryRunner, oids: number[]): Promise<Map<number, string>> {
  const key = runner.connection;
  let known = typeNames.get(key);
  if (!known) typeNames.set(key, (known = new Map()));
  const missing = oids.filter((oid) => !known.has(oid));
  if (missing.length > 0) {
    const rows: { oid: number; name: string }[] = await runner.query(
      `SELECT oid::int AS oid, format_type(oid, NULL) AS name FROM pg_type WHERE oid = ANY($1::oid[])`,
      [missing],
    );
    for (const row of rows) known.set(row.oid, row.name);
  }
  return known;
}

function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
