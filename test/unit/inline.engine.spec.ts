import { afterEach, describe, expect, it, vi } from 'vitest';
import { InlineEngine, type ExecuteOptions, type NodeRunner } from '../../lib/engines/inline.engine.js';
import type { ProjectionModel } from '../../lib/model/projection.model.js';
import type { NodeRunOptions } from '../../lib/execution/projection.runner.js';
import { WriteSlots } from '../../lib/execution/write-slots.js';
import { ProjectionFailedError, ProjectionTimeoutError } from '../../lib/errors/projection-failed.error.js';
import { ProjectionGraph } from '../../lib/planning/projection-graph.js';
import type { NodeReport } from '../../lib/interfaces/run.interface.js';
import { normalizeLens } from '../../lib/lens/lens.js';
import { deferred, settle, type Deferred } from '../support/deferred.js';

const LENS = normalizeLens('test', { orgId: 1 });
const WRITE = { options: {} } as never;

/** A runner that runs nothing: each node's run waits until the test finishes or fails it. */
class FakeRunner implements NodeRunner {
  readonly started: string[] = [];
  readonly options = new Map<string, NodeRunOptions>();
  private readonly runs = new Map<string, Deferred>();
  private readonly starts = new Map<string, Deferred>();
  running = 0;
  maxRunning = 0;

  run(model: ProjectionModel, options: NodeRunOptions, report: NodeReport): Promise<void> {
    this.started.push(model.name);
    this.options.set(model.name, options);
    // As the real runner does once it holds its slot.
    report.status = 'running';
    report.startedAt = new Date();
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    const run = deferred();
    this.runs.set(model.name, run);
    this.startOf(model.name).resolve();
    return run.promise.finally(() => this.running--);
  }

  /** Resolves once the engine has started `name`. */
  whenStarted(name: string): Promise<void> {
    return this.startOf(name).promise;
  }

  finish(name: string): void {
    this.runOf(name).resolve();
  }

  fail(name: string, error: Error = new ProjectionFailedError(name, LENS.display, new Error(`${name} broke`))): Error {
    this.runOf(name).reject(error);
    return error;
  }

  private runOf(name: string): Deferred {
    const run = this.runs.get(name);
    if (!run) throw new Error(`${name} was never started (started: ${this.started.join(', ')})`);
    return run;
  }

  private startOf(name: string): Deferred {
    let start = this.starts.get(name);
    if (!start) this.starts.set(name, (start = deferred()));
    return start;
  }
}

/** A plan over stand-in models, built by the real graph; `virtual` names the virtual nodes. */
function plan(edges: Record<string, string[]>, { virtual = [] as string[], target = Object.keys(edges).at(-1)! } = {}) {
  const models = new Map(
    Object.keys(edges).map((name) => [
      name,
      { name, virtual: virtual.includes(name), timeout: 0, options: {}, write: WRITE } as unknown as ProjectionModel,
    ]),
  );
  const graph = new ProjectionGraph(
    Object.entries(edges).map(([name, inputs]) => ({
      key: models.get(name)!,
      name,
      virtual: virtual.includes(name),
      inputs: inputs.length ? [{ method: 'derive', targets: inputs.map((input) => models.get(input)!) }] : [],
    })),
  );
  const nodes = graph.plan(models.get(target)!);
  const reports = new Map<ProjectionModel, NodeReport>(
    nodes.map((node) => [node.key, { projection: node.name, virtual: node.virtual, status: 'pending', deleted: 0, written: 0, paths: [] }]),
  );
  const status = () => Object.fromEntries(nodes.map((node) => [node.name, reports.get(node.key)!.status]));
  return { nodes, reports, status };
}

function start(
  runner: FakeRunner,
  planned: ReturnType<typeof plan>,
  options: Partial<Pick<ExecuteOptions, 'concurrency' | 'timeout'>> = {},
) {
  const engine = new InlineEngine(
    new WriteSlots(),
    { batchSize: 10, streamBatchSize: 20, runHistory: 10, fullRebuildTimeout: 0, connectionCheckInterval: 0 },
    runner,
  );
  const failures = engine.execute(planned.nodes, {
    lens: LENS,
    concurrency: 4,
    timeout: 0,
    batchSize: 10,
    streamBatchSize: 20,
    fullRebuildTimeout: 0,
    connectionCheckInterval: 0,
    reports: planned.reports,
    ...options,
  });
  return { engine, failures };
}

// The original library's example graph with a sink z reading d and f.
const EXAMPLE = { a: [], b: [], c: ['a', 'b'], d: ['c'], e: ['b'], f: ['c', 'e'], z: ['d', 'f'] };

