import type { Type } from '@nestjs/common';
import type { QueryRunner } from 'typeorm';
import { PROJECTION_METADATA } from '../cinema.constants.js';
import { postgresDialect } from '../dialect/postgres/postgres.dialect.js';
import { InvalidProjectionError } from '../errors/invalid-projection.error.js';
import type { ProjectionOptions } from '../interfaces/projection-options.interface.js';
import { resolveChanges } from '../model/change-sources.js';
import { captureStatements, type CapturedSource, type CaptureStatements } from './capture-triggers.js';

/**
 * Installs the capture triggers of the tables the given projections declare in `changes`, from
 * a TypeORM migration (never at startup). List every projection fed by a table in one call:
 * installing a table again replaces its triggers.
 *
 * @example
 * export class AddCapture1764500000000 implements MigrationInterface {
 *   up(q: QueryRunner) { return installCapture(q, [AccountsReceivable]); }
 *   down(q: QueryRunner) { return removeCapture(q, [AccountsReceivable]); }
 * }
 */
export async function installCapture(queryRunner: QueryRunner, projections: readonly Type<unknown>[]): Promise<void> {
  const statements = await captureMigration(queryRunner, projections);
  for (const statement of statements.up) await queryRunner.query(statement);
}

/** Removes what `installCapture` installed for the same projections. */
export async function removeCapture(queryRunner: QueryRunner, projections: readonly Type<unknown>[]): Promise<void> {
  const statements = await captureMigration(queryRunner, projections);
  for (const statement of statements.down) await queryRunner.query(statement);
}

/**
 * The up and down statements for the given projections, checked against the entity metadata of
 * the migration's data source and, for tables named by string, against the catalog.
 */
export async function captureMigration(queryRunner: QueryRunner, projections: readonly Type<unknown>[]): Promise<CaptureStatements> {
  return captureStatements(await capturedSources(queryRunner, projections));
}

/** The tables the given projections declare in `changes`, checked against the metadata and the catalog. */
export async function capturedSources(queryRunner: QueryRunner, projections: readonly Type<unknown>[]): Promise<CapturedSource[]> {
  const sources: CapturedSource[] = [];
  for (const projection of projections) {
    const options = Reflect.getMetadata(PROJECTION_METADATA, projection) as ProjectionOptions | undefined;
    const name = options?.name ?? projection?.name ?? String(projection);
    const fail = (reason: string, fix: string): never => {
      throw new InvalidProjectionError(name, reason, fix);
    };
    if (!options) fail('it is not decorated with @Projection()', 'Pass projection classes to installCapture.');
    const changes = resolveChanges(options!, queryRunner.connection, 'of the migration', undefined, fail, postgresDialect);
    if (changes.length === 0)
      fail('it declares no changes', "Add @Projection({ changes: [{ table: Invoice, lens: { orgId: 'orgId' } }] }).");
    for (const change of changes) {
      const { records: rows } = await queryRunner.query(
        `SELECT a.attname FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
        [change.table],
        true,
      );
      const columns = new Set((rows as { attname: string }[]).map((row) => row.attname));
      if (columns.size === 0)
        fail(`its changes name table ${change.table}, which does not exist`, 'Create the table first, or fix its name.');
      for (const { key, column } of change.lens) {
        if (!columns.has(column)) {
          fail(
            `changes lens.${key} names column "${column}", which table ${change.table} does not have`,
            `Its columns: ${[...columns].join(', ')}.`,
          );
        }
      }
      sources.push({ projection: name, change });
    }
  }
  return sources;
}
