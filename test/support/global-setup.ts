import type { TestProject } from 'vitest/node';
import { startPostgres, type PostgresServer } from '../../sample-app/src/database/postgres-server.js';

let server: PostgresServer | undefined;

/** One PostgreSQL per test run: embedded, or the server in DATABASE_URL. */
export async function setup(project: TestProject): Promise<void> {
  server = await startPostgres();
  project.provide('postgresUrl', server.url);
}

export async function teardown(): Promise<void> {
  await server?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
  }
}
