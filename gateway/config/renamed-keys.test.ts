/**
 * Renamed config keys: the shared fragments (one `tls` shape, one `{ initial, max }` reconnect/retry
 * shape, `classes` on every output) replaced older keys. A config that still uses one is refused with
 * one line naming the old key and the new one; the new keys load.
 */
import { describe, expect, it } from 'vitest';
import { ConfigProblems, loadConfig } from './load.js';

function problems(text: string): string[] {
  try {
    loadConfig({ text, env: {} });
  } catch (err) {
    if (err instanceof ConfigProblems) return err.problems;
    throw err;
  }
  return [];
}

const mqttBase = 'type: mqtt, url: "mqtts://broker.plant:8883", subscriptions: [{ topic: "a/#", decoder: json }]';
const opcuaBase = 'type: opcua, endpoint: "opc.tcp://machine:4840"';
const minioBase = 'type: minio, endPoint: minio.plant, accessKey: lg, secretKey: secret-key';
const cloudBase = 'type: cloud, endpoint: "https://s3.example", bucket: plant-a, accessKey: a, secretKey: b';

describe('renamed config keys', () => {
  it('names each old key and its new name, one line each, in place of "unknown key"', () => {
    expect(
      problems(
        [
          'inputs:',
          `  m: { ${mqttBase}, ca: /etc/ca.pem, cert: /etc/c.pem, key: /etc/k.pem, rejectUnauthorized: false, reconnectMin: 1s, reconnectMax: 1m }`,
          `  o: { ${opcuaBase}, reconnect: { initialDelay: 1s, maxDelay: 1m } }`,
          'outputs:',
          '  lake: { type: file-lake, accepts: [public, internal] }',
          `  store: { ${minioBase}, useSSL: false }`,
          `  cloud: { ${cloudBase}, accepts: [public] }`,
          '',
        ].join('\n'),
      ),
    ).toEqual([
      'inputs.m.ca: renamed to tls.ca',
      'inputs.m.cert: renamed to tls.cert',
      'inputs.m.key: renamed to tls.key',
      'inputs.m.rejectUnauthorized: renamed to tls.rejectUnauthorized',
      'inputs.m.reconnectMin: renamed to reconnect.initial',
      'inputs.m.reconnectMax: renamed to reconnect.max',
      'inputs.o.reconnect.initialDelay: renamed to reconnect.initial',
      'inputs.o.reconnect.maxDelay: renamed to reconnect.max',
      'outputs.lake.accepts: renamed to classes',
      'outputs.store.useSSL: renamed to tls (useSSL: false is now tls: false)',
      'outputs.cloud.accepts: renamed to classes',
    ]);
  });

  it('other problems of the same file are still reported', () => {
    expect(problems(['outputs:', '  lake: { type: file-lake, accepts: [public], compactWindow: soon }', ''].join('\n'))).toEqual([
      'outputs.lake.accepts: renamed to classes',
      'outputs.lake.compactWindow: expected a duration like 10s, 5m or 7d, got "soon"',
    ]);
  });

  it('the new keys load, in one shape across the plugins', () => {
    const { config } = loadConfig({
      env: {},
      text: [
        'inputs:',
        `  m: { ${mqttBase}, tls: { ca: /etc/ca.pem, rejectUnauthorized: false }, reconnect: { initial: 1s, max: 1m } }`,
        `  o: { ${opcuaBase}, reconnect: { initial: 2s } }`,
        'outputs:',
        '  lake: { type: file-lake, classes: [public, internal] }',
        `  store: { ${minioBase}, tls: false }`,
        `  cloud: { ${cloudBase}, classes: [public], retry: { max: 5m } }`,
        `  kafka: { type: kafka, brokers: ["k:9093"], tls: { ca: /etc/ca.pem, servername: kafka.plant } }`,
        `  redis: { type: redis, url: "rediss://r:6380", tls: true }`,
        '',
      ].join('\n'),
    });
    expect(config.inputs.m).toMatchObject({ tls: { ca: '/etc/ca.pem', rejectUnauthorized: false }, reconnect: { initial: 1000, max: 60_000 } });
    expect(config.inputs.o).toMatchObject({ reconnect: { initial: 2000, max: 30_000 } });
    expect(config.outputs.lake).toMatchObject({ classes: ['public', 'internal'] });
    expect(config.outputs.store).toMatchObject({ tls: false });
    expect(config.outputs.cloud).toMatchObject({ classes: ['public'], retry: { initial: 1000, max: 300_000 } });
    expect(config.outputs.kafka).toMatchObject({ tls: { ca: '/etc/ca.pem', servername: 'kafka.plant', rejectUnauthorized: true } });
    expect(config.outputs.redis).toMatchObject({ tls: true });
    // absent: the plugin's default (the object store speaks HTTPS unless told otherwise)
    expect(loadConfig({ env: {}, text: `outputs:\n  store: { ${minioBase} }\n` }).config.outputs.store).toMatchObject({ tls: true });
  });
});
