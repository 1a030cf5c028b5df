import { Logger, Module, type DynamicModule, type INestApplicationContext, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { CinemaModule, CinemaService, type CinemaModuleOptions } from '../../lib/index.js';

export interface TestDataSource {
  name?: string;
  url: string;
  /** Entity classes the data source knows besides the projections. */
  entities?: Type<unknown>[];
  migrations?: Type<unknown>[];
  synchronize?: boolean;
  poolSize?: number;
  /** Configure it as TypeORM replication: writes on the master, reads on a slave (both `url`). */
  replicated?: boolean;
  /** `application_name` of its connections, to find them in `pg_stat_activity`. */
  applicationName?: string;
}

export interface TestApp {
  app: INestApplicationContext;
  cinema: CinemaService;
  dataSource(name?: string): DataSource;
  close(): Promise<void>;
}

export interface TestAppOptions {
  dataSources: TestDataSource[];
  projections: Type<unknown>[];
  cinema?: CinemaModuleOptions;
  /** Data sources the projections' entities are registered with. */
  featureDataSources?: string[];
  imports?: DynamicModule['imports'];
  providers?: DynamicModule['providers'];
}

/** Boots a Nest application context with TypeORM and Cinema on real PostgreSQL. */
export async function bootApp(options: TestAppOptions): Promise<TestApp> {
  const app = await NestFactory.createApplicationContext(testModule(options), { logger: ['error'], abortOnError: false });
  return {
    app,
    cinema: app.get(CinemaService),
    dataSource: (name?: string) => app.get<DataSource>(getDataSourceToken(name)),
    close: () => app.close(),
  };
}

/** The root module of a test application (for `bootApp`, or `bootstrapCinemaWorker` in a child process). */
export function testModule(options: TestAppOptions): Type<unknown> {
  @Module({
    imports: [
      ...options.dataSources.map((source) =>
        TypeOrmModule.forRoot({
          name: source.name,
          type: 'postgres',
          ...(source.replicated ? { replication: { master: { url: source.url }, slaves: [{ url: source.url }] } } : { url: source.url }),
          entities: source.entities ?? [],
          migrations: source.migrations ?? [],
          migrationsRun: (source.migrations ?? []).length > 0,
          synchronize: source.synchronize ?? false,
          autoLoadEntities: true,
          entitySkipConstructor: true,
          poolSize: source.poolSize ?? 10,
          applicationName: source.applicationName,
          logging: false,
        }),
      ),
      CinemaModule.forRoot(options.cinema ?? {}),
      CinemaModule.forFeature(options.projections, options.featureDataSources ?? ['default']),
      ...(options.imports ?? []),
    ],
    providers: options.providers ?? [],
  })
  class TestModule {}
  return TestModule;
}

/** Boots and expects failure: returns the error Nest surfaced. */
export async function bootError(options: Parameters<typeof bootApp>[0]): Promise<Error> {
  Logger.overrideLogger(false);
  try {
    const booted = await bootApp(options);
    await booted.app.init();
    await booted.close();
  } catch (error) {
    return error as Error;
  } finally {
    Logger.overrideLogger(['error']);
  }
  throw new Error('the application booted, but a failure was expected');
}
