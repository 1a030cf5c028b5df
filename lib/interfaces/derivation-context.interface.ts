import type { Type } from '@nestjs/common';
import type { Observable } from 'rxjs';
import type { EntityManager, SelectQueryBuilder } from 'typeorm';
import type { StreamOptions } from './input-options.interface.js';

/** Plain rows keyed by property name. */
export type Row = Record<string, unknown>;

/**
 * What a derivation may return: rows (an array, an `Observable` of rows), a `SelectQueryBuilder`
 * (run as one `INSERT ... SELECT` when it reads the write database), an `Observable` of query
 * builders, a promise of any of these, or nothing when it called `ctx.materialize` itself.
 */
export type Derived<T = Row> = SelectQueryBuilder<any> | Observable<T | SelectQueryBuilder<any>> | readonly T[] | void | undefined | null;

export type DerivationResult<T = Row> = Derived<T> | Promise<Derived<T>>;

export interface DerivationContext<L = Record<string, unknown>> {
  /** The projection being rebuilt. */
  readonly projection: string;
  /** The lens of the run (without its reducer). */
  readonly lens: Readonly<L>;
  /**
   * Manager of the data source the application's tables are read from, outside the write
   * transaction: the module's `readDataSource` (a virtual projection's own, in `output()`).
   */
  readonly read: EntityManager;
  /** Manager bound to this projection's write transaction (absent for virtual outputs). */
  readonly write: EntityManager;
  /** Aborted when the projection times out or its run fails. */
  readonly signal: AbortSignal;
  /** Write rows or queries into this projection's table now; resolves to the rows written. */
  materialize(source: Derived<any>): Promise<number>;
  /** Delete the lens slice now (done before the derivations unless `dematerialize: false`). */
  dematerialize(): Promise<number>;
  /** The lens-filtered query of one of this projection's inputs. */
  query<I>(input: Type<I>): SelectQueryBuilder<any>;
  /**
   * The lens-filtered rows of one of this projection's inputs, streamed lazily. Pass
   * `{ dateStrings: true }` for date/time values as exact strings.
   */
  stream<I>(input: Type<I>, options?: StreamOptions): Observable<Partial<I>>;
}

/** The context a virtual projection's `output()` receives. */
export type OutputContext<L = Record<string, unknown>> = Omit<DerivationContext<L>, 'write' | 'materialize' | 'dematerialize'>;
