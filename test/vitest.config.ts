import swc from 'unplugin-swc';
import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  // Vite's own transform emits wrong decorator metadata: swc compiles instead.
  oxc: false,
  plugins: [swc.vite({ jsc: { parser: { syntax: 'typescript', decorators: true }, transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false }, target: 'es2022' } })],
  test: {
    root: process.cwd(),
    include: ['test/**/*.spec.ts'],
    // The 60-second load test and the pack test run on their own: `npm run test:load`, `npm run test:pack`.
    exclude: [...configDefaults.exclude, 'test/load/**', 'test/pack/**'],
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['test/support/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
  },
});
