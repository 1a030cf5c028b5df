import { hostname } from 'node:os';
import type pg from 'pg';
import type { DataSource } from 'typeorm';
import { InvalidCinemaOptionsError } from '../../errors/invalid-options.error.js';

/** Who this process is, in tokens and `application_name`s: `<host>:<pid>`. */
const IDENTITY = `${hostname()}:${process.pid}`;

/** PostgreSQL keeps the first 63 bytes of an `application_name`. */
export function applicationName(role: string): string {
  return `${role}:${IDENTITY}`.slice(0, 63);
}

/** The connection settings of a TypeORM data source's (primary) pool. */
export function connectionConfig(dataSource: DataSource): pg.ClientConfig {
  const driver = dataSource.driver as unknown as { master?: { options?: pg.PoolConfig } };
  const options = driver.master?.options;
  if (!options)
    throw new InvalidCinemaOptionsError(
      'queue.dataSource',
      `"${dataSource.options.type}" data source is not a connected PostgreSQL data source`,
    );
  const { max: _max, min: _min, idleTimeoutMillis: _idle, ...client } = options;
  return client;
}
