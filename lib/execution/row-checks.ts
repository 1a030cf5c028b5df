import { copyValue } from '../dialect/postgres/copy-text.js';
import { InvalidRowError } from '../errors/invalid-row.error.js';
import type { Row } from '../interfaces/derivation-context.interface.js';
import type { ColumnModel, ProjectionModel, TableModel } from '../model/projection.model.js';

/** One derived row, already in COPY text, with the columns (database names) it sets. */
export class StagedRow {
  constructor(
    /** `columns` joined: rows with the same key go to the same staging table. */
    readonly key: string,
    readonly columns: readonly string[],
    readonly line: string,
  ) {}
}

/** Checks derived rows and selected columns against the projection's table. */
export class RowChecks {
  private readonly table: TableModel;

  constructor(private readonly model: ProjectionModel) {
    this.table = model.table!;
  }

  /** A derived row as a COPY line, validated against the table. */
  toStagedRow(row: Row, index: number): StagedRow {
    if (row === null || typeof row !== 'object') {
      throw new InvalidRowError(
        this.model.name,
        '',
        `row ${index} is ${row === null ? 'null' : typeof row}, not an object`,
        'Derivations emit plain objects keyed by property name.',
      );
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
      throw new InvalidRowError(
        this.model.name,
        '',
        `row ${index} has no fields`,
        'Derivations emit objects with at least one column set.',
      );
    }
    for (const field of this.table.required) {
      if (!set.has(field)) throw this.missingRequired(field, index);
    }
    return new StagedRow(columns.join('\u0000'), columns, fields.join('\t'));
  }

  missingRequired(field: string, index: number): InvalidRowError {
    return new InvalidRowError(
      this.model.name,
      field,
      `row ${index} lacks the required field "${field}"`,
      'Every derived row must set the fields listed in requiredFields.',
    );
  }

  /** The column a derived field or selected output names; computed columns are refused. */
  targetOf(name: string, what: string): ColumnModel {
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
      throw new InvalidRowError(
        this.model.name,
        name,
        `${what}, which the database computes`,
        'Leave computed columns out of derived rows.',
      );
    }
    return column;
  }

  assertRequired(has: (field: string) => boolean, what: string): void {
    for (const field of this.table.required) {
      if (!has(field)) {
        throw new InvalidRowError(
          this.model.name,
          field,
          `${what} the required field "${field}"`,
          'Select every field listed in requiredFields.',
        );
      }
    }
  }
}
