import type { Type } from '@nestjs/common';

/** How an input reaches its derivation. */
export type InputMode = 'stream' | 'query';

/** How rows streamed from an input carry their values. */
export interface StreamOptions {
  /**
   * Date/time columns (`timestamp`, `timestamptz`, `date`, `time`, `timetz`, `interval`, and
   * arrays of them) as the text PostgreSQL sends, e.g. `'2026-03-01 12:00:00.123456+00'`,
   * instead of JavaScript `Date`s (which keep milliseconds only) and interval objects. Written
   * back as they are, so a row copied through a derivation keeps every microsecond (the fields
   * are strings then, whatever type the entity declares for them). On
   * `@Input()`, for `as: 'stream'` only: a query's values never leave PostgreSQL.
   * @default false
   */
  dateStrings?: boolean;
}

export interface InputOptions extends StreamOptions {
  /**
   * `'stream'`: an `Observable` of plain rows keyed by property name, read lazily with a cursor.
   * `'query'`: the lens-filtered `SelectQueryBuilder`, to compose into one `INSERT ... SELECT`.
   * @default 'stream'
   */
  as?: InputMode;
}

/** A thunk naming the input projection(s); a thunk so that classes may refer to each other. */
export type InputTypeFn = () => Type<unknown> | readonly Type<unknown>[];

/** What `@Input()` records on a method. */
export interface InputMetadata {
  typeFn: InputTypeFn;
  options: Required<InputOptions>;
  /** Written by `@Source()`: a derivation with no projection inputs. */
  source?: boolean;
}
