/**
 * Compile-time checks, run by `npm test` through `tsc --noEmit`: each `@ts-expect-error` fails
 * the type check if the line below it ever compiles.
 */
import { In, MoreThan } from 'typeorm';
import { looseLens, type CinemaRun, type CinemaService } from '../../lib/index.js';
import { AccountsReceivable } from '../../sample-app/src/receivables/accounts-receivable.projection.js';

export async function lensTypes(cinema: CinemaService): Promise<void> {
  const rows: AccountsReceivable[] = await cinema.project(AccountsReceivable, { orgId: 1 });
  await cinema.project(AccountsReceivable, { orgId: [1, 2], accountId: In([3]), openInvoices: MoreThan(2) });
  await cinema.project(AccountsReceivable, { oldestOpenOn: null });
  await cinema.project(AccountsReceivable);
  // @ts-expect-error a misspelled key is not a column of AccountsReceivable
  await cinema.project(AccountsReceivable, { orgid: 1 });
  // @ts-expect-error a value of the wrong type
  await cinema.project(AccountsReceivable, { orgId: 'one' });
  // @ts-expect-error a method is not a column
  await cinema.project(AccountsReceivable, { derive: 1 });
  // Keys of upstream projections only: say so with LooseLens.
  await cinema.project(AccountsReceivable, looseLens({ invoiceId: '9' }));
  const run: CinemaRun<AccountsReceivable> = await cinema.project(AccountsReceivable, { orgId: 1 }, { async: true });
  const fromRun: AccountsReceivable[] = await run.result;
  void rows;
  void fromRun;
}
