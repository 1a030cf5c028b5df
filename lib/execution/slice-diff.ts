import type { ColumnInfo } from '../dialect/dialect.interface.js';
import { InvalidRowError } from '../errors/invalid-row.error.js';
import type { NormalizedLens } from '../lens/lens.js';
import type { ProjectionModel, TableModel } from '../model/projection.model.js';
import { narrow, tableQuery } from '../read/slice.queries.js';
import type { PgClient } from './write-client.js';

/** Derived rows of a diff: a select whose outputs are named as the table's columns `columns`. */
export interface DiffSource {
  select: string;
  values: unknown[];
  columns: readonly string[];
}

/** What a diff did to the slice. */
export interface DiffCounts {
  deleted: number;
  inserted: number;
  updated: number;
  /** Derived rows the slice already held as they were. */
  unchanged: number;
}

/**
 * Runs a statement plainly, or in upsert mode its variant (see `ProjectionWriter.execute`);
 * `sent` is called once the statement is queued on the connection.
 */
type Execute = (plain: string, upsert: string, values: unknown[], sent?: () => void) => Promise<{ rows: any[] }>;

/** The column types of each table, read once from the catalog (a table's types do not change under a running app). */
const columnInfos = new WeakMap<ProjectionModel, Promise<ColumnInfo[]>>();

/**
 * `write: 'diff'`: collects what the derivations return, then writes only what differs from the
 * slice in one statement. A single query is diffed as it is (no row leaves PostgreSQL, no
 * temporary table); several sources, or a lens with a reducer, are gathered in a staging table first.
 */
export class SliceDiffer {
  private readonly sources: DiffSource[] = [];
  private readonly table: TableModel;

  constructor(
    private readonly model: ProjectionModel,
    private readonly lens: NormalizedLens,
    private readonly client: PgClient,
    private readonly upsert: boolean,
    private readonly execute: Execute,
  ) {
    this.table = model.table!;
  }

  /** A source of derived rows, kept until `apply`: rows are matched by key, so it must set the key. */
  add(source: DiffSource): void {
    for (const column of this.table.conflictTarget) {
      if (source.columns.includes(column)) continue;
      const property = this.table.byColumn.get(column)!.property;
      throw new InvalidRowError(
        this.model.name,
        property,
        `its derived rows do not set "${property}", part of the conflict key that write: 'diff' matches rows by`,
        `Derive ${this.table.conflictTarget.map((c) => this.table.byColumn.get(c)!.property).join(', ')} in every row.`,
      );
    }
    this.sources.push(source);
  }

  /**
   * Writes the difference between the slice and every source added (and `staged`, in that
   * order), in one statement; `sent` is called once that statement is queued.
   */
  async apply(staged: readonly DiffSource[], sent?: () => void): Promise<DiffCounts> {
    for (const source of staged) this.add(source);
    const { dialect } = this.model;
    const info = await this.columnInfo();
    let source = this.sources.length === 1 && !this.lens.reducer ? this.sources[0] : undefined;
    if (this.sources.length === 0) source = this.nothing();
    source ??= await this.gather(info);
    const values = [...source.values];
    const slice = this.slice(values);
    const diff = { derived: source.select, columns: source.columns, slice, deletes: this.model.dematerialize, info };
    const plain = dialect.sliceDiff(this.table, diff);
    const upsert = dialect.sliceDiff(this.table, { ...diff, conflictClause: dialect.conflictClause(this.table, source.columns) });
    const [row] = (await this.execute(plain, upsert, values, sent)).rows;
    const counts = { deleted: row.deleted, inserted: row.inserted, updated: row.updated };
    return { ...counts, unchanged: Math.max(0, row.derived - counts.inserted - counts.updated) };
  }

  /**
   * Every source copied into one staging table with the columns any of them sets (a column a
   * source leaves out gets its default, as an insert would give it), read back as one source.
   */
  private async gather(info: readonly ColumnInfo[]): Promise<DiffSource> {
    const { dialect } = this.model;
    const set = new Set(this.sources.flatMap((source) => source.columns));
    const columns = this.table.columns.filter((column) => set.has(column.column)).map((column) => column.column);
    const stage = dialect.createDiffStage(this.table);
    await this.client.query({ text: stage.sql });
    for (const source of this.sources) {
      await this.client.query({ text: dialect.stageSource(stage.name, columns, source, info), values: source.values });
    }
    const selected = columns.map((column) => `"src".${dialect.quoteIdent(column)}`).join(', ');
    // After a key conflict the last row derived for a key wins, as in a replacing upsert.
    const select = this.upsert
      ? dialect.lastPerKey(this.table, stage.name, columns, selected, '')
      : `SELECT ${selected} FROM ${stage.name} AS "src"`;
    return { select, values: [], columns };
  }

  /** No row derived: the slice's rows are all deleted. */
  private nothing(): DiffSource {
    const keys = this.table.conflictTarget;
    return {
      select: `SELECT ${keys.map(this.model.dialect.quoteIdent).join(', ')} FROM ${this.table.path} WHERE false`,
      values: [],
      columns: keys,
    };
  }

  /** The slice as a predicate on the table's rows, its parameters appended to `values`. */
  private slice(values: unknown[]): string {
    const { dialect } = this.model;
    if (this.lens.reducer) {
      const narrowed = narrow(tableQuery(this.model, this.model.write, true), this.lens, this.model.name);
      const [sql, params] = narrowed.getQueryAndParameters();
      // Only a staged source gets here: it has no parameters of its own to number after.
      values.push(...params);
      return dialect.diffRowIds(sql);
    }
    return dialect.where(
      this.lens.conditions,
      (key) => {
        const column = this.table.byProperty.get(key);
        return column && dialect.diffColumn(column.column);
      },
      values,
    );
  }

  private columnInfo(): Promise<ColumnInfo[]> {
    let info = columnInfos.get(this.model);
    if (!info) {
      info = this.client
        .query({ text: this.model.dialect.columnInfo(), values: [this.table.path] })
        .then((result) => result.rows as ColumnInfo[]);
      info.catch(() => columnInfos.delete(this.model));
      columnInfos.set(this.model, info);
    }
    return info;
  }
}
