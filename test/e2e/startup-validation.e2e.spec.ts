import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CinemaModule,
  InvalidCinemaOptionsError,
  InvalidProjectionError,
  MissingInputError,
  ProjectionCycleError,
  type CinemaOptionsFactory,
  CinemaService,
  CINEMA_MODULE_OPTIONS,
} from '../../lib/index.js';
import { TypeOrmModule } from '@nestjs/typeorm';
import { bootError } from '../support/app.js';
import { createDatabase } from '../support/database.js';
import * as invalid from '../fixtures/invalid.fixture.js';

describe('startup validation', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  const boot = (projections: Function[]) =>
    bootError({ dataSources: [{ url: db.url, synchronize: true }], projections: projections as never });

  beforeAll(async () => {
    db = await createDatabase('startup');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('fails on a cycle, spelling it out', async () => {
    const error = await boot([invalid.CycleA, invalid.CycleB]);
    expect(error).toBeInstanceOf(ProjectionCycleError);
    expect(error.message).toMatch(/CycleA -> CycleB -> CycleA|CycleB -> CycleA -> CycleB/);
  });

  it('fails on an input that is not a registered projection, naming both', async () => {
    const error = await boot([invalid.Source, invalid.Orphan]);
    expect(error).toBeInstanceOf(MissingInputError);
    expect(error.message).toContain('Orphan.fromUnregistered() takes @Input Unregistered');
  });

  it.each([
    [invalid.BadConflictTarget, /BadConflictTarget is invalid: conflictTarget names "accountIdd"/],
    [invalid.BadRequiredFields, /BadRequiredFields is invalid: requiredFields names "total"/],
    [invalid.BadPartitionKey, /BadPartitionKey is invalid: partitionKey "orgId"/],
    [invalid.NoInputs, /NoInputs is invalid: it is materialized but has no @Input/],
    [invalid.VirtualWithoutOutput, /VirtualWithoutOutput is invalid: it is virtual but has neither an output\(\)/],
    [invalid.WrongDataSource, /WrongDataSource is invalid: data source "reporting" is not registered/],
  ])('fails on a projection that cannot work: %o', async (projection, message) => {
    const error = await boot([invalid.Source, projection]);
    expect(error).toBeInstanceOf(InvalidProjectionError);
    expect(error.message).toMatch(message);
  });

  it('validates module options once, for forRoot and forRootAsync', async () => {
    expect(() => CinemaModule.forRoot({ concurrency: 0 })).toThrow(InvalidCinemaOptionsError);
    expect(() => CinemaModule.forRoot({ concurrency: 0 })).toThrow(/"concurrency": must be an integer from 1/);
    expect(() => CinemaModule.forRoot({ timeuot: 5 } as never)).toThrow(/"timeuot": unknown option/);
    expect(() => CinemaModule.forRootAsync({})).toThrow(/exactly one of useFactory, useClass or useExisting/);
    expect(() => CinemaModule.forFeature([class NotAProjection {}])).toThrow(/NotAProjection is not decorated with @Projection/);

    @Module({
      imports: [
        TypeOrmModule.forRoot({ type: 'postgres', url: db.url }),
        CinemaModule.forRootAsync({ useFactory: async () => ({ batchSize: -1 }) }),
      ],
    })
    class AsyncBadOptions {}
    await expect(NestFactory.createApplicationContext(AsyncBadOptions, { logger: false, abortOnError: false })).rejects.toThrow(
      /"batchSize": must be an integer/,
    );
  });

  it('takes options from a class with forRootAsync', async () => {
    @Injectable()
    class CinemaConfig implements CinemaOptionsFactory {
      createCinemaOptions() {
        return { concurrency: 2, allowEmptyLens: true };
      }
    }
    @Module({
      imports: [
        TypeOrmModule.forRoot({ type: 'postgres', url: db.url }),
        CinemaModule.forRootAsync({ useClass: CinemaConfig }),
      ],
    })
    class AsyncClassOptions {}
    const app = await NestFactory.createApplicationContext(AsyncClassOptions, { logger: false });
    expect(app.get(CinemaService).graph().nodes).toEqual([]);
    expect(app.get(CINEMA_MODULE_OPTIONS)).toMatchObject({ concurrency: 2, allowEmptyLens: true, timeout: 60_000 });
    await app.close();
  });
});
