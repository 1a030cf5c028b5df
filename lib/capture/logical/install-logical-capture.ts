import type { Type } from '@nestjs/common';
import type { QueryRunner } from 'typeorm';
import { quoteIdent } from '../../dialect/postgres/sql.js';
import { capturedSources } from '../install-capture.js';

/** Where logical capture's objects are: the defaults of `capture.publication` and `capture.slot`. */
export interface LogicalCaptureNames {
  /** @default 'cinema_capture' */
  publication?: string;
  /** The replication slot `removeLogicalCapture` drops once the publication is gone. @default 'cinema_capture' */
  slot?: string;
}

/**
 * Logical capture (`capture: { mode: 'logical' }`), from a TypeORM migration (never at startup):
 * creates the publication, or adds to it, the tables the given projections declare in `changes`.
 * The tables also need a replica identity that carries their lens columns (the watcher checks it
 * at startup and names the statement that fixes it, e.g. `ALTER TABLE invoices REPLICA IDENTITY FULL`).
 *
 * @example
 * export class AddCapture1764500000000 implements MigrationInterface {
 *   up(q: QueryRunner) { return installLogicalCapture(q, [AccountsReceivable]); }
 *   down(q: QueryRunner) { return removeLogicalCapture(q, [AccountsReceivable]); }
 * }
 */
export async function installLogicalCapture(
  queryRunner: QueryRunner,
  projections: readonly Type<unknown>[],
  names: LogicalCaptureNames = {},
): Promise<void> {
  const publication = names.publication ?? 'cinema_capture';
  const tables = await tablesOf(queryRunner, projections);
  const exists = await publicationExists(queryRunner, publication);
  if (!exists) {
    await queryRunner.query(`CREATE PUBLICATION ${quoteIdent(publication)} FOR TABLE ${tables.join(', ')}`);
    return;
  }
  for (const table of tables) {
    if (!(await published(queryRunner, publication, table))) {
      await queryRunner.query(`ALTER PUBLICATION ${quoteIdent(publication)} ADD TABLE ${table}`);
    }
  }
}

/**
 * Removes the given projections' tables from the publication; once it has none, drops it and the
 * replication slot (an abandoned slot keeps WAL on the server's disk).
 */
export async function removeLogicalCapture(
  queryRunner: QueryRunner,
  projections: readonly Type<unknown>[],
  names: LogicalCaptureNames = {},
): Promise<void> {
  const publication = names.publication ?? 'cinema_capture';
  if (!(await publicationExists(queryRunner, publication))) return;
  for (const table of await tablesOf(queryRunner, projections)) {
    if (await published(queryRunner, publication, table)) {
      await queryRunner.query(`ALTER PUBLICATION ${quoteIdent(publication)} DROP TABLE ${table}`);
    }
  }
  const { records } = await queryRunner.query(
    `SELECT count(*)::int AS n FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid WHERE p.pubname = $1`,
    [publication],
    true,
  );
  if ((records as { n: number }[])[0].n > 0) return;
  await queryRunner.query(`DROP PUBLICATION ${quoteIdent(publication)}`);
  await queryRunner.query(
    `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database() AND NOT active`,
    [names.slot ?? 'cinema_capture'],
  );
}

async function tablesOf(queryRunner: QueryRunner, projections: readonly Type<unknown>[]): Promise<string[]> {
  return [...new Set((await capturedSources(queryRunner, projections)).map((source) => source.change.table))];
}

async function publicationExists(queryRunner: QueryRunner, publication: string): Promise<boolean> {
  const { records } = await queryRunner.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [publication], true);
  return records.length > 0;
}

async function published(queryRunner: QueryRunner, publication: string, table: string): Promise<boolean> {
  const { records } = await queryRunner.query(
    `SELECT 1 FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid WHERE p.pubname = $1 AND r.prrelid = to_regclass($2)`,
    [publication, table],
    true,
  );
  return records.length > 0;
}
