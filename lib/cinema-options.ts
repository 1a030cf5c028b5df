import { InvalidCinemaOptionsError } from './errors/invalid-options.error.js';
import type { CinemaModuleOptions, ResolvedCinemaOptions } from './interfaces/cinema-options.interface.js';
import type { CinemaCaptureOptions, ResolvedCaptureOptions } from './interfaces/capture.interface.js';
import type { CinemaQueueOptions, ResolvedQueueOptions } from './interfaces/queue-options.interface.js';

const DEFAULTS: ResolvedCinemaOptions = {
  writeDataSource: 'default',
  readDataSource: 'default',
  concurrency: 4,
  timeout: 60_000,
  fullRebuildTimeout: 600_000,
  connectionCheckInterval: 1_000,
  preparedStatements: true,
  allowEmptyLens: false,
  batchSize: 1_000,
  streamBatchSize: 5_000,
  runHistory: 1_000,
  engine: 'inline',
  onVersionChange: 'rebuild',
};

const QUEUE_DEFAULTS: Omit<ResolvedQueueOptions, 'dataSource'> = {
  worker: false,
  queues: ['default'],
  concurrency: 2,
  attempts: 3,
  pollInterval: 2_000,
  sweepInterval: 2_000,
  retention: 7 * 24 * 60 * 60 * 1_000,
  jobSchema: 'graphile_worker',
};

/** Queue names become part of graphile-worker task identifiers. */
const QUEUE_NAME = /^[A-Za-z0-9_-]{1,48}$/;

/** Merges defaults into the module options and validates them, once, for every way of configuring. */
export function resolveCinemaOptions(options: CinemaModuleOptions | undefined | null): ResolvedCinemaOptions {
  if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
    throw new InvalidCinemaOptionsError('options', 'CinemaModule options must be an object');
  }
  const given = options ?? {};
  const known = new Set([...Object.keys(DEFAULTS), 'maxConcurrentProjections', 'queue', 'capture']);
  for (const key of Object.keys(given)) {
    if (!known.has(key)) throw new InvalidCinemaOptionsError(key, `unknown option; known options: ${[...known].join(', ')}`);
  }
  const { queue, capture, ...rest } = given;
  const resolved: ResolvedCinemaOptions = { ...DEFAULTS, ...stripUndefined(rest) };
  name(resolved.writeDataSource, 'writeDataSource');
  name(resolved.readDataSource, 'readDataSource');
  integer(resolved.concurrency, 'concurrency', 1);
  integer(resolved.timeout, 'timeout', 0);
  integer(resolved.fullRebuildTimeout, 'fullRebuildTimeout', 0);
  // PostgreSQL takes an int (milliseconds).
  integer(resolved.connectionCheckInterval, 'connectionCheckInterval', 0, 2_147_483_647);
  integer(resolved.batchSize, 'batchSize', 1, 1_000_000);
  integer(resolved.streamBatchSize, 'streamBatchSize', 1, 1_000_000);
  integer(resolved.runHistory, 'runHistory', 0);
  if (resolved.maxConcurrentProjections !== undefined) integer(resolved.maxConcurrentProjections, 'maxConcurrentProjections', 1);
  if (typeof resolved.allowEmptyLens !== 'boolean') throw new InvalidCinemaOptionsError('allowEmptyLens', 'must be a boolean');
  if (typeof resolved.preparedStatements !== 'boolean') throw new InvalidCinemaOptionsError('preparedStatements', 'must be a boolean');
  if (resolved.engine !== 'inline' && resolved.engine !== 'queue') {
    throw new InvalidCinemaOptionsError('engine', `must be 'inline' or 'queue', got ${String(resolved.engine)}`);
  }
  versionPolicy(resolved.onVersionChange, 'onVersionChange');
  if (queue !== undefined) resolved.queue = resolveQueueOptions(queue, resolved.writeDataSource);
  if (capture !== undefined) resolved.capture = resolveCaptureOptions(capture, resolved.writeDataSource);
  if (resolved.engine === 'queue' && !resolved.queue) {
    throw new InvalidCinemaOptionsError('engine', "'queue' needs the queue option (queue: {} for its defaults)");
  }
  return Object.freeze(resolved);
}

