import { Injectable, Logger } from '@nestjs/common';
import { EventEmitterModule, OnEvent } from '@nestjs/event-emitter';
import { context, metrics, propagation, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CINEMA_EVENTS,
  INSTRUMENTATION_SCOPE,
  ProjectionFailedError,
  type CinemaRunEvent,
  type ProjectionRefreshedEvent,
} from '../../lib/index.js';
import { behaviour, D, DAG, source } from '../fixtures/dag.fixture.js';
import { CapturingLogger } from '../support/capturing-logger.js';
import { useQueueApps, useTestApp } from '../support/test-app.js';

// The SDK an application would configure, with in-memory exporters; registered before any app boots.
const spans = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const metricReader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
const meterProvider = new MeterProvider({ readers: [metricReader] });
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(tracerProvider);
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
metrics.setGlobalMeterProvider(meterProvider);

/** Hears Cinema's events as an application's listener would. */
@Injectable()
class RunListener {
  static heard: { name: string; payload: unknown }[] = [];
  @OnEvent(CINEMA_EVENTS.runStarted)
  started(payload: CinemaRunEvent) {
    RunListener.heard.push({ name: CINEMA_EVENTS.runStarted, payload });
  }
  @OnEvent(CINEMA_EVENTS.runSucceeded)
  succeeded(payload: CinemaRunEvent) {
    RunListener.heard.push({ name: CINEMA_EVENTS.runSucceeded, payload });
  }
  @OnEvent(CINEMA_EVENTS.runFailed)
  failed(payload: CinemaRunEvent) {
    RunListener.heard.push({ name: CINEMA_EVENTS.runFailed, payload });
  }
  @OnEvent(CINEMA_EVENTS.projectionRefreshed)
  refreshed(payload: ProjectionRefreshedEvent) {
    RunListener.heard.push({ name: CINEMA_EVENTS.projectionRefreshed, payload });
  }
}

const named = (name: string) => spans.getFinishedSpans().filter((span) => span.name === name);
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

describe('OpenTelemetry spans and metrics, and @nestjs/event-emitter events', () => {
  const { api } = useQueueApps('telemetry', DAG, { concurrency: 2, attempts: 1 });
  beforeEach(() => {
    spans.reset();
    source.value = 1;
    for (const key of Object.keys(behaviour)) delete behaviour[key];
  });
  afterAll(async () => {
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
  });

  it('a run is one cinema.run span with a child per projection rebuilt, carrying rows, path and lens keys', async () => {
    await api.cinema.project(D, { orgId: 2 });
    const [run] = named('cinema.run');
    expect(run.attributes).toMatchObject({
      'cinema.projection': 'd',
      'cinema.engine': 'inline',
      'cinema.lens.keys': ['orgId'],
      'cinema.run.status': 'succeeded',
    });
    expect(run.instrumentationScope.name).toBe(INSTRUMENTATION_SCOPE);
    // d reads c, which reads a and b (the virtual orgs rebuild nothing): three levels.
    const children = ['a', 'b', 'c', 'd'].map((name) => named(`cinema.refresh ${name}`)[0]);
    for (const child of children) {
      expect(parentOf(child)).toBe(run.spanContext().spanId);
      expect(child.spanContext().traceId).toBe(run.spanContext().traceId);
      expect(child.attributes).toMatchObject({
        'cinema.engine': 'inline',
        'cinema.rows.written': 1,
        'cinema.run.id': run.attributes['cinema.run.id'],
      });
      expect(child.attributes['cinema.write_path']).toEqual(['stream']);
    }
    // Lens values stay out of the attributes.
    expect(JSON.stringify(run.attributes)).not.toContain('"2"');
    // One span per rebuild: the virtual orgs rebuild nothing, e/f/z are not in d's plan.
    expect(named('cinema.refresh orgs')).toEqual([]);
    expect(
      spans
        .getFinishedSpans()
        .filter((span) => span.name.startsWith('cinema.refresh'))
        .map((span) => span.name)
        .sort(),
    ).toEqual(['a', 'b', 'c', 'd'].map((name) => `cinema.refresh ${name}`));
  });

  it("a failed projection's span has the error status and the exception; the run span too", async () => {
    behaviour.c = { fail: 'c broke' };
    await expect(api.cinema.project(D, { orgId: 1 })).rejects.toBeInstanceOf(ProjectionFailedError);
    const [c] = named('cinema.refresh c');
    expect(c.status).toMatchObject({ code: SpanStatusCode.ERROR });
    expect(c.status.message).toContain('c broke');
    expect(c.events.map((event) => event.name)).toContain('exception');
    expect(named('cinema.refresh d')).toEqual([]);
    const [run] = named('cinema.run');
    expect(run.status.code).toBe(SpanStatusCode.ERROR);
    expect(run.attributes['cinema.run.status']).toBe('failed');
  });

  it("a queued run's projection spans, run by the worker, continue the caller's trace", async () => {
    const caller = trace.getTracer('test').startSpan('HTTP POST /refresh');
    await context.with(trace.setSpan(context.active(), caller), () => api.cinema.project(D, { orgId: 3 }, { engine: 'queue' }));
    caller.end();
    const [run] = named('cinema.run');
    expect(run.attributes).toMatchObject({ 'cinema.engine': 'queue', 'cinema.run.status': 'succeeded' });
    expect(parentOf(run)).toBe(caller.spanContext().spanId);
    for (const name of ['a', 'b', 'c', 'd']) {
      const [node] = named(`cinema.refresh ${name}`);
      expect(node.attributes).toMatchObject({ 'cinema.engine': 'queue', 'cinema.attempt': 1 });
      expect(node.spanContext().traceId).toBe(caller.spanContext().traceId);
      expect(parentOf(node)).toBe(run.spanContext().spanId);
    }
  });

  it('records refresh durations, rows written and runs by outcome, without lens values', async () => {
    await api.cinema.project(D, { orgId: 1 });
    await metricReader.forceFlush();
    const exported = metricExporter
      .getMetrics()
      .at(-1)!
      .scopeMetrics.find((scope) => scope.scope.name === INSTRUMENTATION_SCOPE)!;
    const metric = (name: string) => exported.metrics.find((m) => m.descriptor.name === name)!;
    const duration = metric('cinema.refresh.duration');
    expect(duration.dataPoints.map((point) => point.attributes['cinema.projection'])).toEqual(expect.arrayContaining(['a', 'b', 'c', 'd']));
    const runs = metric('cinema.runs').dataPoints;
    expect(
      runs.find((point) => point.attributes['cinema.outcome'] === 'succeeded' && point.attributes['cinema.engine'] === 'inline')!.value,
    ).toBeGreaterThan(0);
    expect(runs.find((point) => point.attributes['cinema.outcome'] === 'failed')!.value).toBeGreaterThan(0);
    const rows = metric('cinema.refresh.rows_written').dataPoints;
    expect(rows.find((point) => point.attributes['cinema.projection'] === 'd')!.value).toBeGreaterThan(0);
    for (const point of [...duration.dataPoints, ...rows]) expect(Object.keys(point.attributes).sort()).not.toContain('orgId');
  });
});

