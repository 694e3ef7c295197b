import { defineConfig } from 'vitest/config';

// CI (.ci/run) runs the README's own test command and reads the counts from a JSON report:
// GATEWATCH_TEST_REPORT names the file, so that the command itself stays the README's.
const report = process.env.GATEWATCH_TEST_REPORT;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Tests start real servers on loopback; two workers fit this 2-core machine.
    maxWorkers: 2,
    ...(report ? { reporters: ['default', 'json'], outputFile: { json: report } } : {}),
  },
});
