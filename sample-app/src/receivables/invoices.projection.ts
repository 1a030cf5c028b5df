import type { SelectQueryBuilder } from 'typeorm';
import { Projection, type OutputContext } from '../../../lib/index.js';
import { Invoice } from '../billing/invoice.entity.js';

/**
 * Invoices that count towards receivables (void ones never do): virtual. A write to `invoices`
 * marks the org's slice of everything downstream dirty (change capture, see AddCapture).
 */
@Projection({
  virtual: true,
  columns: ['invoiceId', 'accountId', 'orgId', 'amountCents', 'issuedOn', 'status'],
  changes: [{ table: Invoice, lens: { orgId: 'orgId' } }],
  tags: ['billing'],
})
export class Invoices {
  invoiceId: string;
  accountId: number;
  orgId: number;
  amountCents: string;
  issuedOn: string;
  status: string;

  output(ctx: OutputContext): SelectQueryBuilder<Invoice> {
    return ctx.read
      .createQueryBuilder(Invoice, 'i')
      .select('i.id', 'invoiceId')
      .addSelect('i.accountId', 'accountId')
      .addSelect('i.orgId', 'orgId')
      .addSelect('i.amountCents', 'amountCents')
      .addSelect('i.issuedOn', 'issuedOn')
      .addSelect('i.status', 'status')
      .where("i.status <> 'void'");
  }
}
