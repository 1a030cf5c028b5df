import { createHash, randomUUID } from 'node:crypto';
import { lensKey } from '../../lens/lens-key.js';
import { encodeLens } from '../../lens/lens-codec.js';
import type { NormalizedLens } from '../../lens/lens.js';
import type { ProjectionModel } from '../../model/projection.model.js';
import type { PlannedNode } from '../../planning/projection-graph.js';
import type { NodeSpec, RunSpec } from './queue.types.js';

export interface EnqueueRequest {
  /** What the run is recorded as: the projection asked for, or the names of several. */
  label: string;
  plan: readonly PlannedNode<ProjectionModel>[];
  /** The lens as the caller gave it (validated). */
  lens: NormalizedLens;
  skipDependencies: boolean;
  queue: string;
  priority: number;
  attempts?: number;
  runAt?: Date;
  /** The caller's `timeout`: bounds each node's transaction. */
  timeoutMs?: number;
  concurrency: number;
  /** The caller's trace context. */
  trace?: Record<string, string>;
}

/** What a run request is recorded as: its nodes (with what each waits for) and its coalescing key. */
export function runSpec(request: EnqueueRequest, defaultAttempts: number): RunSpec {
  const lens = encodeLens(request.label, request.lens.display);
  const materialized = (node: ProjectionModel, seen = new Set<ProjectionModel>()): string[] => {
    // The materialized projections a node waits for, looking through virtual ones.
    const planned = request.plan.find((candidate) => candidate.key === node);
    const names: string[] = [];
    for (const input of planned?.after ?? []) {
      if (seen.has(input)) continue;
      seen.add(input);
      if (input.virtual) names.push(...materialized(input, seen));
      else names.push(input.name);
    }
    return names;
  };
  const nodes: NodeSpec[] = request.plan.map((node, position) => ({
    projection: node.name,
    position,
    virtual: node.virtual,
    after: node.virtual ? [] : [...new Set(materialized(node.key))],
  }));
  return {
    id: randomUUID(),
    projection: request.label,
    lens,
    skipDependencies: request.skipDependencies,
    queue: request.queue,
    priority: request.priority,
    attempts: request.attempts ?? defaultAttempts,
    runAt: request.runAt,
    timeoutMs: request.timeoutMs,
    concurrency: request.concurrency,
    trace: request.trace,
    // A run scheduled for later is not the same request as one for now. Lenses that select the
    // same rows (`{ orgId: 25 }`, `[25]`, `In([25])`, `'25'` for an integer) are one request.
    coalesceKey: request.runAt
      ? undefined
      : createHash('sha256')
          .update(JSON.stringify([request.label, request.skipDependencies, request.queue, lensKey(request.lens, kindIn(request.plan))]))
          .digest('hex'),
    nodes,
  };
}

/** The column kind of a lens key, from the first table of the plan that has it. */
function kindIn(plan: readonly PlannedNode<ProjectionModel>[]) {
  return (key: string) => {
    for (const node of plan) {
      const column = node.key.table?.byProperty.get(key);
      if (column) return column.kind;
    }
    return undefined;
  };
}