describe('InlineEngine scheduling', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('starts a projection as soon as its own inputs are done, not level by level', async () => {
    const runner = new FakeRunner();
    const planned = plan(EXAMPLE);
    const { failures } = start(runner, planned);
    await runner.whenStarted('b');
    expect(runner.started).toEqual(['a', 'b']);

    runner.finish('b');
    await runner.whenStarted('e');
    expect(runner.started).toEqual(['a', 'b', 'e']);
    runner.finish('a');
    await runner.whenStarted('c');
    runner.finish('c');
    // d needs only c: it starts while e, on c's level, is still running.
    await runner.whenStarted('d');
    expect(planned.status()).toMatchObject({ c: 'succeeded', d: 'running', e: 'running', f: 'pending' });
    runner.finish('d');
    await settle();
    expect(runner.started).not.toContain('f');
    runner.finish('e');
    await runner.whenStarted('f');
    expect(runner.started).not.toContain('z');
    runner.finish('f');
    await runner.whenStarted('z');
    runner.finish('z');

    expect(await failures).toEqual([]);
    expect(runner.started).toEqual(['a', 'b', 'e', 'c', 'd', 'f', 'z']);
    expect(Object.values(planned.status()).every((status) => status === 'succeeded')).toBe(true);
    for (const report of planned.reports.values()) {
      expect(report.finishedAt).toBeInstanceOf(Date);
      expect(report.durationMs).toBe(report.finishedAt!.getTime() - report.startedAt!.getTime());
    }
  });

  it("passes the run's lens, sizes, signal, the node's timeout and its data source's slots to the runner", async () => {
    const runner = new FakeRunner();
    const planned = plan({ a: [] });
    (planned.nodes[0].key as { timeout: number }).timeout = 1_234;
    const { failures } = start(runner, planned);
    await runner.whenStarted('a');
    const options = runner.options.get('a')!;
    expect(options).toMatchObject({ lens: LENS, timeout: 1_234, batchSize: 10, streamBatchSize: 20 });
    expect(options.signal.aborted).toBe(false);
    expect(options.slots.size).toBe(5);
    runner.finish('a');
    expect(await failures).toEqual([]);
  });

  it("runs no more projections at once than the run's concurrency, in plan order", async () => {
    const runner = new FakeRunner();
    const planned = plan({ s1: [], s2: [], s3: [], s4: [], s5: [], sink: ['s1', 's2', 's3', 's4', 's5'] });
    const { failures } = start(runner, planned, { concurrency: 2 });
    await runner.whenStarted('s2');
    await settle();
    expect(runner.started).toEqual(['s1', 's2']);
    runner.finish('s2');
    await runner.whenStarted('s3');
    await settle();
    expect(runner.started).toEqual(['s1', 's2', 's3']);
    runner.finish('s1');
    await runner.whenStarted('s4');
    runner.finish('s3');
    await runner.whenStarted('s5');
    runner.finish('s4');
    runner.finish('s5');
    await runner.whenStarted('sink');
    runner.finish('sink');
    expect(await failures).toEqual([]);
    expect(runner.maxRunning).toBe(2);
  });

  it('skips the dependents of a failure and lets independent branches finish', async () => {
    const runner = new FakeRunner();
    const planned = plan(EXAMPLE);
    const { failures } = start(runner, planned);
    await runner.whenStarted('b');
    runner.finish('a');
    runner.finish('b');
    await runner.whenStarted('c');
    await runner.whenStarted('e');
    const error = runner.fail('c');
    await settle();
    // d, f and z read c (directly or not): skipped at once, while e still runs.
    expect(planned.status()).toEqual({
      a: 'succeeded',
      b: 'succeeded',
      c: 'failed',
      e: 'running',
      d: 'skipped',
      f: 'skipped',
      z: 'skipped',
    });
    runner.finish('e');

    expect(await failures).toEqual([error]);
    expect(planned.status()).toMatchObject({ e: 'succeeded' });
    expect(runner.started).toEqual(['a', 'b', 'c', 'e']);
    const report = planned.reports.get(planned.nodes.find((node) => node.name === 'c')!.key)!;
    expect(report.error).toBe(error);
    expect(report.finishedAt).toBeInstanceOf(Date);
  });

  it('collects every failure of independent branches', async () => {
    const runner = new FakeRunner();
    const planned = plan({ a: [], b: [], z: ['a', 'b'] });
    const { failures } = start(runner, planned);
    await runner.whenStarted('b');
    const first = runner.fail('b');
    const second = runner.fail('a');
    expect(await failures).toEqual([first, second]);
    expect(planned.status()).toEqual({ a: 'failed', b: 'failed', z: 'skipped' });
  });

  it('runs nothing for a virtual projection and starts its readers at once', async () => {
    const runner = new FakeRunner();
    const planned = plan({ orgs: [], totals: ['orgs'], a: ['orgs', 'totals'], b: ['a', 'totals'] }, { virtual: ['orgs', 'totals'] });
    const { failures } = start(runner, planned);
    await runner.whenStarted('a');
    expect(planned.status()).toEqual({ orgs: 'succeeded', totals: 'succeeded', a: 'running', b: 'pending' });
    runner.finish('a');
    await runner.whenStarted('b');
    runner.finish('b');
    expect(await failures).toEqual([]);
    expect(runner.started).toEqual(['a', 'b']);
  });

  it('settles a plan of virtual projections only without running anything', async () => {
    const runner = new FakeRunner();
    const planned = plan({ orgs: [], view: ['orgs'] }, { virtual: ['orgs', 'view'] });
    expect(await start(runner, planned).failures).toEqual([]);
    expect(planned.status()).toEqual({ orgs: 'succeeded', view: 'succeeded' });
    expect(runner.started).toEqual([]);
  });

  it("aborts the running projections at the run's timeout and skips the pending ones", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const runner = new FakeRunner();
    const planned = plan(EXAMPLE);
    const { failures } = start(runner, planned, { timeout: 400 });
    await runner.whenStarted('b');
    runner.finish('b');
    await runner.whenStarted('e');
    const signal = runner.options.get('a')!.signal;
    vi.advanceTimersByTime(399);
    expect(signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(signal.aborted).toBe(true);
    expect(runner.options.get('e')!.signal).toBe(signal);

    // The real runner rolls back on the abort and reports its own timeout; e finished in time.
    const timedOut = runner.fail('a', new ProjectionTimeoutError('a', LENS.display, 400));
    runner.finish('e');
    expect(await failures).toEqual([timedOut]);
    expect(planned.status()).toEqual({
      a: 'failed',
      b: 'succeeded',
      e: 'succeeded',
      c: 'skipped',
      d: 'skipped',
      f: 'skipped',
      z: 'skipped',
    });
    expect(runner.started).toEqual(['a', 'b', 'e']);
  });

  it('reports a timeout naming the first skipped projection when the running ones still succeeded', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const runner = new FakeRunner();
    const planned = plan({ a: [], b: ['a'], c: ['b'] });
    const { failures } = start(runner, planned, { timeout: 250 });
    await runner.whenStarted('a');
    vi.advanceTimersByTime(250);
    // a's commit was already on its way: it succeeds, but nothing new starts after the timeout.
    runner.finish('a');
    const [error, ...others] = await failures;
    expect(others).toEqual([]);
    expect(error).toBeInstanceOf(ProjectionTimeoutError);
    expect(error).toMatchObject({ projection: 'b', timeoutMs: 250, lens: LENS.display });
    expect(planned.status()).toEqual({ a: 'succeeded', b: 'skipped', c: 'skipped' });
    expect(runner.started).toEqual(['a']);
  });

  it("clears the run's timer when the run ends first", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const runner = new FakeRunner();
    const planned = plan({ a: [] });
    const { failures } = start(runner, planned, { timeout: 1_000 });
    await runner.whenStarted('a');
    runner.finish('a');
    expect(await failures).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
    expect(runner.options.get('a')!.signal.aborted).toBe(false);
  });

  it('aborts every run in flight on abortAll, and only those', async () => {
    const runner = new FakeRunner();
    const engine = new InlineEngine(
      new WriteSlots(),
      { batchSize: 10, streamBatchSize: 20, runHistory: 10, fullRebuildTimeout: 0, connectionCheckInterval: 0 },
      runner,
    );
    const first = plan({ a: [], b: ['a'] });
    const second = plan({ x: [], y: ['x'] });
    const options = {
      lens: LENS,
      concurrency: 4,
      timeout: 0,
      batchSize: 10,
      streamBatchSize: 20,
      fullRebuildTimeout: 0,
      connectionCheckInterval: 0,
    };
    const firstRun = engine.execute(first.nodes, { ...options, reports: first.reports });
    const secondRun = engine.execute(second.nodes, { ...options, reports: second.reports });
    await runner.whenStarted('x');
    runner.finish('x');
    await runner.whenStarted('y');
    runner.finish('y');
    expect(await secondRun).toEqual([]);

    engine.abortAll(new Error('shutting down'));
    expect(runner.options.get('a')!.signal.reason).toEqual(new Error('shutting down'));
    expect(runner.options.get('y')!.signal.aborted).toBe(false);
    const error = runner.fail('a');
    expect(await firstRun).toEqual([error]);
    expect(first.status()).toEqual({ a: 'failed', b: 'skipped' });
  });
});
