/**
 * The raw limit of each sink, measured in the same run: the client library alone (no gateway)
 * writing records like the workload's to the same server, as fast as it goes for a few seconds, in
 * batches of up to 500 records / 8 MiB (the forwarder's default batch):
 *   kafka:        kafkajs idempotent producer (acks=all, one request in flight), sendBatch of the
 *                 records' protobuf values (wire codec), keyed by signal, a 3-partition topic, at most
 *                 900 kB per request (a partition's record batch must fit the broker's 1 MB limit)
 *   redis:        ioredis, one pipeline of XADD MAXLEN ~ 100000 per batch, the output's entry fields
 *   minio, cloud: putObject of one object per batch (the batch's body bytes), 4 at a time
 *   lake:         fs write + fsync of one file per batch (the batch's body bytes) into a temp folder
 * The records are the workload's mix by offered rate: W1 scalar JSON bodies, W2 16,000-byte float32
 * blocks, W3 3 MiB frames and 20 KiB thumbnails (records over 1 MB are left out for Kafka, whose
 * output refuses them too). What it writes is removed again.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import type { Message } from 'kafkajs';
import { CONTENT_TYPES, encodeRecord } from '../../../gateway/plugin-api/record.js';
import type { StoredRecord } from '../../../gateway/plugin-api/record.js';
import { entryFields } from '../../../plugins/outputs/redis/index.js';
import { KAFKA, REDIS } from '../../services/endpoints.js';
import { deleteBucket, deleteKafkaTopics, deleteRedisKeys, s3For } from './sinks.js';
import { BLOCK_CHANNELS, BLOCK_SAMPLES, partsOf } from './workloads.js';
import type { SinkName, WorkloadName } from './workloads.js';

export interface RawResult {
  sink: SinkName;
  workload: WorkloadName;
  records: number;
  bytes: number;
  seconds: number;
  recordsPerS: number;
  bytesPerS: number;
  what: string;
}

const BATCH_RECORDS = 500;
const BATCH_BYTES = 8 * 1024 * 1024;

function record(kind: 'scalar' | 'samples' | 'frame' | 'thumbnail', i: number): StoredRecord {
  const now = BigInt(Date.now()) * 1_000_000n;
  const common = { seq: i + 1, source: 'bench', class: 'internal' as const, routes: ['raw'], receiveTimeNs: now, sourceTimeNs: now };
  switch (kind) {
    case 'scalar':
      return {
        ...common,
        signal: `w1.opcua.v${i % 5000}`,
        kind: 'scalar',
        contentType: CONTENT_TYPES.scalar,
        body: Buffer.from(`{"v":${(i / 7).toFixed(6)},"quality":"Good"}`),
        attributes: { status: 'Good', server_time_ns: String(now) },
      };
    case 'samples':
      return {
        ...common,
        signal: 'meltpool',
        kind: 'samples',
        contentType: CONTENT_TYPES.samplesF32,
        body: randomBytes(BLOCK_SAMPLES * BLOCK_CHANNELS.length * 4),
        build: 'BENCH-E2E',
        layer: 1,
        attributes: { channels: BLOCK_CHANNELS.join(','), sample_rate_hz: '100000', first_sample: String(i * BLOCK_SAMPLES) },
      };
    case 'frame':
    case 'thumbnail':
      return {
        ...common,
        signal: kind === 'frame' ? 'camera.powder_bed' : 'camera.powder_bed.thumbnail',
        kind: 'frame',
        contentType: 'image/png',
        body: randomBytes(kind === 'frame' ? 3 * 1024 * 1024 : 20 * 1024),
        build: 'BENCH-E2E',
        layer: 1,
      };
  }
}

/** The workload's records in proportion to their offered rates (each kind at least once). */
export function workloadMix(w: WorkloadName, forKafka: boolean): StoredRecord[] {
  const parts = partsOf(w);
  const total = parts.reduce((n, p) => n + p.ratePerS * p.recordsPerUnit, 0);
  const out: StoredRecord[] = [];
  for (const p of parts) {
    const n = Math.max(1, Math.round((2000 * p.ratePerS * p.recordsPerUnit) / total));
    for (let i = 0; i < n; i++) {
      if (p.kind === 'scalar') out.push(record('scalar', out.length));
      else if (p.kind === 'samples') out.push(record('samples', out.length));
      else {
        if (!forKafka) out.push(record('frame', out.length));
        out.push(record('thumbnail', out.length));
      }
    }
  }
  // interleave the kinds as they arrive
  return out.sort((a, b) => ((a.seq * 7919) % 2003) - ((b.seq * 7919) % 2003));
}

