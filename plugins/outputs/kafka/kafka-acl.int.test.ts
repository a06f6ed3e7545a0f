/**
 * The kafka output against a dedicated authorising broker (test/services/dedicated.ts, `acl: true`:
 * StandardAuthorizer, super.users=User:admin, allow.everyone.if.no.acl.found=false). The output
 * authenticates as a SASL/PLAIN user that may Describe its topic but not Write to it (and, for a third
 * output, may not Create its missing topic): a failing sink (`SinkConfigError`, `not-authorized`) naming
 * the topic and the missing permission, nothing quarantined, lag truthful; the ACLs are then granted by
 * the super user through kafkajs and the same outputs, not restarted, deliver every record once and in
 * order, read back by the super user.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import kafkajs from 'kafkajs';
import type { AclOperationTypes } from 'kafkajs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { registerForwarderMetrics } from '../../../gateway/forward/metrics.js';
import type { StoredRecord } from '../../../gateway/plugin-api/record.js';
import { DedicatedKafka } from '../../../test/services/dedicated.js';
import { recordsOfMessage } from '../../../test/support/kafka-records.js';
import { expectSinkConfigFailing, recordingLog, scalarDrafts, sinkRig } from '../../../test/support/sink-harness.js';
import type { SinkRig } from '../../../test/support/sink-harness.js';
import { waitFor } from '../../../test/support/wait.js';
import { type KafkaOutput, definition } from './index.js';

// CommonJS enums Node's ESM loader does not see as named exports
const { AclOperationTypes: OPERATION, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajs;

const USER = 'lg-writer';
const PASSWORD = 'lg-writer-secret';

const rigs: SinkRig[] = [];
const servers: DedicatedKafka[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.close();
});
afterAll(async () => {
  for (const s of servers.splice(0)) await s.dispose();
});

function output(broker: DedicatedKafka, config: Record<string, unknown>): KafkaOutput {
  return definition.create(
    definition.configSchema.parse({ brokers: broker.brokers, sasl: { mechanism: 'plain', username: USER, password: PASSWORD }, ...config }),
    { dataDir: '/nonexistent', machine: 'pbf-sim' },
  ) as KafkaOutput;
}

/** allow `USER` the operations on the topic, as the super user */
async function grant(broker: DedicatedKafka, topic: string, operations: AclOperationTypes[]): Promise<void> {
  const admin = broker.adminClient('lg-test-acl').admin();
  await admin.connect();
  try {
    await admin.createAcls({
      acl: operations.map((operation) => ({
        resourceType: AclResourceTypes.TOPIC,
        resourceName: topic,
        resourcePatternType: ResourcePatternTypes.LITERAL,
        principal: `User:${USER}`,
        host: '*',
        operation,
        permissionType: AclPermissionTypes.ALLOW,
      })),
    });
  } finally {
    await admin.disconnect();
  }
}

interface Received {
  partition: number;
  offset: number;
  record: StoredRecord;
}

/** Every record of the topic, read back by the super user from the beginning, once `n` arrived and a little after (to see extras). */
async function readBack(broker: DedicatedKafka, topic: string, n: number): Promise<Received[]> {
  const consumer = broker
    .adminClient('lg-test-reader', { retries: 10, initialRetryTime: 300, maxRetryTime: 3000 })
    .consumer({ groupId: `lg-test-${randomUUID()}` });
  const got: Received[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        for (const record of recordsOfMessage(message.headers, message.value!)) got.push({ partition, offset: Number(message.offset), record });
      },
    });
    await waitFor(`${n} records of ${topic}`, () => got.length >= n, 60_000, 100);
    await new Promise((r) => setTimeout(r, 1000));
  } finally {
    await consumer.disconnect();
  }
  return got;
}

