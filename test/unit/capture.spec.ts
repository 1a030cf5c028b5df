import { describe, expect, it } from 'vitest';
import { resolveCinemaOptions } from '../../lib/cinema-options.js';
import { captureStatements } from '../../lib/capture/capture-triggers.js';
import { covers, groupMarks, handOffMarks, lensOf } from '../../lib/capture/mark-groups.js';
import { InvalidCinemaOptionsError } from '../../lib/errors/invalid-options.error.js';
import { canonicalText, lensSlices } from '../../lib/capture/lens-slices.js';
import { normalizeLens } from '../../lib/lens/lens.js';
import { resolveRunOptions } from '../../lib/runs/run-options.js';
import { Between, In, MoreThan, Not } from 'typeorm';

describe('change capture: marks, hand-off, triggers, options', () => {
  it('groups marks per projection and key set into list lenses, a NULL lens into one whole rebuild', () => {
    // As the watcher reads them: one entry per slice, with how many marks name it.
    const mark = (projection: string, lens: Record<string, unknown> | null, marks = 1, ageMs = 10 * marks) => ({
      projection,
      lens,
      key: JSON.stringify(lens),
      marks,
      ageMs,
    });
    const groups = groupMarks([
      mark('A', { orgId: 3 }, 2),
      mark('A', { orgId: 42 }, 5),
      mark('A', { orgId: 3, region: 'eu' }),
      mark('B', { orgId: 1 }),
      mark('B', null, 3),
    ]);
    const a = groups.get('A')!;
    // A group is as old as its oldest mark (the freshness lag its refresh ends).
    expect(a.map((g) => [g.marks, g.ageMs, g.lensTexts, g.keys, lensOf(g)])).toEqual([
      [7, 50, ['{"orgId":3}', '{"orgId":42}'], ['orgId'], { orgId: [3, 42] }],
      [1, 10, ['{"orgId":3,"region":"eu"}'], ['orgId', 'region'], { orgId: [3], region: ['eu'] }],
    ]);
    expect(groups.get('B')).toEqual([
      { projection: 'B', marks: 4, ageMs: 30, lensTexts: ['{"orgId":1}', 'null'], whole: true, keys: [], slices: [] },
    ]);
    // A null lens value (a row whose lens column is NULL) cannot be a list lens: the whole projection.
    expect(groupMarks([mark('C', { orgId: null })]).get('C')![0].whole).toBe(true);
  });

  it('tells whether a group rebuilds a slice (what a hand-off to a dependent claimed in the same round may skip)', () => {
    const [group] = groupMarks([
      { projection: 'D', lens: { orgId: 3, region: 'eu' }, key: 'a', marks: 1, ageMs: 0 },
      { projection: 'D', lens: { orgId: 4, region: 'eu' }, key: 'b', marks: 1, ageMs: 0 },
    ]).get('D')!;
    expect(covers(group, { region: 'eu', orgId: 3 })).toBe(true);
    expect(covers(group, { orgId: 3, region: 'us' })).toBe(false);
    expect(covers(group, { orgId: 3 })).toBe(false);
    expect(covers(group, null)).toBe(false);
    expect(covers({ ...group, whole: true }, null)).toBe(true);
    expect(covers({ ...group, whole: true }, { orgId: 9 })).toBe(true);
  });

  it('hands slices on to a dependent that exposes the keys, the whole dependent otherwise', () => {
    const [group] = groupMarks([
      { projection: 'A', lens: { orgId: 3, region: 'eu' }, key: '{"orgId": 3, "region": "eu"}', marks: 1, ageMs: 0 },
      { projection: 'A', lens: { orgId: 3, region: 'us' }, key: '{"orgId": 3, "region": "us"}', marks: 1, ageMs: 0 },
    ]).get('A')!;
    expect(handOffMarks(group, 'D', (key) => key === 'orgId')).toEqual([{ projection: 'D', lens: { orgId: 3 } }]);
    expect(handOffMarks(group, 'E', () => false)).toEqual([{ projection: 'E', lens: null }]);
    expect(handOffMarks({ ...group, whole: true }, 'D', () => true)).toEqual([{ projection: 'D', lens: null }]);
  });

  it('generates one statement trigger per event with transition tables, quoted and with short deterministic names', () => {
    const change = {
      table: '"app"."in""voices"',
      schema: 'app',
      name: 'in"voices',
      label: 'Invoice',
      lens: [{ key: 'orgId', column: 'org id' }],
    };
    const sql = captureStatements([
      { projection: "O'Brien", change },
      { projection: 'Other', change },
    ]);
    expect(sql).toEqual(
      captureStatements([
        { projection: "O'Brien", change },
        { projection: 'Other', change },
      ]),
    );
    const creates = sql.up.filter((s) => s.startsWith('CREATE TRIGGER'));
    expect(creates).toHaveLength(4);
    expect(creates[1]).toMatch(
      /AFTER UPDATE ON "app"."in""voices" REFERENCING OLD TABLE AS "cinema_old" NEW TABLE AS "cinema_new" FOR EACH STATEMENT/,
    );
    expect(creates[3]).not.toMatch(/REFERENCING/);
    const update = sql.up.find((s) => s.includes('_update"() RETURNS trigger'))!;
    expect(update).toContain(`jsonb_build_object('orgId', t."org id")`);
    expect(update).toContain(`'O''Brien'`);
    expect(update.match(/FROM "cinema_(old|new)"/g)).toHaveLength(4);
    expect(update).toContain(`FROM (SELECT "org id" FROM "cinema_old" UNION SELECT "org id" FROM "cinema_new") t`);
    const names = sql.up.join('\n').match(/"capture_[0-9a-f]+_[a-z]+"/g)!;
    expect(Math.max(...names.map((n) => n.length))).toBeLessThan(63);
    expect(sql.up.find((s) => s.includes('_truncate"() RETURNS'))).toContain(`VALUES ('O''Brien', NULL), ('Other', NULL)`);
    expect(sql.down).toHaveLength(8);
  });

  it('validates the capture option', () => {
    expect(resolveCinemaOptions({ capture: {} }).capture).toEqual({
      interval: 200,
      batch: 1_000,
      dataSource: 'default',
      watch: true,
      mode: 'triggers',
      slot: 'cinema_capture',
      publication: 'cinema_capture',
      maxRetainedWal: 1024 ** 3,
    });
    expect(resolveCinemaOptions({ capture: { watch: false } }).capture?.watch).toBe(false);
    expect(() => resolveCinemaOptions({ capture: { watch: 'no' } as never })).toThrow(/capture.watch.*boolean/);
    expect(() => resolveCinemaOptions({ capture: { interval: 0 } })).toThrow(InvalidCinemaOptionsError);
    expect(() => resolveCinemaOptions({ capture: { batch: 1.5 } })).toThrow(/capture.batch/);
    expect(() => resolveCinemaOptions({ capture: { every: 1 } as never })).toThrow(/capture.every.*unknown/);
    expect(resolveCinemaOptions({}).capture).toBeUndefined();
  });

  it('names the slices of an equality or list lens for the read-through check, and no other shape', () => {
    const slices = (lens: unknown) => lensSlices(normalizeLens('P', lens));
    expect(slices({ orgId: 3 })).toEqual({ values: { orgId: ['3'] }, slices: [{ orgId: 3 }], canonical: [{ orgId: '3' }] });
    expect(slices({ orgId: [3, 4, 3], region: In(['eu']) })).toEqual({
      values: { orgId: ['3', '4'], region: ['eu'] },
      slices: [
        { orgId: 3, region: 'eu' },
        { orgId: 4, region: 'eu' },
      ],
      canonical: [
        { orgId: '3', region: 'eu' },
        { orgId: '4', region: 'eu' },
      ],
    });
    expect(slices({})).toEqual({ values: {}, slices: [{}], canonical: [{}] });
    for (const lens of [
      { orgId: MoreThan(3) },
      { orgId: Between(1, 2) },
      { orgId: Not(3) },
      { orgId: null },
      { orgId: [] },
      { at: new Date(0) },
      { orgId: 1e21 },
      { orgId: 3, $reduce: (qb: unknown) => qb },
      { a: Array.from({ length: 40 }, (_, i) => i), b: Array.from({ length: 40 }, (_, i) => i) },
    ]) {
      expect(slices(lens), JSON.stringify(lens)).toBeUndefined();
    }
    expect([canonicalText(3.5), canonicalText(-0), canonicalText(10n), canonicalText(true), canonicalText(1e-7)]).toEqual([
      '3.5',
      '0',
      '10',
      'true',
      undefined,
    ]);
  });

  it('maxStaleness: a whole number of milliseconds, and only with change capture', () => {
    const withCapture = resolveCinemaOptions({ capture: {} });
    expect(resolveRunOptions({ maxStaleness: 0 }, withCapture).maxStaleness).toBe(0);
    expect(() => resolveRunOptions({ maxStaleness: -1 }, withCapture)).toThrow(InvalidCinemaOptionsError);
    expect(() => resolveRunOptions({ maxStaleness: 1.5 }, withCapture)).toThrow(/"maxStaleness"/);
    expect(() => resolveRunOptions({ maxStaleness: 1_000 }, resolveCinemaOptions({}))).toThrow(
      /"maxStaleness": needs change capture.*CinemaModule.forRoot\(\{ capture: \{\} \}\)/,
    );
    expect(resolveRunOptions({}, resolveCinemaOptions({})).maxStaleness).toBeUndefined();
  });
});
