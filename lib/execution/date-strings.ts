/**
 * PostgreSQL's date/time types read as the text it sends (`dateStrings: true`): `pg` would make
 * `timestamp`, `timestamptz` and `date` JavaScript `Date`s (milliseconds, local midnight for a
 * date) and `interval` an object. As text they keep every microsecond and are written back by
 * `COPY` unchanged. Arrays of them become arrays of strings.
 */
const DATE_TIME_OIDS = new Set([
  1082, // date
  1083, // time
  1114, // timestamp
  1184, // timestamptz
  1186, // interval
  1266, // timetz
]);
const DATE_TIME_ARRAY_OIDS = new Set([1182, 1183, 1115, 1185, 1187, 1270]);
/** `text[]`: its parser splits an array literal into strings. */
const TEXT_ARRAY_OID = 1009;

/** Whatever resolves a column type's parser: a `pg` client (with the application's overrides). */
export interface TypeParsers {
  getTypeParser(oid: number, format?: any): any;
}

const asText = (text: string) => text;

/** The client's own parsers, except date/time types (and their arrays), which stay text. */
export function dateStringTypes(client: TypeParsers): TypeParsers {
  // Not a method: pg-cursor calls getTypeParser unbound.
  return {
    getTypeParser: (oid: number, format?: any) => {
      if (DATE_TIME_OIDS.has(oid)) return asText;
      return client.getTypeParser(DATE_TIME_ARRAY_OIDS.has(oid) ? TEXT_ARRAY_OID : oid, format);
    },
  };
}
