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
}

/** Injection token of the `AppConfig`. */
export const APP_CONFIG = Symbol('APP_CONFIG');
