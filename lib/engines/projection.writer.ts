import { from, isObservable, map, type Observable, type Subscription } from 'rxjs';
import { SelectQueryBuilder, type DataSource } from 'typeorm';
import { InvalidRowError } from '../errors/invalid-row.error.js';
import type { Derived, Row } from '../interfaces/derivation-context.interface.js';
import { positionalBinder, renderConditions, type NormalizedLens } from '../lens/lens.js';
import { conflictClause, type ColumnModel, type ProjectionModel, type TableModel } from './projection.model.js';
import { copyField, copyValue } from './copy-text.js';
import { streamTextRows, type TextRow } from './row-stream.js';
import { describeColumns, narrow, tableQuery } from './slice.queries.js';
import { quoteIdent, sameDatabase } from './sql.js';
import { Valve } from './valve.js';

/** The connection of a projection's write transaction. */
export interface PgClient {
  query(config: { text: string; values?: unknown[] }): Promise<{ rowCount: number | null; rows: any[]; fields?: { name: string }[] }>;
  /** Runs `COPY ... FROM STDIN` with `data` (COPY text lines); returns the rows copied. */
  copy(text: string, data: string): Promise<number>;
}

export interface WriterOptions {
  /** Insert with `ON CONFLICT` from the start (after a {@link KeyConflict}). */
  upsert: boolean;
  batchSize: number;
  streamBatchSize: number;
  signal: AbortSignal;
  valve: Valve;
}

/** Batches waiting to be written before the cursors feeding them are paused. */
const QUEUED_BATCHES_HIGH_WATER = 2;

/** PostgreSQL's `unique_violation`: the plain insert met a key that is already there. */
const UNIQUE_VIOLATION = '23505';
/** `cardinality_violation`: an `ON CONFLICT DO UPDATE` met the same key twice. */
const CARDINALITY_VIOLATION = '21000';


/**
 * A plain insert met a key already in the table (held by a row outside the slice, or derived
 * twice). Not an error users see: the runner rebuilds the projection in upsert mode.
 */
export class KeyConflict extends Error {
  constructor(
    readonly projection: string,
    override readonly cause: unknown,
  ) {
    super(`${projection}: a derived key is already in the table`);
  }
}

/** One derived row, already in COPY text, with the columns (database names) it sets. */
class StagedRow {
  constructor(
    /** `columns` joined: rows with the same key go to the same staging table. */
    readonly key: string,
    readonly columns: readonly string[],
    readonly line: string,
  ) {}
}

/** A temporary table in the write transaction that rows setting `columns` are copied into. */
interface Stage {
  name: string;
  columns: readonly string[];
  /** Rows copied and not yet inserted into the projection's table. */
  pending: number;
  /** Holds rows already inserted: emptied before the next copy. */
  used: boolean;
}

/**
 * Writes one projection's slice inside its transaction: deletes it, then materializes what the
 * derivations return, in PostgreSQL when it can (`INSERT ... SELECT`), else by streaming rows
 * with `COPY` into a temporary table and inserting from there in one statement.
 *
 * Inserts are plain: `ON CONFLICT` costs PostgreSQL a speculative insertion per row (about twice
 * the time of a plain insert), and once the slice is deleted a conflict is the exception. When one
 * happens, the whole rebuild is done again with the conflict clause (see `KeyConflict`).
 */
export class ProjectionWriter {
  readonly paths = new Set<'insert-select' | 'stream'>();
  private readonly table: TableModel;
  private readonly write: DataSource;
  private readonly stages = new Map<string, Stage>();

  constructor(
    private readonly model: ProjectionModel,
    private readonly lens: NormalizedLens,
    private readonly client: PgClient,
    private readonly options: WriterOptions,
  ) {
    this.table = model.table!;
    this.write = model.write!;
  }

  /** Deletes the lens slice; returns the rows deleted. */
  async deleteSlice(): Promise<number> {
    const params: unknown[] = [];
    let sql: string;
    if (this.lens.reducer) {
      const source = tableQuery(this.model, this.write, true);
      const narrowed = narrow(source, this.lens, this.model.name);
      const [inner, innerParams] = narrowed.getQueryAndParameters();
      params.push(...innerParams);
      sql = `DELETE FROM ${this.table.path} WHERE ctid IN (SELECT "cinema_ctid" FROM (${inner}) AS "cinema_slice")`;
    } else {
      const where = renderConditions(this.lens.conditions, (key) => this.columnRef(key), positionalBinder(params));
      sql = `DELETE FROM ${this.table.path}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`;
    }
    const result = await this.client.query({ text: sql, values: params });
    return result.rowCount ?? 0;
  }

