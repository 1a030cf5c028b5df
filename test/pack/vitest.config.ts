import { defineConfig } from 'vitest/config';
import base from '../vitest.config.js';

/** `npm run test:pack`: packs, installs and runs the package in an app outside the repository. */
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/pack/**/*.spec.ts'],
    exclude: [],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    maxWorkers: 1,
  },
});
