import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';

/**
 * PostgreSQL's `COPY ... FROM STDIN` text format: one line per row, fields separated by tabs,
 * `\N` for NULL, and backslash escapes for the four characters that would break a line.
 * https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.2
 */
export const COPY_NULL = '\\N';

const SPECIAL = /[\\\n\r\t]/;
const SPECIAL_ALL = /[\\\n\r\t]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** A field's text (as PostgreSQL would print it) escaped for a COPY line. */
export function copyField(text: string | null): string {
  if (text === null) return COPY_NULL;
  return SPECIAL.test(text) ? text.replace(SPECIAL_ALL, (c) => ESCAPES[c]) : text;
}

/** How a JavaScript value becomes the text of a column. */
export type CopyEncoding = 'json' | 'plain';

/**
 * A JavaScript value as the text PostgreSQL parses into the column, the way `pg` sends query
 * parameters (local-time dates, array literals, JSON for objects), except that json columns
 * always take JSON, as TypeORM writes them.
 */
export function copyValue(value: unknown, encoding: CopyEncoding): string {
  if (value === null || value === undefined) return COPY_NULL;
  if (encoding === 'json') return copyField(JSON.stringify(value));
  return copyField(textOf(value));
}

function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value instanceof Date) return dateText(value);
  if (Buffer.isBuffer(value)) return `\\x${value.toString('hex')}`;
  if (Array.isArray(value)) return arrayLiteral(value);
  // pg's own convention (an interval read by pg has it): the value's text for PostgreSQL.
  const custom = value as { toPostgres?: (prepare: (v: unknown) => string) => unknown };
  if (typeof custom.toPostgres === 'function') return textOf(custom.toPostgres(textOf));
  return JSON.stringify(value);
}

/** `{a,"b c",NULL,{1,2}}`: every element quoted but NULL, quotes and backslashes escaped. */
function arrayLiteral(values: readonly unknown[]): string {
  const elements = values.map((element) => {
    if (element === null || element === undefined) return 'NULL';
    if (Array.isArray(element)) return arrayLiteral(element);
    return `"${textOf(element).replace(/["\\]/g, '\\$&')}"`;
  });
  return `{${elements.join(',')}}`;
}

function pad(value: number, length = 2): string {
  return String(value).padStart(length, '0');
}

/** A date in the process's time zone with its offset, as `pg` sends dates. */
function dateText(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return (
    `${pad(date.getFullYear(), 4)}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}

/** Sends `data` (COPY text lines) through `COPY ... FROM STDIN` on a raw `pg` client. */
export async function copyIn(client: { query<T>(stream: T): T }, text: string, data: string): Promise<number> {
  const stream = copyInStream(client, text);
  stream.end(data);
  await finished(stream);
  return stream.rowCount;
}

/** Starts `COPY ... FROM STDIN` on a raw `pg` client: write COPY text to it, `end()` it, wait for `finish`. */
export function copyInStream(client: { query<T>(stream: T): T }, text: string): Writable & { rowCount: number } {
  // Typed as Node's Writable: pg-copy-streams' own types must not reach the package's declarations.
  return client.query(copyFrom(text));
}