function* batches(mix: StoredRecord[]): Generator<StoredRecord[]> {
  let i = 0;
  for (;;) {
    const b: StoredRecord[] = [];
    let bytes = 0;
    while (b.length < BATCH_RECORDS) {
      const r = mix[i++ % mix.length]!;
      if (b.length > 0 && bytes + r.body!.length > BATCH_BYTES) break;
      b.push(r);
      bytes += r.body!.length;
    }
    yield b;
  }
}

/** most value bytes per produce request of the raw producer */
const KAFKA_REQUEST_BYTES = 900_000;

const bodyBytes = (b: StoredRecord[]): number => b.reduce((n, r) => n + r.body!.length, 0);

/** Run `step` (one batch) with `concurrency` workers for `seconds`. */
async function timed(seconds: number, mix: StoredRecord[], concurrency: number, step: (batch: StoredRecord[], n: number) => Promise<void>) {
  const gen = batches(mix);
  let records = 0;
  let bytes = 0;
  let n = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const b = gen.next().value as StoredRecord[];
      await step(b, n++);
      records += b.length;
      bytes += bodyBytes(b);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const s = (performance.now() - t0) / 1000;
  return { records, bytes, seconds: s, recordsPerS: records / s, bytesPerS: bytes / s };
}

export async function rawBaseline(sink: SinkName, workload: WorkloadName, seconds: number): Promise<RawResult> {
  const id = `lge2e-raw-${randomBytes(3).toString('hex')}`;
  const mix = workloadMix(workload, sink === 'kafka');
  switch (sink) {
    case 'kafka': {
      const kafka = new Kafka({ clientId: 'lg-bench-e2e-raw', brokers: [...KAFKA.brokers], logLevel: logLevel.NOTHING });
      const admin = kafka.admin();
      await admin.connect();
      const topic = `${id}.raw`;
      await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
      await admin.disconnect();
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      try {
        const r = await timed(seconds, mix, 1, async (b) => {
          const messages: Message[] = b.map((rec) => ({
            key: rec.signal,
            value: Buffer.from(encodeRecord(rec)),
            headers: { 'layergate-seq': String(rec.seq) },
          }));
          // a partition's record batch must stay under the broker's message.max.bytes (1 MB by default)
          for (let i = 0; i < messages.length; ) {
            const chunk: Message[] = [];
            let bytes = 0;
            while (i < messages.length && (chunk.length === 0 || bytes + (messages[i]!.value as Buffer).length < KAFKA_REQUEST_BYTES)) {
              bytes += (messages[i]!.value as Buffer).length;
              chunk.push(messages[i++]!);
            }
            await producer.sendBatch({ topicMessages: [{ topic, messages: chunk }], acks: -1 });
          }
        });
        return { sink, workload, ...r, what: 'kafkajs sendBatch (idempotent, acks=all)' };
      } finally {
        await producer.disconnect();
        await deleteKafkaTopics(id).catch(() => undefined);
      }
    }
    case 'redis': {
      const client = new Redis(REDIS.url);
      try {
        const r = await timed(seconds, mix, 1, async (b) => {
          const p = client.pipeline();
          for (const rec of b) p.xadd(`${id}:raw:stream:${rec.signal}`, 'MAXLEN', '~', '100000', '*', ...entryFields(rec));
          await p.exec();
        });
        return { sink, workload, ...r, what: 'ioredis XADD pipeline' };
      } finally {
        client.disconnect();
        await deleteRedisKeys(id).catch(() => undefined);
      }
    }
    case 'minio':
    case 'cloud': {
      const client = s3For(sink);
      await client.makeBucket(id);
      try {
        const r = await timed(seconds, mix, 4, async (b, n) => {
          const body = Buffer.concat(b.map((rec) => rec.body!));
          await client.putObject(id, `raw/${n}.bin`, body, body.length);
        });
        return { sink, workload, ...r, what: 'minio putObject, an object per batch, 4 at a time' };
      } finally {
        await deleteBucket(client, id).catch(() => undefined);
      }
    }
    case 'lake': {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lg-bench-e2e-raw-'));
      try {
        const r = await timed(seconds, mix, 1, async (b, n) => {
          const fh = await fs.open(path.join(dir, `${n}.bin`), 'w');
          try {
            await fh.write(Buffer.concat(b.map((rec) => rec.body!)));
            await fh.sync();
          } finally {
            await fh.close();
          }
        });
        return { sink, workload, ...r, what: 'fs write + fsync, a file per batch' };
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    }
  }
}
