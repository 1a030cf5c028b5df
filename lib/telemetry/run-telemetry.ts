import {
  context as contextApi,
  metrics,
  propagation,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';
import { Logger } from '@nestjs/common';
import { describeLens } from '../errors/cinema.error.js';
import { CINEMA_EVENTS, type ProjectionRefreshedEvent, type SliceDirtiedEvent } from '../interfaces/events.interface.js';
import type { CinemaRun, NodeReport } from '../interfaces/run.interface.js';

/** The instrumentation scope of Cinema's spans and metrics. */
export const INSTRUMENTATION_SCOPE = 'cinema-nestjs';

/** An event as the telemetry hands it to listeners (the events bridge): a name of `CINEMA_EVENTS` and its payload. */
export interface TelemetryEvent {
  name: (typeof CINEMA_EVENTS)[keyof typeof CINEMA_EVENTS];
  payload: unknown;
}

/** W3C trace context as text (`traceparent`, `tracestate`), stored with a queued run. */
export type TraceCarrier = Record<string, string>;

/** An open `cinema.run` span. */
export interface RunScope {
  /** Parent of the run's projection spans. */
  readonly context: Context;
  /** The trace context to carry to the workers of a queued run. */
  carrier(): TraceCarrier;
  /** The run has its id (emits `cinema.run.started`). */
  started(run: CinemaRun): void;
  /** Ends the span with the run's outcome (once; `run` undefined: it could not even start). */
  end(run: CinemaRun | undefined, error?: unknown): void;
}

/** What a projection's span and its event say besides the projection. */
export interface NodeDetail {
  engine: 'inline' | 'queue' | 'capture';
  lensKeys: readonly string[];
  lens: Record<string, unknown>;
  runId?: string;
  attempt?: number;
}

/** An open `cinema.refresh <Projection>` span. */
interface NodeScope {
  readonly context: Context;
  end(report: NodeReport, error?: unknown): void;
}

/**
 * Cinema's traces, metrics and events, through `@opentelemetry/api` only: the application
 * configures (or not) the SDK, and without one every call is a no-op. One instance per module;
 * the engines and the change-capture watcher report to it, listeners (the events bridge) hear it.
 *
 * Metrics never carry lens values (unbounded cardinality): only projection, engine and outcome.
 */
export class RunTelemetry {
  private readonly tracer = trace.getTracer(INSTRUMENTATION_SCOPE);
  private readonly meter = metrics.getMeter(INSTRUMENTATION_SCOPE);
  private readonly refreshDuration = this.meter.createHistogram('cinema.refresh.duration', {
    unit: 'ms',
    description: "Duration of one projection's rebuild (its transaction), by projection, engine and outcome",
  });
  private readonly rowsWritten = this.meter.createCounter('cinema.refresh.rows_written', {
    unit: '{row}',
    description: 'Rows inserted or updated by rebuilds, by projection and engine',
  });
  private readonly runsFinished = this.meter.createCounter('cinema.runs', {
    unit: '{run}',
    description: 'Runs finished in or queued from this process, by engine and outcome',
  });
  private readonly dirtied = this.meter.createCounter('cinema.capture.dirty_slices', {
    unit: '{slice}',
    description: 'Slices change capture found dirty (a whole projection counts once), by projection',
  });
  private readonly lag = this.meter.createHistogram('cinema.capture.lag', {
    unit: 'ms',
    description: "Freshness lag: from a slice's oldest pending change to the committed refresh that covered it, by projection",
  });
  private readonly listeners = new Set<(event: TelemetryEvent) => void>();
  private readonly logger = new Logger('Cinema');

  /** Hears every event; returns the function that stops it. */
  listen(listener: (event: TelemetryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Opens the span of a run started in this process, or queued from it (a child of the caller's
   * active span); `started` names the run once it has an id.
   */
  startRun(label: string, lensKeys: readonly string[], engine: 'inline' | 'queue'): RunScope {
    const span = this.tracer.startSpan('cinema.run', {
      attributes: { 'cinema.projection': label, 'cinema.lens.keys': [...lensKeys], 'cinema.engine': engine },
    });
    const spanContext = trace.setSpan(contextApi.active(), span);
    let ended = false;
    return {
      context: spanContext,
      carrier: () => {
        const carrier: TraceCarrier = {};
        propagation.inject(spanContext, carrier);
        return carrier;
      },
      started: (run) => {
        span.setAttribute('cinema.run.id', run.id);
        this.emit(CINEMA_EVENTS.runStarted, { run });
      },
      end: (run, error) => {
        if (ended) return;
        ended = true;
        const status = run?.status ?? 'failed';
        span.setAttribute('cinema.run.status', status);
        if (status === 'failed') fail(span, run?.error ?? error);
        span.end();
        // A queued run this process stopped waiting for (shutdown, its timeout) has no outcome here.
        if (status !== 'succeeded' && status !== 'failed') return;
        this.runsFinished.add(1, { 'cinema.engine': engine, 'cinema.outcome': status });
        // One line per finished run; a failure is told by its caller (thrown) or by the background-run log.
        if (run && status === 'succeeded') this.logger.log(runLine(run, engine));
        if (run) this.emit(status === 'succeeded' ? CINEMA_EVENTS.runSucceeded : CINEMA_EVENTS.runFailed, { run });
      },
    };
  }

  /** The context a queued run's worker continues: the caller's trace, from the carrier stored with the run. */
  continueFrom(carrier: TraceCarrier | null | undefined): Context {
    return carrier ? propagation.extract(ROOT_CONTEXT, carrier) : ROOT_CONTEXT;
  }

  /** Opens the span of one projection's rebuild under `parent`. */
  private startNode(projection: string, parent: Context, detail: NodeDetail): NodeScope {
    const attributes: Attributes = {
      'cinema.projection': projection,
      'cinema.engine': detail.engine,
      'cinema.lens.keys': [...detail.lensKeys],
    };
    if (detail.runId) attributes['cinema.run.id'] = detail.runId;
    if (detail.attempt !== undefined) attributes['cinema.attempt'] = detail.attempt;
    const span = this.tracer.startSpan(`cinema.refresh ${projection}`, { attributes }, parent);
    const started = performance.now();
    return {
      context: trace.setSpan(parent, span),
      end: (report, error) => {
        span.setAttributes({
          'cinema.rows.deleted': report.deleted,
          'cinema.rows.written': report.written,
          'cinema.write_path': [...new Set(report.paths)],
        });
        if (report.unchanged !== undefined) span.setAttribute('cinema.rows.unchanged', report.unchanged);
        const outcome = error === undefined ? 'succeeded' : 'failed';
        if (error !== undefined) fail(span, error);
        span.end();
        const labels = { 'cinema.projection': projection, 'cinema.engine': detail.engine };
        this.refreshDuration.record(performance.now() - started, { ...labels, 'cinema.outcome': outcome });
        if (report.written > 0) this.rowsWritten.add(report.written, labels);
        if (Logger.isLevelEnabled('debug')) {
          this.logger.debug(
            `${projection} ${describeLens(detail.lens)} (${detail.engine}${detail.runId ? ` run ${detail.runId}` : ''}): ` +
              `${outcome}, ${report.deleted} deleted, ${report.written} written${report.unchanged === undefined ? '' : `, ${report.unchanged} unchanged`}${report.paths.length ? ` by ${[...new Set(report.paths)].join('+')}` : ''} ` +
              `in ${(performance.now() - started).toFixed(1)} ms${error === undefined ? '' : `: ${error instanceof Error ? error.message : JSON.stringify(error)}`}`,
          );
        }
        if (error === undefined) {
          const event: ProjectionRefreshedEvent = { runId: detail.runId, projection, lens: detail.lens, engine: detail.engine, report };
          this.emit(CINEMA_EVENTS.projectionRefreshed, event);
        }
      },
    };
  }

  /**
   * Runs one projection's rebuild inside its span (the span active while it runs), sets the
   * report's status, and ends the span with the report, or with the error it rethrows.
   */
  async traceNode(projection: string, parent: Context, detail: NodeDetail, report: NodeReport, work: () => Promise<void>): Promise<void> {
    const span = this.startNode(projection, parent, detail);
    try {
      await this.within(span.context, work);
    } catch (error) {
      report.status = 'failed';
      span.end(report, error);
      throw error;
    }
    report.status = 'succeeded';
    span.end(report);
  }

  /** Change capture found these slices of a projection dirty (`slices` empty: the whole of it). */
  sliceDirtied(event: SliceDirtiedEvent): void {
    this.dirtied.add(Math.max(1, event.slices.length), { 'cinema.projection': event.projection });
    this.emit(CINEMA_EVENTS.sliceDirtied, event);
  }

  /** Change capture refreshed a slice `lagMs` after its oldest pending change was written. */
  freshnessLag(projection: string, lagMs: number): void {
    this.lag.record(lagMs, { 'cinema.projection': projection });
  }

  /** Runs `work` with `ctx` active, so that spans of the libraries it calls (pg, ...) nest under it. */
  private within<T>(ctx: Context, work: () => T): T {
    return contextApi.with(ctx, work);
  }

  private emit(name: TelemetryEvent['name'], payload: unknown): void {
    for (const listener of this.listeners) {
      try {
        listener({ name, payload });
      } catch {
        // A listener's failure is its own (the events bridge logs it): never the run's.
      }
    }
  }
}

function fail(span: Span, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof Error) span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

/** `inline run <id> AccountsReceivable { orgId: 42 }: succeeded in 12.3 ms, 2 projections, 40 rows written`. */
function runLine(run: CinemaRun, engine: string): string {
  const rebuilt = run.nodes.filter((node) => !node.virtual);
  const written = rebuilt.reduce((sum, node) => sum + node.written, 0);
  const took = run.durationMs === undefined ? '' : ` in ${run.durationMs.toFixed(1)} ms`;
  return `${engine} run ${run.id} ${run.projection} ${describeLens(run.lens)}: ${run.status}${took}, ${rebuilt.length} projection(s), ${written} rows written`;
}
