import { Inject, Injectable, type Type } from '@nestjs/common';
import { FindOperator } from 'typeorm';
import { CINEMA_MODULE_OPTIONS, CinemaService, type CinemaModuleOptions, type CinemaRun, type NodeReport } from '../index.js';
import { boardMermaid } from './board-mermaid.js';
import { BOARD_OPTIONS } from './board.constants.js';
import type { ResolvedBoardOptions } from './board-options.interface.js';
import type { BoardOutcome, BoardProjection, BoardRun, BoardState } from './board-state.interface.js';
import { criticalPath } from './critical-path.js';

/** Assembles what the board shows from `CinemaService`: the graph, recent runs and freshness. */
@Injectable()
export class BoardStateReader {
  /** The projections' names: the graph does not change once the application has started. */
  private names?: ReadonlySet<string>;

  constructor(
    private readonly cinema: CinemaService,
    @Inject(BOARD_OPTIONS) private readonly options: ResolvedBoardOptions,
    @Inject(CINEMA_MODULE_OPTIONS) private readonly cinemaOptions: CinemaModuleOptions,
  ) {}

  async state(canAct: boolean): Promise<BoardState> {
    const graph = this.cinema.graph();
    const runs = await this.cinema.recentRuns(this.options.runs);
    const capture = this.cinemaOptions.capture !== undefined;
    const inputs = new Map(graph.nodes.map((node) => [node.name, node.inputs]));
    const projections: BoardProjection[] = await Promise.all(
      graph.nodes.map(async (node) => ({
        name: node.name,
        virtual: node.virtual,
        inputs: node.inputs,
        last: lastOutcome(node.name, runs),
        ...(capture && !node.virtual ? { freshness: await this.freshness(node.name) } : {}),
      })),
    );
    return {
      generatedAt: new Date().toISOString(),
      canAct,
      capture,
      mermaid: boardMermaid(projections),
      projections,
      runs: runs.map((run) => boardRun(run, inputs)),
    };
  }

  /** The projection class of a name in the graph, or `undefined`. */
  target(name: string): Type<unknown> | undefined {
    this.names ??= new Set(this.cinema.graph().nodes.map((node) => node.name));
    if (!this.names.has(name)) return undefined;
    return this.cinema.select(name)[0];
  }

  private async freshness(name: string): Promise<BoardProjection['freshness']> {
    try {
      const { refreshedAt, oldestPendingChange: _oldest, ...rest } = await this.cinema.freshness(this.target(name)!);
      return { ...rest, ...(refreshedAt ? { refreshedAt: refreshedAt.toISOString() } : {}) };
    } catch (error) {
      return { error: (error as Error)?.message ?? String(error) };
    }
  }
}

/** The projection's latest node among the runs (newest first) that got past pending. */
function lastOutcome(name: string, runs: readonly CinemaRun[]): BoardOutcome | undefined {
  for (const run of runs) {
    const node = run.nodes.find((candidate) => candidate.projection === name && candidate.status !== 'pending');
    if (!node) continue;
    const at = node.finishedAt ?? node.startedAt;
    return {
      status: node.status,
      runId: run.id,
      ...(at ? { at: at.toISOString() } : {}),
      ...(node.durationMs !== undefined ? { durationMs: Math.round(node.durationMs) } : {}),
      written: node.written,
      ...(node.error ? { error: node.error.message } : {}),
    };
  }
  return undefined;
}

function boardRun(run: CinemaRun, inputs: ReadonlyMap<string, string[]>): BoardRun {
  const origin = run.createdAt.getTime();
  const critical = new Set(criticalPath(run.nodes.map((node) => ({ ...node, inputs: inputs.get(node.projection) ?? [] }))));
  const offset = (date?: Date) => (date ? Math.max(0, date.getTime() - origin) : undefined);
  return {
    id: run.id,
    engine: run.engine,
    projection: run.projection,
    lens: lensText(run.lens),
    status: run.status,
    createdAt: run.createdAt.toISOString(),
    ...(run.durationMs !== undefined ? { durationMs: Math.round(run.durationMs) } : {}),
    ...(run.error ? { error: run.error.message } : {}),
    fresh: run.fresh === true,
    retryable: run.engine === 'queue' && run.status === 'failed',
    nodes: run.nodes.map((node: NodeReport) => ({
      projection: node.projection,
      virtual: node.virtual,
      status: node.status,
      startMs: offset(node.startedAt),
      endMs: offset(node.finishedAt),
      ...(node.durationMs !== undefined ? { durationMs: Math.round(node.durationMs) } : {}),
      written: node.written,
      deleted: node.deleted,
      ...(node.attempts !== undefined ? { attempts: node.attempts } : {}),
      ...(node.worker ? { worker: node.worker } : {}),
      ...(node.error ? { error: node.error.message } : {}),
      critical: critical.has(node.projection),
    })),
  };
}

/** A run's lens as short text: `orgId = 42`, `orgId in (1, 2)`, `everything`. */
export function lensText(lens: Record<string, unknown> | undefined): string {
  const keys = Object.keys(lens ?? {});
  if (keys.length === 0) return 'everything';
  return keys
    .map((key) => {
      const value = lens![key];
      if (value instanceof FindOperator) return `${key} ${value.type}(${valueText(value.value)})`;
      if (Array.isArray(value)) return `${key} in (${value.map(valueText).join(', ')})`;
      if (typeof value === 'function') return `${key}: reducer`;
      return `${key} = ${valueText(value)}`;
    })
    .join(', ');
}

function valueText(value: unknown): string {
  if (Array.isArray(value)) return value.map(valueText).join(', ');
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}`;
  if (value !== null && typeof value === 'object') return JSON.stringify(value) ?? '?';
  return String(value);
}
