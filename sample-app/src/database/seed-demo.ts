import { Logger, type INestApplicationContext } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ReceivablesScheduler } from '../receivables/receivables.scheduler.js';
import { DEFAULT_SEED, seedBilling } from './seed.js';

/** A fresh database gets the default sample data and one full rebuild, so every endpoint and command has rows. */
export async function seedIfEmpty(app: INestApplicationContext, logger = new Logger('Main')): Promise<void> {
  const dataSource = app.get(DataSource);
  const [{ seeded }] = await dataSource.query(`SELECT EXISTS (SELECT 1 FROM accounts) AS seeded`);
  if (seeded) return;
  const { accounts, invoices } = await seedBilling(dataSource, DEFAULT_SEED);
  logger.log(`Seeded ${DEFAULT_SEED.orgs} orgs, ${accounts} accounts and ${invoices} invoices`);
  await app.get(ReceivablesScheduler).rebuildAll();
}
