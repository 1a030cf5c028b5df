import { BadRequestException, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { NewInvoice } from '../receivables/new-invoice.pipe.js';
import type { InvoiceStatus } from './invoice.entity.js';

export interface WrittenInvoice {
  id: string;
  orgId: number;
  accountId: number;
  amountCents: string;
  issuedOn: string;
  status: InvoiceStatus;
  /** The database's clock in the writing transaction, just before it committed. */
  writtenAt: Date;
}

/**
 * Writes invoices the way an application does: a plain INSERT, no refresh call. The capture
 * trigger on `invoices` marks the org's receivables dirty in the same transaction.
 */
@Injectable()
export class InvoicesService {
  constructor(private readonly dataSource: DataSource) {}

  create(orgId: number, invoice: NewInvoice): Promise<WrittenInvoice> {
    return this.dataSource.transaction(async (manager) => {
      // Ids are generated from max(id): serialize the writers of this sample (the seed sets ids itself).
      await manager.query(`SELECT pg_advisory_xact_lock(hashtext('sample-app.invoices.id'))`);
      const rows: WrittenInvoice[] = await manager.query(
        `INSERT INTO invoices (id, org_id, account_id, amount_cents, issued_on, status)
         SELECT (SELECT COALESCE(max(id), 0) + 1 FROM invoices), a.org_id, a.id, $3::bigint, COALESCE($4::date, current_date), $5
         FROM accounts a WHERE a.id = $2 AND a.org_id = $1
         RETURNING id::text AS id, org_id AS "orgId", account_id AS "accountId", amount_cents::text AS "amountCents",
                   to_char(issued_on, 'YYYY-MM-DD') AS "issuedOn", status, clock_timestamp() AS "writtenAt"`,
        [orgId, invoice.accountId, invoice.amountCents, invoice.issuedOn ?? null, invoice.status],
      );
      if (rows.length === 0) throw new BadRequestException(`account ${invoice.accountId} is not an account of org ${orgId}`);
      return rows[0];
    });
  }
}
