import { configDefaults, defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * `npm run test:unit`: the specs that need no database, so no `globalSetup` starts PostgreSQL.
 * Same compiler as the end-to-end tier (swc, for correct decorator metadata).
 */
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/unit/**/*.spec.ts'],
    exclude: [...configDefaults.exclude],
    globalSetup: [],
    // Generous for a machine busy with other test runs; the tier itself takes a few seconds.
    testTimeout: 10_000,
    hookTimeout: 10_000,
    pool: 'threads',
    // Specs share a worker's module cache: Nest and TypeORM load once per worker, not once per
    // file (half the tier's CPU time). Unit specs keep no module state between them.
    isolate: false,
  },
});
