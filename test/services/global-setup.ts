/**
 * vitest global setup: the tests always run against the real servers. Whatever is not running is brought
 * up (installing and building on a fresh machine); at teardown only what a test run started is stopped,
 * and only once no other test run still uses it (see services.ts), so the machine is left as found.
 * There is deliberately no switch to skip this: a run without the servers must not pass.
 *
 * Tests get the endpoints either by importing test/services/endpoints.ts or through `inject('services')`.
 */
import type { TestProject } from 'vitest/node';
import { HOST, KAFKA, MINIO_CLOUD, MINIO_LOCAL, MQTT, REDIS } from './endpoints.js';
import { acquireForTestRun, releaseForTestRun } from './services.js';

const endpoints = { host: HOST, kafka: KAFKA, redis: REDIS, mqtt: MQTT, minioLocal: MINIO_LOCAL, minioCloud: MINIO_CLOUD };

export type ServiceEndpoints = typeof endpoints;

declare module 'vitest' {
  export interface ProvidedContext {
    services: ServiceEndpoints;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await acquireForTestRun();
  project.provide('services', endpoints);
  return async () => {
    await releaseForTestRun();
  };
}
