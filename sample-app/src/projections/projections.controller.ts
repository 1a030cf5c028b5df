import { Controller, Get, NotFoundException, Param, ParseUUIDPipe } from '@nestjs/common';
import { CinemaService, type GraphEdge, type GraphNode } from '../../../lib/index.js';
import { summarizeRun, type RunSummary } from './run-summary.js';

/** Read-only views of Cinema itself: the projection graph and this process's runs. */
@Controller('projections')
export class ProjectionsController {
  constructor(private readonly cinema: CinemaService) {}

  @Get('graph')
  graph(): { nodes: GraphNode[]; edges: GraphEdge[]; mermaid: string } {
    const graph = this.cinema.graph();
    return { nodes: graph.nodes, edges: graph.edges, mermaid: graph.toMermaid() };
  }

  @Get('runs/:id')
  run(@Param('id', ParseUUIDPipe) id: string): RunSummary {
    const run = this.cinema.getRun(id);
    // Runs live in this process's memory only, and only the last `runHistory` of them.
    if (!run) throw new NotFoundException(`No run ${id} in this process`);
    return summarizeRun(run);
  }
}
