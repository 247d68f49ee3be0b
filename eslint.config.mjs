// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

// Workflow code runs in Temporal's deterministic sandbox and is replayed from history: it must not touch
// the network, the file system, the clock outside the SDK, or real randomness. `domain/` is imported by
// workflows too, so it obeys the same rules.
const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];
const deterministicRules = {
  'no-restricted-imports': [
    'error',
    {
      paths: nodeBuiltins.map((name) => ({ name, message: 'Workflow code must not use Node built-ins.' })),
      patterns: [
        {
          group: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity', '@temporalio/testing'],
          message: 'Workflows may only use @temporalio/workflow and @temporalio/common.',
        },
        {
          group: ['express', 'pino', 'pino-http', 'pg', 'better-sqlite3', 'kysely', 'zod', 'fast-xml-parser'],
          message: 'I/O and validation libraries stay outside workflow code.',
        },
        {
          group: ['**/api/**', '**/db/**', '**/providers/**', '**/worker/**', '**/config/**', '**/activities/**', '**/core/**'],
          allowTypeImports: true,
          message: 'Workflow code may import only types from modules that do I/O.',
        },
      ],
    },
  ],
  'no-restricted-globals': [
    'error',
    ...['process', 'require', 'Buffer', 'fetch', 'setImmediate', 'performance', 'crypto', 'WeakRef', 'FinalizationRegistry'].map(
      (name) => ({ name, message: `${name} is not deterministic or not available in the workflow sandbox.` }),
    ),
  ],
  'no-restricted-properties': [
    'error',
    { object: 'Math', property: 'random', message: 'Use uuid4() or a seeded value from @temporalio/workflow.' },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'data/', 'coverage/', 'jest.config.js', 'eslint.config.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
  { files: ['workflows/**/*.ts', 'domain/**/*.ts'], rules: deterministicRules },
  {
    // Plain CommonJS entry points (the SQLite thread's bootstrap): no type information, require is how they load.
    files: ['**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, sourceType: 'commonjs', globals: { require: 'readonly' } },
    rules: { ...tseslint.configs.disableTypeChecked.rules, '@typescript-eslint/no-require-imports': 'off' },
  },
);
