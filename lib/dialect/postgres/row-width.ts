import type { DataSource } from 'typeorm';

/** Widths by data source and statement: the planner's estimate moves little between runs. */
const widthCache = new WeakMap<DataSource, Map<string, number>>();
const WIDTH_CACHE_LIMIT = 256;

/**
 * The planner's estimate of a statement's average row width in bytes (`EXPLAIN`'s "Plan Width",
 * from the tables' statistics): enough to size cursor fetches by bytes before any row is read.
 * Undefined when PostgreSQL does not say.
 */
export async function estimatedRowWidth(dataSource: DataSource, sql: string, params: unknown[]): Promise<number | undefined> {
  let cache = widthCache.get(dataSource);
  if (!cache) widthCache.set(dataSource, (cache = new Map()));
  const hit = cache.get(sql);
  if (hit !== undefined) return hit;
  const runner = dataSource.createQueryRunner('slave');
  let width: unknown;
  try {
    const client = (await runner.connect()) as { query(config: { text: string; values?: unknown[] }): Promise<{ rows: any[] }> };
    const { rows } = await client.query({ text: `EXPLAIN (FORMAT JSON) ${sql}`, values: params });
    const plan = rows[0]?.['QUERY PLAN'];
    width = (typeof plan === 'string' ? JSON.parse(plan) : plan)?.[0]?.Plan?.['Plan Width'];
  } finally {
    await runner.release();
  }
  if (typeof width !== 'number' || !(width > 0)) return undefined;
  if (cache.size >= WIDTH_CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  cache.set(sql, width);
  return width;
}