  /** Materializes whatever a derivation returned; returns the rows inserted or updated. */
  async materialize(derived: Derived<any>): Promise<number> {
    if (derived === undefined || derived === null) return 0;
    if (derived instanceof SelectQueryBuilder) return this.writeQuery(derived);
    if (Array.isArray(derived)) return this.writeStream(from(derived as Row[]), this.options.valve);
    if (isObservable(derived)) {
      return this.writeStream(derived as Observable<Row | SelectQueryBuilder<any>>, this.options.valve);
    }
    throw new InvalidRowError(
      this.model.name,
      '',
      `a derivation returned ${typeof derived}`,
      'Return a SelectQueryBuilder, an array or Observable of rows or query builders, or nothing.',
    );
  }

  private async writeQuery(qb: SelectQueryBuilder<any>): Promise<number> {
    const local = sameDatabase(qb.connection, this.write);
    // The write transaction may see tables the read pool does not (temporary, uncommitted).
    // Built once: TypeORM's getQuery() rescans the whole text for aliases each time.
    const [sql, params] = qb.getQueryAndParameters();
    const outputs = await describeColumns(qb, local ? this.client : undefined, [sql, params]);
    const targets = outputs.map((name) => this.targetOf(name, `its query selects "${name}"`));
    const written = new Set(targets.map((column) => column.property));
    this.assertRequired((field) => written.has(field), 'its query does not select');
    const values = [...params];
    const byProperty = new Map(targets.map((column, i) => [column.property, outputs[i]]));
    const where = renderConditions(
      this.lens.conditions,
      (key) => {
        const column = this.table.byProperty.get(key);
        const output = column && byProperty.get(column.property);
        return output === undefined ? undefined : `"src".${quoteIdent(output)}`;
      },
      positionalBinder(values),
    );
    const select =
      `SELECT ${outputs.map((name) => `"src".${quoteIdent(name)}`).join(', ')} FROM (${sql}) AS "src"` +
      `${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`;
    const columns = targets.map((column) => column.column);
    if (!local) return this.copyQuery(qb.connection, select, values, columns);

    this.paths.add('insert-select');
    // A whole table's rows in key order fill the key's index page by page (13% faster measured).
    const keyOutputs = this.table.conflictTarget.map((column) => byProperty.get(this.table.byColumn.get(column)!.property));
    const order = this.lens.empty && keyOutputs.every((output) => output !== undefined)
      ? ` ORDER BY ${keyOutputs.map((output) => `"src".${quoteIdent(output)}`).join(', ')}`
      : '';
    const insert = `INSERT INTO ${this.table.path} (${columns.map(quoteIdent).join(', ')}) ${select}${order}`;
    return this.insert(insert, `${insert} ${conflictClause(this.table, columns)}`, values);
  }

  /**
   * A query on another database: its rows are read as text with a cursor there (the lens filter
   * applied at the source) and copied here, without being parsed in Node.
   */
  private copyQuery(source: DataSource, select: string, values: unknown[], columns: string[]): Promise<number> {
    const key = columns.join('\u0000');
    const required = this.table.required.map((field) => columns.indexOf(this.table.byProperty.get(field)!.column));
    // Its own valve: the cursor must not wait on batches queued behind this very query.
    const valve = new Valve();
    const rows = streamTextRows(source, select, values, {
      batchSize: this.options.streamBatchSize,
      valve,
      signal: this.options.signal,
    }).pipe(
      map((fields: TextRow, index) => {
        for (const position of required) {
          if (fields[position] === null) throw this.missingRequired(this.table.byColumn.get(columns[position])!.property, index);
        }
        return new StagedRow(key, columns, fields.map(copyField).join('\t'));
      }),
    );
    return this.writeStream(rows, valve);
  }

