import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Paillier key generation and the end-to-end runs use both cores; keep files from starving each other.
    fileParallelism: true,
    maxWorkers: 2,
    pool: 'forks',
  },
});
