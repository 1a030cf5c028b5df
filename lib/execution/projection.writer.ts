import { Logger } from '@nestjs/common';
import { from, isObservable, map, type Observable } from 'rxjs';
import { SelectQueryBuilder, type DataSource } from 'typeorm';
import { copyField } from '../dialect/postgres/copy-text.js';
import type { CopyChoice } from '../dialect/dialect.interface.js';
import { sameDatabase } from '../dialect/postgres/sql.js';
import { InvalidRowError } from '../errors/invalid-row.error.js';
import type { Derived, Row } from '../interfaces/derivation-context.interface.js';
import type { NodeReport } from '../interfaces/run.interface.js';
import type { NormalizedLens } from '../lens/lens.js';
import type { ProjectionModel, TableModel } from '../model/projection.model.js';
import { describeColumns, narrow, tableQuery } from '../read/slice.queries.js';
import { COPY_BATCH_BYTES } from './copy-backlog.js';
import { pipeCopy } from './copy-pipe.js';
import { copyDirect } from './direct-copy.js';
import { RowChecks, StagedRow } from './row-checks.js';
import { SliceDiffer, type DiffCounts } from './slice-diff.js';
import { streamTextRows, type TextRow } from './row-stream.js';
import { StagingTables } from './staging-tables.js';
import { writeStream } from './stream-writer.js';
import { Valve } from './valve.js';
import { TableSwap } from './table-swap.js';
import { KeyConflict, type PgClient } from './write-client.js';

export interface WriterOptions {
  /** Insert with the conflict clause from the start (after a {@link KeyConflict}). */
  upsert: boolean;
  /** `write: 'diff'`: keep what is derived and write only what differs from the slice, at `applyDiff`. */
  diff: boolean;
  batchSize: number;
  streamBatchSize: number;
  signal: AbortSignal;
  valve: Valve;
  /** A whole-table rebuild that may swap in a fresh table (see `TableSwap`). */
  swap: boolean;
}

/** Rows per cursor fetch however wide the planner thinks they are. */
const MIN_FETCH_ROWS = 100;

/**
 * Writes one projection's slice inside its transaction: deletes it, then materializes what the
 * derivations return, in the database when it can (`INSERT ... SELECT`), else by copying rows
 * into staging tables and inserting from there in one statement.
 *
 * Inserts are plain: `ON CONFLICT` costs PostgreSQL a speculative insertion per row (about twice
 * the time of a plain insert), and once the slice is deleted a conflict is the exception. When one
 * happens, the whole rebuild is done again with the conflict clause (see `KeyConflict`).
 */
export class ProjectionWriter {
  private static readonly logger = new Logger('Cinema');
  readonly paths = new Set<NodeReport['paths'][number]>();
  private table: TableModel;
  /** A swapped whole-table rebuild: settled once the fresh table is there to write into. */
  private swapping?: Promise<TableSwap | undefined>;
  private swapped = false;
  private readonly write: DataSource;
  private readonly checks: RowChecks;
  private readonly staging: StagingTables;
  private readonly differ?: SliceDiffer;

  constructor(
    private readonly model: ProjectionModel,
    private readonly lens: NormalizedLens,
    private readonly client: PgClient,
    private readonly options: WriterOptions,
  ) {
    this.table = model.table!;
    this.write = model.write!;
    this.checks = new RowChecks(model);
    this.staging = new StagingTables(model, lens, client, options.diff, (plain, upsert, values) => this.insert(plain, upsert, values));
    if (options.diff) this.differ = new SliceDiffer(model, lens, client, options.upsert, (...args) => this.execute(...args));
  }

  /**
   * `write: 'diff'`: writes the difference between the slice and everything derived. `last`:
   * called once the statement that writes it is queued (the transaction's last).
   */
  applyDiff(last?: () => void): Promise<DiffCounts> {
    return this.differ!.apply(this.staging.sources(this.options.upsert), last);
  }

