/**
 * Hot reload through the API while the simulator feeds the gateway, as an admin would do it from the
 * UI: apply a configuration that changes an output's settings, adds an input and removes an output,
 * then roll back to the first version.
 *
 * The simulator publishes melt-pool blocks (each with its own block sequence) to the harness's
 * Mosquitto; the gateway's mqtt input `mp` stores them and two Kafka outputs deliver them to topics
 * of their own, read back by a separate kafkajs consumer. Accounting per sink by the sender's block
 * sequence: `k1` (restarted twice) has every block from its first to its last, with duplicates only
 * from the restarts' in-flight batches; `k2` (removed, then back) has every block stored before its
 * removal (held for it meanwhile) and every block after its return. `mp` is left unchanged, so its
 * MQTT session must never be rebuilt: the gateway logs one `mqtt: connected` for it.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Kafka, logLevel } from 'kafkajs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeConfig } from '../../simulator/config.js';
import { Simulator } from '../../simulator/engine.js';
import { KAFKA, MQTT } from '../../test/services/endpoints.js';
import { recordsOfMessage } from '../../test/support/kafka-records.js';
import { sleep, waitFor } from '../../test/support/wait.js';
import type { StoredRecord } from '../plugin-api/record.js';
import { loadConfig } from '../config/load.js';
import { Gateway } from '../runtime/gateway.js';
import { apiClient, type ApiClient } from './test-support/api-client.js';
import { startControlPlane } from './gateway-view.js';
import type { ControlPlane } from './server.js';

const id = `${process.pid}-${Date.now() % 100_000}`;
const topicPrefix = `lg-api-reload/${id}`;
const K1 = `lgreload${process.pid}a`;
const K2 = `lgreload${process.pid}b`;
const MACHINE = 'pbf-sim-reload';
/** k1's batch: what one restart may send again (its in-flight batch) */
const K1_BATCH = 50;

const mqttInput = [
  '  mp:',
  '    type: mqtt',
  `    url: ${MQTT.url}`,
  `    username: ${MQTT.username}`,
  `    password: ${MQTT.password}`,
  `    clientId: lg-api-reload-in-${id}`,
  '    cleanSession: true',
  '    subscriptions:',
  `      - { topic: ${topicPrefix}/meltpool/binary, decoder: binary-block, signal: meltpool }`,
];
const kafka = (name: string, prefix: string, linger: string) =>
  `  ${name}: { type: kafka, brokers: [${KAFKA.brokers[0]}], topicPrefix: ${prefix}, linger: ${linger}, batchRecords: ${K1_BATCH} }`;

function configText(dir: string, version: 'v1' | 'v2'): string {
  return [
    `gateway: { dataDir: ${dir}/data, machine: ${MACHINE} }`,
    'api: { host: 127.0.0.1, port: 0, grpc: { port: 0 } }',
    'inputs:',
    ...mqttInput,
    ...(version === 'v2' ? ['  health: { type: gateway-health, interval: 250ms }'] : []),
    'outputs:',
    // v2: k1's linger changes (a restart of k1 only); k2 is removed
    kafka('k1', K1, version === 'v1' ? '100ms' : '300ms'),
    // k2 lingers: when it is removed it has records it has not received yet
    ...(version === 'v1' ? [kafka('k2', K2, '3s')] : []),
    '',
  ].join('\n');
}

let dir: string;
let configFile: string;
let gateway: Gateway | undefined;
let api: ControlPlane | undefined;
let client: ApiClient | undefined;
let sim: Simulator | undefined;
const logLines: Record<string, unknown>[] = [];
/** every record the consumer read, by topic */
const received = new Map<string, StoredRecord[]>();
let stopConsumer: (() => Promise<void>) | undefined;

