import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CINEMA_CAPTURE_MIGRATIONS, CINEMA_QUEUE_MIGRATIONS, CinemaExceptionFilter, CinemaModule } from '../../lib/index.js';
import { CinemaBoardModule } from '../../lib/board/index.js';
import { Account } from './billing/account.entity.js';
import { Invoice } from './billing/invoice.entity.js';
import { APP_CONFIG, type AppConfig } from './config/app-config.js';
import { AppConfigModule } from './config/app-config.module.js';
import { BoardAuthGuard, operatorMayAct } from './board/board-auth.guard.js';
import { CreateBilling1764000000000 } from './database/migrations/1764000000000-create-billing.js';
import { AddCapture1764500000000 } from './database/migrations/1764500000000-add-capture.js';
import { HealthModule } from './health/health.module.js';
import { ProjectionsModule } from './projections/projections.module.js';
import { ReceivablesModule } from './receivables/receivables.module.js';

/** The sample application: billing tables, the receivables projections kept fresh by change capture, HTTP and a nightly job. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    const configModule = AppConfigModule.forRoot(config);
    return {
      module: AppModule,
      imports: [
        configModule,
        TypeOrmModule.forRootAsync({
          imports: [configModule],
          inject: [APP_CONFIG],
          useFactory: (c: AppConfig) => ({
            type: 'postgres' as const,
            url: c.databaseUrl,
            entities: [Account, Invoice],
            // Projection entities arrive through CinemaModule.forFeature.
            autoLoadEntities: true,
            migrations: [CreateBilling1764000000000, ...CINEMA_QUEUE_MIGRATIONS, ...CINEMA_CAPTURE_MIGRATIONS, AddCapture1764500000000],
            migrationsRun: true,
            // TypeORM would otherwise call entity constructors once per loaded row.
            entitySkipConstructor: true,
            poolSize: c.poolSize ?? 10,
            retryAttempts: c.retryAttempts ?? 3,
            retryDelay: 1000,
            logging: c.logging ?? false,
          }),
        }),
        ...(config.schedule === false ? [] : [ScheduleModule.forRoot()]),
        CinemaModule.forRootAsync({
          imports: [configModule],
          inject: [APP_CONFIG],
          // Every process can enqueue on the durable queue; `npm run worker` processes work it.
          // Change capture: the watcher refreshes the orgs whose invoices or accounts were written.
          useFactory: (c: AppConfig) => ({ queue: {}, ...(c.capture === false ? {} : { capture: { interval: 200 } }), ...c.cinema }),
        }),
        // The board in the browser at /cinema: Basic auth, only the operator may refresh and retry.
        ...(config.board === false
          ? []
          : [CinemaBoardModule.forRoot({ path: 'cinema', guard: BoardAuthGuard, canAct: operatorMayAct, imports: [configModule] })]),
        ReceivablesModule,
        ProjectionsModule,
        HealthModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: CinemaExceptionFilter }],
    };
  }
}
