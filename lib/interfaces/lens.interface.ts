import type { FindOperator, SelectQueryBuilder } from 'typeorm';

/** What a custom reducer sees of the query it narrows. */
export interface LensTarget {
  /** Projection whose rows the query reads or deletes. */
  projection: string;
  /** Alias of the wrapped query: reference columns as `"src"."orgId"`. */
  alias: string;
  /** Columns the query exposes under that alias. */
  columns: readonly string[];
}

/**
 * A filter that is not a plain column comparison. It narrows every input of the run and the slice
 * that is deleted, on a query aliased `src` whose columns are property names; check
 * `target.columns` before referring to one. (The rows written are checked against the plain lens
 * keys only, so a derivation must not produce rows outside the reducer's slice.)
 */
export type LensReducer = (
  qb: SelectQueryBuilder<any>,
  lens: Readonly<Record<string, unknown>>,
  target: LensTarget,
) => SelectQueryBuilder<any> | void;

/** One lens value: equality, a list (`IN`), `null` (`IS NULL`) or a TypeORM find operator. */
export type LensValue<T> = T | readonly T[] | null | FindOperator<T> | FindOperator<any>;

type ColumnKeys<P> = {
  [K in keyof P]-?: P[K] extends (...args: any[]) => any ? never : K;
}[keyof P] &
  string;

/**
 * A slice of a projection graph: `{ orgId: 42 }`. Keys are checked at compile time against the
 * terminal projection's properties and at run time against the columns the graph exposes.
 */
export type Lens<P = any> = {
  [K in ColumnKeys<P>]?: LensValue<NonNullable<P[K]>>;
} & {
  $reduce?: LensReducer;
};

declare const LOOSE_LENS: unique symbol;

/**
 * A lens whose keys are not checked at compile time, e.g. keys that only upstream projections
 * have. Make one with `looseLens({...})`; it is still checked at run time.
 */
export type LooseLens = Record<string, unknown> & { $reduce?: LensReducer; readonly [LOOSE_LENS]: true };