const samplesTopic = (prefix: string) => `${prefix}.${MACHINE}.samples`;
const scalarTopic = (prefix: string) => `${prefix}.${MACHINE}.scalar`;
const blocksOf = (topic: string) => (received.get(topic) ?? []).filter((r) => r.source === 'mp' && r.signal === 'meltpool');
const blockSeq = (r: StoredRecord) => Number(r.attributes!.seq);

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'lg-api-reload-'));
  configFile = path.join(dir, 'layergate.yaml');
  writeFileSync(configFile, configText(dir, 'v1'));

  const topics = [samplesTopic(K1), scalarTopic(K1), samplesTopic(K2), scalarTopic(K2)];
  const kafkaClient = new Kafka({ clientId: 'lg-test-reload-reader', brokers: [...KAFKA.brokers], logLevel: logLevel.NOTHING });
  const admin = kafkaClient.admin();
  await admin.connect();
  await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: 1 })), waitForLeaders: true });
  await admin.disconnect();
  const consumer = kafkaClient.consumer({ groupId: `lg-test-${randomUUID()}` });
  await consumer.connect();
  for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      const list = received.get(topic) ?? [];
      list.push(...recordsOfMessage(message.headers, message.value!));
      received.set(topic, list);
    },
  });
  stopConsumer = () => consumer.disconnect();

  // the gateway's log, as JSON lines: what an admin reads to see whether the MQTT session was rebuilt
  const log = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    }),
  );
  const loaded = loadConfig({ file: configFile, env: {} });
  gateway = await Gateway.start(loaded, { log });
  api = await startControlPlane(gateway, loaded, log);
  client = apiClient(api);

  sim = new Simulator({
    cfg: makeConfig({
      seed: 29,
      job: { totalLayers: 600 },
      timing: { idleS: 0, inertingS: 0.2, layerS: 1, recoatS: 0.2, speed: 1 },
      meltPool: { rateHz: 2_000, blockSize: 200 },
    }),
    dataDir: path.join(dir, 'sim'),
    log: pino({ level: 'silent' }),
    mqtt: {
      url: MQTT.url,
      username: MQTT.username,
      password: MQTT.password,
      clientId: `lg-api-reload-sim-${id}`,
      topicPrefix,
      formats: ['binary'],
      sparkplugGroup: null,
      sparkplugRateHz: 10,
    },
    controlPort: null,
  });
  await sim.start();
}, 120_000);

