/**
 * Throughput and object counts of the MinIO and cloud outputs at the plant's workload W1 (5,000 OPC-UA
 * signals at 10 Hz = 50,000 scalar values/s), against the harness's MinIO servers (test/services). A
 * measurement to run by hand, not a test: numbers depend on the machine and on what else runs on it.
 *
 *   npm run bench:objects-cost -- [minio|cloud|all]
 *     MINIO_BATCHES=500,20000,100000   batch sizes handed to the MinIO output's `send`
 *     MINIO_SECONDS=15                 time budget per batch size (at least one batch is sent)
 *     CLOUD_RECORDS=1000000            records staged through the cloud output's `send`, then compacted
 *     CLOUD_BATCH=500                  records per cloud `send` (what the forwarder hands it)
 *     CLOUD_COMPACT=0                  measure the sends only
 *     CLOUD_CHUNK=200000               the cloud output's compaction.maxRecords
 *
 * Prints one JSON line per measurement. Buckets are made for the run and removed after it.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'minio';
import pino from 'pino';
import { CONTENT_TYPES } from '../../gateway/plugin-api/index.js';
import type { OutputContext, StoredRecord } from '../../gateway/plugin-api/index.js';
import { MINIO_CLOUD, MINIO_LOCAL } from '../services/endpoints.js';
import { CloudOutput, cloudConfigSchema } from '../../plugins/outputs/cloud/index.js';
import { type MinioOutput, definition } from '../../plugins/outputs/minio/index.js';

const SIGNALS = 5000;
const RATE_HZ = 10;
const W1_PER_MINUTE = SIGNALS * RATE_HZ * 60;
const log = pino({ level: 'silent' });
const ctx: OutputContext = {
  name: 'measure',
  log,
  blobs: {
    read: () => Promise.reject(new Error('no blobs')),
    path: () => {
      throw new Error('no blobs');
    },
  },
};
const signalNames = Array.from({ length: SIGNALS }, (_, i) => `plc.ns=3;s=Axis${Math.floor(i / 50)}.Sensor${String(i % 50).padStart(2, '0')}`);
const t0Ns = BigInt(Date.UTC(2026, 0, 15, 8, 0, 0)) * 1_000_000n;

/** W1 records seq `from`..`from + n - 1`: every 5,000 seqs are one 100 ms sample of all signals */
function w1(from: number, n: number, receiveAtNs?: bigint): StoredRecord[] {
  const out: StoredRecord[] = new Array(n);
  for (let k = 0; k < n; k++) {
    const seq = from + k;
    const tick = Math.floor((seq - 1) / SIGNALS);
    const s = (seq - 1) % SIGNALS;
    const t = t0Ns + BigInt(tick) * 100_000_000n;
    out[k] = {
      seq,
      source: 'opcua',
      signal: signalNames[s]!,
      kind: 'scalar',
      class: 'internal',
      contentType: CONTENT_TYPES.scalar,
      sourceTimeNs: t,
      receiveTimeNs: receiveAtNs ?? t + 3_000_000n,
      build: 'B-2026-0115',
      layer: 1 + Math.floor(tick / 300),
      body: Buffer.from(`{"v":${(20 + Math.sin(seq / 7) * 5).toFixed(4)},"unit":"degC","quality":"good"}`),
      routes: ['measure'],
    };
  }
  return out;
}

/** peak RSS while `fn` runs, sampled every 20 ms */
async function withPeakRss<T>(fn: () => Promise<T>): Promise<{ result: T; peakRssMiB: number }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  try {
    const result = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, peakRssMiB: Math.round(peak / 1024 / 1024) };
  } finally {
    clearInterval(timer);
  }
}

async function emptyBucket(c: Client, bucket: string): Promise<void> {
  if (!(await c.bucketExists(bucket).catch(() => false))) return;
  let names: string[] = [];
  for await (const o of c.listObjectsV2(bucket, '', true)) {
    names.push((o as { name: string }).name);
    if (names.length === 1000) {
      await c.removeObjects(bucket, names);
      names = [];
    }
  }
  if (names.length) await c.removeObjects(bucket, names);
  await c.removeBucket(bucket);
}

