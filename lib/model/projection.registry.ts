import { Injectable, type OnModuleInit, type Type } from '@nestjs/common';
import { CinemaExplorer } from '../discovery/cinema.explorer.js';
import { CinemaNotReadyError } from '../errors/cinema-not-ready.error.js';
import { UnregisteredProjectionError } from '../errors/unregistered-projection.error.js';
import { ProjectionGraph } from '../planning/projection-graph.js';
import { ProjectionModelFactory } from './model.factory.js';
import type { ProjectionCatalog, ProjectionModel } from './projection.model.js';

/**
 * The projections of the application and their graph, looked up by class or name. Built when
 * the module initializes, so that a bad graph stops the application before it listens.
 */
@Injectable()
export class ProjectionRegistry implements OnModuleInit, ProjectionCatalog {
  private models = new Map<Type<unknown>, ProjectionModel>();
  private readonly byName = new Map<string, ProjectionModel>();
  private projectionGraph?: ProjectionGraph<ProjectionModel>;

  constructor(
    private readonly explorer: CinemaExplorer,
    private readonly factory: ProjectionModelFactory,
  ) {}

  onModuleInit(): Promise<void> {
    const { projections } = this.explorer.explore();
    this.models = this.factory.build(projections);
    const definitions = [...this.models.values()].map((model) => ({
      key: model,
      name: model.name,
      virtual: model.virtual,
      inputs: model.derivations.map((d) => ({ method: d.method, targets: d.inputs })),
    }));
    this.projectionGraph = new ProjectionGraph(definitions, (key) => (typeof key === 'function' ? (key as Function).name : key.name));
    for (const model of this.models.values()) this.byName.set(model.name, model);
    // The graph is in place before the first await: providers started alongside may use it.
    return this.factory.checkTableReads(this.models.values());
  }

  get graph(): ProjectionGraph<ProjectionModel> {
    if (!this.projectionGraph) throw new CinemaNotReadyError();
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
    const model = this.graph && this.byName.get(name);
    if (!model) throw new UnregisteredProjectionError(name);
    return model;
  }

  all(): ProjectionModel[] {
    return this.graph.keys();
  }
}
