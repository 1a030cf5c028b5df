import { Injectable } from '@nestjs/common';
import { InvalidLensError, UnknownLensKeyError } from '../errors/invalid-lens.error.js';
import { misfit } from '../lens/lens-values.js';
import type { NormalizedLens } from '../lens/lens.js';
import type { ProjectionModel } from '../model/projection.model.js';
import { ProjectionRegistry } from '../model/projection.registry.js';
import type { RunOutputs } from '../read/run-outputs.js';
import { columnFor } from '../read/slice.queries.js';
import type { PlannedNode } from './projection-graph.js';

/**
 * Plans runs: the projections to rebuild, in order, after checking the lens against every
 * projection the run reads or writes. Throws before anything is deleted.
 */
@Injectable()
export class CinemaPlanner {
  /** The graph does not change after startup: each plan is computed once. */
  private readonly plans = new Map<string, PlannedNode<ProjectionModel>[]>();

  constructor(private readonly registry: ProjectionRegistry) {}

  async plan(targets: readonly ProjectionModel[], outputs: RunOutputs, skipDependencies: boolean): Promise<PlannedNode<ProjectionModel>[]> {
    const plan = this.nodes(targets, skipDependencies);
    await this.checkLens(targets, plan, outputs);
    return plan;
  }

  /** The plan without the lens checks (for showing it). */
  nodes(targets: readonly ProjectionModel[], skipDependencies: boolean): PlannedNode<ProjectionModel>[] {
    const key = `${skipDependencies}:${targets.map((target) => target.name).join('\u0000')}`;
    let plan = this.plans.get(key);
    if (!plan) {
      plan = this.registry.graph.plan(targets, skipDependencies);
      if (this.plans.size >= 1_000) this.plans.delete(this.plans.keys().next().value!);
      this.plans.set(key, plan);
    }
    return plan;
  }

  private async checkLens(targets: readonly ProjectionModel[], plan: PlannedNode<ProjectionModel>[], outputs: RunOutputs): Promise<void> {
    const lens = outputs.lens;
    if (lens.keys.length === 0) return;
    const name = targets.map((target) => target.name).join(', ');
    const touched = new Set<ProjectionModel>();
    for (const node of plan) {
      touched.add(node.key);
      for (const input of node.key.inputs) touched.add(input);
    }
    const exposed = new Map<ProjectionModel, readonly string[]>();
    for (const node of touched) exposed.set(node, await columnsOf(node, outputs));
    const available = new Set<string>();
    for (const columns of exposed.values()) for (const column of columns) available.add(column);
    for (const key of lens.keys) {
      const applies = [...exposed.values()].some((columns) => columnFor(columns, key) !== undefined);
      if (!applies) throw new UnknownLensKeyError(name, lens.display, key, [...available].sort());
    }
    const rebuilt = new Set(plan.map((node) => node.key));
    for (const node of touched) checkValues(node, lens, rebuilt.has(node));
  }
}

/** The column names a projection's output exposes to lenses. */
async function columnsOf(model: ProjectionModel, outputs: RunOutputs): Promise<readonly string[]> {
  if (model.table && !model.hasOutput) return model.table.columns.map((c) => c.property);
  if (model.options.columns) return model.options.columns;
  const source = await outputs.of(model);
  return source.kind === 'query' ? source.columns : [];
}

/** Each value fits its column; a rebuilt table has every key that tells its slice apart. */
function checkValues(node: ProjectionModel, lens: NormalizedLens, rebuilt: boolean): void {
  for (const condition of lens.conditions) {
    const column = node.table?.byProperty.get(condition.key);
    if (column) {
      const reason = misfit(column.kind, condition);
      if (reason) throw new InvalidLensError(node.name, lens.display, condition.key, `${reason} (column ${column.column})`);
    } else if (!node.virtual && node.dematerialize && rebuilt) {
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
