import { inlineParameters, parameterTokens } from './inline-parameters.js';
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
 * (`standard_conforming_strings` on, `client_encoding` UTF8).
 */
export async function copyOutStatement(client: ProbeClient, select: string, values: readonly unknown[]): Promise<string | undefined> {
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
  // UTF-8 on both ends whatever each session's client_encoding: the bytes go through untouched.
  return `COPY (${inlined}) TO STDOUT (FORMAT text, ENCODING 'UTF8')`;
}

/** `COPY <table> (<columns>) FROM STDIN` for the bytes of {@link copyOutStatement} (a staging table or the projection's). */
export function copyInStatement(table: string, columns: readonly string[]): string {
  return `COPY ${table} (${columns.map(quoteIdent).join(', ')}) FROM STDIN (FORMAT text, ENCODING 'UTF8')`;
}

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
