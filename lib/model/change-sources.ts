import type { DataSource, EntityMetadata } from 'typeorm';
import type { SqlDialect } from '../dialect/dialect.interface.js';
import type { FreshnessThresholds, ProjectionOptions } from '../interfaces/projection-options.interface.js';
import type { ChangeModel, TableModel } from './projection.model.js';

/**
 * Resolves a projection's `changes` option against TypeORM's metadata: each lens key is a column
 * of the projection's own table, each mapped column one of the changed table. A table named by a
 * string that no entity maps is checked against the catalog when the capture migration runs.
 */
export function resolveChanges(
  options: ProjectionOptions,
  source: DataSource,
  sourceName: string,
  own: TableModel | undefined,
  fail: (reason: string, fix: string) => never,
  dialect: SqlDialect,
): ChangeModel[] {
  const changes = options.changes ?? [];
  if (!Array.isArray(changes))
    fail('changes must be an array of { table, lens }', "Write changes: [{ table: Invoice, lens: { orgId: 'orgId' } }].");
  return changes.map((change, index) => {
    const at = `changes[${index}]`;
    if (change === null || typeof change !== 'object' || change.lens === null || typeof change.lens !== 'object') {
      fail(`${at} must be { table, lens }`, "Write changes: [{ table: Invoice, lens: { orgId: 'orgId' } }].");
    }
    const metadata = metadataOf(source, change.table);
    const label = typeof change.table === 'function' ? change.table.name : String(change.table);
    if (typeof change.table === 'function' && !metadata) {
      fail(
        `${at} names table ${label}, which is not an entity of data source "${sourceName}"`,
        `Register ${label} with that data source, or name the table as a string.`,
      );
    }
    if (typeof change.table !== 'function' && (typeof change.table !== 'string' || change.table.length === 0)) {
      fail(`${at}.table must be an entity class or a table name`, "Write table: Invoice or table: 'invoices'.");
    }
    const entries = Object.entries(change.lens);
    if (entries.length === 0) fail(`${at}.lens maps no lens key`, "Map at least one key, e.g. lens: { orgId: 'orgId' }.");
    const lens = entries.map(([key, property]) => {
      const ownColumns = own ? own.columns.map((c) => c.property) : options.columns;
      if (ownColumns && !ownColumns.includes(key)) {
        fail(`${at}.lens key "${key}" is not a column of the projection`, `Its columns: ${ownColumns.join(', ')}.`);
      }
      if (typeof property !== 'string' || property.length === 0)
        fail(`${at}.lens.${key} must name a column of ${label}`, 'Give a property or column name.');
      if (!metadata) return { key, column: property };
      const column = metadata.columns.find((c) => c.propertyPath === property) ?? metadata.columns.find((c) => c.databaseName === property);
      if (!column) {
        fail(
          `${at}.lens.${key} names "${property}", which is not a column of table ${label}`,
          `Columns of ${label}: ${metadata.columns.map((c) => c.propertyPath).join(', ')}.`,
        );
      }
      return { key, column: column.databaseName };
    });
    const [schema, name] = metadata ? [metadata.schema, metadata.tableName] : splitName(change.table as string);
    return { table: dialect.quoteTable(schema, name), schema, name, label, lens };
  });
}

/** Checks the freshness thresholds (milliseconds). */
export function resolveFreshness(options: ProjectionOptions, fail: (reason: string, fix: string) => never): FreshnessThresholds {
  const given = options.freshness ?? {};
  for (const key of ['warnAfter', 'errorAfter'] as const) {
    const value = given[key];
    if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < 0)) {
      fail(`freshness.${key} must be a whole number of milliseconds, got ${String(value)}`, 'Leave it out for no threshold.');
    }
  }
  return { ...given };
}

function metadataOf(source: DataSource, table: unknown): EntityMetadata | undefined {
  if (typeof table === 'function') return source.hasMetadata(table) ? source.getMetadata(table) : undefined;
  if (typeof table !== 'string') return undefined;
  return source.entityMetadatas.find((m) => m.tablePath === table || m.tableName === table);
}

function splitName(table: string): [string | undefined, string] {
  const dot = table.indexOf('.');
  return dot < 0 ? [undefined, table] : [table.slice(0, dot), table.slice(dot + 1)];
}
