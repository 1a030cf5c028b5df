import swc from 'unplugin-swc';
import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  // Vite's own transform emits wrong decorator metadata: swc compiles instead.
  oxc: false,
  plugins: [
    swc.vite({
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
        target: 'es2022',
      },
    }),
  ],
  test: {
    root: process.cwd(),
    include: ['test/**/*.spec.ts'],
    // Run on their own: the 60-second load test (`npm run test:load`), the pack test (`npm run
    // test:pack`), the board in a browser (`npm run test:browser`, which needs Chromium) and the
    // unit tier, without PostgreSQL (`npm run test:unit`).
    exclude: [...configDefaults.exclude, 'test/load/**', 'test/pack/**', 'test/browser/**', 'test/unit/**'],
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['test/support/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
  },
});
