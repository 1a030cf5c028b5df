import { Module, type DynamicModule, type INestApplicationContext, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { CinemaModule, CinemaService, type CinemaModuleOptions } from '../../lib/index.js';

export interface BenchDataSource {
  /** `@nestjs/typeorm` name; the default data source when absent. */
  name?: string;
  url: string;
  /** Entities besides the projections (which arrive through CinemaModule.forFeature). */
  entities?: Type<unknown>[];
  /** Create the projections' tables from their entities. */
  synchronize?: boolean;
  /** Migrations run at boot (the queue engine's, for instance). */
  migrations?: Type<unknown>[];
  poolSize?: number;
}

export interface BenchApp {
  app: INestApplicationContext;
  cinema: CinemaService;
  dataSource(name?: string): DataSource;
  close(): Promise<void>;
}

/**
 * A Nest application with the bench's own projections, wired the way the README tells users
 * to: TypeOrmModule.forRoot per data source, CinemaModule.forRoot, CinemaModule.forFeature.
 */
export async function bootBenchApp(options: {
  dataSources: BenchDataSource[];
  projections: Type<unknown>[];
  cinema?: CinemaModuleOptions;
  imports?: DynamicModule['imports'];
}): Promise<BenchApp> {
  @Module({
    imports: [
      ...options.dataSources.map((source) =>
        TypeOrmModule.forRoot({
          name: source.name,
          type: 'postgres',
          url: source.url,
          entities: source.entities ?? [],
          synchronize: source.synchronize ?? false,
          migrations: source.migrations ?? [],
          migrationsRun: (source.migrations ?? []).length > 0,
          autoLoadEntities: true,
          entitySkipConstructor: true,
          poolSize: source.poolSize ?? 10,
          logging: false,
        }),
      ),
      CinemaModule.forRoot({ allowEmptyLens: true, timeout: 0, ...options.cinema }),
      CinemaModule.forFeature(options.projections),
      ...(options.imports ?? []),
    ],
  })
  class BenchModule {}

  const app = await NestFactory.createApplicationContext(BenchModule, { logger: ['error', 'warn'], abortOnError: false });
  await app.init();
  return {
    app,
    cinema: app.get(CinemaService),
    dataSource: (name?: string) => app.get<DataSource>(getDataSourceToken(name)),
    close: () => app.close(),
  };
}
