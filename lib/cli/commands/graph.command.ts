import { writeFile } from 'node:fs/promises';
import { Command, CommandRunner, Option } from 'nest-commander';
import { graphHtml } from '../../board/index.js';
import { CinemaService, InvalidCinemaOptionsError } from '../../index.js';
import { failed } from '../cli-failure.js';

const FORMATS = ['mermaid', 'json', 'html'] as const;

/**
 * `cinema graph [--format mermaid|json|html] [--output FILE]`: the projections and their inputs;
 * `html` is one standalone file with Mermaid inlined, which opens offline.
 */
@Command({ name: 'graph', description: 'Print the projection graph (Mermaid, JSON, or a standalone HTML page)' })
export class GraphCommand extends CommandRunner {
  constructor(private readonly cinema: CinemaService) {
    super();
  }

  async run(_params: string[], options: { format?: string; output?: string }): Promise<void> {
    try {
      const format = options.format ?? 'mermaid';
      if (!(FORMATS as readonly string[]).includes(format)) {
        throw new InvalidCinemaOptionsError('--format', `must be one of ${FORMATS.join(', ')}, got "${format}"`);
      }
      const graph = this.cinema.graph();
      const text =
        format === 'json'
          ? JSON.stringify({ nodes: graph.nodes, edges: graph.edges }, null, 2)
          : format === 'html'
            ? graphHtml(graph)
            : graph.toMermaid();
      if (options.output) await writeFile(options.output, `${text}\n`);
      else process.stdout.write(`${text}\n`);
    } catch (error) {
      failed(error);
    }
  }

  @Option({ flags: '-f, --format <format>', description: 'mermaid (default), json, or html (a standalone page)' })
  parseFormat(value: string): string {
    return value;
  }

  @Option({ flags: '-o, --output <file>', description: 'write to a file instead of the standard output' })
  parseOutput(value: string): string {
    return value;
  }
}
