import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { CinemaService } from '../../lib/index.js';
import { AppModule } from '../../sample-app/src/app.module.js';

/** The sample application, booted as it runs in production (minus HTTP). */
export interface BillingApp {
  app: INestApplicationContext;
  cinema: CinemaService;
  dataSource: DataSource;
  close(): Promise<void>;
}

/**
 * Boots `AppModule` on the bench database: its migrations create the billing and projection
 * tables (and the capture triggers). No projection timeout, so a large `--scale` measures instead
 * of failing. No change-capture watcher: a scenario's refreshes are the only ones that run.
 */
export async function bootBillingApp(databaseUrl: string): Promise<BillingApp> {
  const app = await NestFactory.createApplicationContext(
    AppModule.forRoot({ databaseUrl, poolSize: 10, capture: false, cinema: { allowEmptyLens: true, timeout: 0 } }),
    { logger: ['error', 'warn'], abortOnError: false },
  );
  await app.init();
  return { app, cinema: app.get(CinemaService), dataSource: app.get(DataSource), close: () => app.close() };
}
