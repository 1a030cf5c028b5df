import { Logger } from '@nestjs/common';
import type { SwapTable } from '../dialect/dialect.interface.js';
import type { ProjectionModel, TableModel } from '../model/projection.model.js';
import { KeyConflict, type PgClient } from './write-client.js';

/**
 * Under `fullRebuild: 'auto'`, the size from which a table is swapped: below it, the fixed cost
 * of a fresh table (a few more round trips, DDL, a catalog read) outweighs maintaining its
 * indexes row by row (about 10,000 narrow rows).
 */
export const SWAP_MIN_BYTES = 1 << 20;
/** How long one try of the swap's exclusive lock waits: readers queued behind it wait no longer. */
export const SWAP_LOCK_TRY_MS = 20;
/** Tries of the lock, with a growing pause between them, before the rows are copied in place instead. */
export const SWAP_LOCK_TRIES = 12;
const PAUSE_STEP_MS = 15;

/**
 * The table received rows from this transaction outside Cinema's writer (a derivation writing
 * through `ctx.write`), which a swap would drop. Not an error users see: the runner rebuilds the
 * projection in place, as it then always does.
 */
export class SwapUnsafe extends Error {
  constructor(readonly projection: string) {
    super(`${projection}: the table was written directly during a swapped rebuild`);
  }
}

/**
 * A whole-table rebuild by swap, the strategy of `REFRESH MATERIALIZED VIEW` without its lock:
 * the rows go into a fresh table of the same shape (`CREATE TABLE ... (LIKE ...)`) with no index
 * to maintain, the indexes are built once the rows are in (one sorted pass each), the grants and
 * owner copied, the statistics gathered, and only then is the table locked, for as long as a
 * drop and a few renames take, and the fresh one renamed in its place. Readers see the old rows
 * until the commit and never wait behind the rebuild itself, only behind the swap: a try of the
 * lock gives up after {@link SWAP_LOCK_TRY_MS} so that readers queued behind it are let through,
 * and after {@link SWAP_LOCK_TRIES} tries the rows are copied into the table in place instead.
 *
 * A table that something refers to by identity (views, foreign keys, triggers, publications, ...)
 * is not swapped (`begin` returns `undefined` and the rebuild deletes and inserts in place).
 */
export class TableSwap {
  private static readonly logger = new Logger('Cinema');
  /** Tables found unswappable, with why, logged once per projection. */
  private static readonly explained = new WeakSet<ProjectionModel>();

  private constructor(
    private readonly model: ProjectionModel,
    private readonly client: PgClient,
    private readonly table: SwapTable,
    private readonly shadow: string,
    /** The shadow's path, which the writer writes into. */
    readonly path: string,
    /** Roles the shadow was granted privileges to by default, revoked before the old grants are copied. */
    private readonly defaults: readonly (string | null)[],
  ) {}

  /**
   * Inspects the table and either creates the shadow, or deletes the table's rows in place (under
   * `'auto'`, a table smaller than {@link SWAP_MIN_BYTES}; or one that cannot be swapped, logged
   * once), in the same statement: nothing a derivation sends meanwhile comes between.
   */
  static async begin(model: ProjectionModel, client: PgClient): Promise<{ swap?: TableSwap; deleted: number }> {
    const { dialect } = model;
    const statements = dialect.tableSwap;
    const tablePath = model.table!.path;
    const minBytes = model.fullRebuild === 'auto' ? SWAP_MIN_BYTES : 0;
    if (minBytes > 0) {
      // A small table (most, under 'auto') is deleted in place by a statement as cheap as a DELETE.
      const small = await client.query({ text: statements.deleteIfSmall(tablePath), values: [tablePath, minBytes] });
      if (small.rows[0].small) return { deleted: Number(small.rows[0].deleted) };
    }
    const { rows } = await client.query({ text: statements.inspect(tablePath), values: [tablePath, minBytes] });
    const table = rows[0] as SwapTable;
    if (table.blockers?.length && !TableSwap.explained.has(model)) {
      TableSwap.explained.add(model);
      TableSwap.logger.log(`${model.name}: whole-table rebuilds delete and insert in place, not by swap: ${table.blockers.join('; ')}`);
    }
    if (!table.swapped) return { deleted: Number(table.deleted) };
    const shadow = statements.shadowName(table);
    const create = statements.create(table, shadow);
    if (create === undefined) {
      const deleted = await client.query({ text: dialect.deleteWhere(model.table!, '') });
      return { deleted: deleted.rowCount ?? 0 };
    }
    // One round trip: the fresh table, and the privileges it got by itself (default privileges).
    const created = (await client.query({ text: `${create}; ${statements.defaultGrantees(table, shadow)}` })) as unknown as {
      rows: { grantee: string | null }[];
    }[];
    const defaults = created[created.length - 1].rows.map((row) => row.grantee);
    const swap = new TableSwap(model, client, table, shadow, `${dialect.quoteIdent(table.schema)}.${dialect.quoteIdent(shadow)}`, defaults);
    return { swap, deleted: Number(table.rows) };
  }

  /** The writer's table, writing into the shadow. */
  target(table: TableModel): TableModel {
    return { ...table, path: this.path };
  }

  /**
   * Builds the indexes, copies the grants, then swaps the shadow in under the table's lock (or,
   * if the lock cannot be had briefly, copies its rows into the table in place). `written`: the
   * rows written into the fresh table. Returns the path taken. A duplicate key found by a unique
   * index is a {@link KeyConflict}, as it is in place.
   */
  async finish(columns: readonly string[], written: number, signal: AbortSignal): Promise<'swap' | 'swap-in-place'> {
    const statements = this.model.dialect.tableSwap;
    const { rows } = await this.client.query({ text: statements.writes(), values: [this.model.table!.path] });
    if (rows[0].writes !== this.table.writes) throw new SwapUnsafe(this.model.name);

    const indexes = statements.indexes(this.table, this.shadow);
    if (indexes === undefined) return this.copyBack(columns);
    // One round trip: the indexes and the keys they back, the grants and column settings, the
    // statistics (a fresh table has none until autovacuum analyzes it, and a reader's plans would
    // be guesses until then), then the first try of the lock.
    let prepared = [
      ...indexes,
      ...statements.grants(this.table, this.shadow, this.defaults),
      statements.statistics(this.table, this.shadow, written),
    ];
    for (let attempt = 1; attempt <= SWAP_LOCK_TRIES; attempt++) {
      signal.throwIfAborted();
      try {
        await this.client.query({ text: [...prepared, statements.lock(this.table, SWAP_LOCK_TRY_MS)].join('; ') });
        prepared = [];
      } catch (error) {
        if (prepared.length > 0 && this.model.dialect.isUniqueViolation(error)) throw new KeyConflict(this.model.name, error);
        if (!statements.isLockNotAvailable(error)) throw error;
        prepared = [];
        await this.client.query({ text: statements.lockFailed() });
        await pause(PAUSE_STEP_MS * attempt, signal);
        continue;
      }
      try {
        await this.client.query({ text: statements.swap(this.table, this.shadow) });
        return 'swap';
      } catch (error) {
        // Something the catalog check did not see still depends on the table: keep it.
        if (!statements.isDependentObjects(error)) throw error;
        await this.client.query({ text: statements.lockFailed() });
        break;
      }
    }
    return this.copyBack(columns);
  }

  private async copyBack(columns: readonly string[]): Promise<'swap-in-place'> {
    await this.client.query({ text: this.model.dialect.tableSwap.copyBack(this.table, this.shadow, columns) });
    return 'swap-in-place';
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
