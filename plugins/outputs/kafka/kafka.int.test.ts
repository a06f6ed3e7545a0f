/**
 * The kafka output against the real broker: the shared one from the test harness for delivery and
 * refusals, a dedicated one (test/services/dedicated.ts) for the restart test. Every check reads back
 * with a separate kafkajs consumer that shares nothing with the output but the broker.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import protobuf from 'protobufjs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { decodeRecord } from '../../../gateway/plugin-api/record.js';
import type { StoredRecord } from '../../../gateway/plugin-api/record.js';
import { KAFKA } from '../../../test/services/endpoints.js';
import { DedicatedKafka, selfSignedCert } from '../../../test/services/dedicated.js';
import { recordsOfMessage } from '../../../test/support/kafka-records.js';
import { sleep, waitFor } from '../../../test/support/wait.js';
import { definition as fileLake } from '../file-lake/index.js';
import {
  expectSinkConfigFailing,
  recordingLog,
  samplesDraft,
  scalarDrafts,
  simulatorSource,
  sinkOutage,
  sinkRig,
  steadyStream,
} from '../../../test/support/sink-harness.js';
import type { SimulatedSource, SinkRig } from '../../../test/support/sink-harness.js';
import { CONTENT_TYPE_PROTOBUF, CONTENT_TYPE_PROTOBUF_BATCH, RECORDS_KEY, SEQ_LAST_KEY, type KafkaOutput, definition } from './index.js';

const rigs: SinkRig[] = [];
const sources: SimulatedSource[] = [];
const servers: DedicatedKafka[] = [];
const temps: string[] = [];
afterEach(async () => {
  for (const s of sources.splice(0)) await s.stop();
  for (const r of rigs.splice(0)) await r.close();
});
afterAll(async () => {
  for (const s of servers.splice(0)) await s.dispose();
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

function output(config: Record<string, unknown>, brokers: readonly string[] = KAFKA.brokers): KafkaOutput {
  return definition.create(definition.configSchema.parse({ brokers: [...brokers], ...config }), { dataDir: '/nonexistent', machine: 'pbf-sim' }) as KafkaOutput;
}

interface Received {
  topic: string;
  partition: number;
  offset: string;
  /** null for a grouped message */
  key: string | null;
  headers: Record<string, string>;
  record: StoredRecord;
}

/** A separate consumer: every record of the topics' messages, decoded, until `until` holds or the time is up. */
async function consume(brokers: readonly string[], topics: string[], until: (got: Received[]) => boolean, timeoutMs = 60_000): Promise<Received[]> {
  // patient retries: after a broker's kill -9 the group coordinator can take a while to come back
  const kafka = new Kafka({
    clientId: 'lg-test-reader',
    brokers: [...brokers],
    logLevel: logLevel.NOTHING,
    retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 5000 },
  });
  const consumer = kafka.consumer({ groupId: `lg-test-${randomUUID()}` });
  const got: Received[] = [];
  let crashed: string | undefined;
  consumer.on(consumer.events.CRASH, (e) => {
    crashed = String((e.payload as { error?: Error }).error?.message ?? e.payload);
  });
  await consumer.connect();
  try {
    for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
        for (const record of recordsOfMessage(message.headers, message.value!))
          got.push({ topic, partition, offset: message.offset, key: message.key?.toString() ?? null, headers, record });
      },
    });
    try {
      await waitFor('the consumer to see what it expects', () => until(got), timeoutMs, 100);
    } catch (err) {
      // what it had by then, and why it stopped if it did: a timeout alone does not tell loss from a stuck reader
      const seqs = seqsOf(got.map((m) => m.record));
      throw new Error(
        `${(err as Error).message}: has ${got.length} records, ${seqs.length} distinct seqs (${seqs[0]}..${seqs[seqs.length - 1]})` +
          (crashed ? `; the consumer crashed: ${crashed}` : ''),
      );
    }
  } finally {
    await consumer.disconnect();
  }
  return got;
}

const seqsOf = (rs: { seq: number }[]) => [...new Set(rs.map((r) => r.seq))].sort((a, b) => a - b);

