import type { MigrationInterface, QueryRunner } from 'typeorm';
import { installCapture, removeCapture } from '../../../../lib/index.js';
import { Accounts } from '../../receivables/accounts.projection.js';
import { Invoices } from '../../receivables/invoices.projection.js';

/**
 * Change capture's triggers on `accounts` and `invoices` (after `CINEMA_CAPTURE_MIGRATIONS`, which
 * create the change log): every write marks its orgs' receivables dirty for the watcher.
 */
export class AddCapture1764500000000 implements MigrationInterface {
  name = 'AddCapture1764500000000';

  up(queryRunner: QueryRunner): Promise<void> {
    return installCapture(queryRunner, [Accounts, Invoices]);
  }

  down(queryRunner: QueryRunner): Promise<void> {
    return removeCapture(queryRunner, [Accounts, Invoices]);
  }
}