afterAll(async () => {
  await sim?.stop();
  client?.close();
  await api?.close();
  await gateway?.stop();
  await stopConsumer?.();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** sorted distinct values, their duplicates, and the gaps between the first and the last */
function accounting(seqs: number[]): { distinct: number[]; duplicates: number; gaps: number[] } {
  const distinct = [...new Set(seqs)].sort((a, b) => a - b);
  const gaps: number[] = [];
  for (let i = 1; i < distinct.length; i++) for (let s = distinct[i - 1]! + 1; s < distinct[i]!; s++) gaps.push(s);
  return { distinct, duplicates: seqs.length - distinct.length, gaps };
}

describe('hot reload through the API while the simulator feeds the gateway', () => {
  it('apply (an output changed, an input added, an output removed) and roll back: nothing lost at either sink, duplicates only in the restarts, the unchanged MQTT session kept', async () => {
    const admin = client!.tokenFor('admin');
    await waitFor('blocks at both sinks', () => blocksOf(samplesTopic(K1)).length >= 20 && blocksOf(samplesTopic(K2)).length >= 10, 60_000);

    // k2 has just sent a batch (that is when the wait above ends); a second into its 3 s linger it has some to send
    await sleep(1_000);
    // v2: what was stored before k2's removal is what k2 must still get
    const storedBeforeRemoval = gateway!.buffer.stats().newestSeq!;
    const v2 = await client!.request('POST', '/api/v1/config/apply', {
      token: admin,
      body: { yaml: configText(dir, 'v2'), comment: 'k1 lingers longer, health in, k2 out' },
    });
    expect(v2.status, v2.text).toBe(200);
    const applied = v2.json<{ version: number; inputs: Record<string, string[]>; outputs: Record<string, string[]>; file: { written: boolean } }>();
    expect(applied.outputs).toEqual({ added: [], removed: ['k2'], changed: ['k1'], unchanged: [] });
    expect(applied.inputs).toEqual({ added: ['health'], removed: [], changed: [], unchanged: ['mp'] });
    expect(applied.file.written).toBe(true);
    expect(readFileSync(configFile, 'utf8')).toBe(configText(dir, 'v2'));
    // k2 is no output now, but its sink holds what it had not received
    const sinks = (await client!.request('GET', '/api/v1/buffer/sinks', { token: admin })).json<
      { name: string; listed: boolean; held: boolean; lagRecords: number }[]
    >();
    const k2 = sinks.find((s) => s.name === 'k2')!;
    expect(k2).toMatchObject({ listed: false, held: true });
    expect(k2.lagRecords).toBeGreaterThan(0);
    // and the status says so, for the dashboard
    const status = (await client!.request('GET', '/api/v1/status', { token: admin })).json<{
      alerts: { id: string }[];
      buffer: { removedSinks: { name: string }[] };
    }>();
    expect(status.buffer.removedSinks.map((r) => r.name)).toEqual(['k2']);
    expect(status.alerts.map((a) => a.id)).toContain('removed-sink:k2');
    await waitFor('the added input at k1', () => (received.get(scalarTopic(K1)) ?? []).some((r) => r.source === 'health'), 30_000);
    await sleep(1_500);

    // roll back to version 1: k2 back (from its cursor), health out, k1 as it was
    const rollback = await client!.request('POST', '/api/v1/config/rollback', { token: admin, body: { version: applied.version - 1 } });
    expect(rollback.status, rollback.text).toBe(200);
    const back = rollback.json<{ version: number; inputs: Record<string, string[]>; outputs: Record<string, string[]> }>();
    expect(back.outputs).toEqual({ added: ['k2'], removed: [], changed: ['k1'], unchanged: [] });
    expect(back.inputs).toEqual({ added: [], removed: ['health'], changed: [], unchanged: ['mp'] });
    expect(readFileSync(configFile, 'utf8')).toBe(configText(dir, 'v1'));
    const storedAfterReturn = gateway!.buffer.stats().newestSeq!;
    await sleep(2_000);
    await sim!.stop();
    sim = undefined;
    await waitFor('every sink caught up', () => gateway!.buffer.stats().sinks.every((s) => s.lagRecords === 0), 30_000);
    // acked by Kafka: the consumer reads them shortly; done when its counts stop changing
    let last = '';
    await waitFor(
      'the consumer to read what the sinks delivered',
      () => {
        const now = `${blocksOf(samplesTopic(K1)).length}/${blocksOf(samplesTopic(K2)).length}`;
        const still = now === last;
        last = now;
        return still;
      },
      30_000,
      1_500,
    );

    // k1: every block from its first to its last; duplicates only from two restarts' in-flight batches
    const k1 = accounting(blocksOf(samplesTopic(K1)).map(blockSeq));
    // a missing block names the buffer seqs around it: absent from the buffer too means it never was stored
    const around = (seq: number) =>
      blocksOf(samplesTopic(K1))
        .filter((r) => Math.abs(blockSeq(r) - seq) <= 2)
        .map((r) => `${blockSeq(r)}@${r.seq}`);
    expect(k1.gaps, `k1: ${k1.gaps.map(around).join('; ')}`).toEqual([]);
    expect(k1.duplicates).toBeLessThanOrEqual(2 * K1_BATCH);
    // k2: every block stored before its removal (held for it meanwhile), and every block after its return
    const k2Blocks = blocksOf(samplesTopic(K2));
    const k2Before = accounting(k2Blocks.filter((r) => r.seq <= storedBeforeRemoval).map(blockSeq));
    const k1Before = accounting(
      blocksOf(samplesTopic(K1))
        .filter((r) => r.seq <= storedBeforeRemoval)
        .map(blockSeq),
    );
    expect(k2Before.gaps).toEqual([]);
    expect(k2Before.distinct.at(-1)).toBe(k1Before.distinct.at(-1));
    const k2After = accounting(k2Blocks.filter((r) => r.seq > storedAfterReturn).map(blockSeq));
    expect(k2After.gaps).toEqual([]);
    expect(k2After.distinct.at(-1)).toBe(k1.distinct.at(-1));
    expect(k2After.distinct.length).toBeGreaterThan(10);
    // nothing stored while k2 was no output was routed to it
    expect(k2Blocks.filter((r) => r.seq > storedBeforeRemoval + 50 && r.seq < storedAfterReturn - 50)).toEqual([]);

    // the added input ran only while v2 was in force
    const health = (received.get(scalarTopic(K1)) ?? []).filter((r) => r.source === 'health');
    expect(health.length).toBeGreaterThan(0);
    expect(health.every((r) => r.seq < storedAfterReturn + 50)).toBe(true);

    // nothing the input emitted while the policy changed was refused (an emit routed to a removed output)
    const end = (await client!.request('GET', '/api/v1/status', { token: admin })).json<{
      inputs: { name: string; quarantined: number; failedEmits: number }[];
    }>();
    expect(end.inputs.find((i) => i.name === 'mp')).toMatchObject({ quarantined: 0, failedEmits: 0 });
    // the unchanged input's MQTT session was never rebuilt
    const connects = logLines.filter((l) => l.msg === 'mqtt: connected' && l.input === 'mp');
    expect(connects).toHaveLength(1);
    // both applies are in the audit log with their author and what they changed
    const audit = (await client!.request('GET', '/api/v1/audit?limit=100', { token: admin })).json<{
      entries: { type: string; data: Record<string, unknown> }[];
    }>();
    const applies = audit.entries.filter((e) => e.type === 'config-applied');
    expect(applies.map((e) => e.data.comment).sort()).toEqual(['k1 lingers longer, health in, k2 out', 'rollback to version 1'].sort());
  }, 180_000);
});
