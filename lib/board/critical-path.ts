/** What the critical path needs of a run's node. */
export interface TimedNode {
  projection: string;
  inputs: readonly string[];
  finishedAt?: Date;
}

/**
 * The chain of projections that decided when a run finished, first to last: from the node that
 * finished last, step back to the input (inside the run) that finished last, until a node has
 * none. Speeding up any other node would not have finished the run sooner.
 */
export function criticalPath(nodes: readonly TimedNode[]): string[] {
  const byName = new Map(nodes.filter((node) => node.finishedAt).map((node) => [node.projection, node]));
  const latest = (candidates: Iterable<TimedNode>): TimedNode | undefined => {
    let best: TimedNode | undefined;
    for (const node of candidates) if (!best || node.finishedAt!.getTime() > best.finishedAt!.getTime()) best = node;
    return best;
  };
  const path: string[] = [];
  const seen = new Set<string>();
  let current = latest(byName.values());
  while (current && !seen.has(current.projection)) {
    seen.add(current.projection);
    path.push(current.projection);
    current = latest(current.inputs.map((input) => byName.get(input)).filter((node): node is TimedNode => node !== undefined));
  }
  return path.reverse();
}
