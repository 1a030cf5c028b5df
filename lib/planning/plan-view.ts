import { describeLens } from '../errors/cinema.error.js';
import type { PlanStep, ProjectionPlan } from '../interfaces/graph.interface.js';
import type { NormalizedLens } from '../lens/lens.js';
import type { ProjectionModel } from '../model/projection.model.js';
import type { PlannedNode } from './projection-graph.js';

/** A plan as `CinemaService.plan()` shows it: its steps, and `toString()` for a terminal. */
export function describePlan(projection: string, lens: NormalizedLens, plan: readonly PlannedNode<ProjectionModel>[]): ProjectionPlan {
  const steps: PlanStep[] = plan.map((node) => ({
    projection: node.name,
    virtual: node.virtual,
    after: node.after.map((input) => input.name),
    depth: node.depth,
    readDataSource: node.key.readName,
    writeDataSource: node.key.writeName,
    lensKeys: node.key.table ? lens.keys.filter((key) => node.key.table!.byProperty.has(key)) : [],
    dematerialize: !node.virtual && node.key.dematerialize,
  }));
  return {
    projection,
    lens: lens.values,
    steps,
    toString: () =>
      [`Plan for ${projection} with lens ${describeLens(lens.values)}:`]
        .concat(
          steps.map(
            (step, i) =>
              `  ${i + 1}. ${step.projection}${step.virtual ? ' (virtual, read in place)' : ''}` +
              `${step.after.length ? ` after ${step.after.join(', ')}` : ''}` +
              `${step.virtual ? '' : ` -> ${step.dematerialize ? 'delete slice, ' : ''}derive into "${step.writeDataSource}"`}`,
          ),
        )
        .join('\n'),
  };
}
