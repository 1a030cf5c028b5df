import { Any, Between, FindOperator, ILike, In, IsNull, LessThan, LessThanOrEqual, Like, MoreThan, MoreThanOrEqual, Not } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { InvalidLensError } from '../../lib/errors/invalid-lens.error.js';
import { decodeLens, encodeLens } from '../../lib/lens/lens-codec.js';
import { normalizeLens, positionalBinder, renderConditions } from '../../lib/lens/lens.js';

/** The lens after a trip through JSON, as a queue worker in another process receives it. */
const roundTrip = (lens: Record<string, unknown>) => decodeLens(JSON.parse(JSON.stringify(encodeLens('P', lens))));

/** What PostgreSQL would receive for a lens. */
function sql(lens: unknown) {
  const params: unknown[] = [];
  const where = renderConditions(normalizeLens('P', lens).conditions, (key) => `"${key}"`, positionalBinder(params));
  return { where: where.join(' AND '), params };
}

describe('lens codec', () => {
  it('sends scalars, lists and null through JSON as they are', () => {
    const lens = { orgId: 42, name: 'Acme "Ltd"', active: false, ids: [1, 2, 3], closedOn: null };
    expect(encodeLens('P', lens)).toEqual(lens);
    expect(roundTrip(lens)).toEqual(lens);
  });

  it('tags dates and bigints so they come back as dates and bigints', () => {
    const day = new Date('2026-01-02T03:04:05.678Z');
    const encoded = encodeLens('P', { day, big: 9_223_372_036_854_775_807n, days: [day] });
    expect(encoded).toEqual({
      day: { $date: '2026-01-02T03:04:05.678Z' },
      big: { $bigint: '9223372036854775807' },
      days: [{ $date: '2026-01-02T03:04:05.678Z' }],
    });
    const decoded = roundTrip({ day, big: 9_223_372_036_854_775_807n });
    expect(decoded.day).toBeInstanceOf(Date);
    expect((decoded.day as Date).getTime()).toBe(day.getTime());
    expect(decoded.big).toBe(9_223_372_036_854_775_807n);
  });

  it.each([
    ['In', In([1, 2])],
    ['Any', Any([3, 4])],
    ['Between', Between('2026-01-01', '2026-02-01')],
    ['Between dates', Between(new Date('2026-01-01T00:00:00Z'), new Date('2026-02-01T00:00:00Z'))],
    ['MoreThan', MoreThan(5)],
    ['MoreThanOrEqual', MoreThanOrEqual(5n)],
    ['LessThan', LessThan(new Date('2026-01-01T00:00:00Z'))],
    ['LessThanOrEqual', LessThanOrEqual(9)],
    ['Like', Like('a%')],
    ['ILike', ILike('%b')],
    ['IsNull', IsNull()],
    ['Not(In)', Not(In([1]))],
    ['Not(IsNull)', Not(IsNull())],
    ['Not(Not(1))', Not(Not(1))],
  ])('sends %s across and renders the same SQL on the other side', (_label, operator) => {
    const decoded = roundTrip({ a: operator });
    expect(decoded.a).toBeInstanceOf(FindOperator);
    expect(sql(decoded)).toEqual(sql({ a: operator }));
  });

  it('refuses a $reduce function, which cannot cross processes, and says what to do instead', () => {
    const lens = { orgId: 1, $reduce: (qb: unknown) => qb };
    expect(() => encodeLens('Report', lens)).toThrow(InvalidLensError);
    expect(() => encodeLens('Report', lens)).toThrow(/cannot be sent to another process; run it with engine: 'inline'/);
  });
});
