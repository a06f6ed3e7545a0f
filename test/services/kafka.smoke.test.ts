/**
 * Kafka smoke test: the harness's KRaft broker takes records from kafkajs (the gateway's client) and hands
 * them back to a consumer group, keys, headers and bytes intact.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { KAFKA } from './endpoints.js';

const endpoints = inject('services');
const kafka = new Kafka({ clientId: 'layergate-smoke', brokers: [...endpoints.kafka.brokers], logLevel: logLevel.NOTHING });
const admin = kafka.admin();

afterAll(async () => {
  await admin.disconnect();
});

describe('kafka (real broker from the test harness)', () => {
  it('is provided to tests at the fixed endpoint', () => {
    expect(endpoints.kafka.brokers).toEqual(KAFKA.brokers);
  });

  it('produces and consumes back through a consumer group', async () => {
    const topic = `smoke-${randomUUID()}`;
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(metadata.topics[0]?.partitions).toHaveLength(2);

    const sent = Array.from({ length: 20 }, (_, index) => ({
      key: `layer-${index % 4}`,
      value: Buffer.from([index, 0xff, 0x00, index * 3]),
      headers: { class: index % 2 === 0 ? 'internal' : 'public' },
    }));
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true });
    await producer.connect();
    const acks = await producer.send({ topic, messages: sent, acks: -1 });
    await producer.disconnect();
    expect(acks.every((ack) => ack.errorCode === 0)).toBe(true);

    const consumer = kafka.consumer({ groupId: `smoke-${randomUUID()}` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received: { key: string; value: Buffer; cls: string }[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${received.length} of ${sent.length} records came back`)), 30_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          received.push({ key: message.key!.toString(), value: message.value!, cls: message.headers!.class!.toString() });
          if (received.length === sent.length) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await consumer.disconnect();

    const byKey = (list: { key: string; value: Buffer }[]): Record<string, string[]> => {
      const grouped: Record<string, string[]> = {};
      for (const item of list) (grouped[item.key] ??= []).push(item.value.toString('hex'));
      return grouped;
    };
    // per key (one partition each) Kafka keeps the order; across partitions it need not
    expect(byKey(received)).toEqual(byKey(sent));
    expect(received.filter((item) => item.cls === 'internal')).toHaveLength(10);
  });
});
