/**
 * The kafka output's batch sizing against the real (shared) broker, with its default 1 MiB
 * `message.max.bytes`: what a user checks by consuming the topic with a separate kafkajs consumer.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { CONTENT_TYPES, SinkPermanentError, decodeRecord } from '../../../gateway/plugin-api/index.js';
import type { OutputContext, StoredRecord } from '../../../gateway/plugin-api/index.js';
import { KAFKA } from '../../../test/services/endpoints.js';
import { sleep, waitFor } from '../../../test/support/wait.js';
import { type KafkaOutput, definition } from './index.js';

const outputs: KafkaOutput[] = [];
afterEach(async () => {
  for (const o of outputs.splice(0)) await o.stop();
});

const kafka = new Kafka({ clientId: 'lg-test-size', brokers: [...KAFKA.brokers], logLevel: logLevel.NOTHING });

/** an output with a log whose warnings the test reads */
async function output(config: Record<string, unknown>): Promise<{ out: KafkaOutput; warnings: string[] }> {
  const out = definition.create(definition.configSchema.parse({ brokers: [...KAFKA.brokers], ...config }), {
    dataDir: '/nonexistent',
    machine: 'pbf-sim',
  }) as KafkaOutput;
  outputs.push(out);
  const warnings: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => warnings.push(String((JSON.parse(line) as { msg: string }).msg)) });
  await out.start({ log } as unknown as OutputContext);
  return { out, warnings };
}

let nextSeq = 1;
/** samples records of `bodyBytes` each, of one signal (one partition) */
function blocks(n: number, bodyBytes: number, signal = 'meltpool.a'): StoredRecord[] {
  return Array.from({ length: n }, () => {
    const seq = nextSeq++;
    const body = Buffer.alloc(bodyBytes, seq % 251);
    return {
      seq,
      source: 'meltpool-mqtt',
      signal,
      kind: 'samples' as const,
      class: 'internal' as const,
      contentType: CONTENT_TYPES.samplesF32,
      receiveTimeNs: 1_764_000_000_000_000_000n + BigInt(seq),
      body,
      attributes: { channels: 'photodiode,pyrometer', first_sample: String(seq * 512) },
      routes: [],
    };
  });
}

async function createTopic(topic: string, configEntries: { name: string; value: string }[] = []): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries }], waitForLeaders: true });
  await admin.disconnect();
}

/** Every message of the topic, decoded, in offset order, once `count` are there. */
async function consumeAll(topic: string, count: number): Promise<{ seq: number; key: string; body: Buffer }[]> {
  const consumer = kafka.consumer({ groupId: `lg-test-${randomUUID()}`, maxBytes: 20 * 1024 * 1024 });
  const got: { seq: number; key: string; body: Buffer; offset: number }[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const r = decodeRecord(message.value!);
        got.push({ seq: r.seq, key: message.key!.toString(), body: r.body!, offset: Number(message.offset) });
      },
    });
    await waitFor(`${count} messages on ${topic} (has ${got.length})`, () => got.length >= count, 60_000, 100);
    await sleep(500); // anything beyond `count` (a duplicate) arrives too
  } finally {
    await consumer.disconnect();
  }
  return got.sort((a, b) => a.offset - b.offset);
}

describe('kafka output batch sizing (real broker, default 1 MiB limit)', () => {
  it('a 3 MB batch of 4 KiB records to one partition is delivered completely, in seq order, in a few requests (no record-by-record fallback)', async () => {
    const prefix = `lgt${randomUUID().slice(0, 8)}`;
    const topic = `${prefix}.pbf-sim.samples`;
    await createTopic(topic);
    const { out, warnings } = await output({ topicPrefix: prefix });
    const batch = blocks(750, 4096);
    await out.send(batch);

    const stats = out.stats();
    expect(stats.sizeSplits).toBe(0);
    expect(stats.requests).toBeGreaterThanOrEqual(3);
    expect(stats.requests).toBeLessThanOrEqual(4);
    expect(stats.messages).toBe(750);
    expect(warnings).toEqual([]);

    const got = await consumeAll(topic, 750);
    expect(got.map((m) => m.seq)).toEqual(batch.map((r) => r.seq));
    expect(got.every((m) => m.key === 'meltpool.a')).toBe(true);
    expect(got[100]!.body.equals(batch[100]!.body!)).toBe(true);
  });

  it('a topic whose limit shrank under the output: the refused request is split once, warned and counted, every record delivered exactly once; then the learned limit holds', async () => {
    const prefix = `lgt${randomUUID().slice(0, 8)}`;
    const topic = `${prefix}.pbf-sim.samples`;
    await createTopic(topic);
    const { out, warnings } = await output({ topicPrefix: prefix });
    const first = blocks(10, 4096);
    await out.send(first); // learns the broker's 1 MiB

    const admin = kafka.admin();
    await admin.connect();
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: topic, configEntries: [{ name: 'max.message.bytes', value: '400000' }] }] });
    await waitFor(
      'the smaller limit to show',
      async () => {
        const res = await admin.describeConfigs({ resources: [{ type: 2, name: topic, configNames: ['max.message.bytes'] }], includeSynonyms: false });
        return res.resources[0]?.configEntries[0]?.configValue === '400000';
      },
      30_000,
      200,
    );
    await admin.disconnect();
    await sleep(1000); // the broker applies the topic's new config from its metadata log

    // ~690 KB to one partition: fits the learned 1 MiB, not the new 400 kB; each half does
    const second = blocks(150, 4096);
    await out.send(second);
    const after = out.stats();
    expect(after.sizeSplits).toBe(1);
    expect(warnings.filter((w) => w.includes('refused a request for size'))).toHaveLength(1);

    // the limit was learned again: the next send is cut to fit, no refusal
    const third = blocks(150, 4096);
    await out.send(third);
    expect(out.stats().sizeSplits).toBe(1);
    expect(out.stats().requests).toBe(after.requests + 2);

    const all = [...first, ...second, ...third];
    const got = await consumeAll(topic, all.length);
    expect(got.map((m) => m.seq)).toEqual(all.map((r) => r.seq)); // each exactly once, in order
  });

  it('a single record larger than the topic limit is refused for good naming its seq; the others are delivered', async () => {
    const prefix = `lgt${randomUUID().slice(0, 8)}`;
    const topic = `${prefix}.pbf-sim.samples`;
    await createTopic(topic, [{ name: 'max.message.bytes', value: '200000' }]);
    const { out } = await output({ topicPrefix: prefix });
    const batch = [...blocks(20, 4096), ...blocks(1, 300_000), ...blocks(20, 4096)];
    const big = batch[20]!;
    const err = await out.send(batch).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SinkPermanentError);
    expect((err as SinkPermanentError).reason).toBe('too-large');
    expect((err as SinkPermanentError).seqs).toEqual([big.seq]);
    expect((err as Error).message).toContain(`seq ${big.seq}`);
    expect(out.stats()).toMatchObject({ refused: 1, messages: 40, sizeSplits: 0 });
    const got = await consumeAll(topic, 40);
    expect(got.map((m) => m.seq)).toEqual(batch.filter((r) => r !== big).map((r) => r.seq));
  });
});
