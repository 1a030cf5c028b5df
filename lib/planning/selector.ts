import { InvalidSelectorError } from '../errors/invalid-selector.error.js';
import type { ProjectionGraph } from './projection-graph.js';

/**
 * dbt's node selection over the projection graph, Nest-free.
 *
 * - `Name`, `name:Name`, a glob (`Org*`) or `*`; `tag:billing` (the projection's `tags` option);
 *   `state:modified`: the projections whose version changed at this startup or that still have
 *   slices built by another version (it may select nothing: no error then).
 * - `+Name`: with everything upstream; `2+Name`: two levels up. `Name+`, `Name+1`: downstream.
 * - `@Name`: Name, everything downstream, and everything upstream of those (what a rebuild of
 *   Name's descendants needs).
 * - Words separated by spaces are a union; words joined by commas an intersection:
 *   `tag:billing,OrgReceivables+` selects the billing projections downstream of OrgReceivables.
 * - `exclude` has the same grammar and is taken away at the end.
 *
 * The result keeps the graph's registration order. A word that matches nothing is an error:
 * a typo must not silently select nothing.
 */
export function selectProjections<K>(
  graph: ProjectionGraph<K>,
  select: string | readonly string[],
  options: { exclude?: string | readonly string[]; tags?: (key: K) => readonly string[]; modified?: (key: K) => boolean } = {},
): K[] {
  const facts: Facts<K> = { tags: options.tags, modified: options.modified };
  const chosen = evaluate(graph, select, facts, true);
  if (options.exclude !== undefined) for (const key of evaluate(graph, options.exclude, facts, false)) chosen.delete(key);
  return graph.keys().filter((key) => chosen.has(key));
}

/** What selectors ask of a projection beyond the graph. */
interface Facts<K> {
  tags?: (key: K) => readonly string[];
  modified?: (key: K) => boolean;
}

/** One word of a selector: `[@][N+]method[+N]`. */
interface Atom {
  /** The whole word it came from, for messages. */
  word: string;
  text: string;
  at: boolean;
  /** Levels upstream: `undefined` none, `Infinity` all. */
  up?: number;
  down?: number;
  method: 'name' | 'tag' | 'state';
  value: string;
}

const ATOM = /^(@)?(?:(\d*)\+)?((?:[a-z_]+:)?[^+@,\s]+?)(?:\+(\d*))?$/i;

function words(select: string | readonly string[]): string[] {
  return (typeof select === 'string' ? [select] : select).flatMap((part) => part.split(/\s+/)).filter((word) => word.length > 0);
}

function evaluate<K>(graph: ProjectionGraph<K>, select: string | readonly string[], facts: Facts<K>, required: boolean): Set<K> {
  const union = new Set<K>();
  const all = words(select);
  if (all.length === 0 && required) {
    throw new InvalidSelectorError(String(select), 'it selects nothing', 'Name a projection (`OrgReceivables`), `tag:NAME` or `*`.');
  }
  for (const word of all) {
    let intersection: Set<K> | undefined;
    for (const part of word.split(',')) {
      const matched = expand(graph, parse(part, word), facts);
      intersection = intersection ? new Set([...intersection].filter((key) => matched.has(key))) : matched;
    }
    for (const key of intersection ?? []) union.add(key);
  }
  return union;
}

function parse(text: string, word: string): Atom {
  const match = ATOM.exec(text);
  if (!match) {
    throw new InvalidSelectorError(
      word,
      `"${text}" is not a selector`,
      'Write NAME, +NAME, NAME+, 2+NAME, NAME+1, @NAME, tag:NAME or a glob such as Org*; spaces for union, commas for intersection.',
    );
  }
  const [, at, up, spec, down] = match;
  const colon = spec.indexOf(':');
  const method = colon === -1 ? 'name' : spec.slice(0, colon).toLowerCase();
  if (method !== 'name' && method !== 'tag' && method !== 'state') {
    throw new InvalidSelectorError(word, `the method "${method}:" is not supported`, 'Use name:NAME, tag:NAME or state:modified.');
  }
  if (method === 'state' && spec.slice(colon + 1) !== 'modified') {
    throw new InvalidSelectorError(word, `"${spec}" is not a state`, 'Write state:modified (the projections whose version changed).');
  }
  if (at && (up !== undefined || down !== undefined)) {
    throw new InvalidSelectorError(word, '"@" cannot be combined with "+"', 'Write @NAME alone.');
  }
  const levels = (value: string | undefined, present: boolean) => (!present ? undefined : value ? Number(value) : Infinity);
  return {
    word,
    text,
    at: Boolean(at),
    up: levels(up, text.slice(at ? 1 : 0).match(/^\d*\+/) !== null),
    down: levels(down, /\+\d*$/.test(text)),
    method,
    value: colon === -1 ? spec : spec.slice(colon + 1),
  };
}

function expand<K>(graph: ProjectionGraph<K>, atom: Atom, facts: Facts<K>): Set<K> {
  const seeds = graph.keys().filter((key) => matches(graph, key, atom, facts));
  // Nothing modified is an answer, not a typo.
  if (seeds.length === 0 && atom.method !== 'state') {
    const names = graph.keys().map((key) => graph.get(key).name);
    throw new InvalidSelectorError(
      atom.word,
      atom.method === 'tag' ? `no projection has the tag "${atom.value}"` : `no projection is named "${atom.value}"`,
      atom.method === 'tag' ? 'Tags come from @Projection({ tags: [...] }).' : `Projections: ${names.join(', ')}.`,
    );
  }
  const result = new Set<K>(seeds);
  const walk = (from: K, depth: number | undefined, next: (key: K) => readonly K[]) => {
    if (depth === undefined) return;
    const seen = new Set<K>([from]);
    let frontier = [from];
    for (let level = 0; level < depth && frontier.length > 0; level++) {
      frontier = frontier.flatMap(next).filter((key) => !seen.has(key) && (seen.add(key), true));
      for (const key of frontier) result.add(key);
    }
  };
  for (const seed of seeds) {
    if (atom.at) {
      walk(seed, Infinity, (key) => graph.dependentsOf(key));
    } else {
      walk(seed, atom.up, (key) => graph.inputsOf(key));
      walk(seed, atom.down, (key) => graph.dependentsOf(key));
    }
  }
  if (atom.at) for (const key of [...result]) for (const upstream of graph.upstream(key)) result.add(upstream);
  return result;
}

function matches<K>(graph: ProjectionGraph<K>, key: K, atom: Atom, facts: Facts<K>): boolean {
  if (atom.method === 'state') return facts.modified?.(key) ?? false;
  const pattern = glob(atom.value);
  if (atom.method === 'tag') return (facts.tags?.(key) ?? []).some((tag) => pattern.test(tag));
  return pattern.test(graph.get(key).name);
}

function glob(value: string): RegExp {
  return new RegExp(`^${value.replace(/[.+^${}()|[\]\\?]/g, '\\$&').replaceAll('*', '.*')}$`);
}
