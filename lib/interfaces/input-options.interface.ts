import type { Type } from '@nestjs/common';

/** How an input reaches its derivation. */
export type InputMode = 'stream' | 'query';

export interface InputOptions {
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