describe('events through @nestjs/event-emitter', () => {
  const { t } = useTestApp('events', (db) => ({
    dataSources: [{ url: db.url, synchronize: true }],
    projections: DAG,
    imports: [EventEmitterModule.forRoot()],
    providers: [RunListener],
  }));
  beforeEach(() => {
    RunListener.heard = [];
    source.value = 1;
    for (const key of Object.keys(behaviour)) delete behaviour[key];
  });

  it('emits run started and succeeded, and each projection refreshed, with typed payloads', async () => {
    const run = await t.cinema.refresh([D], { orgId: 2 });
    const names = RunListener.heard.map((event) => event.name);
    expect(names[0]).toBe('cinema.run.started');
    expect(names.at(-1)).toBe('cinema.run.succeeded');
    const refreshed = RunListener.heard
      .filter((event) => event.name === 'cinema.projection.refreshed')
      .map((event) => event.payload as ProjectionRefreshedEvent);
    expect(refreshed.map((event) => event.projection).sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(refreshed[0]).toMatchObject({
      runId: run.id,
      engine: 'inline',
      lens: { orgId: 2 },
      report: { status: 'succeeded', written: 1 },
    });
    expect((RunListener.heard.at(-1)!.payload as CinemaRunEvent).run.id).toBe(run.id);
  });

  it('logs one line per finished run at log level, with the engine, id, projection, lens and rows', async () => {
    const logger = new CapturingLogger();
    t.app.useLogger(logger);
    Logger.overrideLogger(logger);
    const run = await t.cinema.refresh([D], { orgId: 3 });
    expect(logger.logs.filter((line) => line.includes(run.id))).toEqual([
      expect.stringMatching(
        new RegExp(`^inline run ${run.id} d \\{ orgId: 3 \\}: succeeded in [\\d.]+ ms, 4 projection\\(s\\), 4 rows written$`),
      ),
    ]);
  });

  it('emits run failed with the error on the run, and no refreshed event for what failed', async () => {
    behaviour.c = { fail: 'c broke' };
    await expect(t.cinema.refresh([D], { orgId: 1 })).rejects.toBeInstanceOf(ProjectionFailedError);
    const failed = RunListener.heard.find((event) => event.name === 'cinema.run.failed')!.payload as CinemaRunEvent;
    expect(failed.run.error?.message).toContain('c broke');
    const refreshed = RunListener.heard.filter((event) => event.name === 'cinema.projection.refreshed');
    expect(refreshed.map((event) => (event.payload as ProjectionRefreshedEvent).projection).sort()).toEqual(['a', 'b']);
  });
});