describe('kafka output (real broker)', () => {
  it('simulator records reach Kafka: every routed seq at least once, class and seq headers, protobuf payload, no class that is not routed here', async () => {
    const prefix = `lgt${randomUUID().slice(0, 8)}`;
    const kafkaOut = output({ topicPrefix: prefix, topics: { partitions: 2 } });
    const r = await sinkRig([{ name: 'kafka', plugin: kafkaOut, classes: ['public', 'internal'] }]);
    rigs.push(r);
    const src = await simulatorSource(r);
    sources.push(src);
    await src.committed();
    await r.drained('kafka');

    const routed = r.routed('kafka');
    const all = r.routed('all');
    expect(all.some((x) => x.class === 'sensitive')).toBe(true); // the JSON blocks: ingested, not routed here
    expect(routed.every((x) => x.class === 'internal' || x.class === 'public')).toBe(true);
    const topics = [...new Set(routed.map((x) => kafkaOut.topicFor(x)))];
    expect(topics.sort()).toEqual([`${prefix}.pbf-sim.event`, `${prefix}.pbf-sim.samples`]);
    const got = await consume(KAFKA.brokers, topics, (g) => seqsOf(g.map((m) => m.record)).length >= routed.length);

    // sequence accounting: every gateway seq routed here arrived, nothing else did
    expect(seqsOf(got.map((m) => m.record))).toEqual(seqsOf(routed));
    // every simulator block seq of the routed (binary) stream is there; none of the sensitive JSON stream
    const blockSeqs = got.filter((m) => m.record.signal === 'meltpool.binary').map((m) => Number(m.record.attributes!.seq));
    expect([...new Set(blockSeqs)].sort((a, b) => a - b)).toEqual([...Array(32).keys()]);
    expect(got.some((m) => m.record.signal === 'meltpool.json' || m.record.class === 'sensitive' || m.headers['layergate-class'] === 'sensitive')).toBe(false);
    for (const m of got) {
      expect(m.headers['layergate-class']).toBe(m.record.class);
      expect(m.headers['layergate-seq']).toBe(String(m.record.seq));
      expect(m.headers['content-type']).toBe(CONTENT_TYPE_PROTOBUF);
      expect(m.key).toBe(m.record.signal);
      const original = routed.find((x) => x.seq === m.record.seq)!;
      expect(m.record.body!.equals(original.body!)).toBe(true);
      expect(m.record.sourceTimeNs).toBe(original.sourceTimeNs);
    }
    // one signal, one partition, in seq order
    for (const signal of new Set(got.map((m) => m.record.signal))) {
      const mine = got.filter((m) => m.record.signal === signal);
      expect(new Set(mine.map((m) => m.partition)).size).toBe(1);
      const seqs = mine.sort((a, b) => Number(a.offset) - Number(b.offset)).map((m) => m.record.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    }
    const stats = r.forwarders.get('kafka')!.stats();
    expect(stats).toMatchObject({ sentRecords: routed.length, lagRecords: 0, quarantinedRecords: 0 });
  });

  it('default grouping: scalars arrive as RecordBatch messages per partition with their seq range, samples one message each; every record once, each signal in order', async () => {
    const prefix = `lgt${randomUUID().slice(0, 8)}`;
    const kafkaOut = output({ topicPrefix: prefix, topics: { partitions: 3 } });
    const r = await sinkRig([{ name: 'kafka', plugin: kafkaOut, forwarder: { linger: 0 } }]);
    rigs.push(r);
    const signals = Array.from({ length: 12 }, (_, i) => `zone${i}.temp`);
    await r.emit([...signals.flatMap((s) => scalarDrafts(5, s)), samplesDraft('meltpool.a', 0, 100), samplesDraft('meltpool.a', 100, 100)]);
    await r.drained('kafka');
    const routed = r.routed('kafka');
    const scalarTopic = `${prefix}.pbf-sim.scalar`;
    const samplesTopic = `${prefix}.pbf-sim.samples`;
    const got = await consume(KAFKA.brokers, [scalarTopic, samplesTopic], (g) => seqsOf(g.map((m) => m.record)).length >= routed.length);
    expect(seqsOf(got.map((m) => m.record))).toEqual(seqsOf(routed));
    expect(got).toHaveLength(routed.length);

    const scalars = got.filter((m) => m.topic === scalarTopic);
    expect(scalars).toHaveLength(60);
    const messages = new Map<string, Received[]>();
    for (const m of scalars) messages.set(`${m.partition}/${m.offset}`, [...(messages.get(`${m.partition}/${m.offset}`) ?? []), m]);
    // 60 records of 12 signals in one send: one message per partition, not one per record
    expect(messages.size).toBeLessThanOrEqual(3);
    for (const group of messages.values()) {
      const h = group[0]!.headers;
      expect(h['content-type']).toBe(CONTENT_TYPE_PROTOBUF_BATCH);
      expect(group[0]!.key).toBeNull();
      expect(h[RECORDS_KEY]).toBe(String(group.length));
      expect(h['layergate-seq']).toBe(String(group[0]!.record.seq));
      expect(h[SEQ_LAST_KEY]).toBe(String(group[group.length - 1]!.record.seq));
      expect(h['layergate-class']).toBe('internal');
      const seqs = group.map((m) => m.record.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    }
    for (const m of scalars) {
      const original = routed.find((x) => x.seq === m.record.seq)!;
      expect(m.record).toMatchObject({ signal: original.signal, kind: 'scalar', build: 'JOB-7', layer: original.layer, sourceTimeNs: original.sourceTimeNs });
      expect(m.record.body!.equals(original.body!)).toBe(true);
    }
    // a signal stays on one partition
    for (const s of signals) expect(new Set(scalars.filter((m) => m.record.signal === s).map((m) => m.partition)).size).toBe(1);

    const blocks = got.filter((m) => m.topic === samplesTopic);
    expect(blocks).toHaveLength(2);
    for (const m of blocks) {
      expect(m.headers['content-type']).toBe(CONTENT_TYPE_PROTOBUF);
      expect(m.key).toBe('meltpool.a');
      expect(m.headers['layergate-seq']).toBe(String(m.record.seq));
    }
  });

  it('a record too large for the topic is refused for good: quarantined with the reason, counted, the rest delivered, the cursor moves on', async () => {
    const prefix = `lgt${randomUUID().slice(0, 8)}`;
    const topic = `${prefix}.pbf-sim.samples`;
    const admin = new Kafka({ clientId: 'lg-test-admin', brokers: [...KAFKA.brokers], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '4000' }] }], waitForLeaders: true });
    await admin.disconnect();
    const kafkaOut = output({ topicPrefix: prefix });
    const r = await sinkRig([{ name: 'kafka', plugin: kafkaOut }]);
    rigs.push(r);
    // 2-channel float32 blocks: 100 samples = 800 bytes fit; 1000 samples = 8000 bytes do not
    await r.emit([samplesDraft('meltpool.a', 0, 100), samplesDraft('meltpool.a', 100, 1000), samplesDraft('meltpool.a', 1100, 100)]);
    await r.drained('kafka');
    const routed = r.routed('kafka');
    const big = routed[1]!;
    const stats = r.forwarders.get('kafka')!.stats();
    expect(stats).toMatchObject({ quarantinedRecords: 1, permanentFailures: 1, sentRecords: 2, lagRecords: 0 });
    expect(stats.errorsByKind['too-large']).toBe(1);

    const got = await consume(KAFKA.brokers, [topic], (g) => g.length >= 2);
    await sleep(500);
    expect(seqsOf(got.map((m) => m.record))).toEqual([routed[0]!.seq, routed[2]!.seq]);

    const dir = path.join(r.dataDir, 'quarantine', 'outputs', 'kafka');
    const sidecars = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(sidecars).toHaveLength(1);
    const side = JSON.parse(readFileSync(path.join(dir, sidecars[0]!), 'utf8')) as {
      sink: string;
      error: { reason: string; code: string; message: string };
      seqs: number[];
      file: string;
    };
    expect(side).toMatchObject({ sink: 'kafka', seqs: [big.seq], error: { reason: 'too-large', code: 'LG_SINK_PERMANENT' } });
    expect(side.error.message).toContain(`seq ${big.seq}`);
    const reader = protobuf.Reader.create(readFileSync(path.join(dir, side.file)));
    const kept = decodeRecord(reader.bytes());
    expect(reader.pos).toBe(reader.len);
    expect(kept.seq).toBe(big.seq);
    expect(kept.body!.equals(big.body!)).toBe(true);
  });

  it('a record over maxMessageBytes is refused before it is sent; JSON payloads carry the same fields', async () => {
    const prefix = `lgt${randomUUID().slice(0, 8)}`;
    const kafkaOut = output({ topicPrefix: prefix, payload: 'json', maxMessageBytes: 2000, grouping: 'record' });
    const r = await sinkRig([{ name: 'kafka', plugin: kafkaOut }]);
    rigs.push(r);
    await r.emit([...scalarDrafts(3, 'chamber.o2'), samplesDraft('meltpool.a', 0, 1000)]);
    await r.drained('kafka');
    const routed = r.routed('kafka');
    expect(r.forwarders.get('kafka')!.stats()).toMatchObject({ quarantinedRecords: 1, sentRecords: 3 });
    const kafka = new Kafka({ clientId: 'lg-test-reader', brokers: [...KAFKA.brokers], logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: `lg-test-${randomUUID()}` });
    const got: { headers: Record<string, string>; value: Record<string, unknown> }[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: `${prefix}.pbf-sim.scalar`, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        got.push({ headers: { ct: String(message.headers!['content-type']) }, value: JSON.parse(message.value!.toString()) as Record<string, unknown> });
      },
    });
    await waitFor('3 JSON messages', () => got.length >= 3, 30_000);
    await consumer.disconnect();
    expect(got.map((g) => g.value.seq)).toEqual(routed.slice(0, 3).map((x) => x.seq));
    expect(got[0]!.headers.ct).toBe('application/json');
    expect(got[0]!.value).toMatchObject({
      signal: 'chamber.o2',
      kind: 'scalar',
      class: 'internal',
      build: 'JOB-7',
      sourceTimeNs: String(routed[0]!.sourceTimeNs),
    });
    expect(Buffer.from(got[0]!.value.body as string, 'base64').equals(routed[0]!.body!)).toBe(true);
  });

  it('topics.create false: a missing topic is retried with an error naming it (a failing sink, logged at error), nothing quarantined; once created the backlog drains', async () => {
    const prefix = `lgt${randomUUID().slice(0, 8)}`;
    const topic = `${prefix}.pbf-sim.scalar`;
    const kafkaOut = output({ topicPrefix: prefix, topics: { create: false } });
    const { log, lines } = recordingLog();
    const r = await sinkRig([{ name: 'kafka', plugin: kafkaOut, forwarder: { log, backoff: { initialMs: 50, maxMs: 200 } } }]);
    rigs.push(r);
    await r.emit(scalarDrafts(4, 'chamber.o2'));
    await waitFor('retries', () => (r.forwarders.get('kafka')!.stats().errorsByKind['topic-missing'] ?? 0) >= 2, 30_000);
    await expectSinkConfigFailing(r, 'kafka', 4, 'topic-missing', lines);
    const waiting = r.forwarders.get('kafka')!.stats();
    expect(waiting).toMatchObject({ sentRecords: 0, quarantinedRecords: 0, lagRecords: 4 });
    expect(waiting.lastError!.message).toContain(topic);
    const admin = new Kafka({ clientId: 'lg-test-admin', brokers: [...KAFKA.brokers], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    await r.drained('kafka');
    const got = await consume(KAFKA.brokers, [topic], (g) => g.length >= 4);
    expect(seqsOf(got.map((m) => m.record))).toEqual(seqsOf(r.routed('kafka')));
  });

  it('SASL and TLS (dedicated broker): SCRAM-SHA-512 and PLAIN users and a TLS client deliver; a wrong password is a failing sink (kept in the buffer, logged at error), delivered once corrected', async () => {
    const certDir = mkdtempSync(path.join(os.tmpdir(), 'lg-kafka-tls-'));
    temps.push(certDir);
    const pem = await selfSignedCert(certDir);
    const broker = new DedicatedKafka({ sasl: { plain: { 'lg-plain': 'lg-plain-secret' }, scram512: { 'lg-scram': 'lg-scram-secret' } }, tls: pem });
    servers.push(broker);
    await broker.start();
    const prefix = `lgt${randomUUID().slice(0, 8)}`;
    const scram = output({ topicPrefix: prefix, sasl: { mechanism: 'scram-sha-512', username: 'lg-scram', password: 'lg-scram-secret' } }, broker.saslBrokers);
    const plain = output({ topicPrefix: prefix, sasl: { mechanism: 'plain', username: 'lg-plain', password: 'lg-plain-secret' } }, broker.saslBrokers);
    const wrong = output({ topicPrefix: prefix, sasl: { mechanism: 'scram-sha-512', username: 'lg-scram', password: 'not-the-password' } }, broker.saslBrokers);
    const tls = output({ topicPrefix: `${prefix}tls`, tls: { ca: pem.ca } }, broker.tlsBrokers);
    const { log, lines } = recordingLog();
    const r = await sinkRig([
      { name: 'scram', plugin: scram },
      { name: 'plain', plugin: plain },
      { name: 'wrong', plugin: wrong, forwarder: { log, backoff: { initialMs: 50, maxMs: 200 } } },
      { name: 'tls', plugin: tls },
    ]);
    rigs.push(r);
    await r.emit(scalarDrafts(5, 'chamber.o2'));
    await Promise.all(['scram', 'plain', 'tls'].map((s) => r.drained(s)));
    expect(r.forwarders.get('tls')!.stats()).toMatchObject({ sentRecords: 5, quarantinedRecords: 0 });
    const overTls = await consume(broker.brokers, [`${prefix}tls.pbf-sim.scalar`], (g) => g.length >= 5);
    expect(seqsOf(overTls.map((m) => m.record))).toEqual(seqsOf(r.routed('tls')));
    expect(r.forwarders.get('scram')!.stats()).toMatchObject({ sentRecords: 5, quarantinedRecords: 0 });
    expect(r.forwarders.get('plain')!.stats()).toMatchObject({ sentRecords: 5, quarantinedRecords: 0 });
    await expectSinkConfigFailing(r, 'wrong', 5, 'not-authorized', lines);
    expect(r.forwarders.get('wrong')!.stats().configFailure!.action).toContain('sasl');
    // both good users wrote every record (at least once): the topic holds each seq twice
    const got = await consume(broker.brokers, [`${prefix}.pbf-sim.scalar`], (g) => g.length >= 10);
    expect(seqsOf(got.map((m) => m.record))).toEqual(seqsOf(r.routed('scram')));
    expect(got).toHaveLength(10);
    // the corrected password (a restart with the fixed config): the waiting records are delivered, a third copy of each
    await r.replaceOutput(
      'wrong',
      output({ topicPrefix: prefix, sasl: { mechanism: 'scram-sha-512', username: 'lg-scram', password: 'lg-scram-secret' } }, broker.saslBrokers),
    );
    await r.drained('wrong');
    expect(r.forwarders.get('wrong')!.stats()).toMatchObject({ sentRecords: 5, quarantinedRecords: 0 });
    const all = await consume(broker.brokers, [`${prefix}.pbf-sim.scalar`], (g) => g.length >= 15);
    expect(all).toHaveLength(15);
  }, 180_000);

  it('a request the broker wrote but could not answer in time (broker frozen past the request timeout): the retry, with more records in its grouped message, is written too; nothing lost', async () => {
    const broker = new DedicatedKafka();
    servers.push(broker);
    await broker.start();
    const prefix = `lgt${randomUUID().slice(0, 8)}`;
    const topic = `${prefix}.pbf-sim.scalar`;
    const kafkaOut = output({ topicPrefix: prefix, topics: { partitions: 1 }, requestTimeout: '1s', connectionTimeout: '1s' }, broker.brokers);
    const r = await sinkRig([{ name: 'kafka', plugin: kafkaOut, forwarder: { linger: 0, backoff: { initialMs: 300, maxMs: 1000 } } }]);
    rigs.push(r);
    await r.emit(scalarDrafts(3, 'chamber.o2'));
    await r.drained('kafka'); // the topic exists, the producer has its id and uses sequence numbers
    const stats = () => r.forwarders.get('kafka')!.stats();

    // frozen: the 5 records go out as one grouped message that the broker takes in but does not answer
    broker.pause();
    try {
      await r.emit(scalarDrafts(5, 'chamber.o2'));
      await waitFor('the send to fail', () => stats().failures >= 1, 60_000);
      // the retry will carry these too, in one message of the same partition
      await r.emit(scalarDrafts(5, 'chamber.o2'));
    } finally {
      broker.resume();
    }
    await r.drained('kafka', 120_000);

    const routed = r.routed('kafka');
    expect(routed).toHaveLength(13);
    const got = await consume(broker.brokers, [topic], (g) => seqsOf(g.map((m) => m.record)).length >= routed.length, 30_000);
    expect(seqsOf(got.map((m) => m.record))).toEqual(seqsOf(routed));
    expect(stats()).toMatchObject({ lagRecords: 0, quarantinedRecords: 0 });
    expect(kafkaOut.stats().producerResets).toBeGreaterThanOrEqual(1);
  }, 240_000);

  it('broker restart and crash mid-stream (dedicated broker, idempotent producer): the backlog drains, nothing lost, the other sink never paused', async () => {
    const broker = new DedicatedKafka();
    servers.push(broker);
    await broker.start();
    const prefix = `lgt${randomUUID().slice(0, 8)}`;
    const kafkaOut = output({ topicPrefix: prefix, requestTimeout: '5s', connectionTimeout: '1s' }, broker.brokers);
    const r = await sinkRig([
      { name: 'kafka', plugin: kafkaOut, forwarder: { sendTimeoutMs: 10_000, backoff: { initialMs: 200, maxMs: 1000 } } },
      // the other sink: the file lake, in the rig's own folder, sending at once
      {
        name: 'lake',
        plugin: fileLake.create(fileLake.configSchema.parse({ path: path.join(broker.dir, 'lake') }), { dataDir: broker.dir, machine: 'pbf-sim' }),
        forwarder: { linger: 0 },
      },
    ]);
    rigs.push(r);
    let emitted = 0;
    const burst = () => {
      const drafts = scalarDrafts(20, `line.${emitted % 3}`);
      emitted += 20;
      return drafts;
    };
    const topic = `${prefix}.pbf-sim.scalar`;
    // a steady stream: 20 records every 50 ms while the broker goes down and comes back
    await sinkOutage({
      label: 'kafka restart + crash',
      r,
      sink: 'kafka',
      other: 'lake',
      server: 'broker',
      duplicatesIn: 'seen by the consumer',
      burst,
      pauseMs: 50,
      deliveringBefore: 200,
      deliveringTimeoutMs: 60_000,
      downMs: 4000,
      otherDeliveredAbove: 400,
      otherLagBelow: 200,
      sinkLagAbove: 400,
      stopServer: () => broker.stop(),
      startServer: () => broker.start(),
      drainTimeoutMs: 120_000,
      afterDrain: async () => {
        // then a hard crash while sends are in flight: SIGKILL, start again at once, records still arriving
        const stream2 = steadyStream(r, burst, 20);
        const before = r.forwarders.get('kafka')!.stats().sentRecords;
        await waitFor('kafka delivering again', () => r.forwarders.get('kafka')!.stats().sentRecords >= before + 200, 60_000);
        await broker.stop({ kill: true });
        await broker.start();
        await sleep(1000);
        await stream2.stop();
        await r.drained('kafka', 120_000);
      },
      readBack: async (routed) => {
        const got = await consume(broker.brokers, [topic], (g) => seqsOf(g.map((m) => m.record)).length >= routed.length, 60_000);
        return got.map((m) => m.record.seq);
      },
    });
  }, 240_000);
});
