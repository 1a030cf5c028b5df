import { defineConfig } from 'vitest/config';
import base from '../vitest.config.js';

/** `npm run test:load`: the load test alone, with the same compiler, setup and PostgreSQL as `npm test`. */
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/load/**/*.spec.ts'],
    exclude: [],
    testTimeout: 300_000,
    maxWorkers: 1,
  },
});
