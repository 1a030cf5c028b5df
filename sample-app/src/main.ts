import 'reflect-metadata';
import { Logger, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { startPostgres, type PostgresServer } from './database/postgres-server.js';
import { seedIfEmpty } from './database/seed-demo.js';

/**
 * `npm start`: the HTTP API on PORT (default 3000), against DATABASE_URL or, without it, an
 * embedded PostgreSQL that lives as long as the process.
 */
const logger = new Logger('Main');
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

async function bootstrap(): Promise<void> {
  const port = Number(process.env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`PORT must be a port number, got "${process.env.PORT}"`);

  // stopOnSignal: false, so that PostgreSQL outlives the application's own shutdown.
  const postgres = await startPostgres({ stopOnSignal: false });
  let app: INestApplication | undefined;
  try {
    const databaseUrl = postgres.embedded ? await postgres.createDatabase('cinema') : postgres.url;
    app = await NestFactory.create(AppModule.forRoot({ databaseUrl, boardPasswords: boardPasswords() }), { abortOnError: false });
    // On SIGINT/SIGTERM Nest rolls back in-flight runs, closes HTTP and the pools, then re-raises
    // the signal; the listener below outlives Nest's, so PostgreSQL stops after all that.
    app.enableShutdownHooks([...SIGNALS]);
    stopAfterShutdown(app, postgres);
    // Cinema registers its projections during init: seeding's rebuild needs them.
    await app.init();
    await seedIfEmpty(app, logger);
    await app.listen(port);
    logger.log(
      `Listening on ${await app.getUrl()} (${postgres.embedded ? 'embedded PostgreSQL' : 'DATABASE_URL'}); the board is at /cinema`,
    );
  } catch (error) {
    await app?.close().catch(() => undefined);
    await postgres.stop().catch(() => undefined);
    throw error;
  }
}

/** The board's passwords from the environment; outside production, the sample's defaults fill in. */
function boardPasswords(): { viewer: string; operator: string } | undefined {
  const production = process.env.NODE_ENV === 'production';
  const viewer = process.env.BOARD_VIEWER_PASSWORD ?? (production ? undefined : 'viewer');
  const operator = process.env.BOARD_OPERATOR_PASSWORD ?? (production ? undefined : 'operator');
  if (viewer === undefined || operator === undefined) {
    logger.warn('The board at /cinema lets nobody in: set BOARD_VIEWER_PASSWORD and BOARD_OPERATOR_PASSWORD.');
    return undefined;
  }
  return { viewer, operator };
}

function stopAfterShutdown(app: INestApplication, postgres: PostgresServer): void {
  let stopping: Promise<void> | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    // Also receives Nest's re-raised signal; the shutdown already under way answers both.
    stopping ??= (async () => {
      let code = 0;
      try {
        await app.close(); // the shutdown Nest started on this signal, not a second one
      } catch (error) {
        logger.error(`Closing after ${signal} failed: ${(error as Error).message}`, (error as Error).stack);
        code = 1;
      }
      await postgres.stop().catch((error) => {
        logger.error(`Stopping PostgreSQL failed: ${(error as Error).message}`);
        code = 1;
      });
      process.exit(code);
    })();
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

bootstrap().catch((error) => {
  logger.error(`Could not start: ${(error as Error).message}`, (error as Error).stack);
  process.exit(1);
});
