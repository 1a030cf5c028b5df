import { CinemaError, describeLens } from './cinema.error.js';

/**
 * A derived row's conflict key is already in the table, held by a row outside the slice (or
 * derived twice), and the projection has `keyConflicts: 'error'`. Raised as a
 * `ProjectionFailedError`'s cause: the refresh was rolled back and the previous slice is intact.
 */
export class KeyConflictError extends CinemaError {
  constructor(
    readonly projection: string,
    readonly lens: Readonly<Record<string, unknown>>,
    /** Property names of the conflict key. */
    readonly key: readonly string[],
    /** PostgreSQL's description of the key, e.g. `Key (tid)=(7) already exists.`, when it gave one. */
    readonly detail: string | undefined,
    /** The row of the table that holds the key (property names), when it could be read. */
    readonly row: Readonly<Record<string, unknown>> | undefined,
    /** Whether that row lies outside the lens slice (`undefined` when unknown). */
    readonly outsideSlice: boolean | undefined,
  ) {
    super(
      `${projection} ${describeLens(lens)}: ${describeKeyConflict(key, detail, row, outsideSlice)}. ` +
        `Refused because of keyConflicts: 'error'. ${keyConflictRule(key)}`,
    );
  }
}

/** The rule a conflict breaks, and the ways out. */
export function keyConflictRule(key: readonly string[]): string {
  return (
    `The lens columns must be determined by the conflict key (${key.join(', ')}): a row's key decides which slice it is in, ` +
    `so that deleting a slice frees every key the refresh derives. Add the lens column to the key (conflictTarget), ` +
    `slice by a column the key determines, or derive each key once.`
  );
}

/** "a derived row has the conflict key (tid) already in the table (Key (tid)=(7) already exists), held by {...}, outside the slice" */
export function describeKeyConflict(
  key: readonly string[],
  detail: string | undefined,
  row: Readonly<Record<string, unknown>> | undefined,
  outsideSlice: boolean | undefined,
): string {
  const where =
    row === undefined
      ? outsideSlice === false
        ? ', derived twice by this refresh'
        : ''
      : `, held by ${json(row)}${outsideSlice ? ', outside the slice' : outsideSlice === false ? ', inside the slice: derived twice by this refresh' : ''}`;
  return `a derived row has the conflict key (${key.join(', ')}) already in the table (${detail ?? 'PostgreSQL gave no detail'})${where}`;
}

function json(row: Readonly<Record<string, unknown>>): string {
  const text = JSON.stringify(row, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}
