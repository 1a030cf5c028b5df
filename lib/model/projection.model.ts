import type { Type } from '@nestjs/common';
import type { DataSource, EntityMetadata } from 'typeorm';
import type { InputMode } from '../interfaces/input-options.interface.js';
import type { FreshnessThresholds, ProjectionOptions, VersionPolicy } from '../interfaces/projection-options.interface.js';
import type { CopyEncoding } from '../dialect/postgres/copy-text.js';
import { valueKindOf, type ValueKind } from '../lens/lens-values.js';
import type { SqlDialect } from '../dialect/dialect.interface.js';

export interface ColumnModel {
  /** Property name: the key of rows in and out of derivations, and of lenses. */
  property: string;
  /** Column name in the database. */
  column: string;
  primary: boolean;
  /** Computed by the database (`GENERATED ... AS`): never written. */
  computed: boolean;
  kind: ValueKind;
  /** Turns a JavaScript value into what the column stores (transformers, simple-json, ...). */
  prepare?: (value: unknown) => unknown;
  /** How a derived value (after `prepare`) is written as COPY text. */
  encoding: CopyEncoding;
}

/** A projection's table as Cinema writes it. */
export interface TableModel {
  /** Quoted `"schema"."table"`. */
  path: string;
  columns: ColumnModel[];
  byProperty: Map<string, ColumnModel>;
  byColumn: Map<string, ColumnModel>;
  /** Columns (database names) of the `ON CONFLICT` target. */
  conflictTarget: string[];
  /** `'replace'`, `'ignore'` or the database names of the columns to update. */
  onConflict: 'replace' | 'ignore' | string[];
  /** Property names every row must carry. */
  required: string[];
}

export interface DerivationModel {
  method: string;
  inputs: ProjectionModel[];
  mode: InputMode;
  /** Streamed inputs carry date/time values as PostgreSQL's text. */
  dateStrings: boolean;
}

/** An application table feeding a projection (its `changes` option), resolved. */
export interface ChangeModel {
  /** Quoted `"schema"."table"`. */
  table: string;
  schema?: string;
  name: string;
  /** As the option named it (class or table name), for messages. */
  label: string;
  /** Lens key of the projection → column (database name) of the table. */
  lens: { key: string; column: string }[];
}

/** Everything the engine needs to know about one projection, resolved once at startup. */
export interface ProjectionModel {
  target: Type<any>;
  name: string;
  instance: any;
  options: ProjectionOptions;
  virtual: boolean;
  /** Where its output is read by project() and its dependents (for a materialized one, a database holding its table). */
  readName: string;
  read: DataSource;
  /** Where the application's tables are read: `ctx.read` of its output() or derivations. */
  source: DataSource;
  writeName?: string;
  write?: DataSource;
  /** The entity's table: written when materialized, read when a virtual projection is an entity. */
  table?: TableModel;
  /** A virtual projection's own `output(ctx)`. */
  hasOutput: boolean;
  derivations: DerivationModel[];
  /** Every projection read by any derivation, once. */
  inputs: ProjectionModel[];
  timeout: number;
  /** The module's `preparedStatements`: writes name the statements they repeat. */
  preparedStatements: boolean;
  dematerialize: boolean;
  /** Its `write` option: replace the slice, or write only the rows that differ. */
  writeMode: 'replace' | 'diff';
  /** Its `fullRebuild` option: how an empty lens rewrites the table. */
  fullRebuild: 'auto' | 'swap' | 'in-place';
  /** What a plain insert that meets a key already in the table does: upsert from then on, or fail. */
  keyConflicts: 'upsert' | 'error';
  /** The statements of its write database's product. */
  dialect: SqlDialect;
  /** Property name of the locking partition key, if any. */
  partitionKey?: string;
  /** The application tables whose changes mark its slices dirty. */
  changes: ChangeModel[];
  freshness: FreshnessThresholds;
  /** Its `tags` option: labels for `tag:NAME` selectors. */
  tags: readonly string[];
  /**
   * Its effective version (16 hex digits): its definition's fingerprint, or its `version` option,
   * with its inputs' versions (`projection-version.ts`). Recorded with each slice in the ledger.
   */
  version: string;
  /** What startup does when the version differs from the one that built its slices. */
  onVersionChange: VersionPolicy;
}

/** Builds the table model of an entity; `fail` throws the projection's error for a bad option. */
export function tableModelOf(
  metadata: EntityMetadata,
  options: ProjectionOptions,
  fail: (reason: string, fix: string) => never,
  dialect: SqlDialect,
): TableModel {
  const driver = metadata.connection.driver;
  const columns: ColumnModel[] = metadata.columns
    .filter((column) => !column.isVirtual && !column.isVirtualProperty)
    .map((column) => {
      const special = column.transformer || /^simple-(json|array|enum)$/.test(String(column.type));
      return {
        property: column.propertyPath,
        column: column.databaseName,
        primary: column.isPrimary,
        computed: Boolean(column.generatedType || column.asExpression),
        kind: valueKindOf(column.type),
        prepare: special ? (value: unknown) => driver.preparePersistentValue(value, column) : undefined,
        // TypeORM's own preparation already turns json into text.
        encoding: !special && /^jsonb?$/.test(String(column.type)) ? 'json' : 'plain',
      };
    });
  const byProperty = new Map(columns.map((column) => [column.property, column]));
  const byColumn = new Map(columns.map((column) => [column.column, column]));
  const resolve = (name: string, option: string): ColumnModel => {
    const column = byProperty.get(name) ?? byColumn.get(name);
    if (!column) {
      fail(`${option} names "${name}", which is not a column of its entity`, `Columns: ${columns.map((c) => c.property).join(', ')}.`);
    }
    return column;
  };
  const conflictTarget = (options.conflictTarget ?? columns.filter((c) => c.primary).map((c) => c.property)).map(
    (name) => resolve(name, 'conflictTarget').column,
  );
  if (conflictTarget.length === 0) {
    fail(
      options.write === 'diff'
        ? "it has no primary key and no conflictTarget, and write: 'diff' matches derived rows to the table's rows by that key"
        : 'it has no primary key and no conflictTarget',
      'Set conflictTarget to the columns of a unique index.',
    );
  }
  const onConflict = options.onConflict ?? 'replace';
  return {
    path: dialect.quoteTable(metadata.schema, metadata.tableName),
    columns,
    byProperty,
    byColumn,
    conflictTarget,
    onConflict:
      onConflict === 'replace' || onConflict === 'ignore' ? onConflict : onConflict.map((name) => resolve(name, 'onConflict').column),
    required: (options.requiredFields ?? []).map((name) => resolve(name, 'requiredFields').property),
  };
}

/** Looks projections up by name: what engines need of the registry, without depending on it. */
export interface ProjectionCatalog {
  named(name: string): ProjectionModel;
}
