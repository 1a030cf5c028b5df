import { Module, type DynamicModule, type Provider, type Type } from '@nestjs/common';
import { DiscoveryModule, ModuleRef, Reflector } from '@nestjs/core';
import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import { getMetadataArgsStorage } from 'typeorm';
import { CinemaMetadataAccessor } from './discovery/cinema-metadata.accessor.js';
import { resolveCinemaOptions } from './cinema-options.js';
import { CINEMA_MODULE_OPTIONS } from './cinema.constants.js';
import { CinemaExplorer } from './discovery/cinema.explorer.js';
import { ProjectionModelFactory } from './model/model.factory.js';
import { ProjectionRegistry } from './model/projection.registry.js';
import { CinemaPlanner } from './planning/cinema.planner.js';
import { CinemaService } from './cinema.service.js';
import { CinemaEventsBridge } from './telemetry/cinema-events.bridge.js';
import { RunTelemetry } from './telemetry/run-telemetry.js';
import { ChangeWatcher } from './capture/change.watcher.js';
import { SlotReader } from './capture/logical/slot.reader.js';
import { FreshnessReader } from './capture/freshness.reader.js';
import { ReadThrough } from './capture/read-through.js';
import { VersionRollout } from './capture/version-rollout.js';
import { CinemaHealthIndicator } from './capture/cinema-health.indicator.js';
import { InlineEngine } from './engines/inline.engine.js';
import { QueueEngine } from './engines/queue/queue.engine.js';
import { WriteSlots } from './execution/write-slots.js';
import { InvalidCinemaOptionsError } from './errors/invalid-options.error.js';
import type {
  CinemaModuleAsyncOptions,
  CinemaModuleOptions,
  CinemaOptionsFactory,
  ResolvedCinemaOptions,
} from './interfaces/cinema-options.interface.js';

@Module({})
export class CinemaModule {
  /** Configures Cinema for the whole application (a global module). */
  static forRoot(options: CinemaModuleOptions = {}): DynamicModule {
    return CinemaModule.core([{ provide: CINEMA_MODULE_OPTIONS, useValue: resolveCinemaOptions(options) }]);
  }

  /** Configures Cinema from a factory, a class or an existing provider. */
  static forRootAsync(options: CinemaModuleAsyncOptions): DynamicModule {
    const { useFactory, useClass, useExisting } = options ?? {};
    if ([useFactory, useClass, useExisting].filter(Boolean).length !== 1) {
      throw new InvalidCinemaOptionsError('forRootAsync', 'give exactly one of useFactory, useClass or useExisting');
    }
    const providers: Provider[] = [...(options.extraProviders ?? [])];
    if (useFactory) {
      providers.push({
        provide: CINEMA_MODULE_OPTIONS,
        useFactory: async (...args: unknown[]) => resolveCinemaOptions(await useFactory(...args)),
        inject: options.inject ?? [],
      });
    } else {
      const factory = (useClass ?? useExisting)!;
      if (useClass) providers.push({ provide: useClass, useClass });
      providers.push({
        provide: CINEMA_MODULE_OPTIONS,
        useFactory: async (f: CinemaOptionsFactory) => resolveCinemaOptions(await f.createCinemaOptions()),
        inject: [factory],
      });
    }
    return CinemaModule.core(providers, options.imports ?? []);
  }

  /**
   * Registers projection classes as providers, and their entities with `@nestjs/typeorm` on the
   * given data sources (default `'default'`): name every data source a projection reads or
   * writes its own table on. Entities reach a data source's metadata when it is configured with
   * `autoLoadEntities: true` (or list them in its `entities`).
   */
  static forFeature(projections: Type<unknown>[], dataSources: string | string[] = 'default'): DynamicModule {
    const accessor = new CinemaMetadataAccessor(new Reflector());
    const names = [...new Set(Array.isArray(dataSources) ? dataSources : [dataSources])];
    const entityTargets = new Set(getMetadataArgsStorage().tables.map((table) => table.target));
    for (const projection of projections) {
      if (!accessor.getProjectionOptions(projection)) {
        throw new InvalidCinemaOptionsError('forFeature', `${projection?.name ?? String(projection)} is not decorated with @Projection()`);
      }
    }
    const entities = projections.filter((projection) => entityTargets.has(projection));
    const typeOrm = entities.length > 0 ? names.map((name) => TypeOrmModule.forFeature(entities, name)) : [];
    return {
      module: CinemaModule,
      imports: typeOrm,
      providers: projections,
      exports: [...projections, ...typeOrm],
    };
  }

  private static core(optionProviders: Provider[], imports: DynamicModule['imports'] = []): DynamicModule {
    return {
      global: true,
      module: CinemaModule,
      imports: [DiscoveryModule, ...imports],
      providers: [
        ...optionProviders,
        CinemaMetadataAccessor,
        CinemaExplorer,
        ProjectionModelFactory,
        ProjectionRegistry,
        CinemaPlanner,
        {
          provide: WriteSlots,
          useFactory: (options: ResolvedCinemaOptions) => new WriteSlots(options.maxConcurrentProjections),
          inject: [CINEMA_MODULE_OPTIONS],
        },
        // One per application: the engines and the watcher report to it, the events bridge hears it.
        { provide: RunTelemetry, useFactory: () => new RunTelemetry() },
        CinemaEventsBridge,
        {
          provide: InlineEngine,
          useFactory: (slots: WriteSlots, options: ResolvedCinemaOptions, telemetry: RunTelemetry) =>
            new InlineEngine(slots, options, undefined, telemetry),
          inject: [WriteSlots, CINEMA_MODULE_OPTIONS, RunTelemetry],
        },
        {
          provide: QueueEngine,
          useFactory: (
            options: ResolvedCinemaOptions,
            registry: ProjectionRegistry,
            slots: WriteSlots,
            moduleRef: ModuleRef,
            telemetry: RunTelemetry,
            readThrough: ReadThrough,
          ) =>
            options.queue
              ? new QueueEngine(
                  registry,
                  slots,
                  options,
                  (name) => moduleRef.get(getDataSourceToken(name), { strict: false }),
                  (lens) => readThrough.ledger(lens),
                  telemetry,
                )
              : null,
          inject: [CINEMA_MODULE_OPTIONS, ProjectionRegistry, WriteSlots, ModuleRef, RunTelemetry, ReadThrough],
        },
        SlotReader,
        ChangeWatcher,
        VersionRollout,
        FreshnessReader,
        ReadThrough,
        CinemaHealthIndicator,
        CinemaService,
      ],
      // The resolved options too, for the board and other add-ons that adapt to them.
      exports: [CinemaService, CinemaHealthIndicator, CINEMA_MODULE_OPTIONS],
    };
  }
}
