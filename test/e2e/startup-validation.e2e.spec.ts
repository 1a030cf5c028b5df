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
    [invalid.BadTags, /BadTags is invalid: tags must be a list of names .*"two words"/],
    [invalid.NoInputs, /NoInputs is invalid: it is materialized but has no @Input/],
    [invalid.VirtualWithoutOutput, /VirtualWithoutOutput is invalid: it is virtual but has neither an output\(\)/],
    [invalid.WrongDataSource, /WrongDataSource is invalid: data source "reporting" is not registered/],
    [invalid.StrictWithoutDelete, /StrictWithoutDelete is invalid: keyConflicts: 'error' with dematerialize: false/],
    [
      invalid.DateStringsOnQuery,
      /DateStringsOnQuery is invalid: @Input\(\) of DateStringsOnQuery.derive\(\) asks for dateStrings with as: 'query'/,
    ],
  ])('fails on a projection that cannot work: %o', async (projection, message) => {
    const error = await boot([invalid.Source, projection]);
    expect(error).toBeInstanceOf(InvalidProjectionError);
    expect(error.message).toMatch(message);
  });

  it('fails when a materialized projection is read from a database that does not hold its table', async () => {
    const elsewhere = await createDatabase('elsewhere');
    try {
      const error = await bootError({
        dataSources: [
          { url: db.url, synchronize: true },
          { name: 'elsewhere', url: elsewhere.url },
        ],
        projections: [invalid.Source, invalid.ReadElsewhere] as never,
      });
      expect(error).toBeInstanceOf(InvalidProjectionError);
      expect(error.message).toMatch(
        /ReadElsewhere is invalid: its table "read_elsewhere" is written to data source "default" but read from "elsewhere"/,
      );
      expect(error.message).toMatch(/Leave readDataSource out to read it from "default"/);
    } finally {
      await elsewhere.drop();
    }
  });

  it('validates module options once, for forRoot and forRootAsync', async () => {
    expect(() => CinemaModule.forRoot({ concurrency: 0 })).toThrow(InvalidCinemaOptionsError);
    expect(() => CinemaModule.forRoot({ concurrency: 0 })).toThrow(/"concurrency": must be an integer from 1/);
    expect(() => CinemaModule.forRoot({ timeuot: 5 } as never)).toThrow(/"timeuot": unknown option/);
    expect(() => CinemaModule.forRoot({ fullRebuildTimeout: -1 })).toThrow(/"fullRebuildTimeout": must be an integer from 0/);
    expect(() => CinemaModule.forRoot({ connectionCheckInterval: 1.5 })).toThrow(/"connectionCheckInterval": must be an integer from 0/);
    expect(() => CinemaModule.forRoot({ connectionCheckInterval: 2 ** 31 })).toThrow(
      /"connectionCheckInterval": must be an integer from 0 to 2147483647/,
    );
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
      imports: [TypeOrmModule.forRoot({ type: 'postgres', url: db.url }), CinemaModule.forRootAsync({ useClass: CinemaConfig })],
    })
    class AsyncClassOptions {}
    const app = await NestFactory.createApplicationContext(AsyncClassOptions, { logger: false });
    expect(app.get(CinemaService).graph().nodes).toEqual([]);
    expect(app.get(CINEMA_MODULE_OPTIONS)).toMatchObject({ concurrency: 2, allowEmptyLens: true, timeout: 60_000 });
    await app.close();
  });
});
