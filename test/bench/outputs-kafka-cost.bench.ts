/**
 * What one record costs the Kafka output, against a real broker: records/s and CPU-µs per record
 * (this process only: encoding, kafkajs, the socket; the broker's CPU is not counted) for
 *
 * - `output`: `KafkaOutput.send` with forwarder-sized batches (the implementation given by `--impl`,
 *   default plugins/outputs/kafka/index.ts; point it at another checkout's index.ts to compare versions);
 * - `raw`: kafkajs `producer.sendBatch` alone with pre-built messages of the same key, value and
 *   header sizes (the limit a per-record output can reach), each call kept under 900 KiB.
 *
 * Workloads: W1-like scalars (5,000 signals, `{"v":1.23,"unit":"mm"}`) in batches of 500 and 5,000,
 * 4 KiB samples blocks of one signal (one partition) and W2-like 16 KiB blocks of 4 signals.
 *
 *   npm run bench:kafka-cost --  [--impl <path/to/index.ts>] [--mode output|raw|both]
 *     [--only scalar500,scalar5000,block4k,block16k] [--seconds 12] [--config '{"grouping":"signal"}']
 *     [--brokers 127.0.0.1:19092]
 *
 * A measuring tool, not a test: it creates topics `lgcost<random>.*` on the broker and leaves them.
 * Each workload stops after its record count or `--seconds`, whichever comes first.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import type { Message } from 'kafkajs';
import pino from 'pino';
import type { OutputContext, OutputDefinition, OutputPlugin, StoredRecord } from '../../gateway/plugin-api/index.js';
import { CONTENT_TYPES, encodeRecord } from '../../gateway/plugin-api/index.js';

const { values: args } = parseArgs({
  options: {
    impl: { type: 'string', default: path.join(path.dirname(new URL(import.meta.url).pathname), '../../plugins/outputs/kafka/index.ts') },
    mode: { type: 'string', default: 'both' },
    only: { type: 'string', default: 'scalar500,scalar5000,block4k,block16k' },
    seconds: { type: 'string', default: '12' },
    config: { type: 'string', default: '{}' },
    brokers: { type: 'string', default: process.env.KAFKA_BROKERS ?? '127.0.0.1:19092' },
  },
});
const brokers = args.brokers.split(',');
const MACHINE = 'pbf-cost';
const maxSeconds = Number(args.seconds);

interface Workload {
  name: string;
  kind: 'scalar' | 'samples';
  batch: number;
  total: number;
  make: (seq: number) => StoredRecord;
}

const t0 = 1_764_000_000_000_000_000n;
const scalarBody = Buffer.from('{"v":1.23,"unit":"mm"}');
const scalar = (seq: number): StoredRecord => ({
  seq,
  source: 'opcua',
  signal: `ns=2;s=Machine.Process.Signal${String(seq % 5000).padStart(4, '0')}`,
  kind: 'scalar',
  class: 'internal',
  contentType: CONTENT_TYPES.scalar,
  sourceTimeNs: t0 + BigInt(seq) * 20_000n,
  receiveTimeNs: t0 + BigInt(seq) * 20_000n + 5_000_000n,
  build: 'JOB-7',
  layer: 120,
  body: scalarBody,
  routes: [],
});
const blockBodies = new Map<number, Buffer>();
const block =
  (bytes: number, signals: number) =>
  (seq: number): StoredRecord => {
    let body = blockBodies.get(bytes);
    if (!body) {
      body = Buffer.alloc(bytes);
      for (let i = 0; i < bytes / 4; i++) body.writeFloatLE(Math.sin(i / 10), i * 4);
      blockBodies.set(bytes, body);
    }
    return {
      seq,
      source: 'meltpool-mqtt',
      signal: `meltpool/${seq % signals}`,
      kind: 'samples',
      class: 'internal',
      contentType: CONTENT_TYPES.samplesF32,
      sourceTimeNs: t0 + BigInt(seq) * 100_000n,
      receiveTimeNs: t0 + BigInt(seq) * 100_000n + 2_000_000n,
      build: 'JOB-7',
      layer: 120,
      body,
      attributes: { channels: 'photodiode,pyrometer', sample_rate_hz: '100000', first_sample: String(seq * 512) },
      routes: [],
    };
  };

const allWorkloads: Workload[] = [
  { name: 'scalar500', kind: 'scalar', batch: 500, total: 400_000, make: scalar },
  { name: 'scalar5000', kind: 'scalar', batch: 5000, total: 400_000, make: scalar },
  // the forwarder's default batch: 500 records or 8 MiB of bodies
  { name: 'block4k', kind: 'samples', batch: 500, total: 100_000, make: block(4096, 1) },
  { name: 'block16k', kind: 'samples', batch: 500, total: 30_000, make: block(16_384, 4) },
];
const workloads = allWorkloads.filter((w) => args.only.split(',').includes(w.name));

interface Result {
  records: number;
  seconds: number;
  cpuUs: number;
}

function report(label: string, w: Workload, r: Result): void {
  const perSec = Math.round(r.records / r.seconds);
  const cpu = (r.cpuUs / r.records).toFixed(1);
  console.log(
    `${w.name.padEnd(11)} ${label.padEnd(8)} ${String(r.records).padStart(7)} records ${r.seconds.toFixed(1).padStart(5)} s ${String(perSec).padStart(7)} rec/s ${cpu.padStart(7)} CPU-µs/rec`,
  );
}

/** Run `step` (one batch) until `total` records or the time is up; a short warm-up first, not counted. */
async function measure(w: Workload, step: (batch: StoredRecord[]) => Promise<void>): Promise<Result> {
  let seq = 1;
  const next = () => Array.from({ length: w.batch }, () => w.make(seq++));
  for (let i = 0; i < 3; i++) await step(next());
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  let records = 0;
  while (records < w.total) {
    const b = next();
    await step(b);
    records += b.length;
    if (Number(process.hrtime.bigint() - start) / 1e9 > maxSeconds) break;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return { records, seconds, cpuUs: cpu.user + cpu.system };
}

async function createTopics(topics: string[]): Promise<void> {
  const admin = new Kafka({ clientId: 'lg-cost', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: 3 })), waitForLeaders: true });
  await admin.disconnect();
}

