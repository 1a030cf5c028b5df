import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

export type InvoiceStatus = 'open' | 'paid' | 'void';

/** An invoice issued to an account: a table the application owns. */
@Entity('invoices')
@Index(['orgId', 'accountId'])
export class Invoice {
  @PrimaryColumn({ type: 'bigint' })
  id: string;

  @Column({ name: 'org_id', type: 'integer' })
  orgId: number;

  @Column({ name: 'account_id', type: 'integer' })
  accountId: number;

  @Column({ name: 'amount_cents', type: 'bigint' })
  amountCents: string;

  @Column({ name: 'issued_on', type: 'date' })
  issuedOn: string;

  @Column({ type: 'text' })
  status: InvoiceStatus;
}
