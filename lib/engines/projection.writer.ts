import { from, isObservable, type Observable, type Subscription } from 'rxjs';
import { SelectQueryBuilder, type DataSource } from 'typeorm';
import { InvalidRowError } from '../errors/invalid-row.error.js';
import type { Derived, Row } from '../interfaces/derivation-context.interface.js';
import { positionalBinder, renderConditions, type NormalizedLens } from '../lens/lens.js';
import { conflictClause, type ColumnModel, type ProjectionModel, type TableModel } from './projection.model.js';
import { streamRows } from './row-stream.js';
import { describeColumns, narrow, tableQuery } from './slice.queries.js';
import { quoteIdent, sameDatabase } from './sql.js';
import { Valve } from './valve.js';

/** The connection of a projection's write transaction, as `pg` hands it out. */
export interface PgClient {
  query(config: { text: string; values?: unknown[] }): Promise<{ rowCount: number | null; rows: any[]; fields?: { name: string }[] }>;
}

export interface WriterOptions {
  batchSize: number;
  streamBatchSize: number;
  signal: AbortSignal;
  valve: Valve;
}

/** Batches waiting to be written before the cursors feeding them are paused. */
const QUEUED_BATCHES_HIGH_WATER = 2;

/**
 * Writes one projection's slice inside its transaction: deletes it, then materializes what the
 * derivations return, in PostgreSQL when it can (`INSERT ... SELECT`) or in batches from Node.
 */
export class ProjectionWriter {
  readonly paths = new Set<'insert-select' | 'stream'>();
  private readonly table: TableModel;
  private readonly write: DataSource;
  private readonly statements = new Map<string, string>();

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
    if (!sameDatabase(qb.connection, this.write)) {
      // Its own valve: the cursor must not wait on batches queued behind this very query.
      const valve = new Valve();
      const [sql, params] = qb.getQueryAndParameters();
      const rows = streamRows(qb.connection, sql, params, {
        batchSize: this.options.streamBatchSize,
        valve,
        signal: this.options.signal,
      });
      return this.writeStream(rows, valve);
    }
    this.paths.add('insert-select');
    const outputs = await describeColumns(qb, this.client);
    const targets = outputs.map((name) => this.targetOf(name, `its query selects "${name}"`));
    const written = new Set(targets.map((column) => column.property));
    this.assertRequired((field) => written.has(field), 'its query does not select');
    const [sql, params] = qb.getQueryAndParameters();
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
    const columns = targets.map((column) => column.column);
    const text =
      `INSERT INTO ${this.table.path} (${columns.map(quoteIdent).join(', ')}) ` +
      `SELECT ${outputs.map((name) => `"src".${quoteIdent(name)}`).join(', ')} FROM (${sql}) AS "src"` +
      `${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ${conflictClause(this.table, columns)}`;
    const result = await this.client.query({ text, values });
    return result.rowCount ?? 0;
  }

  /** Rows (and query builders) from Node, written in batches with back-pressure on the cursors. */
  private writeStream(source: Observable<Row | SelectQueryBuilder<any>>, valve: Valve): Promise<number> {
    this.paths.add('stream');
    const { signal, batchSize } = this.options;
    return new Promise<number>((resolve, reject) => {
      const jobs: (() => Promise<number>)[] = [];
      let batch: Record<string, unknown>[] = [];
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
        enqueue(() => this.writeBatch(rows));
      };

      subscription = source.subscribe({
        next: (item) => {
          if (failed) return;
          if (item instanceof SelectQueryBuilder) {
            flush();
            enqueue(() => this.writeQuery(item));
            return;
          }
          try {
            batch.push(this.toRecord(item as Row, seen++));
          } catch (error) {
            return fail(error);
          }
          if (batch.length >= batchSize) flush();
        },
        error: (error) => fail(error),
        complete: () => {
          completed = true;
          flush();
          void drain();
        },
      });
    });
  }

  /**
   * One statement per set of fields: a field a row leaves out gets the column's default, not the
   * NULL that `json_populate_recordset` would give it beside rows that set it.
   */
  private async writeBatch(records: Record<string, unknown>[]): Promise<number> {
    const groups = new Map<string, Record<string, unknown>[]>();
    for (const record of records) {
      const key = Object.keys(record).join('\u0000');
      const group = groups.get(key);
      if (group) group.push(record);
      else groups.set(key, [record]);
    }
    let written = 0;
    for (const group of groups.values()) written += await this.writeGroup(group);
    return written;
  }

  private async writeGroup(records: Record<string, unknown>[]): Promise<number> {
    const present = new Set(Object.keys(records[0]));
    const columns = this.table.columns.map((column) => column.column).filter((column) => present.has(column));
    const key = columns.join('\u0000');
    let text = this.statements.get(key);
    const values: unknown[] = [JSON.stringify(records)];
    const where = renderConditions(this.lens.conditions, (key) => this.columnRef(key, 'src'), positionalBinder(values));
    if (!text) {
      const list = columns.map(quoteIdent).join(', ');
      text =
        `INSERT INTO ${this.table.path} (${list}) ` +
        `SELECT ${columns.map((c) => `"src".${quoteIdent(c)}`).join(', ')} ` +
        `FROM json_populate_recordset(NULL::${this.table.path}, $1::json) AS "src"` +
        `${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ${conflictClause(this.table, columns)}`;
      this.statements.set(key, text);
    }
    const result = await this.client.query({ text, values });
    return result.rowCount ?? 0;
  }

  /** A derived row as the JSON record `json_populate_recordset` reads: database column names. */
  private toRecord(row: Row, index: number): Record<string, unknown> {
    if (row === null || typeof row !== 'object') {
      throw new InvalidRowError(this.model.name, '', `row ${index} is ${row === null ? 'null' : typeof row}, not an object`, 'Derivations emit plain objects keyed by property name.');
    }
    const record: Record<string, unknown> = {};
    for (const key of Object.keys(row)) {
      const value = row[key];
      if (value === undefined) continue;
      const column = this.targetOf(key, `row ${index} has a field "${key}"`);
      record[column.column] = toJsonValue(column.prepare ? column.prepare(value) : value);
    }
    if (Object.keys(record).length === 0) {
      throw new InvalidRowError(this.model.name, '', `row ${index} has no fields`, 'Derivations emit objects with at least one column set.');
    }
    for (const field of this.table.required) {
      const column = this.table.byProperty.get(field)!;
      if (record[column.column] === undefined || record[column.column] === null) {
        throw new InvalidRowError(
          this.model.name,
          field,
          `row ${index} lacks the required field "${field}"`,
          'Every derived row must set the fields listed in requiredFields.',
        );
      }
    }
    return record;
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

/** Values as PostgreSQL reads them from JSON text: local-time dates like `pg` sends them. */
function toJsonValue(value: unknown): unknown {
  if (value instanceof Date) return dateToString(value);
  if (typeof value === 'bigint') return value.toString();
  if (Buffer.isBuffer(value)) return `\\x${value.toString('hex')}`;
  return value;
}

function pad(value: number, length = 2): string {
  return String(value).padStart(length, '0');
}

function dateToString(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return (
    `${pad(date.getFullYear(), 4)}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}