async function viaOutput(w: Workload): Promise<void> {
  const mod = (await import(pathToFileURL(path.resolve(args.impl)).href)) as { definition: OutputDefinition<unknown> };
  const prefix = `lgcost${randomUUID().slice(0, 8)}`;
  await createTopics([`${prefix}.${MACHINE}.${w.kind}`]);
  const config = mod.definition.configSchema.parse({ brokers, topicPrefix: prefix, ...(JSON.parse(args.config) as object) });
  const out: OutputPlugin = mod.definition.create(config, { dataDir: '/nonexistent', machine: MACHINE });
  await out.start({ log: pino({ level: 'warn' }) } as unknown as OutputContext);
  const r = await measure(w, (b) => out.send(b));
  report('output', w, r);
  const stats = (out as { stats?: () => unknown }).stats?.();
  if (stats) console.log(`            stats ${JSON.stringify(stats)}`);
  await out.stop();
}

async function raw(w: Workload): Promise<void> {
  const topic = `lgcost${randomUUID().slice(0, 8)}-raw`;
  await createTopics([topic]);
  const kafka = new Kafka({ clientId: 'lg-cost-raw', brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  // pre-built: one message per record of a batch, same key/value/header sizes as the output's
  const template = (r: StoredRecord): Message => ({
    key: r.signal,
    value: Buffer.from(encodeRecord(r)),
    headers: {
      'content-type': 'application/x-protobuf; messageType=layergate.v1.Record',
      'layergate-class': r.class,
      'layergate-seq': String(r.seq),
      'layergate-signal': r.signal,
      'layergate-source': r.source,
      'layergate-content-type': r.contentType,
    },
  });
  let seq = 1_000_000;
  const prebuilt = Array.from({ length: Math.min(w.total, 20 * w.batch) }, () => template(w.make(seq++)));
  let at = 0;
  const r = await measure(w, async (b) => {
    const messages = prebuilt.slice(at % prebuilt.length, (at % prebuilt.length) + b.length);
    at += b.length;
    let chunk: Message[] = [];
    let bytes = 0;
    for (const m of messages) {
      const size = (m.value as Buffer).length + 200;
      if (chunk.length > 0 && bytes + size > 900 * 1024) {
        await producer.sendBatch({ topicMessages: [{ topic, messages: chunk }], acks: -1 });
        chunk = [];
        bytes = 0;
      }
      chunk.push(m);
      bytes += size;
    }
    if (chunk.length > 0) await producer.sendBatch({ topicMessages: [{ topic, messages: chunk }], acks: -1 });
  });
  report('raw', w, r);
  await producer.disconnect();
}

console.log(`impl ${args.impl} config ${args.config}`);
for (const w of workloads) {
  if (args.mode !== 'raw') await viaOutput(w);
  if (args.mode !== 'output') await raw(w);
}
