import { Inject, Injectable, type Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { CINEMA_MODULE_OPTIONS } from '../cinema.constants.js';
import { integer, versionPolicy } from '../cinema-options.js';
import type { DiscoveredProjection } from '../discovery/cinema.explorer.js';
import { InvalidProjectionError } from '../errors/invalid-projection.error.js';
import type { ResolvedCinemaOptions } from '../interfaces/cinema-options.interface.js';
import type { ProjectionOptions } from '../interfaces/projection-options.interface.js';
import { postgresDialect } from '../dialect/postgres/postgres.dialect.js';
import { sameDatabase } from '../dialect/postgres/sql.js';
import { resolveChanges, resolveFreshness } from './change-sources.js';
import { assignVersions } from './projection-version.js';
import { tableModelOf, type ProjectionModel } from './projection.model.js';

/**
 * Turns what the explorer found into projection models: data sources resolved by name, the
 * table read from TypeORM's entity metadata, options checked. Throws the projection's error.
 */
@Injectable()
export class ProjectionModelFactory {
  constructor(
    private readonly moduleRef: ModuleRef,
    @Inject(CINEMA_MODULE_OPTIONS) private readonly options: ResolvedCinemaOptions,
  ) {}

  /** One model per projection, with derivations pointing at the models of their inputs. */
  build(projections: readonly DiscoveredProjection[]): Map<Type<unknown>, ProjectionModel> {
    const models = new Map<Type<unknown>, ProjectionModel>();
    for (const found of projections) models.set(found.target, this.model(found));
    // An input that is not a projection stays its class: the graph names it as missing.
    const resolve = (type: Type<unknown>) => models.get(type) ?? (type as unknown as ProjectionModel);
    for (const found of projections) {
      const model = models.get(found.target)!;
      model.derivations = found.derivations.map((d) => ({
        method: d.method,
        mode: d.mode,
        dateStrings: d.dateStrings,
        inputs: d.inputs.map(resolve),
      }));
      model.inputs = [...new Set(model.derivations.flatMap((d) => d.inputs))];
    }
    assignVersions(models.values());
    return models;
  }

  private model(found: DiscoveredProjection): ProjectionModel {
    const { target, options } = found;
    const name = options.name ?? target.name;
    const fail = (reason: string, fix: string): never => {
      throw new InvalidProjectionError(name, reason, fix);
    };
    const virtual = options.virtual === true;
    const writeName = virtual ? undefined : (options.writeDataSource ?? this.options.writeDataSource);
    const write = writeName ? this.dataSource(writeName, name) : undefined;
    // Where the application's tables are read: output() and ctx.read.
    const sourceName = (virtual ? options.readDataSource : undefined) ?? this.options.readDataSource;
    const source = this.dataSource(sourceName, name);
    // Where this projection's own output is read: a materialized table only from a database
    // that holds it (see tableReadName).
    const readName = virtual ? sourceName : tableReadName(options, writeName!, write!, sourceName, source);
    const read = readName === sourceName ? source : this.dataSource(readName, name);
    const timeout = options.timeout ?? this.options.timeout;
    try {
      integer(timeout, 'timeout', 0);
    } catch {
      fail(`timeout must be a whole number of milliseconds, got ${String(options.timeout)}`, 'Use 0 for no limit.');
    }
    const metadataSource = write ?? read;
    const isEntity = metadataSource.hasMetadata(target);
    if (!virtual) {
      if (!isEntity) {
        fail(
          `it is not an entity of data source "${writeName}"`,
          'Decorate it with @Entity() and register it with that data source (CinemaModule.forFeature does this when autoLoadEntities is on).',
        );
      }
      if (found.derivations.length === 0) {
        fail(
          'it is materialized but has no @Input or @Source method to derive its rows from',
          "Add an @Input(() => OtherProjection) method, a @Source() method that reads the application's tables, or mark it virtual.",
        );
      }
    } else {
      if (found.derivations.length > 0) {
        fail(
          'it is virtual but has @Input or @Source methods',
          'A virtual projection reads tables in output(); make it materialized to derive it from inputs.',
        );
      }
      if (!found.hasOutput && !isEntity) {
        fail('it is virtual but has neither an output() method nor an entity table', 'Add output(ctx) returning a SelectQueryBuilder.');
      }
    }
    // One product for now: a second would be chosen here from the data source's type.
    const dialect = postgresDialect;
    const table = isEntity ? tableModelOf(metadataSource.getMetadata(target), options, fail, dialect) : undefined;
    if (options.partitionKey !== undefined && !table?.byProperty.has(options.partitionKey)) {
      fail(`partitionKey "${options.partitionKey}" is not a property of its entity`, 'Name a column property, e.g. partitionKey: "orgId".');
    }
    const changes = resolveChanges(options, source, sourceName, table, fail, dialect);
    const freshness = resolveFreshness(options, fail);
    const tags = options.tags ?? [];
    if (!Array.isArray(tags) || tags.some((tag) => typeof tag !== 'string' || !/^[\w.-]+$/.test(tag))) {
      fail(`tags must be a list of names (letters, digits, _, - and .), got ${JSON.stringify(tags)}`, "Write tags: ['billing'].");
    }
    const writeMode = options.write ?? 'replace';
    if (writeMode !== 'replace' && writeMode !== 'diff') {
      fail(`write must be 'replace' or 'diff', got ${JSON.stringify(writeMode)}`, "Use 'diff' to write only the rows that changed.");
    }
    const fullRebuild = options.fullRebuild ?? 'auto';
    if (fullRebuild !== 'auto' && fullRebuild !== 'swap' && fullRebuild !== 'in-place') {
      fail(
        `fullRebuild must be 'auto', 'swap' or 'in-place', got ${JSON.stringify(fullRebuild)}`,
        "Use 'in-place' to delete and insert the whole table instead of swapping in a fresh one.",
      );
    }
    const keyConflicts = options.keyConflicts ?? 'upsert';
    if (keyConflicts !== 'upsert' && keyConflicts !== 'error') {
      fail(
        `keyConflicts must be 'upsert' or 'error', got ${JSON.stringify(keyConflicts)}`,
        "Use 'error' to fail a refresh whose keys are held outside its slice.",
      );
    }
    if (keyConflicts === 'error' && options.dematerialize === false) {
      fail(
        "keyConflicts: 'error' with dematerialize: false cannot work: without the delete, every refresh meets its own keys",
        'Leave keyConflicts out (dematerialize: false upserts), or delete the slice (dematerialize: true).',
      );
    }
    if (options.version !== undefined && (typeof options.version !== 'string' || options.version.length === 0)) {
      fail(
        `version must be a non-empty string, got ${JSON.stringify(options.version)}`,
        "Write version: '2', and change it when its rows change.",
      );
    }
    const onVersionChange = options.onVersionChange ?? this.options.onVersionChange;
    try {
      versionPolicy(onVersionChange, 'onVersionChange');
    } catch {
      fail(`onVersionChange must be 'rebuild', 'lazy' or 'fail', got ${JSON.stringify(onVersionChange)}`, "Leave it out for 'rebuild'.");
    }
    return {
      target,
      name,
      instance: found.instance,
      options,
      virtual,
      readName,
      read,
      source,
      writeName,
      write,
      table,
      hasOutput: virtual && found.hasOutput,
      derivations: [],
      inputs: [],
      timeout,
      preparedStatements: this.options.preparedStatements,
      dematerialize: options.dematerialize ?? true,
      writeMode,
      fullRebuild,
      keyConflicts,
      dialect,
      partitionKey: options.partitionKey,
      changes,
      freshness,
      tags,
      // Set once every model of the application is built (the inputs' versions count).
      version: '',
      onVersionChange,
    };
  }

  /**
   * Fails when a materialized projection is read from another database than the one it writes
   * and that database lacks its table while the write one has it (one catalog lookup on each).
   * When neither has it yet, the schema is not deployed and nothing can be told.
   */
  async checkTableReads(models: Iterable<ProjectionModel>): Promise<void> {
    const exists = async (model: ProjectionModel, dataSource: DataSource): Promise<boolean> => {
      const [row] = await dataSource.query(model.dialect.tableExists(), [model.table!.path]);
      return row?.exists === true;
    };
    for (const model of models) {
      if (model.virtual || !model.table || sameDatabase(model.read, model.write!)) continue;
      if (await exists(model, model.read)) continue;
      if (!(await exists(model, model.write!))) continue;
      throw new InvalidProjectionError(
        model.name,
        `its table ${model.table.path} is written to data source "${model.writeName}" but read from "${model.readName}", ` +
          'another database that does not have it, so project() and the projections that take it as input could not read it',
        `Leave readDataSource out to read it from "${model.writeName}", or set it to a replica of that database.`,
      );
    }
  }

  private dataSource(name: string, projection: string): DataSource {
    let dataSource: DataSource | undefined;
    try {
      dataSource = this.moduleRef.get<DataSource>(getDataSourceToken(name), { strict: false });
    } catch {
      dataSource = undefined;
    }
    if (!(dataSource instanceof DataSource)) {
      throw new InvalidProjectionError(
        projection,
        `data source "${name}" is not registered`,
        `Register it with TypeOrmModule.forRoot({ name: '${name}', ... }) or fix the data source name in the Cinema options.`,
      );
    }
    if (dataSource.options.type !== 'postgres') {
      throw new InvalidProjectionError(
        projection,
        `data source "${name}" is ${dataSource.options.type}`,
        'Cinema works on PostgreSQL data sources.',
      );
    }
    return dataSource;
  }
}

/**
 * A materialized projection's table is read (by project() and by its dependents) from its own
 * `readDataSource`, declared to hold the table (checked at startup); else from the module's
 * `readDataSource` when that is the write database (or a replication data source over it);
 * else from its write data source. The module default says where sources are read, not tables.
 */
function tableReadName(options: ProjectionOptions, writeName: string, write: DataSource, sourceName: string, source: DataSource): string {
  if (options.readDataSource !== undefined) return options.readDataSource;
  return sameDatabase(source, write) ? sourceName : writeName;
}
