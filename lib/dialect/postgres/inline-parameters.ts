import pg from 'pg';
import { createRequire } from 'node:module';

/**
 * `COPY (query) TO STDOUT` takes no bind parameters, so the copy pipe puts a statement's `$n` into
 * its text as typed literals. Three parts make that exact, and anything they do not model sends the
 * statement down the cursor path instead (`undefined` below):
 * - `parameterTokens`: where PostgreSQL's lexer (scan.l, `standard_conforming_strings` on) sees a
 *   parameter: strings of every kind, quoted identifiers, dollar quotes, comments and identifiers
 *   (which may contain `$`) are skipped; numbers glued to a quote or `$` are refused as ambiguous;
 * - `literal`: the text `pg` itself would send for the value (its own `prepareValue`), quoted by
 *   `pg`'s own `escapeLiteral` (quotes doubled; backslashes doubled in an `E''` string, which reads
 *   the same whatever `standard_conforming_strings` says), in parentheses so that it is one operand;
 * - the type PostgreSQL inferred for the parameter (`PREPARE`, read back from
 *   `pg_prepared_statements`), as a cast: the literal is then the same typed value the parameter was.
 * Values `pg` sends in binary (Buffers) and text holding NUL have no such literal.
 */

const require = createRequire(import.meta.url);
type PrepareValue = (value: unknown) => string | Buffer | null;
let prepared: PrepareValue | null | undefined;

/** `pg`'s own value-to-text function (not part of its documented API: without it, no literal, the cursor path). */
function prepareValue(): PrepareValue | null {
  if (prepared === undefined) {
    try {
      prepared = (require('pg/lib/utils.js') as { prepareValue?: PrepareValue }).prepareValue ?? null;
    } catch {
      prepared = null;
    }
  }
  return prepared;
}

/** One `$n` of a statement: its place in the text and its number. */
export interface ParameterToken {
  start: number;
  end: number;
  index: number;
}

const IDENT_START = /[A-Za-z_\u0080-\uffff]/;
const IDENT_CONT = /[A-Za-z0-9_$\u0080-\uffff]/;
const DOLLAR_TAG = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

/**
 * The parameters of `sql` as PostgreSQL reads it with `standard_conforming_strings` on, in order;
 * `undefined` when the text holds a construct this scanner refuses (unterminated quotes or comments,
 * a lone `$`, a number glued to a quote or a `$`, a NUL, a `;` outside quotes).
 */
