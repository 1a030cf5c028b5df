import type { NormalizedLens } from '../lens/lens.js';
import type { ProjectionModel, TableModel } from '../model/projection.model.js';
import type { StagedRow } from './row-checks.js';
import type { DiffSource } from './slice-diff.js';
import type { PgClient } from './write-client.js';

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
 * The staging tables of one write: rows are copied in batches into a temporary table per set of
 * columns they set (so a column a row leaves out gets its default on insert), then inserted into
 * the projection's table inside the lens, in one statement per staging table.
 */
export class StagingTables {
  private readonly stages = new Map<string, Stage>();
  private table: TableModel;

  constructor(
    private readonly model: ProjectionModel,
    private readonly lens: NormalizedLens,
    private readonly client: PgClient,
    /** `write: 'diff'`: rows stay staged until the diff reads them (`sources`). */
    private readonly diff: boolean,
    /** Runs the plain insert, or in upsert mode the one with the conflict clause. */
    private readonly insert: (plain: string, upsert: string, values: unknown[]) => Promise<number>,
  ) {
    this.table = model.table!;
  }

  /** Inserts into `table` from now on (a whole-table rebuild's fresh table, see `TableSwap`). */
  writeInto(table: TableModel): void {
    this.table = table;
  }

  /** Copies rows into the staging table of their set of columns. */
  async copy(rows: readonly StagedRow[]): Promise<number> {
    const { dialect } = this.model;
    const groups = new Map<string, StagedRow[]>();
    for (const row of rows) {
      const group = groups.get(row.key);
      if (group) group.push(row);
      else groups.set(row.key, [row]);
    }
    for (const group of groups.values()) {
      const stage = await this.stageOf(group[0]);
      if (stage.used) {
        await this.client.query({ text: dialect.emptyStage(stage.name) });
        stage.used = false;
      }
      let data = '';
      for (const row of group) data += `${row.line}\n`;
      stage.pending += await this.client.copy(dialect.copyInto(stage.name, stage.columns), data);
    }
    return 0;
  }

  /**
   * Fills the staging table of `columns` with `copy`, which gets its name (the table empty) and
   * returns the rows it copied, or `undefined` when it copied nothing. Returns the table's name.
   */
  async fill(columns: readonly string[], copy: (stage: () => Promise<string>) => Promise<number | undefined>): Promise<string | undefined> {
    let name: string | undefined;
    const ready = async () => {
      const stage = await this.stageOf({ key: columns.join('\u0000'), columns });
      if (stage.used) {
        await this.client.query({ text: this.model.dialect.emptyStage(stage.name) });
        stage.used = false;
      }
      name = stage.name;
      return name;
    };
    const rows = await copy(ready);
    if (rows === undefined || name === undefined) return undefined;
    this.stages.get(columns.join('\u0000'))!.pending += rows;
    return name;
  }

  /** Inserts what the staging tables hold into the projection's table, inside the lens. */
  async insertAll(): Promise<number> {
    if (this.diff) return 0;
    const { dialect } = this.model;
    let written = 0;
    for (const stage of this.stages.values()) {
      if (stage.pending === 0) continue;
      const { rows, lastPerKey, values } = this.staged(stage);
      const plain = dialect.insertSelect(this.table, stage.columns, rows);
      const upsert = `${dialect.insertSelect(this.table, stage.columns, lastPerKey)} ${dialect.conflictClause(this.table, stage.columns)}`;
      written += await this.insert(plain, upsert, values);
      stage.pending = 0;
      stage.used = true;
    }
    return written;
  }

  /** `write: 'diff'`: each staging table's rows inside the lens (the last per key in upsert mode), as a diff's source. */
  sources(upsert: boolean): DiffSource[] {
    return [...this.stages.values()]
      .filter((stage) => stage.pending > 0)
      .map((stage) => {
        const { rows, lastPerKey, values } = this.staged(stage);
        return { select: upsert ? lastPerKey : rows, values, columns: stage.columns };
      });
  }

  /** A staging table's rows inside the lens, as they are and the last per key, and the lens's parameters. */
  private staged(stage: Stage): { rows: string; lastPerKey: string; values: unknown[] } {
    const { dialect } = this.model;
    const values: unknown[] = [];
    const where = dialect.where(this.lens.conditions, (key) => this.columnRef(key), values);
    const filter = where ? ` WHERE ${where}` : '';
    const selected = stage.columns.map((column) => `"src".${dialect.quoteIdent(column)}`).join(', ');
    return {
      rows: `SELECT ${selected} FROM ${stage.name} AS "src"${filter}`,
      lastPerKey: dialect.lastPerKey(this.table, stage.name, stage.columns, selected, filter),
      values,
    };
  }

  /**
   * A staging table per set of columns that rows set. It has every writable column of the table:
   * a lens condition on a column the rows leave out sees NULL, as it would in the table.
   */
  private async stageOf(row: Pick<StagedRow, 'key' | 'columns'>): Promise<Stage> {
    let stage = this.stages.get(row.key);
    if (!stage) {
      const name = this.model.dialect.stageName(this.stages.size + 1);
      await this.client.query({ text: this.model.dialect.createStage(name, this.table) });
      stage = { name, columns: row.columns, pending: 0, used: false };
      this.stages.set(row.key, stage);
    }
    return stage;
  }

  private columnRef(key: string): string | undefined {
    const column = this.table.byProperty.get(key);
    return column && `"src".${this.model.dialect.quoteIdent(column.column)}`;
  }
}
