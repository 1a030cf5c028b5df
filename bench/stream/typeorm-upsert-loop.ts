import { And, LessThanOrEqual, MoreThan, type DataSource } from 'typeorm';
import { StreamSourceRow, StreamedInvoices } from '../fixtures/streamed-invoices.fixture.js';

const PAGE = 1_000;

/**
 * What a NestJS developer writes without Cinema to copy rows between two databases: pages of
 * entities from the read side (keyset pagination), `upsert` of each page on the write side,
 * all inside one transaction that first clears the table.
 */
export async function copyWithUpsertLoop(read: DataSource, write: DataSource, rows: number): Promise<number> {
  const source = read.getRepository(StreamSourceRow);
  let written = 0;
  await write.transaction(async (manager) => {
    await manager.createQueryBuilder().delete().from(StreamedInvoices).execute();
    let last = '0';
    for (;;) {
      const page = await source.find({
        where: { id: And(MoreThan(last), LessThanOrEqual(String(rows))) },
        order: { id: 'ASC' },
        take: PAGE,
      });
      if (page.length === 0) break;
      await manager.upsert(
        StreamedInvoices,
        page.map((row) => ({
          invoiceId: row.id,
          orgId: row.orgId,
          accountId: row.accountId,
          amountCents: row.amountCents,
          issuedOn: row.issuedOn,
          status: row.status,
          memo: row.memo,
          meta: row.meta,
        })),
        ['invoiceId'],
      );
      written += page.length;
      last = page[page.length - 1].id;
    }
  });
  return written;
}
