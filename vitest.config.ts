import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['gateway/**/*.test.ts', 'plugins/**/*.test.ts', 'simulator/**/*.test.ts', 'systemd/**/*.test.ts', 'test/**/*.test.ts', 'wire/**/*.test.ts'],
    // brings up Kafka, MinIO (local + cloud), Redis and Mosquitto when they are not running
    globalSetup: ['test/services/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 300_000,
    // the suites share real servers and a 2-core machine: run files one or two at a time
    maxWorkers: 2,
  },
});
