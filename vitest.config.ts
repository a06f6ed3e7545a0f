/**
 * Two tiers of tests, told apart by file name and location (no list to keep in sync):
 *
 * - unit: `*.test.ts` beside the code it tests. Needs no server, starts none; `npm run test:unit`.
 * - integration: `*.int.test.ts` beside the code (talks to the harness servers, or takes long),
 *   `test/e2e/**` (the gateway or simulator CLI run as a child process) and the harness's own smoke
 *   tests `test/services/*.smoke.test.ts`. Runs after the global setup has brought up Kafka, MinIO
 *   (local + cloud), Redis and Mosquitto.
 *
 * `npm test` runs both. Test helpers live only in `test/support/`, `**\/test-support/` and fixtures
 * folders, never in a file a tier would collect.
 */
import { configDefaults, defineConfig } from 'vitest/config';

/** never collected: dependencies, build output, the harness's server installs */
const notSources = [...configDefaults.exclude, 'dist/**', '.services/**'];

export default defineConfig({
  test: {
    // the integration suites share real servers and a 2-core machine: run files one or two at a time
    maxWorkers: 2,
    // expect.poll waits for what a user would wait for (a page updated, a server's answer). Its 1 s
    // default is less than a 2-core machine running two suites at once sometimes needs: a wait, not
    // the assertion, is widened (a failing expectation still fails, 5 s later)
    expect: { poll: { timeout: 5_000 } },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['**/*.test.ts'],
          exclude: [...notSources, '**/*.int.test.ts', 'test/**'],
          testTimeout: 60_000,
          hookTimeout: 300_000, // the pyarrow reader's venv is created on a fresh machine
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['**/*.int.test.ts', 'test/e2e/**/*.test.ts', 'test/services/**/*.smoke.test.ts'],
          exclude: notSources,
          // brings up Kafka, MinIO (local + cloud), Redis and Mosquitto when they are not running
          globalSetup: ['test/services/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
