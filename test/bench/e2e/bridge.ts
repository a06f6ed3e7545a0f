/**
 * The bare MQTT -> Kafka bridge a plant might write by hand, the baseline of the MQTT -> Kafka cases:
 * an MQTT.js subscriber (QoS 1, MQTT 5; MQTT.js acks each message on arrival) feeding a kafkajs
 * idempotent producer (acks=all, one request in flight) in batches of what arrived meanwhile (at most
 * 500 messages / 900 kB per request), values as they came, keyed by topic. No buffer, no records.
 * Counts the messages Kafka acked; answers `counts` like a load generator (protocol.ts).
 *
 *   (forked by mqtt-kafka.ts)  tsx test/bench/e2e/bridge.ts <broker url> <topic filter> <kafka topic>
 */
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import type { Message } from 'kafkajs';
import mqtt from 'mqtt';
import { KAFKA } from '../../services/endpoints.js';
import type { LoadCommand, LoadMessage } from './protocol.js';

const [url, filter, topic] = process.argv.slice(2) as [string, string, string];
const send = (m: LoadMessage): void => {
  process.send?.(m);
};
let acked = 0;
let bytes = 0;

async function main(): Promise<void> {
  const kafka = new Kafka({ clientId: 'lg-bench-e2e-bridge', brokers: [...KAFKA.brokers], logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const pending: Message[] = [];
  let sending = false;
  const pump = async (): Promise<void> => {
    if (sending) return;
    sending = true;
    try {
      while (pending.length > 0) {
        // the chunk is cut off the front at once: a shift per message is O(queue) each, and the queue
        // holds tens of thousands of messages when the publisher floods
        let n = 0;
        let size = 0;
        while (n < pending.length && n < 500 && (n === 0 || size + (pending[n]!.value as Buffer).length < 900_000)) {
          size += (pending[n]!.value as Buffer).length;
          n++;
        }
        const chunk = pending.splice(0, n);
        await producer.sendBatch({ topicMessages: [{ topic, messages: chunk }], acks: -1 });
        acked += chunk.length;
        bytes += size;
      }
    } finally {
      sending = false;
    }
  };
  const client = mqtt.connect(url, { clientId: `lg-e2e-bridge-${process.pid}`, clean: true, protocolVersion: 5, properties: { receiveMaximum: 1000 } });
  await new Promise<void>((resolve, reject) => client.once('connect', () => resolve()).once('error', reject));
  client.on('message', (t, payload) => {
    pending.push({ key: t, value: payload });
    void pump().catch((err: unknown) => send({ type: 'failed', message: String(err) }));
  });
  await client.subscribeAsync(filter, { qos: 1 });
  process.on('message', (m: LoadCommand) => {
    if (m.type === 'counts' || m.type === 'stop') {
      const c = process.cpuUsage();
      send({ type: 'counts', units: acked, bytes, cpuUs: c.user + c.system });
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

main().catch((err: unknown) => {
  send({ type: 'failed', message: (err as Error).stack ?? String(err) });
  setTimeout(() => process.exit(1), 100);
});