describe('kafka output and topic ACLs (dedicated authorising broker)', () => {
  it('a user without Write on its topic is a failing sink naming the topic and the missing permission (idempotent, not, a topic to create), nothing quarantined, lag = records appended; Write granted: every record delivered once and in order, no restart', async () => {
    const broker = new DedicatedKafka({ acl: true, sasl: { plain: { [USER]: PASSWORD } } });
    servers.push(broker);
    await broker.start();

    const prefix = `lgacl${randomUUID().slice(0, 8)}`;
    // the idempotent producer (the default) and a plain one: refused at InitProducerId and at Produce
    const idemTopic = `${prefix}i.pbf-sim.scalar`;
    const plainTopic = `${prefix}p.pbf-sim.scalar`;
    // and one the output must create, without the Create permission (refused inside createTopics' aggregate error)
    const createTopic = `${prefix}c.pbf-sim.scalar`;
    // the plant's topics exist (made by the super user); the gateway's user may see them, not write them
    const admin = broker.adminClient('lg-test-admin').admin();
    await admin.connect();
    await admin.createTopics({
      topics: [
        { topic: idemTopic, numPartitions: 2 },
        { topic: plainTopic, numPartitions: 2 },
      ],
      waitForLeaders: true,
    });
    await admin.disconnect();
    for (const topic of [idemTopic, plainTopic]) await grant(broker, topic, [OPERATION.DESCRIBE]);

    const idem = output(broker, { topicPrefix: `${prefix}i` });
    const plain = output(broker, { topicPrefix: `${prefix}p`, idempotent: false });
    const create = output(broker, { topicPrefix: `${prefix}c`, idempotent: false, topics: { partitions: 2 } });
    const idemLog = recordingLog();
    const plainLog = recordingLog();
    const createLog = recordingLog();
    const r = await sinkRig([
      { name: 'idem', plugin: idem, forwarder: { log: idemLog.log, backoff: { initialMs: 50, maxMs: 200 } } },
      { name: 'plain', plugin: plain, forwarder: { log: plainLog.log, backoff: { initialMs: 50, maxMs: 200 } } },
      { name: 'create', plugin: create, forwarder: { log: createLog.log, backoff: { initialMs: 50, maxMs: 200 } } },
    ]);
    rigs.push(r);
    const signals = ['chamber.o2', 'chamber.temp', 'zone3.temp'];
    await r.emit(signals.flatMap((s) => scalarDrafts(6, s)));
    const n = 18;

    // a failing sink: retried, kept in the buffer, not quarantined, logged at error once with what to fix
    await expectSinkConfigFailing(r, 'idem', n, 'not-authorized', idemLog.lines);
    await expectSinkConfigFailing(r, 'plain', n, 'not-authorized', plainLog.lines);
    await expectSinkConfigFailing(r, 'create', n, 'not-authorized', createLog.lines);
    const scrape = await registerForwarderMetrics(() => [...r.forwarders.values()]).metrics();
    for (const sink of ['idem', 'plain', 'create']) expect(scrape).toContain(`layergate_sink_config_failing{sink="${sink}"} 1`);

    // what the log says: the topic, the permission missing, the principal and what to grant
    const logged = (lines: Record<string, unknown>[], sink: string) => {
      const line = lines.find((l) => l.level === 50 && l.sink === sink)!;
      return { line, err: String((line.err as { message?: unknown }).message), action: String(line.action) };
    };
    const idemErr = logged(idemLog.lines, 'idem');
    expect(idemErr.line.err).toMatchObject({ code: 'LG_SINK_CONFIG' });
    expect(idemErr.err).toContain(`User:${USER} is not authorised to start the idempotent producer for topic ${idemTopic}`);
    expect(idemErr.err).toContain('missing Write permission');
    expect(idemErr.err).toContain('CLUSTER_AUTHORIZATION_FAILED');
    expect(idemErr.action).toContain(`grant User:${USER} Write, Describe on topic ${idemTopic}`);
    expect(String(idemErr.line.msg)).toContain(idemErr.action);

    const plainErr = logged(plainLog.lines, 'plain');
    expect(plainErr.line.err).toMatchObject({ code: 'LG_SINK_CONFIG' });
    expect(plainErr.err).toContain(`User:${USER} is not authorised to write to topic ${plainTopic}: missing Write permission (TOPIC_AUTHORIZATION_FAILED)`);
    expect(plainErr.action).toContain(`grant User:${USER} Write, Describe on topic ${plainTopic}`);
    expect(String(plainErr.line.msg)).toContain(plainErr.action);

    const createErr = logged(createLog.lines, 'create');
    expect(createErr.line.err).toMatchObject({ code: 'LG_SINK_CONFIG' });
    expect(createErr.err).toContain(`User:${USER} is not authorised to create topic ${createTopic}`);
    expect(createErr.err).toContain('missing Create permission (TOPIC_AUTHORIZATION_FAILED)');
    expect(createErr.action).toContain(`grant User:${USER} Create, Write, Describe on topic ${createTopic}`);

    for (const [sink, out, topic] of [
      ['idem', idem, idemTopic],
      ['plain', plain, plainTopic],
      ['create', create, createTopic],
    ] as const) {
      const stats = r.forwarders.get(sink)!.stats();
      expect(stats.configFailure).toMatchObject({ reason: 'not-authorized' });
      expect(stats.configFailure!.message).toContain(topic);
      expect(stats.configFailure!.action).toContain('Write');
      expect(out.stats()).toMatchObject({ messages: 0, refused: 0, requests: 0, topicsCreated: 0 });
    }

    // the super user grants Write (Describe is there): nothing else, no restart of the outputs.
    // Kafka >= 3.0 lets an idempotent producer start with Write on a topic (KIP-679): no IdempotentWrite on the cluster
    for (const topic of [idemTopic, plainTopic]) await grant(broker, topic, [OPERATION.WRITE, OPERATION.DESCRIBE]);
    await grant(broker, createTopic, [OPERATION.CREATE, OPERATION.WRITE, OPERATION.DESCRIBE]);
    for (const sink of ['idem', 'plain', 'create']) await r.drained(sink, 60_000);
    expect(create.stats().topicsCreated).toBe(1);

    const routed = r.routed('all');
    expect(routed).toHaveLength(n);
    for (const [sink, out, topic, lines] of [
      ['idem', idem, idemTopic, idemLog.lines],
      ['plain', plain, plainTopic, plainLog.lines],
      ['create', create, createTopic, createLog.lines],
    ] as const) {
      expect(r.forwarders.get(sink)!.stats()).toMatchObject({
        sentRecords: n,
        quarantinedRecords: 0,
        permanentFailures: 0,
        lagRecords: 0,
        configFailure: null,
      });
      expect(out.stats()).toMatchObject({ messages: n, refused: 0 });
      expect(lines.some((l) => l.level === 30 && String(l.msg).includes('sink configuration problem resolved'))).toBe(true);
      expect(existsSync(path.join(r.dataDir, 'quarantine', 'outputs', sink))).toBe(false);

      // exactly once: each routed seq once, nothing else
      const got = await readBack(broker, topic, n);
      expect(got.map((g) => g.record.seq).sort((a, b) => a - b)).toEqual(routed.map((x) => x.seq).sort((a, b) => a - b));
      // in order: a signal on one partition, its records in seq order by offset (then place in the grouped message)
      for (const signal of signals) {
        const mine = got.filter((g) => g.record.signal === signal).sort((a, b) => a.offset - b.offset);
        expect(mine).toHaveLength(6);
        expect(new Set(mine.map((g) => g.partition)).size).toBe(1);
        expect(mine.map((g) => g.record.seq)).toEqual(routed.filter((x) => x.signal === signal).map((x) => x.seq));
        const bodies = mine.map((g) => g.record.body!.toString());
        expect(bodies).toEqual(routed.filter((x) => x.signal === signal).map((x) => x.body!.toString()));
      }
    }
    const after = await registerForwarderMetrics(() => [...r.forwarders.values()]).metrics();
    for (const sink of ['idem', 'plain', 'create']) expect(after).toContain(`layergate_sink_config_failing{sink="${sink}"} 0`);
  }, 180_000);
});
