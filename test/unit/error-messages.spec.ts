import { HttpStatus } from '@nestjs/common';
import { In } from 'typeorm';
import { describe, expect, it } from 'vitest';
import {
  InvalidCinemaOptionsError,
  InvalidLensError,
  ProjectionFailedError,
  ProjectionTimeoutError,
  RunNotRetryableError,
  UnknownLensKeyError,
  UnknownRunError,
  UnregisteredProjectionError,
} from '../../lib/index.js';
import { statusOf } from '../../lib/http/cinema-exception.filter.js';

describe('lens values in messages', () => {
  const message = (lens: Record<string, unknown>) => new InvalidLensError('Report', lens, 'orgId', 'reason').message;

  it('prints numbers, bigints and dates as they are, not as JSON would', () => {
    expect(message({ orgId: Number.NaN })).toContain('{ orgId: NaN }');
    expect(message({ orgId: Number.POSITIVE_INFINITY })).toContain('{ orgId: Infinity }');
    expect(message({ orgId: 12345678901234567890n })).toContain('{ orgId: 12345678901234567890n }');
    expect(message({ day: new Date('2026-02-03T04:05:06.000Z') })).toContain('{ day: 2026-02-03T04:05:06.000Z }');
    expect(message({ orgId: [1, Number.NaN, '2'] })).toContain('{ orgId: [1, NaN, "2"] }');
    expect(message({ orgId: In([3, 4]) })).toContain('{ orgId: in([3, 4]) }');
  });

  it('prints objects with their contents and class, not as {}', () => {
    class Money {
      amount = 5;
    }
    expect(message({ orgId: { $gt: 1 } })).toContain("{ orgId: { '$gt': 1 } }");
    expect(message({ orgId: new Money() })).toContain('Money { amount: 5 }');
    expect(message({ orgId: new Map([[1, 2]]) })).toContain('Map(1) { 1 => 2 }');
  });

  it('cuts a huge value short', () => {
    const text = message({ name: 'x'.repeat(10_000) });
    expect(text.length).toBeLessThan(400);
    expect(text).toContain('...');
  });
});

describe('HTTP statuses of Cinema errors', () => {
  it.each([
    [new InvalidLensError('P', {}, 'k', 'bad'), HttpStatus.BAD_REQUEST],
    [new UnknownLensKeyError('P', { k: 1 }, 'k', ['orgId']), HttpStatus.BAD_REQUEST],
    [new InvalidCinemaOptionsError('concurrency', 'must be a whole number'), HttpStatus.BAD_REQUEST],
    [new UnknownRunError('r'), HttpStatus.NOT_FOUND],
    [new RunNotRetryableError('r', 'pending'), HttpStatus.CONFLICT],
    [new ProjectionTimeoutError('P', {}, 100), HttpStatus.SERVICE_UNAVAILABLE],
    [new ProjectionFailedError('P', {}, new Error('boom')), HttpStatus.INTERNAL_SERVER_ERROR],
    [new UnregisteredProjectionError('P'), HttpStatus.INTERNAL_SERVER_ERROR],
  ])('%s answers %i', (error, status) => {
    expect(statusOf(error)).toBe(status);
  });
});