export function parameterTokens(sql: string): ParameterToken[] | undefined {
  const tokens: ParameterToken[] = [];
  const n = sql.length;
  let i = 0;
  /** Index after the closing quote of a string or identifier opened at `from` (`''`/`""` doubled inside). */
  const closeQuoted = (from: number, quote: string, backslashEscapes: boolean): number | undefined => {
    let j = from + 1;
    while (j < n) {
      const c = sql[j];
      if (backslashEscapes && c === '\\') j += 2;
      else if (c === quote) {
        if (sql[j + 1] !== quote) return j + 1;
        j += 2;
      } else j++;
    }
    return undefined;
  };
  while (i < n) {
    const c = sql[i];
    if (c === '\u0000') return undefined;
    if (c === "'" || c === '"') {
      const end = closeQuoted(i, c, false);
      if (end === undefined) return undefined;
      i = end;
    } else if (c === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n' && sql[i] !== '\r') i++;
    } else if (c === '/' && sql[i + 1] === '*') {
      let depth = 1;
      i += 2;
      while (depth > 0) {
        if (i >= n) return undefined;
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--;
          i += 2;
        } else i++;
      }
    } else if (c === '$') {
      const digits = /^\$(\d+)/.exec(sql.slice(i, i + 12));
      if (digits) {
        const end = i + digits[0].length;
        // `$1abc`, `$1$`, `$123456789012`: junk PostgreSQL reads differently across versions.
        if (end < n && IDENT_CONT.test(sql[end])) return undefined;
        tokens.push({ start: i, end, index: Number(digits[1]) });
        i = end;
        continue;
      }
      const tag = DOLLAR_TAG.exec(sql.slice(i, i + 200));
      if (!tag) return undefined;
      const close = sql.indexOf(tag[0], i + tag[0].length);
      if (close < 0) return undefined;
      i = close + tag[0].length;
    } else if (/\d/.test(c) || (c === '.' && /\d/.test(sql[i + 1] ?? ''))) {
      // A number and whatever letters stick to it (exponent, hex, junk): never followed by a quote or `$`.
      i++;
      while (i < n && /[A-Za-z0-9_.\u0080-\uffff]/.test(sql[i])) i++;
      if (i < n && /['"$]/.test(sql[i])) return undefined;
    } else if (IDENT_START.test(c)) {
      const start = i;
      while (i < n && IDENT_CONT.test(sql[i])) i++;
      const word = sql.slice(start, i);
      if (sql[i] === "'" && (word === 'E' || word === 'e')) {
        const end = closeQuoted(i, "'", true);
        if (end === undefined) return undefined;
        i = end;
      } else if ((word === 'U' || word === 'u') && sql[i] === '&' && (sql[i + 1] === "'" || sql[i + 1] === '"')) {
        i++;
      }
      // Any other word before a quote (B'', X'', N'', or a name) is followed by a plain string.
    } else if (c === ';') {
      // One statement only: COPY's text goes through the simple protocol, which would run a second.
      return undefined;
    } else {
      i++;
    }
  }
  return tokens;
}

/** A value as the typed literal that reads as the parameter `pg` would bind, or `undefined`. */
export function typedLiteral(value: unknown, type: string): string | undefined {
  const prepare = prepareValue();
  if (!prepare) return undefined;
  let text: string | Buffer | null;
  try {
    text = prepare(value);
  } catch {
    return undefined;
  }
  if (text === null) return `(NULL::${type})`;
  if (typeof text !== 'string' || text.includes('\u0000')) return undefined;
  return `(${pg.escapeLiteral(text).trim()}::${type})`;
}

/**
 * `sql` with each `$n` replaced by `values[n - 1]` as a literal of `types[n - 1]` (the type
 * PostgreSQL inferred for it, as `regtype` prints it), or `undefined` when that is not exact.
 */
export function inlineParameters(
  sql: string,
  tokens: readonly ParameterToken[],
  values: readonly unknown[],
  types: readonly string[],
): string | undefined {
  // PostgreSQL counts as many parameters as the highest one the statement names: a mismatch means
  // this scanner and the server read the text differently.
  const highest = tokens.reduce((max, token) => Math.max(max, token.index), 0);
  if (highest !== types.length || highest > values.length) return undefined;
  let out = '';
  let at = 0;
  for (const token of tokens) {
    if (token.index < 1) return undefined;
    const literal = typedLiteral(values[token.index - 1], types[token.index - 1]);
    if (literal === undefined) return undefined;
    out += sql.slice(at, token.start) + literal;
    at = token.end;
  }
  return out + sql.slice(at);
}

/**
 * `sql` with each `$n` replaced by `values[n - 1]` as a quoted literal without a type, for a
 * statement of Cinema's own sent with others in one simple-protocol message (a slice's DELETE in
 * BEGIN's round trip). A quoted literal is of unknown type, as a parameter `pg` binds without a
 * type is: PostgreSQL resolves both from their context the same way (`org_id = '42'` compares
 * integers, `name = '42'` text). Only strings, numbers, bigints and booleans are written;
 * anything else (NULL, dates, arrays, buffers, objects), or text the scanner refuses, gives `undefined`.
 */
export function inlineUntyped(sql: string, values: readonly unknown[]): string | undefined {
  const tokens = parameterTokens(sql);
  if (!tokens) return undefined;
  let out = '';
  let at = 0;
  for (const token of tokens) {
    if (token.index < 1 || token.index > values.length) return undefined;
    const value = values[token.index - 1];
    const kind = typeof value;
    if (kind !== 'string' && kind !== 'number' && kind !== 'bigint' && kind !== 'boolean') return undefined;
    if (kind === 'number' && !Number.isFinite(value)) return undefined;
    const text = String(value);
    if (text.includes('\u0000')) return undefined;
    out += sql.slice(at, token.start) + pg.escapeLiteral(text).trim();
    at = token.end;
  }
  return out + sql.slice(at);
}
