/**
 * The README's "Pointing the gateway at the plant's own servers" example is a real config: it passes
 * the config loader with the Kafka, Redis and MinIO output schemas, and its keys mean what it says.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../gateway/config/load.js';

const readme = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../README.md'), 'utf8');

function plantExample(): string {
  const section = readme.slice(readme.indexOf("### Pointing the gateway at the plant's own servers"));
  const m = /```yaml\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('README: no yaml block in "Pointing the gateway at the plant\'s own servers"');
  return m[1]!;
}

describe('README plant-servers example', () => {
  it('loads with the output schemas and keeps its secrets out of the file', () => {
    const env = { KAFKA_PASSWORD: 'k-pass', REDIS_PASSWORD: 'r-pass', MINIO_ACCESS_KEY: 'm-user', MINIO_SECRET_KEY: 'm-secret', MQTT_PASSWORD: 'q-pass' };
    const { config } = loadConfig({ text: plantExample(), env });
    expect(config.outputs.kafka).toMatchObject({
      type: 'kafka',
      brokers: ['kafka-1.plant.example:9093', 'kafka-2.plant.example:9093'],
      tls: { ca: '/etc/layergate/plant-ca.pem', rejectUnauthorized: true },
      sasl: { mechanism: 'scram-sha-512', username: 'layergate', password: 'k-pass' },
      topics: { create: false },
      topicPrefix: 'layergate',
      idempotent: true,
    });
    expect(config.outputs.redis).toMatchObject({ type: 'redis', url: 'rediss://redis.plant.example:6380', username: 'layergate', password: 'r-pass' });
    expect(config.outputs.minio).toMatchObject({
      type: 'minio',
      endPoint: 'minio.plant.example',
      port: 9000,
      accessKey: 'm-user',
      secretKey: 'm-secret',
      series: { format: 'parquet', window: 300_000 },
    });
    expect(plantExample()).not.toMatch(/k-pass|r-pass|m-secret/);
  });
});
