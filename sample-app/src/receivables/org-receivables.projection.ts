import { Column, Entity, PrimaryColumn, type ObjectLiteral, type SelectQueryBuilder } from 'typeorm';
import { Input, Projection } from '../../../lib/index.js';
import { AccountsReceivable } from './accounts-receivable.projection.js';
import { Invoices } from './invoices.projection.js';
import { RECEIVABLES_FRESHNESS } from './receivables-freshness.js';

/**
 * Per org and issue day: what was invoiced, what is still open, and how many accounts have
 * their oldest unpaid invoice from that day (an aging view). Reads `AccountsReceivable`.
 */
@Entity('org_receivables')
@Projection({ partitionKey: 'orgId', freshness: RECEIVABLES_FRESHNESS, tags: ['receivables'] })
export class OrgReceivables {
  @PrimaryColumn({ name: 'org_id', type: 'integer' })
  orgId: number;

  @PrimaryColumn({ type: 'date' })
  day: string;

  @Column({ name: 'invoiced_cents', type: 'bigint' })
  invoicedCents: string;

  @Column({ name: 'open_cents', type: 'bigint' })
  openCents: string;

  @Column({ name: 'accounts_aging_from_day', type: 'integer' })
  accountsAgingFromDay: number;

  @Input(() => [Invoices, AccountsReceivable], { as: 'query' })
  derive(invoices: SelectQueryBuilder<ObjectLiteral>, receivables: SelectQueryBuilder<ObjectLiteral>) {
    const days = `SELECT i."orgId", i."issuedOn" AS day, SUM(i."amountCents") AS invoiced,
        COALESCE(SUM(i."amountCents") FILTER (WHERE i.status = 'open'), 0) AS open
      FROM (${invoices.getQuery()}) i GROUP BY 1, 2`;
    const aging = `SELECT ar."orgId", ar."oldestOpenOn" AS day, COUNT(*) AS accounts
      FROM (${receivables.getQuery()}) ar WHERE ar."oldestOpenOn" IS NOT NULL GROUP BY 1, 2`;
    return invoices.connection
      .createQueryBuilder()
      .select('d."orgId"', 'orgId')
      .addSelect('d.day', 'day')
      .addSelect('d.invoiced', 'invoicedCents')
      .addSelect('d.open', 'openCents')
      .addSelect('COALESCE(g.accounts, 0)::int', 'accountsAgingFromDay')
      .from(`(${days})`, 'd')
      .leftJoin(`(${aging})`, 'g', 'g."orgId" = d."orgId" AND g.day = d.day')
      .setParameters({ ...invoices.getParameters(), ...receivables.getParameters() });
  }
}
