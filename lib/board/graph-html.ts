import type { ProjectionGraphView } from '../index.js';
import { boardMermaid } from './board-mermaid.js';
import { graphDocument } from './board-page.js';
import { readMermaid } from './board.assets.js';

/**
 * The graph as one standalone HTML file with Mermaid inlined, which opens in any browser without
 * a network (`cinema graph --format html`). Needs `@mermaid-js/tiny` or `mermaid` installed.
 */
export function graphHtml(graph: ProjectionGraphView, title?: string): string {
  const mermaid = boardMermaid(graph.nodes.map((node) => ({ name: node.name, virtual: node.virtual, inputs: node.inputs })));
  return graphDocument(mermaid, readMermaid(), title);
}
