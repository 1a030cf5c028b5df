import { inlineParameters, parameterTokens } from './inline-parameters.js';
import type { CopyChoice, CopyEnd, CopyFormat, CopySource } from '../dialect.interface.js';
import { quoteIdent } from './sql.js';

/** The raw `pg` client of a source connection, as the probe uses it (simple protocol, several statements). */
export interface ProbeClient {
  query(text: string): Promise<unknown>;
}

const PROBE = 'cinema_copy_probe';

/**
 * `COPY (<select>) TO STDOUT` for a source connection, its parameters inlined as typed literals
 * (`inline-parameters.ts`), or `undefined` when that cannot be done exactly: the caller reads the
 * rows with a cursor instead. With parameters, one round trip on that connection first asks the
 * types PostgreSQL infers for them and checks the session reads literals as they are written
 * (`standard_conforming_strings` on, `client_encoding` UTF8). Its `describe` asks, in one more,
 * what the inlined select outputs without running it (its types, the session's encodings and
 * server version): what decides whether the pipe may run in binary (see {@link copyFormat}).
 */
export async function copyOutStatement(client: ProbeClient, select: string, values: readonly unknown[]): Promise<CopySource | undefined> {
  const tokens = parameterTokens(select);
  if (!tokens) return undefined;
  let inlined = select;
  if (tokens.length > 0 || values.length > 0) {
    const results = (await client.query(
      `PREPARE ${PROBE} AS ${select}; ` +
        `SELECT current_setting('standard_conforming_strings') AS "scs", current_setting('client_encoding') AS "encoding", ` +
        `parameter_types::text[] AS "types" FROM pg_prepared_statements WHERE name = '${PROBE}'; DEALLOCATE ${PROBE}`,
    )) as { rows: { scs: string; encoding: string; types: string[] }[] }[];
    const probe = results[1]?.rows[0];
    if (!probe || probe.scs !== 'on' || probe.encoding !== 'UTF8') return undefined;
    const text = inlineParameters(select, tokens, values, probe.types);
    if (text === undefined) return undefined;
    inlined = text;
  }
  return {
    describe: async () => {
      // LIMIT 0: planned, never run (a Limit of 0 does not pull a row from its input).
      const [settings, described] = (await client.query(`${SESSION}; SELECT * FROM (${inlined}) AS "cinema_probe" LIMIT 0`)) as [
        { rows: SessionRow[] },
        { fields: { dataTypeID: number }[] },
      ];
      return { ...session(settings.rows[0]), types: described.fields.map((field) => field.dataTypeID) };
    },
    statement: (format) =>
      format === 'binary'
        ? `COPY (${inlined}) TO STDOUT (FORMAT binary)`
        : // UTF-8 on both ends whatever each session's client_encoding: the bytes go through untouched.
          `COPY (${inlined}) TO STDOUT (FORMAT text, ENCODING 'UTF8')`,
  };
}

/** `COPY <table> (<columns>) FROM STDIN` for the bytes of {@link copyOutStatement} (a staging table or the projection's). */
export function copyInStatement(table: string, columns: readonly string[], format: CopyFormat): string {
  const options = format === 'binary' ? 'FORMAT binary' : `FORMAT text, ENCODING 'UTF8'`;
  return `COPY ${table} (${columns.map(quoteIdent).join(', ')}) FROM STDIN (${options})`;
}

/**
 * The write side's {@link CopyEnd}: its session, and the type of each of `columns` of `table` (a
 * staging table or the projection's), 0 for one binary COPY must not carry (see {@link copyFormat}).
 */
export async function copyInEnd(client: WriteProbeClient, table: string, columns: readonly string[]): Promise<CopyEnd> {
  const { rows } = await client.query({ text: COPY_IN_END, values: [table, columns] });
  const row = rows[0] as SessionRow & { types: (number | string)[] };
  return { ...session(row), types: row.types.map(Number) };
}

