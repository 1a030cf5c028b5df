import { BadRequestException, Injectable, type PipeTransform } from '@nestjs/common';
import type { InvoiceStatus } from '../billing/invoice.entity.js';

const MAX_INTEGER = 2_147_483_647;
const STATUSES: readonly InvoiceStatus[] = ['open', 'paid', 'void'];

/** The body of `POST /orgs/:orgId/invoices`, validated. */
export interface NewInvoice {
  accountId: number;
  /** A whole number of cents, as a string (PostgreSQL `bigint`). */
  amountCents: string;
  status: InvoiceStatus;
  /** `YYYY-MM-DD`; the database's current date when left out. */
  issuedOn?: string;
}

/** Refuses a bad invoice body with a 400 that names the field, before anything is written. */
@Injectable()
export class NewInvoicePipe implements PipeTransform<unknown, NewInvoice> {
  transform(body: unknown): NewInvoice {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new BadRequestException('the body must be a JSON object { accountId, amountCents, status, issuedOn? }');
    }
    const { accountId, amountCents, status, issuedOn, ...rest } = body as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length > 0) throw new BadRequestException(`unknown field(s): ${unknown.join(', ')}`);
    if (typeof accountId !== 'number' || !Number.isInteger(accountId) || accountId < 1 || accountId > MAX_INTEGER) {
      throw new BadRequestException(`accountId must be an integer from 1 to ${MAX_INTEGER}, got ${JSON.stringify(accountId)}`);
    }
    const cents = typeof amountCents === 'number' && Number.isSafeInteger(amountCents) ? String(amountCents) : amountCents;
    if (typeof cents !== 'string' || !/^\d{1,15}$/.test(cents) || BigInt(cents) < 1n) {
      throw new BadRequestException(
        `amountCents must be a positive whole number of cents (at most 15 digits), got ${JSON.stringify(amountCents)}`,
      );
    }
    if (typeof status !== 'string' || !STATUSES.includes(status as InvoiceStatus)) {
      throw new BadRequestException(`status must be one of ${STATUSES.join(', ')}, got ${JSON.stringify(status)}`);
    }
    if (issuedOn !== undefined && (typeof issuedOn !== 'string' || !isDate(issuedOn))) {
      throw new BadRequestException(`issuedOn must be a date YYYY-MM-DD, got ${JSON.stringify(issuedOn)}`);
    }
    return { accountId, amountCents: BigInt(cents).toString(), status: status as InvoiceStatus, issuedOn };
  }
}

function isDate(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(value);
}
