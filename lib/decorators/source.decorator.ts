import { SetMetadata } from '@nestjs/common';
import { INPUT_METADATA } from '../cinema.constants.js';
import type { InputMetadata } from '../interfaces/input-options.interface.js';

/**
 * Marks a method as a derivation that reads no projection: it reads the application's own
 * tables itself, through `ctx.read` (or a query on the write data source, which becomes one
 * `INSERT ... SELECT`). It receives only the `DerivationContext`, whose `lens` says which slice
 * to derive, and returns what is to be written, like an `@Input` method.
 *
 * @example
 * \@Source()
 * fromInvoices(ctx: DerivationContext) {
 *   return ctx.read.getRepository(Invoice).createQueryBuilder('i').select(...)...;
 * }
 */
export function Source(): MethodDecorator {
  const metadata: InputMetadata = { typeFn: () => [], options: { as: 'query', dateStrings: false }, source: true };
  return SetMetadata(INPUT_METADATA, metadata);
}
