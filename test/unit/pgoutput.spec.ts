import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MarkCollector } from '../../lib/capture/logical/change-marks.js';
import { parsePgoutput, UNCHANGED, type PgoutputMessage } from '../../lib/capture/logical/pgoutput.parser.js';
import { resolveCinemaOptions } from '../../lib/cinema-options.js';
import { InvalidCinemaOptionsError } from '../../lib/errors/invalid-options.error.js';
import { PgoutputFormatError } from '../../lib/errors/pgoutput-format.error.js';

/** Rows peeked from a real slot (PostgreSQL 15.20), see the fixture's `setup`. */
const peeked = JSON.parse(readFileSync(new URL('../fixtures/pgoutput/peeked.json', import.meta.url), 'utf8')) as Record<
  'fullIdentity' | 'defaultIdentity',
  { rows: { lsn: string; xid: string; hex: string }[] }
>;
const messages = (set: keyof typeof peeked): PgoutputMessage[] => peeked[set].rows.map((row) => parsePgoutput(Buffer.from(row.hex, 'hex')));

describe('pgoutput messages, protocol 1, from a real slot', () => {
  it('parses begin, relation, insert, update, delete, truncate and commit with REPLICA IDENTITY FULL', () => {
    const parsed = messages('fullIdentity');
    expect(parsed.map((m) => m.tag)).toEqual([
      'begin',
      'relation',
      'insert',
      'insert',
      'commit',
      'begin',
      'update',
      'commit',
      'begin',
      'delete',
      'commit',
      'begin',
      'relation',
      'truncate',
      'commit',
    ]);
    expect(parsed[0]).toEqual({ tag: 'begin', finalLsn: '0/21AB068', xid: 731 });
    expect(parsed[4]).toEqual({ tag: 'commit', commitLsn: '0/21AB068', endLsn: '0/21AB098' });
    const relation = parsed[1] as Extract<PgoutputMessage, { tag: 'relation' }>;
    expect(relation).toMatchObject({ tag: 'relation', schema: 'public', name: 't', replicaIdentity: 'f' });
    expect(relation.columns.map((c) => [c.name, c.typeOid, c.key])).toEqual([
      ['id', 23, true],
      ['org', 23, true],
      ['name', 25, true],
      ['big', 20, true],
      ['flag', 16, true],
      ['amt', 1700, true],
    ]);
    expect(parsed[2]).toEqual({ tag: 'insert', oid: relation.oid, new: ['1', '10', 'a', '9007199254740993', 't', '1.50'] });
    expect(parsed[3]).toEqual({ tag: 'insert', oid: relation.oid, new: ['2', '20', null, '1', 'f', '2'] });
    expect(parsed[6]).toMatchObject({ tag: 'update', oldKind: 'full', old: ['1', '10', 'a', '9007199254740993', 't', '1.50'] });
    expect((parsed[6] as { new: unknown[] }).new[1]).toBe('11');
    expect(parsed[9]).toMatchObject({ tag: 'delete', oldKind: 'full', old: ['2', '20', null, '1', 'f', '2'] });
    expect(parsed[13]).toEqual({ tag: 'truncate', oids: [relation.oid] });
  });

  it('parses a type message, key-only old tuples and unchanged TOAST values with the default replica identity', () => {
    const parsed = messages('defaultIdentity');
    expect(parsed[1]).toMatchObject({ tag: 'type', schema: 'public', name: 'mood' });
    const relation = parsed[2] as Extract<PgoutputMessage, { tag: 'relation' }>;
    expect(relation).toMatchObject({ name: 'k', replicaIdentity: 'd' });
    expect(relation.columns.map((c) => c.key)).toEqual([true, false, false, false]);
    // UPDATE of a non-key column: no old tuple, the TOASTed doc unchanged.
    expect(parsed[6]).toEqual({ tag: 'update', oid: relation.oid, old: undefined, oldKind: undefined, new: ['1', '6', UNCHANGED, 'ok'] });
    // UPDATE of the key: the old key only.
    expect(parsed[9]).toMatchObject({ tag: 'update', oldKind: 'key', old: ['1', null, null, null], new: ['2', '6', UNCHANGED, 'ok'] });
    expect(parsed[12]).toMatchObject({ tag: 'delete', oldKind: 'key', old: ['2', null, null, null] });
  });

  it('refuses a message cut short, and passes over tags it does not know', () => {
    const insert = Buffer.from(peeked.fullIdentity.rows[2].hex, 'hex');
    expect(() => parsePgoutput(insert.subarray(0, insert.length - 2))).toThrow(PgoutputFormatError);
    expect(() => parsePgoutput(insert.subarray(0, insert.length - 2))).toThrow(/ends early/);
    expect(parsePgoutput(Buffer.from('Z'))).toEqual({ tag: 'unknown', byte: 'Z' });
  });
});

