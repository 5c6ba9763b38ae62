import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'collectors/**/*.test.ts', 'exporters/**/*.test.ts', 'test/**/*.test.ts'],
    // End-to-end files share one Docker engine and measure CPU rates: run files one at a time.
    fileParallelism: false,
    testTimeout: 20_000,
    hookTimeout: 120_000,
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
  },
});
