import { SetMetadata } from '@nestjs/common';
import { INPUT_METADATA } from '../cinema.constants.js';
import type { InputMetadata, InputOptions, InputTypeFn } from '../interfaces/input-options.interface.js';

/**
 * Marks a method as the derivation of this projection from one input (or several, given as an
 * array). The method receives each input's lens-filtered rows (or query, with `as: 'query'`) in
 * order, then the `DerivationContext`, and returns what is to be written.
 *
 * @example
 * \@Input(() => Invoices, { as: 'query' })
 * fromInvoices(invoices: SelectQueryBuilder<Invoices>) { ... }
 *
 * \@Input(() => Events, { dateStrings: true }) // timestamps as exact strings
 * fromEvents(events: Observable<Partial<Events>>) { ... }
 */
export function Input(typeFn: InputTypeFn, options: InputOptions = {}): MethodDecorator {
  const metadata: InputMetadata = { typeFn, options: { as: options.as ?? 'stream', dateStrings: options.dateStrings ?? false } };
  return SetMetadata(INPUT_METADATA, metadata);
}
