/**
 * The three local sinks behind a running gateway (Gateway.start with a YAML config, as `layergate run`
 * builds it): the registry knows them, their config keys load, each gets its own forwarder, and what
 * the forwarders report delivered is what independent readers find in Kafka, Redis and MinIO.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'minio';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../gateway/config/load.js';
import { Gateway } from '../../../gateway/runtime/gateway.js';
import { recordsOfMessage } from '../../../test/support/kafka-records.js';
import { KAFKA, MINIO_LOCAL, REDIS } from '../../../test/services/endpoints.js';
import { waitFor } from '../../../test/support/wait.js';
import { silent } from '../../../test/support/sink-harness.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('kafka, redis and minio outputs in a running gateway', () => {
  it('health records flow to all three sinks; every delivered seq is found by an independent reader', async () => {
    const id = randomUUID().slice(0, 8);
    const machine = `lgt-${id}`;
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lg-gw-sinks-'));
    dirs.push(dataDir);
    const text = `
gateway: { machine: ${machine}, dataDir: ${dataDir} }
inputs:
  health: { type: gateway-health, interval: 100ms }
outputs:
  kafka: { type: kafka, brokers: ["${KAFKA.brokers[0]}"], topicPrefix: lgt${id} }
  redis: { type: redis, url: "${REDIS.url}", keyPrefix: "lgt:${id}" }
  minio:
    type: minio
    endPoint: ${MINIO_LOCAL.endPoint}
    port: ${MINIO_LOCAL.port}
    tls: false
    accessKey: ${MINIO_LOCAL.accessKey}
    secretKey: \${MINIO_SECRET}
    bucket: lgt-${id}
    linger: 200ms
`;
    const loaded = loadConfig({ text, env: { MINIO_SECRET: MINIO_LOCAL.secretKey } });
    const gw = await Gateway.start(loaded, { log: silent });
    let stats: Record<string, ReturnType<typeof gw.stats>['forwarders'][number]>;
    try {
      await waitFor('every sink delivered 20 records', () => gw.stats().forwarders.every((f) => f.sentRecords >= 20), 60_000, 100);
    } finally {
      await gw.stop();
      stats = Object.fromEntries(gw.stats().forwarders.map((f) => [f.sink, f]));
    }
    expect(Object.keys(stats).sort()).toEqual(['kafka', 'minio', 'redis']);
    for (const f of Object.values(stats)) expect(f).toMatchObject({ quarantinedRecords: 0, failures: 0 });

    // Kafka: a separate consumer
    const kafka = new Kafka({ clientId: 'lg-test-reader', brokers: [...KAFKA.brokers], logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: `lg-test-${randomUUID()}` });
    const kafkaSeqs = new Set<number>();
    await consumer.connect();
    await consumer.subscribe({ topic: `lgt${id}.${machine}.scalar`, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        for (const r of recordsOfMessage(message.headers, message.value!)) kafkaSeqs.add(r.seq);
      },
    });
    await waitFor('kafka reader', () => kafkaSeqs.size >= stats.kafka!.sentRecords, 30_000, 100);
    await consumer.disconnect();
    expect(kafkaSeqs.size).toBe(stats.kafka!.sentRecords);

    // Redis: a second client
    const redis = new Redis(REDIS.url);
    const signals = await redis.smembers(`lgt:${id}:${machine}:signals`);
    let redisSeqs = 0;
    for (const s of signals) {
      const entries = await redis.xrange(`lgt:${id}:${machine}:stream:${s}`, '-', '+');
      redisSeqs += entries.length;
    }
    const keys = await redis.keys(`lgt:${id}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    expect(redisSeqs).toBe(stats.redis!.sentRecords);

    // MinIO: a separate client; health figures are scalars in batch objects, their seq range in the metadata
    const client = new Client({
      endPoint: MINIO_LOCAL.endPoint,
      port: MINIO_LOCAL.port,
      useSSL: false,
      accessKey: MINIO_LOCAL.accessKey,
      secretKey: MINIO_LOCAL.secretKey,
    });
    let minioRecords = 0;
    for await (const o of client.listObjectsV2(`lgt-${id}`, '', true)) {
      const stat = await client.statObject(`lgt-${id}`, (o as { name: string }).name);
      expect(stat.metaData['layergate-machine']).toBe(machine);
      minioRecords += Number(stat.metaData['layergate-records']);
    }
    expect(minioRecords).toBe(stats.minio!.sentRecords);
  });
});
