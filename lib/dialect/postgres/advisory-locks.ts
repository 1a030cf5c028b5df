import type { NormalizedLens } from '../../lens/lens.js';
import { hash32, hash64 } from './sql.js';

/** Namespace (first key) of Cinema's two-key advisory locks. */
const NAMESPACE = hash32('cinema');
/** More values than this in a partition-key list lock the whole table instead. */
const MAX_PARTITION_LOCKS = 64;

/**
 * The advisory locks a projection's write transaction takes, as SQL select-list expressions
 * (parameters appended to `params`). Every lock is transaction-scoped, and a transaction locks
 * only its own table: no cycle can form, so no deadlock.
 *
 * - A lens with equality (or a short list) on the table's `partitionKey`: the table's lock
 *   shared, then one exclusive lock per value. Slices of different values rebuild in parallel.
 * - Any other lens, the empty one included: the table's lock exclusive.
 */
export function lockExpressions(tablePath: string, partitionKey: string | undefined, lens: NormalizedLens, params: unknown[]): string[] {
  const bind = (value: unknown, cast: string) => {
    params.push(value);
    return `$${params.length}::${cast}`;
  };
  const tableKey = tablePath;
  const table = hash32(tableKey);
  const values = partitionValues(partitionKey, lens);
  if (!values) {
    return [`pg_advisory_xact_lock(${bind(NAMESPACE, 'int4')}, ${bind(table, 'int4')})`];
  }
  const shared = `pg_advisory_xact_lock_shared(${bind(NAMESPACE, 'int4')}, ${bind(table, 'int4')})`;
  const keys = [...new Set(values.map((value) => hash64(`${tableKey}\u0000${partitionKey}\u0000${value}`)))].sort();
  return [shared, ...keys.map((key) => `pg_advisory_xact_lock(${bind(key, 'int8')})`)];
}

function partitionValues(partitionKey: string | undefined, lens: NormalizedLens): string[] | undefined {
  if (!partitionKey || lens.reducer) return undefined;
  const condition = lens.conditions.find((c) => c.key === partitionKey && !c.negate);
  if (!condition) return undefined;
  if (condition.op === 'eq') return [canonical(condition.value)];
  if (condition.op === 'in') {
    const list = condition.value as unknown[];
    if (list.length === 0 || list.length > MAX_PARTITION_LOCKS) return undefined;
    return list.map(canonical);
  }
  return undefined;
}

function canonical(value: unknown): string {
  return value instanceof Date ? value.toISOString() : String(value);
}

/**
 * Namespace (first key) of the session locks change-capture watchers hold on a projection while
 * they refresh its marks: distinct from the write transactions' (`NAMESPACE`) and the queue's
 * liveness and migration locks, so a watcher never waits on, or blocks, anything else.
 */
const WATCHER_NAMESPACE = hash32('cinema:watcher');

/** The two keys of a watcher's lock on a projection (`pg_try_advisory_lock(int, int)`). */
export function watcherLockKeys(projection: string): [number, number] {
  return [WATCHER_NAMESPACE, hash32(projection)];
}

/**
 * The transaction lock under which a starting process compares, registers and rolls out the
 * projections' versions: processes starting at once take turns, so each outdated slice is
 * queued once.
 */
export const VERSIONS_LOCK: [number, number] = [hash32('cinema:versions'), 0];
