import { describe, expect, it } from 'vitest';
import { MissingInputError, ProjectionCycleError } from '../../lib/index.js';
import { ProjectionGraph, type GraphDefinition } from '../../lib/planning/projection-graph.js';

function graph(edges: Record<string, string[]>) {
  const definitions: GraphDefinition<string>[] = Object.entries(edges).map(([name, inputs]) => ({
    key: name,
    name,
    virtual: false,
    inputs: inputs.length ? [{ method: 'derive', targets: inputs }] : [],
  }));
  return new ProjectionGraph(definitions);
}

// The example graph of the original library.
const EXAMPLE = { a: [], b: [], c: ['a', 'b'], d: ['c'], e: ['b'], f: ['c', 'e'] };

describe('ProjectionGraph', () => {
  it('plans a projection after everything it reads, with depths', () => {
    const plan = graph(EXAMPLE).plan('f');
    const order = plan.map((node) => node.name);
    expect(new Set(order)).toEqual(new Set(['a', 'b', 'c', 'e', 'f']));
    const position = (name: string) => order.indexOf(name);
    for (const [node, inputs] of Object.entries(EXAMPLE)) {
      if (!order.includes(node)) continue;
      for (const input of inputs) expect(position(input)).toBeLessThan(position(node));
    }
    expect(Object.fromEntries(plan.map((node) => [node.name, node.depth]))).toEqual({ a: 0, b: 0, c: 1, e: 1, f: 2 });
    expect(plan.find((node) => node.name === 'f')!.after.sort()).toEqual(['c', 'e']);
  });

  it('plans only the projection itself when dependencies are skipped', () => {
    const plan = graph(EXAMPLE).plan('d', true);
    expect(plan.map((node) => node.name)).toEqual(['d']);
    expect(plan[0].after).toEqual([]);
  });

  it('leaves out projections the requested one does not read', () => {
    expect(graph(EXAMPLE).plan('e').map((node) => node.name)).toEqual(['b', 'e']);
  });

  it('spells out a cycle', () => {
    expect(() => graph({ A: ['B'], B: ['A'] })).toThrow(ProjectionCycleError);
    expect(() => graph({ A: ['B'], B: ['A'] })).toThrow('A -> B -> A');
    expect(() => graph({ x: [], A: ['C'], B: ['A'], C: ['B', 'x'] })).toThrow(/A -> C -> B -> A/);
    expect(() => graph({ S: ['S'] })).toThrow('S -> S');
  });

  it('names both sides of a missing input', () => {
    const build = () =>
      new ProjectionGraph([{ key: 'Report', name: 'Report', virtual: false, inputs: [{ method: 'fromOrders', targets: ['Orders'] }] }]);
    expect(build).toThrow(MissingInputError);
    expect(build).toThrow(/Report\.fromOrders\(\) takes @Input Orders/);
  });

  it('renders nodes, edges and Mermaid', () => {
    const view = graph(EXAMPLE).view();
    expect(view.nodes.map((node) => node.name)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(view.edges).toContainEqual({ from: 'c', to: 'f' });
    expect(view.edges).toHaveLength(6);
    expect(view.toMermaid()).toContain('flowchart LR');
    expect(view.toMermaid()).toContain('e --> f');
  });
});
