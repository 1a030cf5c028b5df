import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The application's tables (accounts, invoices) and the projections' tables. */
export class CreateBilling1764000000000 implements MigrationInterface {
  name = 'CreateBilling1764000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE accounts (
        id integer PRIMARY KEY,
        org_id integer NOT NULL,
        name text NOT NULL
      )`);
    await queryRunner.query(`CREATE INDEX accounts_org_id_idx ON accounts (org_id)`);
    await queryRunner.query(`
      CREATE TABLE invoices (
        id bigint PRIMARY KEY,
        org_id integer NOT NULL,
        account_id integer NOT NULL,
        amount_cents bigint NOT NULL,
        issued_on date NOT NULL,
        status text NOT NULL CHECK (status IN ('open', 'paid', 'void'))
      )`);
    await queryRunner.query(`CREATE INDEX invoices_org_id_account_id_idx ON invoices (org_id, account_id)`);
    await queryRunner.query(`
      CREATE TABLE accounts_receivable (
        account_id integer PRIMARY KEY,
        org_id integer NOT NULL,
        name text NOT NULL,
        open_cents bigint NOT NULL,
        open_invoices integer NOT NULL,
        oldest_open_on date
      )`);
    await queryRunner.query(`CREATE INDEX accounts_receivable_org_id_idx ON accounts_receivable (org_id)`);
    await queryRunner.query(`
      CREATE TABLE org_receivables (
        org_id integer NOT NULL,
        day date NOT NULL,
        invoiced_cents bigint NOT NULL,
        open_cents bigint NOT NULL,
        accounts_aging_from_day integer NOT NULL,
        PRIMARY KEY (org_id, day)
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE org_receivables`);
    await queryRunner.query(`DROP TABLE accounts_receivable`);
    await queryRunner.query(`DROP TABLE invoices`);
    await queryRunner.query(`DROP TABLE accounts`);
  }
}
