import { Inject, Injectable, type OnModuleInit, type Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { CINEMA_MODULE_OPTIONS } from './cinema.constants.js';
import { CinemaExplorer, type DiscoveredProjection } from './cinema.explorer.js';
import { tableModelOf, type ProjectionModel } from './engines/projection.model.js';
import { columnFor, outputContext, outputOf } from './engines/slice.queries.js';
import { InvalidLensError, UnknownLensKeyError } from './errors/invalid-lens.error.js';
import { InvalidProjectionError } from './errors/invalid-projection.error.js';
import { UnregisteredProjectionError } from './errors/unregistered-projection.error.js';
import { ProjectionGraph, type PlannedNode } from './graph/projection-graph.js';
import type { ResolvedCinemaOptions } from './interfaces/cinema-options.interface.js';
import { misfit } from './lens/lens-values.js';
import type { NormalizedLens } from './lens/lens.js';
import { integer } from './cinema-options.js';

/**
 * Holds the projection graph of the application. Built from what the explorer found when the
 * module initializes, so that a bad graph stops the application before it listens.
 */
@Injectable()
export class ProjectionRegistry implements OnModuleInit {
  private readonly models = new Map<Type<unknown>, ProjectionModel>();
  private projectionGraph?: ProjectionGraph<ProjectionModel>;
  private readonly plans = new Map<ProjectionModel, Map<string, PlannedNode<ProjectionModel>[]>>();

  constructor(
    private readonly explorer: CinemaExplorer,
    private readonly moduleRef: ModuleRef,
    @Inject(CINEMA_MODULE_OPTIONS) private readonly options: ResolvedCinemaOptions,
  ) {}

  onModuleInit(): void {
    const { projections } = this.explorer.explore();
    for (const found of projections) this.models.set(found.target, this.model(found));
    const definitions = projections.map((found) => {
      const model = this.models.get(found.target)!;
      const resolve = (type: Type<unknown>) => this.models.get(type) ?? (type as unknown as ProjectionModel);
      model.derivations = found.derivations.map((d) => ({ method: d.method, mode: d.mode, inputs: d.inputs.map(resolve) }));
      model.inputs = [...new Set(model.derivations.flatMap((d) => d.inputs))];
      return {
        key: model,
        name: model.name,
        virtual: model.virtual,
        inputs: model.derivations.map((d) => ({ method: d.method, targets: d.inputs })),
      };
    });
    this.projectionGraph = new ProjectionGraph(definitions, (key) =>
      typeof key === 'function' ? (key as Function).name : key.name,
    );
  }

  get graph(): ProjectionGraph<ProjectionModel> {
    if (!this.projectionGraph) throw new Error('Cinema is not initialized yet: call it after the application has started.');
    return this.projectionGraph;
  }

  get(target: Type<unknown>): ProjectionModel {
    const graph = this.graph;
    const model = this.models.get(target);
    if (!model || !graph.has(model)) throw new UnregisteredProjectionError(target?.name ?? String(target));
    return model;
  }

  /** A projection by its name (as plans, runs and the queue's jobs name it). */
  named(name: string): ProjectionModel {
    const model = this.graph.keys().find((candidate) => candidate.name === name);
    if (!model) throw new UnregisteredProjectionError(name);
    return model;
  }

  all(): ProjectionModel[] {
    return this.graph.keys();
  }

  /**
   * The nodes to rebuild, after checking the lens against every projection the run reads or
   * writes. Throws before anything is deleted.
   */
  async plan(model: ProjectionModel, lens: NormalizedLens, skipDependencies: boolean): Promise<PlannedNode<ProjectionModel>[]> {
    // The graph does not change after startup: each projection's plan is computed once.
    const key = `${skipDependencies}`;
    let byModel = this.plans.get(model);
    if (!byModel) this.plans.set(model, (byModel = new Map()));
    let plan = byModel.get(key);
    if (!plan) byModel.set(key, (plan = this.graph.plan(model, skipDependencies)));
    if (lens.keys.length === 0) return plan;
    const touched = new Set<ProjectionModel>();
    for (const node of plan) {
      touched.add(node.key);
      for (const input of node.key.inputs) touched.add(input);
    }
    const exposed = new Map<ProjectionModel, readonly string[]>();
    for (const node of touched) exposed.set(node, await this.columnsOf(node, lens));
    const available = new Set<string>();
    for (const columns of exposed.values()) for (const column of columns) available.add(column);
    for (const key of lens.keys) {
      const applies = [...exposed.values()].some((columns) => columnFor(columns, key) !== undefined);
      if (!applies) throw new UnknownLensKeyError(model.name, lens.display, key, [...available].sort());
    }
    for (const node of touched) {
      const table = node.table;
      for (const condition of lens.conditions) {
        const column = table?.byProperty.get(condition.key);
        if (column) {
          const reason = misfit(column.kind, condition);
          if (reason) throw new InvalidLensError(node.name, lens.display, condition.key, `${reason} (column ${column.column})`);
        } else if (!node.virtual && node.dematerialize && plan.some((p) => p.key === node)) {
          throw new InvalidLensError(
            node.name,
            lens.display,
            condition.key,
            `${node.name} has no column "${condition.key}", so its slice cannot be told apart from the rest of its table. ` +
              `Add the column to ${node.name}, leave the key out, or set @Projection({ dematerialize: false }) to only upsert.`,
          );
        }
      }
    }
    return plan;
  }

  /** The column names a projection's output exposes to lenses. */
  private async columnsOf(model: ProjectionModel, lens: NormalizedLens): Promise<readonly string[]> {
    if (model.table && !model.hasOutput) {
      return model.table.columns.map((c) => c.property);
    }
    if (model.options.columns) return model.options.columns;
    const source = await outputOf(model, outputContext(model, lens));
    return source.kind === 'query' ? source.columns : [];
  }

  private model(found: DiscoveredProjection): ProjectionModel {
    const { target, options } = found;
    const name = options.name ?? target.name;
    const fail = (reason: string, fix: string): never => {
      throw new InvalidProjectionError(name, reason, fix);
    };
    const virtual = options.virtual === true;
    const readName = options.readDataSource ?? this.options.readDataSource;
    const read = this.dataSource(readName, name);
    const writeName = virtual ? undefined : (options.writeDataSource ?? this.options.writeDataSource);
    const write = writeName ? this.dataSource(writeName, name) : undefined;
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
        fail('it is materialized but has no @Input method to derive its rows from', 'Add an @Input(() => Source) method, or mark it virtual.');
      }
    } else {
      if (found.derivations.length > 0) {
        fail('it is virtual but has @Input methods', 'A virtual projection reads tables in output(); make it materialized to derive it from inputs.');
      }
      if (!found.hasOutput && !isEntity) {
        fail('it is virtual but has neither an output() method nor an entity table', 'Add output(ctx) returning a SelectQueryBuilder.');
      }
    }
    const table = isEntity ? tableModelOf(metadataSource.getMetadata(target), options, fail) : undefined;
    if (options.partitionKey !== undefined && !table?.byProperty.has(options.partitionKey)) {
      fail(`partitionKey "${options.partitionKey}" is not a property of its entity`, 'Name a column property, e.g. partitionKey: "orgId".');
    }
    return {
      target,
      name,
      instance: found.instance,
      options,
      virtual,
      readName,
      read,
      writeName,
      write,
      table,
      hasOutput: virtual && found.hasOutput,
      derivations: [],
      inputs: [],
      timeout,
      dematerialize: options.dematerialize ?? true,
      partitionKey: options.partitionKey,
    };
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
      throw new InvalidProjectionError(projection, `data source "${name}" is ${dataSource.options.type}`, 'Cinema works on PostgreSQL data sources.');
    }
    return dataSource;
  }
}
