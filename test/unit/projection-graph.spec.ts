import { describe, expect, it } from 'vitest';
import { MissingInputError } from '../../lib/errors/missing-input.error.js';
import { ProjectionCycleError } from '../../lib/errors/projection-cycle.error.js';
import { ProjectionGraph, type GraphDefinition } from '../../lib/planning/projection-graph.js';

function graph(edges: Record<string, string[]>, virtual: string[] = []) {
  const definitions: GraphDefinition<string>[] = Object.entries(edges).map(([name, inputs]) => ({
    key: name,
    name,
    virtual: virtual.includes(name),
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
    expect(
      graph(EXAMPLE)
        .plan('e')
        .map((node) => node.name),
    ).toEqual(['b', 'e']);
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

  it('names the projections of a cycle in order, wherever it starts and whatever surrounds it', () => {
    const cycleOf = (edges: Record<string, string[]>, virtual: string[] = []) => {
      try {
        graph(edges, virtual);
      } catch (error) {
        expect(error).toBeInstanceOf(ProjectionCycleError);
        return (error as ProjectionCycleError).cycle;
      }
      throw new Error('no cycle found');
    };
    // Through a virtual projection, downstream of acyclic nodes, and away from the first node.
    expect(cycleOf({ src: [], V: ['src', 'B'], B: ['V'] }, ['V'])).toEqual(['V', 'B', 'V']);
    expect(cycleOf({ a: [], b: ['a'], c: ['b', 'e'], d: ['c'], e: ['d'] })).toEqual(['c', 'e', 'd', 'c']);
    expect(() => graph({ a: [], b: ['a'], c: ['a', 'b'] })).not.toThrow();
  });

  it('says how to fix a missing input, naming it with the describe function', () => {
    class Ledger {}
    const build = () =>
      new ProjectionGraph<unknown>(
        [
          { key: 'orders', name: 'Orders', virtual: false, inputs: [] },
          { key: 'report', name: 'Report', virtual: false, inputs: [{ method: 'derive', targets: ['orders', Ledger] }] },
        ],
        (key) => (typeof key === 'function' ? key.name : String(key)),
      );
    expect(build).toThrow(MissingInputError);
    expect(build).toThrow(
      /^Report\.derive\(\) takes @Input Ledger, which is not a registered projection\. Decorate Ledger with @Projection\(\) and list it in CinemaModule\.forFeature/,
    );
  });

  it('plans a shared input once, after everything it reads, ties in registration order', () => {
    // A diamond: d reads b and c, both read a.
    const plan = graph({ a: [], c: ['a'], b: ['a'], d: ['b', 'c'] }).plan('d');
    expect(plan.map((node) => node.name)).toEqual(['a', 'c', 'b', 'd']);
    expect(plan.map((node) => node.depth)).toEqual([0, 1, 1, 2]);
    expect(plan.find((node) => node.name === 'd')!.after).toEqual(['b', 'c']);
  });

  it('takes an input declared by several methods once', () => {
    const plan = new ProjectionGraph<string>([
      { key: 'a', name: 'a', virtual: false, inputs: [] },
      {
        key: 'b',
        name: 'b',
        virtual: false,
        inputs: [
          { method: 'one', targets: ['a', 'a'] },
          { method: 'two', targets: ['a'] },
        ],
      },
    ]).plan('b');
    expect(plan.map((node) => [node.name, node.after])).toEqual([
      ['a', []],
      ['b', ['a']],
    ]);
  });

  it('keeps virtual projections in the plan, marked virtual', () => {
    const plan = graph({ orgs: [], totals: ['orgs'], report: ['totals'] }, ['orgs', 'totals']).plan('report');
    expect(plan.map((node) => [node.name, node.virtual, node.depth])).toEqual([
      ['orgs', true, 0],
      ['totals', true, 1],
      ['report', false, 2],
    ]);
  });

  it('with skipDependencies plans only the projection, at depth 0, though its inputs stay in the graph', () => {
    const g = graph(EXAMPLE);
    const plan = g.plan('f', true);
    expect(plan).toEqual([{ key: 'f', name: 'f', virtual: false, after: [], depth: 0 }]);
    expect(g.inputsOf('f')).toEqual(['c', 'e']);
    expect(g.plan('a', true)).toEqual(g.plan('a'));
  });

  it('answers inputs, dependents and upstream, and refuses an unknown key', () => {
    const g = graph(EXAMPLE);
    expect(g.keys()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(g.has('c')).toBe(true);
    expect(g.has('zz')).toBe(false);
    expect(g.dependentsOf('b')).toEqual(['c', 'e']);
    expect(g.dependentsOf('d')).toEqual([]);
    expect([...g.upstream('d')].sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(() => g.get('zz')).toThrow(/zz/);
  });

  it('draws virtual projections rounded and turns names into safe Mermaid ids', () => {
    const view = graph({ 'org list': [], 'Report-2': ['org list'] }, ['org list']).view();
    expect(view.nodes).toEqual([
      { name: 'org list', virtual: true, inputs: [] },
      { name: 'Report-2', virtual: false, inputs: ['org list'] },
    ]);
    expect(view.toMermaid()).toBe(['flowchart LR', '  org_list([org list])', '  Report_2[Report-2]', '  org_list --> Report_2'].join('\n'));
  });
});
