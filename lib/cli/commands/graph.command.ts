import { writeFile } from 'node:fs/promises';
import { Command, CommandRunner, Option } from 'nest-commander';
import { CinemaService, InvalidCinemaOptionsError } from '../../index.js';
import { failed } from '../cli-failure.js';

const FORMATS = ['mermaid', 'json'] as const;

/** `cinema graph [--format mermaid|json] [--output FILE]`: the projections and their inputs. */
@Command({ name: 'graph', description: 'Print the projection graph (Mermaid or JSON)' })
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
      const text = format === 'json' ? JSON.stringify({ nodes: graph.nodes, edges: graph.edges }, null, 2) : graph.toMermaid();
      if (options.output) await writeFile(options.output, `${text}\n`);
      else process.stdout.write(`${text}\n`);
    } catch (error) {
      failed(error);
    }
  }

  @Option({ flags: '-f, --format <format>', description: 'mermaid (default) or json' })
  parseFormat(value: string): string {
    return value;
  }

  @Option({ flags: '-o, --output <file>', description: 'write to a file instead of the standard output' })
  parseOutput(value: string): string {
    return value;
  }
}