describe('marks from decoded changes', () => {
  const collect = (set: keyof typeof peeked, lens: { key: string; column: string }[]) => {
    const parsed = messages(set);
    const oid = (parsed.find((m) => m.tag === 'relation') as { oid: number }).oid;
    const collector = new MarkCollector(new Map([[oid, [{ projection: 'P', lens }]]]));
    // What the collector holds after each message.
    return parsed.map((message) => {
      collector.add(message);
      return collector.result();
    });
  };

  it('marks the new slice of an insert, both slices of a moving update, the old of a delete; truncate marks whole', () => {
    const steps = collect('fullIdentity', [
      { key: 'orgId', column: 'org' },
      { key: 'flag', column: 'flag' },
    ]);
    expect(steps[10]).toEqual({
      whole: new Set(),
      slices: [
        {
          projection: 'P',
          keys: ['orgId', 'flag'],
          typeOids: [23, 16],
          rows: [
            ['10', 't'],
            ['20', 'f'],
            ['11', 't'],
          ],
        },
      ],
    });
    expect(steps[14]).toEqual({ whole: new Set(['P']), slices: [] });
  });

  it('takes a lens value from the key-only old tuple, and marks whole when the old tuple lacks it', () => {
    const byKey = collect('defaultIdentity', [{ key: 'id', column: 'id' }]);
    expect(byKey.at(-1)!.slices[0].rows).toEqual([['1'], ['2']]);
    const byOrg = collect('defaultIdentity', [{ key: 'orgId', column: 'org' }]);
    // The key-changing UPDATE and the DELETE carry no old org: the whole projection.
    expect(byOrg[8].slices[0].rows).toEqual([['5'], ['6']]);
    expect(byOrg.at(-1)!).toEqual({ whole: new Set(['P']), slices: [] });
  });

  it('marks whole when a lens column comes as an unchanged TOAST value with nothing to take it from', () => {
    const steps = collect('defaultIdentity', [{ key: 'doc', column: 'doc' }]);
    expect(steps[4].whole.size).toBe(0);
    expect(steps[7].whole).toEqual(new Set(['P']));
  });

  it('validates the logical options once', () => {
    const capture = (given: Record<string, unknown>) => () => resolveCinemaOptions({ capture: given });
    expect(resolveCinemaOptions({ capture: { mode: 'logical' } }).capture).toMatchObject({
      mode: 'logical',
      slot: 'cinema_capture',
      publication: 'cinema_capture',
      maxRetainedWal: 1024 ** 3,
    });
    expect(resolveCinemaOptions({ capture: {} }).capture!.mode).toBe('triggers');
    expect(capture({ mode: 'wal' })).toThrow(InvalidCinemaOptionsError);
    expect(capture({ mode: 'wal' })).toThrow(/capture\.mode.*'triggers' or 'logical'/);
    expect(capture({ slot: 'Bad-Slot' })).toThrow(/capture\.slot/);
    expect(capture({ publication: '' })).toThrow(/capture\.publication/);
    expect(capture({ maxRetainedWal: 0 })).toThrow(/capture\.maxRetainedWal/);
  });
});
