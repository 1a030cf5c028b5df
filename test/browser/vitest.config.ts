import { defineConfig } from 'vitest/config';
import base from '../vitest.config.js';

/**
 * `npm run test:browser`: the board in headless Chromium (Debian's `chromium` package, driven by
 * playwright-core), with the same compiler, setup and PostgreSQL as `npm test`. `.ci/run`
 * installs Chromium when it is missing; CHROMIUM_PATH points at another binary.
 */
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/browser/**/*.spec.ts'],
    exclude: [],
    maxWorkers: 1,
  },
});
