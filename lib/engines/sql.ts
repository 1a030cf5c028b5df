import type { DataSource } from 'typeorm';

/** Quotes an identifier for PostgreSQL. Every identifier Cinema writes into SQL goes through here. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** `"schema"."table"` (or `"table"`). */
export function quoteTable(schema: string | undefined, table: string): string {
  return schema ? `${quoteIdent(schema)}.${quoteIdent(table)}` : quoteIdent(table);
}

/** Whether two data sources reach the same PostgreSQL database, so SQL can span them. */
export function sameDatabase(a: DataSource, b: DataSource): boolean {
  if (a === b) return true;
  const x = a.options as unknown as Record<string, unknown>;
  const y = b.options as unknown as Record<string, unknown>;
  if (x.type !== y.type) return false;
  if (x.url || y.url) return x.url === y.url && x.database === y.database;
  return (
    (x.host ?? 'localhost') === (y.host ?? 'localhost') &&
    (x.port ?? 5432) === (y.port ?? 5432) &&
    x.database === y.database
  );
}

/** 32-bit FNV-1a, as a signed int4 for `pg_advisory_xact_lock(int, int)`. */
export function hash32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash | 0;
}

/** 64-bit FNV-1a, as a signed bigint string for `pg_advisory_xact_lock(bigint)`. */
export function hash64(text: string): string {
  let hash = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  for (let i = 0; i < text.length; i++) {
    hash ^= BigInt(text.charCodeAt(i));
    hash = (hash * prime) & 0xffffffffffffffffn;
  }
  return BigInt.asIntN(64, hash).toString();
}

/** `orgId` -> `org_id`, to match output columns named by a snake-case convention. */
export function snakeCase(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}
