import { Column, Entity, Index, PrimaryColumn, type ObjectLiteral, type SelectQueryBuilder } from 'typeorm';
import { Input, Projection } from '../../../lib/index.js';
import { Accounts } from './accounts.projection.js';
import { Invoices } from './invoices.projection.js';
import { RECEIVABLES_FRESHNESS } from './receivables-freshness.js';

/** What each account owes: one row per account, derived from accounts and invoices. */
@Entity('accounts_receivable')
@Index(['orgId'])
@Projection({ partitionKey: 'orgId', requiredFields: ['accountId', 'orgId'], freshness: RECEIVABLES_FRESHNESS, tags: ['receivables'] })
export class AccountsReceivable {
  @PrimaryColumn({ name: 'account_id', type: 'integer' })
  accountId: number;

  @Column({ name: 'org_id', type: 'integer' })
  orgId: number;

  @Column({ type: 'text' })
  name: string;

  @Column({ name: 'open_cents', type: 'bigint' })
  openCents: string;

  @Column({ name: 'open_invoices', type: 'integer' })
  openInvoices: number;

  @Column({ name: 'oldest_open_on', type: 'date', nullable: true })
  oldestOpenOn: string | null;

  /** One `INSERT ... SELECT` inside PostgreSQL: accounts joined to their open invoices. */
  @Input(() => [Accounts, Invoices], { as: 'query' })
  derive(accounts: SelectQueryBuilder<ObjectLiteral>, invoices: SelectQueryBuilder<ObjectLiteral>) {
    return accounts.connection
      .createQueryBuilder()
      .select('a."accountId"', 'accountId')
      .addSelect('a."orgId"', 'orgId')
      .addSelect('a."name"', 'name')
      .addSelect('COALESCE(SUM(i."amountCents") FILTER (WHERE i.status = \'open\'), 0)', 'openCents')
      .addSelect('COUNT(i."invoiceId") FILTER (WHERE i.status = \'open\')::int', 'openInvoices')
      .addSelect('MIN(i."issuedOn") FILTER (WHERE i.status = \'open\')', 'oldestOpenOn')
      .from(`(${accounts.getQuery()})`, 'a')
      .leftJoin(`(${invoices.getQuery()})`, 'i', 'i."accountId" = a."accountId"')
      .setParameters({ ...accounts.getParameters(), ...invoices.getParameters() })
      .groupBy('a."accountId"')
      .addGroupBy('a."orgId"')
      .addGroupBy('a."name"');
  }
}
