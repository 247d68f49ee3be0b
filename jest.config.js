/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  rootDir: '.',
  testMatch: ['**/*.test.ts'],
  setupFiles: ['<rootDir>/test/setup.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  // Temporal servers and workers take a few seconds to start; individual tests set tighter limits.
  testTimeout: 60_000,
  // Two cores: two files at a time keeps each suite's servers responsive.
  maxWorkers: 2,
};
