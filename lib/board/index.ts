/**
 * `cinema-nestjs/board`: a page in the browser that shows the projection graph, freshness and
 * recent runs, and refreshes or retries when allowed. Mermaid (`@mermaid-js/tiny` or `mermaid`)
 * is an optional peer dependency, needed only by applications that import this entry point.
 */
export { CinemaBoardModule } from './board.module.js';
export type { CinemaBoardOptions, CinemaBoardActionCheck } from './board-options.interface.js';
export type { BoardState, BoardProjection, BoardOutcome, BoardRun, BoardRunNode } from './board-state.interface.js';
export { graphHtml } from './graph-html.js';
