import { CinemaError } from '../../errors/cinema.error.js';
import type { DataSource } from 'typeorm';

/** Quotes an identifier for PostgreSQL. Every identifier Cinema writes into SQL goes through here. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** `"schema"."table"` (or `"table"`). */
export function quoteTable(schema: string | undefined, table: string): string {
  return schema ? `${quoteIdent(schema)}.${quoteIdent(table)}` : quoteIdent(table);
}

/**
 * Whether two data sources write to the same PostgreSQL database (their primary, when they use
 * replication), so that one statement can read through one and write through the other.
 */
export function sameDatabase(a: DataSource, b: DataSource): boolean {
  if (a === b) return true;
  const x = primaryOf(a);
  const y = primaryOf(b);
  return x !== undefined && x === y;
}

function primaryOf(dataSource: DataSource): string | undefined {
  const options = dataSource.options as unknown as Record<string, any>;
  const target = options.replication?.master ?? options;
  const database = target.database ?? options.database;
  if (target.url) {
    const url = new URL(target.url);
    return `${url.hostname}:${url.port || 5432}/${database ?? url.pathname.slice(1)}`;
  }
  if (!target.host && !database) return undefined;
  return `${target.host ?? 'localhost'}:${target.port ?? 5432}/${database}`;
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

/**
 * 64-bit FNV-1a, as a signed bigint string for `pg_advisory_xact_lock(bigint)`. Computed on two
 * 32-bit halves (a BigInt per character cost a slice refresh tens of microseconds): the product
 * by the prime 2^40 + 0x1b3 is the halves times 0x1b3, plus the low half shifted into the high.
 */
export function hash64(text: string): string {
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  for (let i = 0; i < text.length; i++) {
    lo = (lo ^ text.charCodeAt(i)) >>> 0;
    const low = lo * 0x1b3; // < 2^41: exact in a double
    const carry = Math.floor(low / 0x1_0000_0000);
    hi = (Math.imul(hi, 0x1b3) + carry + ((lo << 8) >>> 0)) >>> 0;
    lo = low >>> 0;
  }
  return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)).toString();
}

/** `orgId` -> `org_id`, to match output columns named by a snake-case convention. */
export function snakeCase(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

/**
 * Puts integer parameters into SQL text as literals, for a statement sent with the simple
 * protocol (several statements in one round trip). Only integers Cinema computed itself
 * (timeouts, lock keys) come here; anything else throws.
 */
export function inlineIntegers(sql: string, params: readonly unknown[]): string {
  return sql.replace(/\$(\d+)/g, (_, index: string) => {
    const value = params[Number(index) - 1];
    const text = typeof value === 'number' || typeof value === 'bigint' ? String(value) : value;
    if (typeof text !== 'string' || !/^-?\d{1,20}$/.test(text))
      throw new CinemaError(`Internal error: only integers Cinema computed are inlined into SQL, got ${String(value)}`);
    return `(${text})`;
  });
}
