import { MissingInputError } from '../errors/missing-input.error.js';
import { ProjectionCycleError } from '../errors/projection-cycle.error.js';
import { UnregisteredProjectionError } from '../errors/unregistered-projection.error.js';
import type { GraphEdge, GraphNode, ProjectionGraphView } from '../interfaces/graph.interface.js';

/** What the graph needs to know of a projection; `K` is its identity (the class). */
export interface GraphDefinition<K> {
  key: K;
  name: string;
  virtual: boolean;
  /** The inputs each derivation method declares. */
  inputs: { method: string; targets: K[] }[];
}

/** A node of a plan: the projection and its inputs inside the plan. */
export interface PlannedNode<K> {
  key: K;
  name: string;
  virtual: boolean;
  after: K[];
  depth: number;
}

/**
 * The DAG of projections. Plain TypeScript: it knows nothing of Nest or TypeORM, validates on
 * construction (missing inputs, cycles) and answers what must run, in which order.
 */
export class ProjectionGraph<K> {
  private readonly definitions = new Map<K, GraphDefinition<K>>();
  private readonly inputs = new Map<K, K[]>();
  private readonly dependents = new Map<K, K[]>();

  constructor(definitions: readonly GraphDefinition<K>[], describe: (key: K) => string = String) {
    for (const definition of definitions) this.definitions.set(definition.key, definition);
    for (const definition of definitions) {
      const unique: K[] = [];
      for (const input of definition.inputs) {
        for (const target of input.targets) {
          if (!this.definitions.has(target)) {
            throw new MissingInputError(definition.name, describe(target), input.method);
          }
          if (!unique.includes(target)) unique.push(target);
        }
      }
      this.inputs.set(definition.key, unique);
      for (const target of unique) {
        const list = this.dependents.get(target) ?? [];
        list.push(definition.key);
        this.dependents.set(target, list);
      }
    }
    this.assertAcyclic();
  }

  has(key: K): boolean {
    return this.definitions.has(key);
  }

  keys(): K[] {
    return [...this.definitions.keys()];
  }

  get(key: K): GraphDefinition<K> {
    const definition = this.definitions.get(key);
    if (!definition) throw new UnregisteredProjectionError(String(key));
    return definition;
  }

  inputsOf(key: K): readonly K[] {
    return this.inputs.get(key) ?? [];
  }

  dependentsOf(key: K): readonly K[] {
    return this.dependents.get(key) ?? [];
  }

  /** The projection and everything it reads from, transitively. */
  upstream(key: K): Set<K> {
    const seen = new Set<K>();
    const visit = (node: K) => {
      if (seen.has(node)) return;
      seen.add(node);
      for (const input of this.inputsOf(node)) visit(input);
    };
    visit(key);
    return seen;
  }

  /**
   * The nodes to rebuild for `keys` (one projection or several: the union of what each needs,
   * each node once), in dependency order (ties broken by registration order). With
   * `skipDependencies` only the keys themselves, though their inputs are still read.
   */
  plan(keys: K | readonly K[], skipDependencies = false): PlannedNode<K>[] {
    const targets: readonly K[] = Array.isArray(keys) ? keys : [keys as K];
    const members = new Set<K>();
    for (const key of targets) {
      if (skipDependencies) members.add(key);
      else for (const node of this.upstream(key)) members.add(node);
    }
    const depth = new Map<K, number>();
    const ordered: PlannedNode<K>[] = [];
    for (const node of this.topologicalOrder(members)) {
      const after = this.inputsOf(node).filter((input) => members.has(input));
      const d = after.length === 0 ? 0 : Math.max(...after.map((input) => depth.get(input)!)) + 1;
      depth.set(node, d);
      const definition = this.get(node);
      ordered.push({ key: node, name: definition.name, virtual: definition.virtual, after, depth: d });
    }
    return ordered;
  }

  view(): ProjectionGraphView {
    const nodes: GraphNode[] = this.keys().map((key) => {
      const definition = this.get(key);
      return {
        name: definition.name,
        virtual: definition.virtual,
        inputs: this.inputsOf(key).map((input) => this.get(input).name),
      };
    });
    const edges: GraphEdge[] = nodes.flatMap((node) => node.inputs.map((from) => ({ from, to: node.name })));
    return {
      nodes,
      edges,
      toMermaid: () => toMermaid(nodes, edges),
    };
  }

  private topologicalOrder(members: Set<K>): K[] {
    const order = this.keys().filter((key) => members.has(key));
    const remaining = new Map<K, number>();
    for (const node of order) {
      remaining.set(node, this.inputsOf(node).filter((input) => members.has(input)).length);
    }
    const result: K[] = [];
    const ready = order.filter((node) => remaining.get(node) === 0);
    while (ready.length > 0) {
      const node = ready.shift()!;
      result.push(node);
      for (const dependent of this.dependentsOf(node)) {
        if (!members.has(dependent)) continue;
        const left = remaining.get(dependent)! - 1;
        remaining.set(dependent, left);
        if (left === 0) ready.push(dependent);
      }
    }
    return result;
  }

  private assertAcyclic(): void {
    const state = new Map<K, 'visiting' | 'done'>();
    const stack: K[] = [];
    const visit = (node: K): void => {
      const current = state.get(node);
      if (current === 'done') return;
      if (current === 'visiting') {
        const cycle = stack.slice(stack.indexOf(node)).concat(node);
        throw new ProjectionCycleError(cycle.map((key) => this.get(key).name));
      }
      state.set(node, 'visiting');
      stack.push(node);
      for (const input of this.inputsOf(node)) visit(input);
      stack.pop();
      state.set(node, 'done');
    };
    for (const key of this.keys()) visit(key);
  }
}

function toMermaid(nodes: GraphNode[], edges: GraphEdge[]): string {
  const id = (name: string) => name.replace(/[^A-Za-z0-9_]/g, '_');
  const lines = ['flowchart LR'];
  for (const node of nodes) {
    lines.push(node.virtual ? `  ${id(node.name)}([${node.name}])` : `  ${id(node.name)}[${node.name}]`);
  }
  for (const edge of edges) lines.push(`  ${id(edge.from)} --> ${id(edge.to)}`);
  return lines.join('\n');
}