/**
 * Binary when it carries every value exactly as text would: each column's type the same on both
 * ends and built in (its OID the same in every database; an enum, domain, composite or extension
 * type has its own per database, and binary values of arrays and records name their element types
 * by OID), the same encodings on both sessions (binary text values are converted from the server's
 * encoding to the session's and back) and the same major version (binary formats may change
 * between versions). Types binary cannot carry exactly are 0 in the write side's {@link CopyEnd}.
 * The receiving end still applies each column's type modifier (`varchar(n)`, `numeric(p,s)`).
 */
export function copyFormat(source: CopyEnd, target: CopyEnd, columns: readonly string[]): CopyChoice {
  const text = (reason: string): CopyChoice => ({ format: 'text', reason });
  if (source.serverEncoding !== target.serverEncoding || source.clientEncoding !== target.clientEncoding)
    return text(
      `the encodings differ (${source.serverEncoding}/${source.clientEncoding} there, ${target.serverEncoding}/${target.clientEncoding} here)`,
    );
  if (source.version !== target.version)
    return text(`the servers' major versions differ (${source.version} there, ${target.version} here)`);
  if (source.types.length !== columns.length || target.types.length !== columns.length)
    return text('the columns could not all be described');
  for (const [i, column] of columns.entries()) {
    if (target.types[i] === 0) return text(`the type of column "${column}" is not built in, or binary COPY does not carry it exactly`);
    if (source.types[i] !== target.types[i])
      return text(`column "${column}" has another type there (type OID ${source.types[i]}, here ${target.types[i]})`);
  }
  return { format: 'binary', reason: 'every column has the same built-in type on both ends' };
}

/** The raw `pg` client of the write transaction, as {@link copyInEnd} uses it. */
export interface WriteProbeClient {
  query(config: { text: string; values?: unknown[] }): Promise<{ rows: any[] }>;
}

interface SessionRow {
  server: string;
  client: string;
  version: number | string;
}

const SESSION =
  `SELECT current_setting('server_encoding') AS "server", current_setting('client_encoding') AS "client", ` +
  `current_setting('server_version_num')::int / 10000 AS "version"`;

function session(row: SessionRow): Omit<CopyEnd, 'types'> {
  return { serverEncoding: row.server, clientEncoding: row.client, version: Number(row.version) };
}

/**
 * Types whose binary value is an object id of this database (`regclass` and its kind) where text
 * carries a name: the same number names something else, or nothing, in another database.
 */
const OID_VALUED = [24, 2202, 2203, 2204, 2205, 2206, 3734, 3769, 4089, 4096, 4191];

/** Built in: below `FirstNormalObjectId`; the same in every database of one major version. */
const CARRIED = (type: string) =>
  `(${type}.oid < 16384 AND ${type}.typsend <> 0 AND ${type}.typreceive <> 0 AND ${type}.oid NOT IN (${OID_VALUED.join(', ')}))`;

const COPY_IN_END =
  `${SESSION}, ARRAY(SELECT CASE WHEN ${CARRIED('t')} AND (t.typelem = 0 OR ${CARRIED('e')}) THEN t.oid::int ELSE 0 END ` +
  `FROM unnest($2::text[]) WITH ORDINALITY AS c(name, i) ` +
  `LEFT JOIN pg_attribute AS a ON a.attrelid = $1::regclass AND a.attname = c.name AND NOT a.attisdropped ` +
  `LEFT JOIN pg_type AS t ON t.oid = a.atttypid LEFT JOIN pg_type AS e ON e.oid = t.typelem ORDER BY c.i) AS "types"`;

/**
 * The first staged row (in the order copied) with a NULL in one of `columns`: a flag per column
 * (`"null_<i>"`) and the row's position (`"row"`, from 0). No row when none has.
 */
export function firstNullRow(stage: string, columns: readonly string[]): string {
  const flags = columns.map((column, i) => `("src".${quoteIdent(column)} IS NULL) AS "null_${i}"`);
  const any = columns.map((column) => `"src".${quoteIdent(column)} IS NULL`).join(' OR ');
  const position = `(SELECT COUNT(*) FROM ${stage} AS "before" WHERE "before".ctid < "src".ctid)::int AS "row"`;
  return `SELECT ${flags.join(', ')}, ${position} FROM ${stage} AS "src" WHERE ${any} LIMIT 1`;
}