  /**
   * Deletes the lens slice; returns the rows deleted. The first delete of a whole-table rebuild
   * that may swap asks `TableSwap` instead: it either deletes the rows in place, or creates the
   * fresh table the rows go into and returns the rows the table held, which the swap replaces.
   */
  async deleteSlice(): Promise<number> {
    if (this.options.swap && this.swapping === undefined) {
      const begun = TableSwap.begin(this.model, this.client);
      this.swapping = begun.then(({ swap }) => {
        if (swap) {
          this.swapped = true;
          this.table = swap.target(this.table);
          this.staging.writeInto(this.table);
        }
        return swap;
      });
      return (await begun).deleted;
    }
    const { text, values } = this.deleteStatement();
    const result = await this.client.query({ text, values });
    return result.rowCount ?? 0;
  }

  /**
   * The slice's DELETE with its values written in, to send in BEGIN's round trip (one round trip
   * fewer), when nothing but a plain delete of the lens is due and every value can be written
   * in; else `undefined`, and `deleteSlice()` runs it on its own.
   */
  inlinedDelete(): string | undefined {
    if (this.options.swap || this.options.diff || this.lens.reducer) return undefined;
    const { text, values } = this.deleteStatement();
    return this.model.dialect.inlineValues(text, values);
  }

  private deleteStatement(): { text: string; values: unknown[] } {
    const { dialect } = this.model;
    const values: unknown[] = [];
    if (this.lens.reducer) {
      const narrowed = narrow(tableQuery(this.model, this.write, true), this.lens, this.model.name);
      const [inner, innerParams] = narrowed.getQueryAndParameters();
      values.push(...innerParams);
      return { text: dialect.deleteSelected(this.table, inner), values };
    }
    const where = dialect.where(this.lens.conditions, (key) => this.columnRef(key), values);
    return { text: dialect.deleteWhere(this.table, where), values };
  }

  /**
   * A swapped whole-table rebuild: builds the fresh table's indexes and swaps it in (the last
   * statements of the write before the commit, so the table's lock is held the shortest time).
   * `written`: the rows materialized, all of which the fresh table holds.
   */
  async finish(written: number): Promise<void> {
    const swap = await this.swapping;
    if (!swap) return;
    const columns = this.model.table!.columns.filter((column) => !column.computed).map((column) => column.column);
    this.paths.add(await swap.finish(columns, written, this.options.signal));
  }

  /**
   * Materializes whatever a derivation returned; returns the rows inserted or updated. `last`:
   * called once the statement that writes a query's rows is sent, when that is a single
   * `INSERT ... SELECT` (the transaction's last statement: the runner queues COMMIT behind it).
   */
  async materialize(derived: Derived<any>, last?: () => void): Promise<number> {
    if (derived === undefined || derived === null) return 0;
    // Rows derived while a swapped rebuild is still creating its fresh table go into that table.
    if (this.swapping) await this.swapping;
    if (derived instanceof SelectQueryBuilder) return this.writeQuery(derived, last);
    if (Array.isArray(derived)) return this.writeRows(from(derived as Row[]), this.options.valve);
    if (isObservable(derived)) return this.writeRows(derived as Observable<Row | SelectQueryBuilder<any>>, this.options.valve);
    throw new InvalidRowError(
      this.model.name,
      '',
      `a derivation returned ${typeof derived}`,
      'Return a SelectQueryBuilder, an array or Observable of rows or query builders, or nothing.',
    );
  }