async function measureMinio(batchSizes: number[], seconds: number): Promise<void> {
  const client = new Client({ ...MINIO_LOCAL });
  for (const size of batchSizes) {
    const bucket = `lg-measure-${randomUUID().slice(0, 8)}`;
    const out = definition.create(
      definition.configSchema.parse({
        endPoint: '127.0.0.1',
        port: MINIO_LOCAL.port,
        tls: false,
        accessKey: MINIO_LOCAL.accessKey,
        secretKey: MINIO_LOCAL.secretKey,
        bucket,
      }),
      { dataDir: os.tmpdir(), machine: 'pbf-01' },
    ) as MinioOutput;
    await out.start(ctx);
    try {
      let seq = 1;
      let busyMs = 0;
      const { peakRssMiB } = await withPeakRss(async () => {
        const end = Date.now() + seconds * 1000;
        do {
          const batch = w1(seq, size);
          const t = performance.now();
          await out.send(batch);
          busyMs += performance.now() - t;
          seq += size;
        } while (Date.now() < end);
      });
      const records = seq - 1;
      const s = out.stats();
      console.log(
        JSON.stringify({
          output: 'minio',
          batchRecords: size,
          records,
          recordsPerSecond: Math.round(records / (busyMs / 1000)),
          objects: s.objects,
          objectsPerBatch: +(s.objects / (records / size)).toFixed(1),
          bytesPerObject: Math.round(s.bytes / s.objects),
          objectsPerMinuteAtW1: Math.round((s.objects / records) * W1_PER_MINUTE),
          peakRssMiB,
        }),
      );
    } finally {
      await out.stop();
      await emptyBucket(client, bucket);
    }
  }
}

async function measureCloud(total: number, batch: number): Promise<void> {
  const client = new Client({ ...MINIO_CLOUD });
  const bucket = `lg-measure-${randomUUID().slice(0, 8)}`;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lg-measure-cloud-'));
  const out = new CloudOutput(
    cloudConfigSchema.parse({
      endpoint: `http://${MINIO_CLOUD.endPoint}:${MINIO_CLOUD.port}`,
      bucket,
      accessKey: MINIO_CLOUD.accessKey,
      secretKey: MINIO_CLOUD.secretKey,
      batchWindow: '24h',
      local: { maxBytes: '20GiB' },
      ...(process.env.CLOUD_CHUNK ? { compaction: { maxRecords: Number(process.env.CLOUD_CHUNK) } } : {}),
    }),
    { dataDir: dir, machine: 'pbf-01' },
  );
  await out.start(ctx);
  out.syncUploader!.pause(); // compaction and staging only: uploads are measured by bench:sync
  try {
    // every record in one window (receive time of the run), as one hour of W1 would be
    const now = BigInt(Date.now()) * 1_000_000n;
    const marks: { records: number; ms: number }[] = [];
    let seq = 1;
    const start = performance.now();
    const { peakRssMiB: sendRss } = await withPeakRss(async () => {
      while (seq <= total) {
        const n = Math.min(batch, total - seq + 1);
        await out.send(w1(seq, n, now));
        seq += n;
        if ((seq - 1) % 100_000 < batch) marks.push({ records: seq - 1, ms: performance.now() - start });
      }
      await out.flushStaged(false); // let the flushes the sends started finish
    });
    const sendMs = performance.now() - start;
    const perStep = marks.map((m, i) => {
      const prev = i === 0 ? { records: 0, ms: 0 } : marks[i - 1]!;
      return Math.round(((m.records - prev.records) / (m.ms - prev.ms)) * 1000);
    });
    console.log(
      JSON.stringify({
        output: 'cloud',
        phase: 'send',
        records: total,
        sendBatch: batch,
        sendRecordsPerSecond: Math.round(total / (sendMs / 1000)),
        sendRecordsPerSecondPer100k: perStep,
        sendPeakRssMiB: sendRss,
      }),
    );
    if (process.env.CLOUD_COMPACT === '0') return;
    const c0 = performance.now();
    const { peakRssMiB: compactRss } = await withPeakRss(() => out.flushStaged(true));
    const compactMs = performance.now() - c0;
    const objects = out.syncStore!.objects();
    console.log(
      JSON.stringify({
        output: 'cloud',
        phase: 'compaction',
        records: total,
        chunk: out.stats().compaction?.largestChunkRecords,
        compactRecordsPerSecond: Math.round(total / (compactMs / 1000)),
        compactPeakRssMiB: compactRss,
        stagedLeft: out.stats().stagedRecords,
        objects: objects.length,
        bytesPerObject: Math.round(objects.reduce((n, o) => n + o.size, 0) / Math.max(1, objects.length)),
      }),
    );
  } finally {
    await out.stop();
    await fs.rm(dir, { recursive: true, force: true });
    await emptyBucket(client, bucket);
  }
}

const what = process.argv[2] ?? 'all';
const env = (name: string, fallback: string) => process.env[name] ?? fallback;
if (what === 'minio' || what === 'all') await measureMinio(env('MINIO_BATCHES', '500,20000,100000').split(',').map(Number), Number(env('MINIO_SECONDS', '15')));
if (what === 'cloud' || what === 'all') await measureCloud(Number(env('CLOUD_RECORDS', '1000000')), Number(env('CLOUD_BATCH', '500')));
