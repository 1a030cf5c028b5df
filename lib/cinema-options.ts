import { InvalidCinemaOptionsError } from './errors/invalid-options.error.js';
import type { CinemaModuleOptions, ResolvedCinemaOptions } from './interfaces/cinema-options.interface.js';

const DEFAULTS: ResolvedCinemaOptions = {
  writeDataSource: 'default',
  readDataSource: 'default',
  concurrency: 4,
  timeout: 60_000,
  allowEmptyLens: false,
  batchSize: 5_000,
  streamBatchSize: 5_000,
  runHistory: 1_000,
};

/** Merges defaults into the module options and validates them, once, for every way of configuring. */
export function resolveCinemaOptions(options: CinemaModuleOptions | undefined | null): ResolvedCinemaOptions {
  if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
    throw new InvalidCinemaOptionsError('options', 'CinemaModule options must be an object');
  }
  const given = options ?? {};
  const known = new Set([...Object.keys(DEFAULTS), 'maxConcurrentProjections']);
  for (const key of Object.keys(given)) {
    if (!known.has(key)) throw new InvalidCinemaOptionsError(key, `unknown option; known options: ${[...known].join(', ')}`);
  }
  const resolved: ResolvedCinemaOptions = { ...DEFAULTS, ...stripUndefined(given) };
  name(resolved.writeDataSource, 'writeDataSource');
  name(resolved.readDataSource, 'readDataSource');
  integer(resolved.concurrency, 'concurrency', 1);
  integer(resolved.timeout, 'timeout', 0);
  integer(resolved.batchSize, 'batchSize', 1, 1_000_000);
  integer(resolved.streamBatchSize, 'streamBatchSize', 1, 1_000_000);
  integer(resolved.runHistory, 'runHistory', 0);
  if (resolved.maxConcurrentProjections !== undefined) integer(resolved.maxConcurrentProjections, 'maxConcurrentProjections', 1);
  if (typeof resolved.allowEmptyLens !== 'boolean') throw new InvalidCinemaOptionsError('allowEmptyLens', 'must be a boolean');
  return Object.freeze(resolved);
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
