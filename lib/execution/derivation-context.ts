import type { Type } from '@nestjs/common';
import { from, type Observable } from 'rxjs';
import type { SelectQueryBuilder } from 'typeorm';
import { InvalidProjectionError } from '../errors/invalid-projection.error.js';
import type { DerivationContext, Row } from '../interfaces/derivation-context.interface.js';
import type { StreamOptions } from '../interfaces/input-options.interface.js';
import type { NodeReport } from '../interfaces/run.interface.js';
import type { NormalizedLens } from '../lens/lens.js';
import type { ProjectionModel } from '../model/projection.model.js';
import type { RunOutputs } from '../read/run-outputs.js';
import { narrow, outputContext, outputOf, type OutputSource } from '../read/slice.queries.js';
import type { ProjectionWriter } from './projection.writer.js';
import { streamRows } from './row-stream.js';
import type { Valve } from './valve.js';

/** Each input of a projection as it reads it: its output under the lens (a query is narrowed to it). */
export type PreparedInputs = Map<Type<unknown>, OutputSource>;

/** Builds the inputs (queries, no rows read): the run's outputs when given, else each input's own. */
export async function prepareInputs(
  model: ProjectionModel,
  lens: NormalizedLens,
  signal: AbortSignal,
  outputs?: RunOutputs,
): Promise<PreparedInputs> {
  const sources: PreparedInputs = new Map();
  for (const input of model.inputs) {
    const source = outputs ? await outputs.of(input) : await outputOf(input, outputContext(input, lens, signal));
    sources.set(input.target, source.kind === 'query' ? { ...source, qb: narrow(source, lens, input.name) } : source);
  }
  return sources;
}

export interface ContextParts {
  model: ProjectionModel;
  lens: NormalizedLens;
  inputs: PreparedInputs;
  writer: ProjectionWriter;
  /** The manager bound to the write transaction. */
  write: DerivationContext['write'];
  signal: AbortSignal;
  /** Pauses the input cursors while writes catch up. */
  valve: Valve;
  streamBatchSize: number;
  report: NodeReport;
}

/** What a derivation gets: its lens, the managers, its inputs as queries or streams, and the writer. */
export function derivationContext(parts: ContextParts): DerivationContext {
  const { model, lens, inputs, writer, signal, valve, report } = parts;
  const sourceOf = (input: Type<unknown>): OutputSource => {
    const source = inputs.get(input);
    if (!source) {
      throw new InvalidProjectionError(
        model.name,
        `a derivation asked for ${nameOf(input)}, which is not one of its @Input projections`,
        `Declare it with @Input(() => ${nameOf(input)}) so the graph rebuilds it first.`,
      );
    }
    return source;
  };
  const query = <I>(input: Type<I>): SelectQueryBuilder<any> => {
    const source = sourceOf(input);
    if (source.kind !== 'query') {
      throw new InvalidProjectionError(
        model.name,
        `its input ${nameOf(input)} has an output() that returns rows, so it cannot be read as a query`,
        `Read it with as: 'stream', or make ${nameOf(input)}.output() return a SelectQueryBuilder.`,
      );
    }
    return source.qb;
  };
  const stream = <I>(input: Type<I>, options: StreamOptions = {}): Observable<Partial<I>> => {
    const source = sourceOf(input);
    if (source.kind === 'rows') return from(source.rows as Observable<Row>) as Observable<Partial<I>>;
    const [sql, values] = source.qb.getQueryAndParameters();
    return streamRows(source.qb.connection, sql, values, {
      batchSize: parts.streamBatchSize,
      valve,
      signal,
      dateStrings: options.dateStrings === true,
    }) as Observable<Partial<I>>;
  };
  return {
    projection: model.name,
    lens: lens.values,
    read: model.source.manager,
    write: parts.write,
    signal,
    materialize: async (source) => {
      // A derivation may hand over a promise of what it derived.
      const written = await writer.materialize(await Promise.resolve(source));
      report.written += written;
      return written;
    },
    dematerialize: async () => {
      const deleted = await writer.deleteSlice();
      report.deleted += deleted;
      return deleted;
    },
    query,
    stream,
  };
}

function nameOf(type: Type<unknown>): string {
  return type?.name ?? String(type);
}