function resolveQueueOptions(queue: CinemaQueueOptions, writeDataSource: string): ResolvedQueueOptions {
  if (queue === null || typeof queue !== 'object' || Array.isArray(queue)) {
    throw new InvalidCinemaOptionsError('queue', 'must be an object');
  }
  const known = new Set([...Object.keys(QUEUE_DEFAULTS), 'dataSource']);
  for (const key of Object.keys(queue)) {
    if (!known.has(key)) throw new InvalidCinemaOptionsError(`queue.${key}`, `unknown option; known options: ${[...known].join(', ')}`);
  }
  const resolved: ResolvedQueueOptions = { ...QUEUE_DEFAULTS, dataSource: writeDataSource, ...stripUndefined(queue) };
  name(resolved.dataSource, 'queue.dataSource');
  if (typeof resolved.worker !== 'boolean') throw new InvalidCinemaOptionsError('queue.worker', 'must be a boolean');
  if (!Array.isArray(resolved.queues) || resolved.queues.length === 0) {
    throw new InvalidCinemaOptionsError('queue.queues', 'must be a non-empty array of queue names');
  }
  for (const name of resolved.queues) queueName(name, 'queue.queues');
  integer(resolved.concurrency, 'queue.concurrency', 1, 1_000);
  integer(resolved.attempts, 'queue.attempts', 1, 100);
  integer(resolved.pollInterval, 'queue.pollInterval', 10);
  integer(resolved.sweepInterval, 'queue.sweepInterval', 100);
  integer(resolved.retention, 'queue.retention', 0);
  if (typeof resolved.jobSchema !== 'string' || !/^[a-z_][a-z0-9_]*$/.test(resolved.jobSchema)) {
    throw new InvalidCinemaOptionsError('queue.jobSchema', 'must be a lower-case SQL identifier');
  }
  return Object.freeze({ ...resolved, queues: Object.freeze([...resolved.queues]) });
}

function resolveCaptureOptions(capture: CinemaCaptureOptions, writeDataSource: string): ResolvedCaptureOptions {
  if (capture === null || typeof capture !== 'object' || Array.isArray(capture)) {
    throw new InvalidCinemaOptionsError('capture', 'must be an object ({} for its defaults)');
  }
  const known = ['interval', 'batch', 'dataSource', 'watch', 'mode', 'slot', 'publication', 'maxRetainedWal'];
  for (const key of Object.keys(capture)) {
    if (!known.includes(key)) throw new InvalidCinemaOptionsError(`capture.${key}`, `unknown option; known options: ${known.join(', ')}`);
  }
  const resolved: ResolvedCaptureOptions = {
    interval: 200,
    batch: 1_000,
    dataSource: writeDataSource,
    watch: true,
    mode: 'triggers',
    slot: 'cinema_capture',
    publication: 'cinema_capture',
    maxRetainedWal: 1024 ** 3,
    ...stripUndefined(capture),
  };
  integer(resolved.interval, 'capture.interval', 1, 3_600_000);
  integer(resolved.batch, 'capture.batch', 1, 100_000);
  name(resolved.dataSource, 'capture.dataSource');
  if (resolved.mode !== 'triggers' && resolved.mode !== 'logical') {
    throw new InvalidCinemaOptionsError('capture.mode', `must be 'triggers' or 'logical', got ${JSON.stringify(resolved.mode)}`);
  }
  for (const key of ['slot', 'publication'] as const) {
    if (typeof resolved[key] !== 'string' || !/^[a-z0-9_]{1,63}$/.test(resolved[key])) {
      throw new InvalidCinemaOptionsError(
        `capture.${key}`,
        `must be 1 to 63 lower-case letters, digits or _, got ${JSON.stringify(resolved[key])}`,
      );
    }
  }
  integer(resolved.maxRetainedWal, 'capture.maxRetainedWal', 1);
  if (typeof resolved.watch !== 'boolean') throw new InvalidCinemaOptionsError('capture.watch', 'must be a boolean');
  return Object.freeze(resolved);
}

/** Checks a queue name (letters, digits, `_` and `-`). */
export function queueName(value: unknown, option: string): string {
  if (typeof value !== 'string' || !QUEUE_NAME.test(value)) {
    throw new InvalidCinemaOptionsError(option, `a queue name is 1 to 48 letters, digits, _ or -; got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Checks an `onVersionChange` policy. */
export function versionPolicy(value: unknown, option: string): void {
  if (value !== 'rebuild' && value !== 'lazy' && value !== 'fail') {
    throw new InvalidCinemaOptionsError(option, `must be 'rebuild', 'lazy' or 'fail', got ${JSON.stringify(value)}`);
  }
}

export function integer(value: unknown, option: string, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidCinemaOptionsError(option, `must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
}

function name(value: unknown, option: string): void {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidCinemaOptionsError(option, 'must be the name of a data source registered with TypeOrmModule');
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
