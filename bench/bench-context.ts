import type { PostgresServer } from '../sample-app/src/database/postgres-server.js';
import { bootBillingApp, type BillingApp } from './apps/billing-app.js';
import type { BenchOptions } from './bench-options.js';
import type { BenchSizes } from './bench-sizes.js';
import { seedBillingDataset } from './dataset.js';

/** Log lines carry the seconds since the bench started. */
const started = performance.now();

/** Rounds a scenario measures by default, at full scale and with --quick. */
export interface RoundDefaults {
  full: number;
  quick: number;
  warmups?: number;
}

/**
 * What scenarios share during one run: the server, the sizes, databases created once, the
 * seeded sample app, and the time each data set took to create.
 */
export class BenchContext {
  readonly setupSeconds: Record<string, number> = {};
  private readonly databases = new Map<string, Promise<string>>();
  private billingApp?: Promise<BillingApp>;

  constructor(
    readonly options: BenchOptions,
    readonly sizes: BenchSizes,
    readonly postgres: PostgresServer,
  ) {}

  log(line: string): void {
    const elapsed = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
    console.log(`[${elapsed}s] ${line}`);
  }

  rounds(defaults: RoundDefaults): { rounds: number; warmups: number } {
    return {
      rounds: this.options.rounds ?? (this.options.quick ? defaults.quick : defaults.full),
      warmups: defaults.warmups ?? 1,
    };
  }

  /** The URL of a database of the run, dropped and created on first use. */
  database(name: string): Promise<string> {
    let url = this.databases.get(name);
    if (!url) {
      url = this.postgres.createDatabase(name);
      this.databases.set(name, url);
    }
    return url;
  }

  /** The sample app on `cinema_bench`, its billing tables seeded and both projections built. */
  billing(): Promise<BillingApp> {
    this.billingApp ??= (async () => {
      const app = await bootBillingApp(await this.database('cinema_bench'));
      try {
        await this.timedSetup('billing data set', () => seedBillingDataset(app.dataSource, this.sizes, (line) => this.log(line)));
      } catch (error) {
        await app.close();
        throw error;
      }
      return app;
    })();
    return this.billingApp;
  }

  /**
   * Drops the run's databases from a DATABASE_URL server (millions of rows nobody reads again);
   * an embedded server takes its data directory with it when it stops.
   */
  async dropDatabases(): Promise<void> {
    if (this.postgres.embedded) return;
    for (const name of this.databases.keys()) await this.postgres.dropDatabase(name);
  }

  async timedSetup<T>(label: string, work: () => Promise<T>): Promise<T> {
    const began = performance.now();
    const value = await work();
    this.setupSeconds[label] = Math.round((performance.now() - began) / 100) / 10;
    this.log(`${label}: ${this.setupSeconds[label]} s`);
    return value;
  }

  /**
   * Closes the sample app: once no scenario needs it (@nestjs/typeorm warns when a second app
   * registers another 'default' data source while it is open), and before the server stops.
   */
  async closeBillingApp(): Promise<void> {
    const app = await this.billingApp?.catch(() => undefined);
    this.billingApp = undefined;
    await app?.close();
  }
}
