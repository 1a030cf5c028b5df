import type { CinemaModuleOptions } from '../../../lib/index.js';

/** Everything the application needs from its environment; main.ts, demo.ts and tests build it. */
export interface AppConfig {
  /** PostgreSQL database the application owns: its tables, migrations and projections. */
  databaseUrl: string;
  /** @default 10 */
  poolSize?: number;
  /** Connection attempts at boot before giving up. @default 3 */
  retryAttempts?: number;
  /** Log SQL statements. @default false */
  logging?: boolean;
  cinema?: CinemaModuleOptions;
  /**
   * Run the change-capture watcher in this process (`CinemaModule`'s `capture`, every 200 ms):
   * written invoices and accounts refresh their orgs' receivables by themselves.
   * @default true
   */
  capture?: boolean;
  /** Run the nightly rebuild's cron in this process (not in queue workers). @default true */
  schedule?: boolean;
  /**
   * Mount the Cinema board at /cinema (HTTP processes only).
   * @default true
   */
  board?: boolean;
  /**
   * The board's Basic-auth passwords: user `viewer` looks, user `operator` also refreshes and
   * retries. Without them nobody is let in. main.ts reads BOARD_VIEWER_PASSWORD and
   * BOARD_OPERATOR_PASSWORD (outside production, `viewer` and `operator` when unset).
   */
  boardPasswords?: { viewer: string; operator: string };
}

/** Injection token of the `AppConfig`. */
export const APP_CONFIG = Symbol('APP_CONFIG');
