// @ts-check
// Lint as the official Nest modules do: ESLint's and typescript-eslint's recommended rules with
// type information, and eslint-config-prettier so that layout is Prettier's job alone
// (`npm run format:check`).
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'coverage/**', 'node_modules/**', '.cinema-pg/**', 'test/pack/consumer/**'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  prettier,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Off, as in the official Nest modules: rows from pg and TypeORM's raw results, Nest's
      // metadata and decorator targets are `any` at their source; typing them at each use would be
      // casts, not safety. The compiler's `strict` mode still checks everything typed.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // Off: `Function` is how Nest's Reflector and TypeORM name a class or a method to read metadata of.
      '@typescript-eslint/no-unsafe-function-type': 'off',
      // Off: library enums (graphile-worker's log levels, Nest's HttpStatus) are compared with
      // the literals their values are documented as.
      '@typescript-eslint/no-unsafe-enum-comparison': 'off',
      // Off: an `async` function without `await` is how a Nest factory or an interface method
      // returning a promise is written; the rule would ask for `Promise.resolve()` noise.
      '@typescript-eslint/require-await': 'off',
      // An abort signal's reason is rejected as it is, whatever the caller aborted with.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
      // A variable assigned once but read earlier by a closure (an unsubscribe on abort) stays `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // `_name` marks a parameter or a destructured field that is deliberately unused.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // The board's page script runs in the browser, served as it is written.
    files: ['lib/board/client/**/*.js'],
    languageOptions: { globals: globals.browser, sourceType: 'script' },
  },
);
