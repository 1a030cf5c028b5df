import { describe, expect, it } from 'vitest';
import { InvalidSelectorError } from '../../lib/errors/invalid-selector.error.js';
import { ProjectionGraph, type GraphDefinition } from '../../lib/planning/projection-graph.js';
import { selectProjections } from '../../lib/planning/selector.js';

// The example graph of the original library: c reads a and b, d reads c, e reads b, f reads c and e.
const EDGES: Record<string, string[]> = { a: [], b: [], c: ['a', 'b'], d: ['c'], e: ['b'], f: ['c', 'e'] };
const TAGS: Record<string, string[]> = { a: ['raw'], b: ['raw', 'billing'], d: ['billing'], f: ['billing', 'daily'] };
const graph = new ProjectionGraph<string>(
  Object.entries(EDGES).map(([name, inputs]): GraphDefinition<string> => ({
    key: name,
    name,
    virtual: false,
    inputs: inputs.length ? [{ method: 'derive', targets: inputs }] : [],
  })),
);
const select = (selector: string | string[], exclude?: string) =>
  selectProjections(graph, selector, { exclude, tags: (key) => TAGS[key] ?? [] });

describe('selectProjections: dbt selectors over the graph', () => {
  it('a name alone, with everything downstream (P+), upstream (+P), or both', () => {
    expect(select('c')).toEqual(['c']);
    expect(select('c+')).toEqual(['c', 'd', 'f']);
    expect(select('+c')).toEqual(['a', 'b', 'c']);
    expect(select('+c+')).toEqual(['a', 'b', 'c', 'd', 'f']);
    expect(select('name:e+')).toEqual(['e', 'f']);
  });

  it('counts levels: 1+P and P+1', () => {
    expect(select('1+f')).toEqual(['c', 'e', 'f']);
    expect(select('2+f')).toEqual(['a', 'b', 'c', 'e', 'f']);
    expect(select('b+1')).toEqual(['b', 'c', 'e']);
    expect(select('b+2')).toEqual(['b', 'c', 'd', 'e', 'f']);
    expect(select('0+c+0')).toEqual(['c']);
  });

  it('@P: P, its descendants and everything upstream of them', () => {
    expect(select('@e')).toEqual(['a', 'b', 'c', 'e', 'f']);
    expect(select('@d')).toEqual(['a', 'b', 'c', 'd']);
  });

  it('spaces unite, commas intersect, exclude takes away; the result keeps the graph order', () => {
    expect(select('f d')).toEqual(['d', 'f']);
    expect(select(['f', 'a'])).toEqual(['a', 'f']);
    expect(select('b+,tag:billing')).toEqual(['b', 'd', 'f']);
    expect(select('+f', 'c+')).toEqual(['a', 'b', 'e']);
    expect(select('*', 'tag:raw d')).toEqual(['c', 'e', 'f']);
  });

  it('tags and globs', () => {
    expect(select('tag:billing')).toEqual(['b', 'd', 'f']);
    expect(select('tag:dai*')).toEqual(['f']);
    expect(select('*')).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });

  it('refuses what selects nothing, an unknown name or tag, and bad grammar, naming the word', () => {
    const refused = (selector: string, message: RegExp, exclude?: string) => {
      let error: unknown;
      try {
        select(selector, exclude);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(InvalidSelectorError);
      expect((error as Error).message).toMatch(message);
    };
    refused('', /selects nothing/);
    refused('Nope+', /no projection is named "Nope".*Projections: a, b, c, d, e, f/);
    refused('tag:none', /no projection has the tag "none"/);
    refused('a,zz', /"a,zz".*no projection is named "zz"/);
    refused('@+a', /"@" cannot be combined with "\+"/);
    refused('a++', /"a\+\+" is not a selector/);
    refused('path:models/x', /method "path:" is not supported/);
    refused('state:new', /"state:new" is not a state.*state:modified/);
    refused('a', /no projection is named "q"/, 'q');
  });

  it('state:modified: the projections whose version changed (nothing modified is an answer, not an error)', () => {
    const modified = new Set(['c', 'd', 'f']);
    const pick = (selector: string, exclude?: string) =>
      selectProjections(graph, selector, { exclude, tags: (key) => TAGS[key] ?? [], modified: (key) => modified.has(key) });
    expect(pick('state:modified')).toEqual(['c', 'd', 'f']);
    expect(pick('state:modified', 'f')).toEqual(['c', 'd']);
    expect(pick('+state:modified')).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(pick('state:modified,tag:billing')).toEqual(['d', 'f']);
    expect(selectProjections(graph, 'state:modified', { modified: () => false })).toEqual([]);
    expect(selectProjections(graph, 'state:modified')).toEqual([]);
  });
});
