import type { ChangeMark, NewMark } from './change-log.store.js';

/** The marks of one projection refreshed together: one list lens, or the whole projection. */
export interface MarkGroup {
  projection: string;
  /** How many marks the group's slices had when read. */
  marks: number;
  /** The age of the group's oldest mark when read (ms). */
  ageMs: number;
  /** The slices as the database prints their lenses (`ChangeMark.key`): what settling deletes by. */
  lensTexts: string[];
  /** `true`: refresh the whole projection (a NULL-lens mark, or a lens value that is null). */
  whole: boolean;
  /** The lens keys, sorted (empty when whole). */
  keys: string[];
  /** The distinct slices, as the marks carry them (empty when whole). */
  slices: Record<string, unknown>[];
}

/**
 * Groups marks per projection and lens key set. A whole-projection mark swallows the
 * projection's other marks: one rebuild covers every slice.
 */
export function groupMarks(marks: readonly ChangeMark[]): Map<string, MarkGroup[]> {
  const byProjection = new Map<string, ChangeMark[]>();
  for (const mark of marks) {
    const own = byProjection.get(mark.projection);
    if (own) own.push(mark);
    else byProjection.set(mark.projection, [mark]);
  }
  const result = new Map<string, MarkGroup[]>();
  for (const [projection, own] of byProjection) {
    const whole = own.some(
      (mark) => mark.lens === null || Object.values(mark.lens).some((value) => value === null || typeof value === 'object'),
    );
    if (whole) {
      result.set(projection, [
        {
          projection,
          marks: count(own),
          ageMs: Math.max(...own.map((mark) => mark.ageMs)),
          lensTexts: own.map((mark) => mark.key),
          whole: true,
          keys: [],
          slices: [],
        },
      ]);
      continue;
    }
    const groups = new Map<string, MarkGroup & { seen: Set<string> }>();
    for (const mark of own) {
      const keys = Object.keys(mark.lens!).sort();
      const id = keys.join('\u0000');
      let group = groups.get(id);
      if (!group)
        groups.set(id, (group = { projection, marks: 0, ageMs: 0, lensTexts: [], whole: false, keys, slices: [], seen: new Set() }));
      group.marks += mark.marks;
      group.ageMs = Math.max(group.ageMs, mark.ageMs);
      group.lensTexts.push(mark.key);
      const slice = Object.fromEntries(keys.map((key) => [key, mark.lens![key]]));
      const text = JSON.stringify(slice);
      if (!group.seen.has(text)) {
        group.seen.add(text);
        group.slices.push(slice);
      }
    }
    result.set(
      projection,
      [...groups.values()].map(({ seen: _seen, ...group }) => group),
    );
  }
  return result;
}

/** The list lens of a group: `{ orgId: [3, 42, 97] }`; `{}` for the whole projection. */
export function lensOf(group: MarkGroup): Record<string, unknown[]> {
  return Object.fromEntries(group.keys.map((key) => [key, [...new Set(group.slices.map((slice) => slice[key]))]]));
}

/**
 * The marks a refreshed group hands to one direct dependent: the same slices narrowed to the
 * keys it exposes, or the whole dependent when it exposes none of them.
 */
export function handOffMarks(group: MarkGroup, dependent: string, exposes: (key: string) => boolean): NewMark[] {
  const keys = group.whole ? [] : group.keys.filter(exposes);
  if (keys.length === 0) return [{ projection: dependent, lens: null }];
  const seen = new Set<string>();
  const marks: NewMark[] = [];
  for (const slice of group.slices) {
    const lens = Object.fromEntries(keys.map((key) => [key, slice[key]]));
    const text = JSON.stringify(lens);
    if (seen.has(text)) continue;
    seen.add(text);
    marks.push({ projection: dependent, lens });
  }
  return marks;
}

/** Whether a group's refresh rebuilds the slice `lens` (`null`: the whole projection). */
export function covers(group: MarkGroup, lens: Record<string, unknown> | null): boolean {
  if (group.whole) return true;
  if (lens === null) return false;
  const keys = Object.keys(lens).sort();
  if (keys.join('\u0000') !== group.keys.join('\u0000')) return false;
  const text = JSON.stringify(Object.fromEntries(keys.map((key) => [key, lens[key]])));
  return group.slices.some((slice) => JSON.stringify(Object.fromEntries(keys.map((key) => [key, slice[key]]))) === text);
}

function count(marks: readonly ChangeMark[]): number {
  return marks.reduce((sum, mark) => sum + mark.marks, 0);
}
