import { describe, expect, it } from 'vitest';
import { resolveCinemaOptions } from '../../lib/cinema-options.js';
import { InvalidCinemaOptionsError } from '../../lib/errors/invalid-options.error.js';

const DEFAULTS = {
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

const QUEUE_DEFAULTS = {
  worker: false,
  queues: ['default'],
  concurrency: 2,
  attempts: 3,
  pollInterval: 2_000,
  sweepInterval: 2_000,
  jobSchema: 'graphile_worker',
  retention: 7 * 24 * 60 * 60 * 1_000,
};

/** The error `resolveCinemaOptions` throws for these options (fails the test if none). */
function refusal(options: unknown): InvalidCinemaOptionsError {
  try {
    resolveCinemaOptions(options as never);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidCinemaOptionsError);
    return error as InvalidCinemaOptionsError;
  }
  throw new Error(`accepted ${JSON.stringify(options)}`);
}

describe('resolveCinemaOptions', () => {
  it('fills in every default, for no options and for empty ones, and freezes the result', () => {
    for (const given of [undefined, null, {}]) {
      const resolved = resolveCinemaOptions(given);
      expect(resolved).toEqual(DEFAULTS);
      expect(Object.isFrozen(resolved)).toBe(true);
    }
  });

  it("keeps what is given, treats undefined as the default and leaves the caller's object alone", () => {
    const given = {
      writeDataSource: 'primary',
      readDataSource: 'replica',
      concurrency: undefined,
      timeout: 0,
      runHistory: 0,
      maxConcurrentProjections: 3,
    };
    const resolved = resolveCinemaOptions(given);
    expect(resolved).toEqual({
      ...DEFAULTS,
      writeDataSource: 'primary',
      readDataSource: 'replica',
      timeout: 0,
      runHistory: 0,
      maxConcurrentProjections: 3,
    });
    expect(given.concurrency).toBeUndefined();
    expect(Object.isFrozen(given)).toBe(false);
  });

  it('fills in the queue defaults, on the write data source unless told otherwise', () => {
    const resolved = resolveCinemaOptions({ writeDataSource: 'primary', engine: 'queue', queue: {} });
    expect(resolved.engine).toBe('queue');
    expect(resolved.queue).toEqual({ ...QUEUE_DEFAULTS, dataSource: 'primary' });
    expect(Object.isFrozen(resolved.queue)).toBe(true);
    expect(Object.isFrozen(resolved.queue!.queues)).toBe(true);
    const own = resolveCinemaOptions({
      queue: { dataSource: 'jobs', queues: ['a', 'b-2', 'C_3'], worker: true, concurrency: 1_000, attempts: 100 },
    });
    expect(own.engine).toBe('inline');
    expect(own.queue).toMatchObject({ dataSource: 'jobs', queues: ['a', 'b-2', 'C_3'], worker: true, concurrency: 1_000, attempts: 100 });
  });

  it.each([
    ['a string', 'fast'],
    ['a number', 4],
    ['an array', [{ concurrency: 2 }]],
  ])('refuses options that are %s', (_label, options) => {
    const error = refusal(options);
    expect(error.option).toBe('options');
    expect(error.message).toBe('Invalid Cinema option "options": CinemaModule options must be an object');
  });

  it('refuses an unknown option and lists the known ones', () => {
    const error = refusal({ concurency: 2 });
    expect(error.option).toBe('concurency');
    expect(error.message).toMatch(
      /^Invalid Cinema option "concurency": unknown option; known options: writeDataSource, .*concurrency.*, maxConcurrentProjections, queue, capture$/,
    );
  });

  it.each([
    ['writeDataSource', ''],
    ['writeDataSource', 7],
    ['readDataSource', ''],
    ['readDataSource', null],
  ])('refuses %s = %j', (option, value) => {
    const error = refusal({ [option]: value });
    expect(error.option).toBe(option);
    expect(error.message).toMatch(/must be the name of a data source registered with TypeOrmModule/);
  });

  it.each([
    ['concurrency', 0, 'from 1 to'],
    ['concurrency', 1.5, 'from 1 to'],
    ['concurrency', '4', 'from 1 to'],
    ['timeout', -1, 'from 0 to'],
    ['timeout', Number.POSITIVE_INFINITY, 'from 0 to'],
    ['batchSize', 0, 'from 1 to 1000000'],
    ['batchSize', 1_000_001, 'from 1 to 1000000'],
    ['streamBatchSize', 0, 'from 1 to 1000000'],
    ['streamBatchSize', 2_000_000, 'from 1 to 1000000'],
    ['runHistory', -1, 'from 0 to'],
    ['maxConcurrentProjections', 0, 'from 1 to'],
    ['maxConcurrentProjections', Number.NaN, 'from 1 to'],
  ])('refuses %s = %s', (option, value, range) => {
    const error = refusal({ [option]: value });
    expect(error.option).toBe(option);
    expect(error.message).toContain(`must be an integer ${range}`);
    expect(error.message).toContain(`got ${String(value)}`);
  });

  it('accepts the bounds of each integer option', () => {
    expect(() =>
      resolveCinemaOptions({
        concurrency: 1,
        timeout: 0,
        batchSize: 1_000_000,
        streamBatchSize: 1,
        runHistory: 0,
        maxConcurrentProjections: 1,
      }),
    ).not.toThrow();
  });

  it('refuses allowEmptyLens that is not a boolean', () => {
    const error = refusal({ allowEmptyLens: 'yes' });
    expect(error.option).toBe('allowEmptyLens');
    expect(error.message).toMatch(/must be a boolean/);
  });

  it('refuses preparedStatements that is not a boolean', () => {
    const error = refusal({ preparedStatements: 1 });
    expect(error.option).toBe('preparedStatements');
    expect(error.message).toMatch(/must be a boolean/);
  });

  it('takes onVersionChange as one of its three policies', () => {
    expect(resolveCinemaOptions({ onVersionChange: 'lazy' }).onVersionChange).toBe('lazy');
    expect(refusal({ onVersionChange: 'never' as never }).message).toBe(
      `Invalid Cinema option "onVersionChange": must be 'rebuild', 'lazy' or 'fail', got "never"`,
    );
  });

  it('refuses an unknown engine, and the queue engine without queue options', () => {
    expect(refusal({ engine: 'cron' }).message).toBe(`Invalid Cinema option "engine": must be 'inline' or 'queue', got cron`);
    const error = refusal({ engine: 'queue' });
    expect(error.option).toBe('engine');
    expect(error.message).toMatch(/needs the queue option \(queue: \{\} for its defaults\)/);
  });

  it.each([null, 'yes', ['default']])('refuses queue options that are %j', (queue) => {
    const error = refusal({ queue });
    expect(error.option).toBe('queue');
    expect(error.message).toMatch(/must be an object/);
  });

  it.each([
    [
      'an unknown key',
      { workers: 2 },
      'queue.workers',
      /unknown option; known options: worker, queues, concurrency, attempts, pollInterval, sweepInterval, retention, jobSchema, dataSource/,
    ],
    ['an empty data source', { dataSource: '' }, 'queue.dataSource', /name of a data source/],
    ['a worker flag that is not a boolean', { worker: 1 }, 'queue.worker', /must be a boolean/],
    ['no queues', { queues: [] }, 'queue.queues', /non-empty array/],
    ['queues that are not an array', { queues: 'default' }, 'queue.queues', /non-empty array/],
    ['a queue name with a space', { queues: ['ok', 'no spaces'] }, 'queue.queues', /1 to 48 letters, digits, _ or -; got "no spaces"/],
    ['a queue name too long', { queues: ['q'.repeat(49)] }, 'queue.queues', /1 to 48/],
    ['a queue name that is not a string', { queues: [1] }, 'queue.queues', /got 1$/],
    ['no concurrency', { concurrency: 0 }, 'queue.concurrency', /from 1 to 1000, got 0/],
    ['too much concurrency', { concurrency: 1_001 }, 'queue.concurrency', /from 1 to 1000, got 1001/],
    ['no attempts', { attempts: 0 }, 'queue.attempts', /from 1 to 100, got 0/],
    ['too many attempts', { attempts: 101 }, 'queue.attempts', /from 1 to 100, got 101/],
    ['a poll interval below 10 ms', { pollInterval: 9 }, 'queue.pollInterval', /from 10 to/],
    ['a sweep interval below 100 ms', { sweepInterval: 99 }, 'queue.sweepInterval', /from 100 to/],
    ['a job schema that is not an identifier', { jobSchema: 'jobs; DROP' }, 'queue.jobSchema', /lower-case SQL identifier/],
    ['a job schema in capitals', { jobSchema: 'Jobs' }, 'queue.jobSchema', /lower-case SQL identifier/],
  ])('refuses queue options with %s', (_label, queue, option, message) => {
    const error = refusal({ queue });
    expect(error.option).toBe(option);
    expect(error.message).toMatch(message);
  });
});