  private async writeQuery(qb: SelectQueryBuilder<any>, last?: () => void): Promise<number> {
    const { dialect } = this.model;
    const q = dialect.quoteIdent;
    const local = sameDatabase(qb.connection, this.write);
    // The write transaction may see tables the read pool does not (temporary, uncommitted).
    // Built once: TypeORM's getQuery() rescans the whole text for aliases each time.
    const [sql, params] = qb.getQueryAndParameters();
    const outputs = await describeColumns(qb, this.model.dialect, local ? this.client : undefined, [sql, params]);
    const targets = outputs.map((name) => this.checks.targetOf(name, `its query selects "${name}"`));
    const written = new Set(targets.map((column) => column.property));
    this.checks.assertRequired((field) => written.has(field), 'its query does not select');
    const values = [...params];
    const byProperty = new Map(targets.map((column, i) => [column.property, outputs[i]]));
    const where = dialect.where(
      this.lens.conditions,
      (key) => {
        const column = this.table.byProperty.get(key);
        const output = column && byProperty.get(column.property);
        return output === undefined ? undefined : `"src".${q(output)}`;
      },
      values,
    );
    const select = `SELECT ${outputs.map((name) => `"src".${q(name)}`).join(', ')} FROM (${sql}) AS "src"${where ? ` WHERE ${where}` : ''}`;
    const columns = targets.map((column) => column.column);
    if (!local) {
      // The select filters the slice at the source only on lens keys it outputs; the staging
      // table filters again with the others as NULL, which a direct copy into the table cannot.
      const filtered = this.lens.conditions.every((condition) => {
        const column = this.table.byProperty.get(condition.key);
        return column === undefined || byProperty.has(column.property);
      });
      return this.copyQuery(qb.connection, select, values, columns, filtered);
    }

    this.paths.add('insert-select');
    if (this.differ) {
      const named = outputs.map((name, i) => `"src".${q(name)} AS ${q(columns[i])}`).join(', ');
      this.differ.add({ select: `SELECT ${named} FROM (${sql}) AS "src"${where ? ` WHERE ${where}` : ''}`, values, columns });
      return 0;
    }
    // A whole table's rows in key order fill the key's index page by page (13% faster measured).
    const keyOutputs = this.table.conflictTarget.map((column) => byProperty.get(this.table.byColumn.get(column)!.property));
    const order =
      this.lens.empty && !this.swapped && keyOutputs.every((output) => output !== undefined)
        ? ` ORDER BY ${keyOutputs.map((output) => `"src".${q(output)}`).join(', ')}`
        : '';
    const insert = dialect.insertSelect(this.table, columns, `${select}${order}`);
    return this.insert(insert, `${insert} ${dialect.conflictClause(this.table, columns)}`, values, last);
  }

  /**
   * A query on another database, the lens filter applied there: piped from `COPY ... TO STDOUT`
   * there straight into the projection's table when it can (`direct-copy.ts`), else into a
   * staging table here (`copy-pipe.ts`) and inserted from it; when its parameters cannot be put
   * into COPY's text exactly, read as text with a cursor and copied in batches. No row is parsed
   * in Node either way.
   */
  private async copyQuery(source: DataSource, select: string, values: unknown[], columns: string[], filtered: boolean): Promise<number> {
    const { dialect } = this.model;
    if (filtered && (await this.directCopyAllowed())) {
      const direct = await copyDirect({
        source,
        dialect,
        select,
        values,
        client: this.client,
        table: this.table,
        columns,
        onFormat: (choice) => this.copyFormat(choice),
        signal: this.options.signal,
      });
      if (direct.kind === 'copied') {
        this.paths.add('copy-pipe');
        return direct.rows;
      }
      if (direct.kind === 'unpiped') return this.cursorCopy(source, select, values, columns);
      // Refused: the staging path below meets the same row and says what the staging path says.
    }
    const stage = await this.staging.fill(columns, (ready) =>
      pipeCopy({
        source,
        dialect,
        select,
        values,
        client: this.client,
        columns,
        into: ready,
        onFormat: (choice) => this.copyFormat(choice),
        signal: this.options.signal,
      }),
    );
    if (stage !== undefined) {
      await this.assertNoMissing(stage);
      this.paths.add('copy-pipe');
      return this.staging.insertAll();
    }
    return this.cursorCopy(source, select, values, columns);
  }

  /** Which format a copy pipe runs in, and why: the debug log says (binary is faster, text always exact). */
  private copyFormat(choice: CopyChoice): void {
    ProjectionWriter.logger.debug(`${this.model.name}: copy pipe in ${choice.format}: ${choice.reason}`);
  }

  /**
   * Whether a copy may go straight into the table: plain inserts (upserts and diffs need the rows
   * staged), and every required field a column the table itself keeps from being NULL (a NULL
   * there is refused, and the staging path names the row).
   */
  private async directCopyAllowed(): Promise<boolean> {
    if (this.options.upsert || this.differ) return false;
    if (this.table.required.length === 0) return true;
    const { rows } = await this.client.query({ text: this.model.dialect.notNullColumns(), values: [this.table.path] });
    const notNull = new Set(rows.map((row: { column: string }) => row.column));
    return this.table.required.every((field) => notNull.has(this.table.byProperty.get(field)!.column));
  }