  /**
   * Rows (and query builders) from Node, copied in batches into staging tables with back-pressure
   * on the cursors, then inserted. A query builder among the rows is written in its turn.
   */
  private writeStream(source: Observable<Row | StagedRow | SelectQueryBuilder<any>>, valve: Valve): Promise<number> {
    this.paths.add('stream');
    const { signal, batchSize } = this.options;
    return new Promise<number>((resolve, reject) => {
      const jobs: (() => Promise<number>)[] = [];
      let batch: StagedRow[] = [];
      let total = 0;
      let seen = 0;
      let draining = false;
      let completed = false;
      let failed = false;
      let subscription: Subscription | undefined;

      const fail = (error: unknown) => {
        if (failed) return;
        failed = true;
        subscription?.unsubscribe();
        signal.removeEventListener('abort', onAbort);
        valve.release();
        reject(error);
      };
      const onAbort = () => fail(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });

      const drain = async () => {
        if (draining) return;
        draining = true;
        try {
          while (jobs.length > 0 && !failed) {
            const job = jobs.shift()!;
            total += await job();
            if (jobs.length < QUEUED_BATCHES_HIGH_WATER) valve.release();
          }
        } catch (error) {
          fail(error);
        } finally {
          draining = false;
        }
        if (completed && jobs.length === 0 && !failed) {
          signal.removeEventListener('abort', onAbort);
          resolve(total);
        }
      };
      const enqueue = (job: () => Promise<number>) => {
        jobs.push(job);
        if (jobs.length >= QUEUED_BATCHES_HIGH_WATER) valve.close();
        void drain();
      };
      const flush = () => {
        if (batch.length === 0) return;
        const rows = batch;
        batch = [];
        enqueue(() => this.copyBatch(rows));
      };

      subscription = source.subscribe({
        next: (item) => {
          if (failed) return;
          if (item instanceof SelectQueryBuilder) {
            // Rows emitted before the query are written before it.
            flush();
            enqueue(() => this.insertStaged());
            enqueue(() => this.writeQuery(item));
            return;
          }
          try {
            batch.push(item instanceof StagedRow ? item : this.toStagedRow(item, seen++));
          } catch (error) {
            return fail(error);
          }
          if (batch.length >= batchSize) flush();
        },
        error: (error) => fail(error),
        complete: () => {
          flush();
          completed = true;
          enqueue(() => this.insertStaged());
        },
      });
    });
  }

  /** Copies rows into the staging table of their set of columns. */
  private async copyBatch(rows: StagedRow[]): Promise<number> {
    const groups = new Map<string, StagedRow[]>();
    for (const row of rows) {
      const group = groups.get(row.key);
      if (group) group.push(row);
      else groups.set(row.key, [row]);
    }
    for (const group of groups.values()) {
      const stage = await this.stageOf(group[0]);
      if (stage.used) {
        await this.client.query({ text: `TRUNCATE ${stage.name}` });
        stage.used = false;
      }
      let data = '';
      for (const row of group) data += `${row.line}\n`;
      stage.pending += await this.client.copy(`COPY ${stage.name} (${stage.columns.map(quoteIdent).join(', ')}) FROM STDIN`, data);
    }
    return 0;
  }

  /**
   * A staging table per set of columns that rows set, so that a column a row leaves out gets its
   * default on insert. It has every writable column of the table: a lens condition on a column
   * the rows leave out sees NULL, as it would in the table.
   */
  private async stageOf(row: StagedRow): Promise<Stage> {
    let stage = this.stages.get(row.key);
    if (!stage) {
      const name = `pg_temp.${quoteIdent(`cinema_stage_${this.stages.size + 1}`)}`;
      const writable = this.table.columns.filter((column) => !column.computed).map((column) => quoteIdent(column.column));
      await this.client.query({
        text: `CREATE TEMPORARY TABLE ${name} ON COMMIT DROP AS SELECT ${writable.join(', ')} FROM ${this.table.path} WITH NO DATA`,
      });
      stage = { name, columns: row.columns, pending: 0, used: false };
      this.stages.set(row.key, stage);
    }
    return stage;
  }

  /** Inserts what the staging tables hold into the projection's table, inside the lens. */
  private async insertStaged(): Promise<number> {
    let written = 0;
    for (const stage of this.stages.values()) {
      if (stage.pending === 0) continue;
      const values: unknown[] = [];
      const where = renderConditions(this.lens.conditions, (key) => this.columnRef(key, 'src'), positionalBinder(values));
      const filter = where.length ? ` WHERE ${where.join(' AND ')}` : '';
      const list = stage.columns.map(quoteIdent).join(', ');
      const selected = stage.columns.map((column) => `"src".${quoteIdent(column)}`).join(', ');
      const into = `INSERT INTO ${this.table.path} (${list}) `;
      const plain = `${into}SELECT ${selected} FROM ${stage.name} AS "src"${filter}`;
      written += await this.insert(plain, `${into}${this.lastPerKey(stage, selected, filter)} ${conflictClause(this.table, stage.columns)}`, values);
      stage.pending = 0;
      stage.used = true;
    }
    return written;
  }

  /**
   * The staged rows with one row per conflict key, in the order they were derived: the last one
   * replaces earlier ones (the first one stays when conflicts are ignored), as batches would.
   */
  private lastPerKey(stage: Stage, selected: string, filter: string): string {
    const keys = this.table.conflictTarget;
    if (!keys.every((column) => stage.columns.includes(column))) return `SELECT ${selected} FROM ${stage.name} AS "src"${filter}`;
    const on = keys.map((column) => `"src".${quoteIdent(column)}`).join(', ');
    const order = this.table.onConflict === 'ignore' ? 'ASC' : 'DESC';
    return `SELECT DISTINCT ON (${on}) ${selected} FROM ${stage.name} AS "src"${filter} ORDER BY ${on}, "src".ctid ${order}`;
  }

  /**
   * The plain `INSERT`, or in upsert mode the one with `ON CONFLICT`. A plain insert that meets a
   * key already in the table throws {@link KeyConflict}: the transaction is lost, and the runner
   * rebuilds the projection again in upsert mode.
   */
  private async insert(plain: string, upsert: string, values: unknown[]): Promise<number> {
    try {
      const result = await this.client.query({ text: this.options.upsert ? upsert : plain, values });
      return result.rowCount ?? 0;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === UNIQUE_VIOLATION && !this.options.upsert) throw new KeyConflict(this.model.name, error);
      if (code !== CARDINALITY_VIOLATION) throw error;
      throw new InvalidRowError(
        this.model.name,
        '',
        `its query derives more than one row for the same key (${this.table.conflictTarget.join(', ')})`,
        'Derive one row per key, for example with GROUP BY or DISTINCT ON.',
      );
    }
  }

  /** A derived row as a COPY line, validated against the table. */
  private toStagedRow(row: Row, index: number): StagedRow {
    if (row === null || typeof row !== 'object') {
      throw new InvalidRowError(this.model.name, '', `row ${index} is ${row === null ? 'null' : typeof row}, not an object`, 'Derivations emit plain objects keyed by property name.');
    }
    const columns: string[] = [];
    const fields: string[] = [];
    const set = new Set<string>();
    for (const key of Object.keys(row)) {
      let value = row[key];
      if (value === undefined) continue;
      const column = this.targetOf(key, `row ${index} has a field "${key}"`);
      if (column.prepare) value = column.prepare(value);
      columns.push(column.column);
      fields.push(copyValue(value, column.encoding));
      if (value !== null && value !== undefined) set.add(column.property);
    }
    if (columns.length === 0) {
      throw new InvalidRowError(this.model.name, '', `row ${index} has no fields`, 'Derivations emit objects with at least one column set.');
    }
    for (const field of this.table.required) {
      if (!set.has(field)) throw this.missingRequired(field, index);
    }
    return new StagedRow(columns.join('\u0000'), columns, fields.join('\t'));
  }

  private missingRequired(field: string, index: number): InvalidRowError {
    return new InvalidRowError(
      this.model.name,
      field,
      `row ${index} lacks the required field "${field}"`,
      'Every derived row must set the fields listed in requiredFields.',
    );
  }

  private targetOf(name: string, what: string): ColumnModel {
    const column = this.table.byProperty.get(name) ?? this.table.byColumn.get(name);
    if (!column) {
      throw new InvalidRowError(
        this.model.name,
        name,
        `${what}, which is not a column of ${this.table.path}`,
        `Name derived fields after the entity's properties: ${this.table.columns.map((c) => c.property).join(', ')}.`,
      );
    }
    if (column.computed) {
      throw new InvalidRowError(this.model.name, name, `${what}, which the database computes`, 'Leave computed columns out of derived rows.');
    }
    return column;
  }

  private assertRequired(has: (field: string) => boolean, what: string): void {
    for (const field of this.table.required) {
      if (!has(field)) {
        throw new InvalidRowError(this.model.name, field, `${what} the required field "${field}"`, 'Select every field listed in requiredFields.');
      }
    }
  }

  /** The table column a lens key names, quoted (and qualified by `alias` when given). */
  private columnRef(key: string, alias?: string): string | undefined {
    const column = this.table.byProperty.get(key);
    if (!column) return undefined;
    return alias ? `${quoteIdent(alias)}.${quoteIdent(column.column)}` : quoteIdent(column.column);
  }
}
