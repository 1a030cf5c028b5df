import type { SelectQueryBuilder } from 'typeorm';
import { Projection, type OutputContext } from '../../../lib/index.js';
import { Account } from '../billing/account.entity.js';

/** The accounts table as the projection graph reads it: virtual, nothing is stored. Its writes are captured. */
@Projection({
  virtual: true,
  columns: ['accountId', 'orgId', 'name'],
  changes: [{ table: Account, lens: { orgId: 'orgId' } }],
  tags: ['billing'],
})
export class Accounts {
  accountId: number;
  orgId: number;
  name: string;

  output(ctx: OutputContext): SelectQueryBuilder<Account> {
    return ctx.read.createQueryBuilder(Account, 'a').select('a.id', 'accountId').addSelect('a.orgId', 'orgId').addSelect('a.name', 'name');
  }
}