  /** The rows piped into `stage` set every required field (the check the cursor path makes per row). */
  private async assertNoMissing(stage: string): Promise<void> {
    const required = this.table.required.map((field) => this.table.byProperty.get(field)!.column);
    if (required.length === 0) return;
    const { rows } = await this.client.query({ text: this.model.dialect.firstNullRow(stage, required) });
    if (rows.length === 0) return;
    const missing = required.findIndex((_, i) => rows[0][`null_${i}`] === true);
    throw this.checks.missingRequired(this.table.byColumn.get(required[missing])!.property, rows[0].row);
  }

  private async cursorCopy(source: DataSource, select: string, values: unknown[], columns: string[]): Promise<number> {
    const key = columns.join('\u0000');
    const required = this.table.required.map((field) => columns.indexOf(this.table.byProperty.get(field)!.column));
    // Its own valve: the cursor must not wait on batches queued behind this very query.
    const valve = new Valve();
    // Wide rows are fetched in fewer per round trip: a fetch holds about as much as a COPY batch.
    const width = await this.model.dialect.estimatedRowWidth(source, select, values);
    const fetch = width ? Math.max(MIN_FETCH_ROWS, Math.floor(COPY_BATCH_BYTES / width)) : Infinity;
    const rows = streamTextRows(source, select, values, {
      batchSize: Math.min(this.options.streamBatchSize, fetch),
      valve,
      signal: this.options.signal,
    }).pipe(
      map((fields: TextRow, index) => {
        for (const position of required) {
          if (fields[position] === null) throw this.checks.missingRequired(this.table.byColumn.get(columns[position])!.property, index);
        }
        return new StagedRow(key, columns, fields.map(copyField).join('\t'));
      }),
    );
    return this.writeRows(rows, valve);
  }

  private writeRows(source: Observable<Row | StagedRow | SelectQueryBuilder<any>>, valve: Valve): Promise<number> {
    this.paths.add('stream');
    return writeStream(source, valve, {
      signal: this.options.signal,
      batchSize: this.options.batchSize,
      toStagedRow: (row, index) => this.checks.toStagedRow(row, index),
      copy: (rows) => this.staging.copy(rows),
      insertStaged: () => this.staging.insertAll(),
      writeQuery: (qb) => this.writeQuery(qb),
    });
  }

  /**
   * The plain `INSERT`, or in upsert mode the one with the conflict clause. A plain insert that
   * meets a key already in the table throws {@link KeyConflict}: the transaction is lost, and the
   * runner rebuilds the projection again in upsert mode.
   */
  private async insert(plain: string, upsert: string, values: unknown[], sent?: () => void): Promise<number> {
    return (await this.execute(plain, upsert, values, sent)).rowCount ?? 0;
  }

  /** `sent`: called once the statement is queued on the connection. */
  private async execute(
    plain: string,
    upsert: string,
    values: unknown[],
    sent?: () => void,
  ): Promise<{ rowCount: number | null; rows: any[] }> {
    const executing = this.client.query({ text: this.options.upsert ? upsert : plain, values });
    sent?.();
    return this.settle(executing);
  }

  /** A write's result, its failure told the way the runner acts on it. */
  private async settle<T>(executing: Promise<T>): Promise<T> {
    const { dialect } = this.model;
    try {
      return await executing;
    } catch (error) {
      if (dialect.isUniqueViolation(error) && !this.options.upsert) throw new KeyConflict(this.model.name, error);
      if (!dialect.isCardinalityViolation(error)) throw error;
      throw new InvalidRowError(
        this.model.name,
        '',
        `its query derives more than one row for the same key (${this.table.conflictTarget.join(', ')})`,
        'Derive one row per key, for example with GROUP BY or DISTINCT ON.',
      );
    }
  }

  /** The table column a lens key names, quoted. */
  private columnRef(key: string): string | undefined {
    const column = this.table.byProperty.get(key);
    return column && this.model.dialect.quoteIdent(column.column);
  }
}
