/**
 * Output throughput at steady state: each sink (Kafka, Redis, PostgreSQL, MinIO) behind the real buffer and
 * forwarder, beside the same client library writing the same bytes directly (no gateway), measured in
 * the same run against the harness's servers, as a ratio. Targets: >= 0.8 of the raw client for Kafka,
 * PostgreSQL and MinIO. Reports PASS/MISS; never fails a build.
 *
 * Workload: melt-pool-like sample blocks (250 samples x 2 float32 channels = 2000-byte bodies), one
 * signal per 1/4 of the records. The gateway side: records are committed to the buffer first (not
 * timed), then the forwarder is started and timed from its start until the sink's lag is 0 (batches of
 * 500, the default). The raw side does what a hand-written exporter would with the same library:
 *   kafka: kafkajs idempotent producer, sendBatch of 500 protobuf messages with the same keys and headers, acks=all
 *   redis: ioredis, one MULTI of 500 XADD MAXLEN ~ per batch, the same fields
 *   postgres: pg + pg-copy-streams, per batch of 500: the same rows (rows.ts: per-channel statistics of each
 *          block) COPYed in one transaction into an identical table (same migration: partitioned by day,
 *          same keys and indexes) in a schema of its own: what the output adds is the savepoint, partition
 *          check, build/layer summaries and the forwarder.
 *   mongodb (its own workload: machine events, ~200-byte JSON bodies, the kind it takes; samples it does
 *          not): the official driver, per batch of 500, the same event documents built from the
 *          records and one unordered insertMany with the same write concern (majority, journaled),
 *          against the harness's FerretDB. The gateway side also upserts the builds and layers.
 *   minio, two baselines: (a) "raw upload": putObject of the very Parquet objects the output wrote, same
 *          keys, same concurrency: the client and server alone, no encoding at all (strict); (b) "raw
 *          exporter": a hand-written exporter doing the same work without the gateway: per batch of 500,
 *          rows sorted by signal then seq, build the Arrow table with its signal column and the Parquet
 *          bytes (apache-arrow + parquet-wasm, the same table shape and row groups) and putObject them,
 *          4 at a time. The target applies to (b), the gateway's own
 *          overhead; (a) shows what the columnar encoding costs on this CPU.
 *
 *   npm run services -- up && npm run bench:outputs      (BENCH_RECORDS=20000 to change the size,
 *   BENCH_SINKS=kafka,minio to run some sinks only)
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import type { Message } from 'kafkajs';
import { Client } from 'minio';
import { pino } from 'pino';
import { openBuffer } from '../../gateway/buffer/index.js';
import { Forwarder } from '../../gateway/forward/forwarder.js';
import { outputContext } from '../../gateway/forward/output-context.js';
import type { OutputPlugin } from '../../gateway/plugin-api/contract.js';
import { CONTENT_TYPES, encodeRecord, nowNs } from '../../gateway/plugin-api/record.js';
import type { RecordInput, StoredRecord } from '../../gateway/plugin-api/record.js';
import { definition as kafkaOutput } from '../../plugins/outputs/kafka/index.js';
import type { KafkaOutput } from '../../plugins/outputs/kafka/index.js';
import { definition as minioOutput } from '../../plugins/outputs/minio/index.js';
import type { MinioOutput } from '../../plugins/outputs/minio/index.js';
import { definition as mongodbOutput, recordDocument } from '../../plugins/outputs/mongodb/index.js';
import type { IdDocument } from '../../plugins/outputs/mongodb/index.js';
import { definition as postgresOutput } from '../../plugins/outputs/postgres/index.js';
import type { PostgresOutput } from '../../plugins/outputs/postgres/index.js';
import { buildRow, columnNames } from '../../plugins/outputs/postgres/rows.js';
import { definition as redisOutput, entryFields } from '../../plugins/outputs/redis/index.js';
import { parseSamples, samplesTable, toParquet } from '../../plugins/outputs/shared/columns.js';
import type { ColumnItem } from '../../plugins/outputs/shared/columns.js';
import { KAFKA, MINIO_LOCAL, MONGODB, POSTGRES, REDIS } from '../services/endpoints.js';
import { sleep } from '../support/wait.js';

const silent = pino({ level: 'silent' });
const N = Number(process.env.BENCH_RECORDS ?? 20_000);
const BATCH = 500;
const ROUNDS = 3;
const MACHINE = 'bench';

function records(n: number): RecordInput[] {
  const t0 = nowNs();
  return Array.from({ length: n }, (_, i) => {
    const body = Buffer.alloc(250 * 8);
    for (let k = 0; k < 250; k++) {
      body.writeFloatLE(Math.sin(i + k / 7), k * 8);
      body.writeFloatLE(1500 + ((i * 250 + k) % 300), k * 8 + 4);
    }
    return {
      source: 'bench',
      signal: `meltpool.${i % 4}`,
      kind: 'samples',
      class: 'internal',
      routes: ['sink'],
      build: 'JOB-B',
      layer: 1 + Math.floor(i / 1000),
      contentType: CONTENT_TYPES.samplesF32,
      receiveTimeNs: t0 + BigInt(i) * 1000n,
      sourceTimeNs: t0 + BigInt(i) * 25_000_000n,
      body,
      attributes: { channels: 'photodiode,pyrometer', sample_rate_hz: '10000', first_sample: String(i * 250) },
    };
  });
}

interface Run {
  seconds: number;
  records: number;
  bytes: number;
}

/** Commit n records, then time the forwarder from start to lag 0. Returns the records as stored. */
async function viaGateway(output: OutputPlugin, input: RecordInput[]): Promise<Run & { stored: StoredRecord[] }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-bench-out-'));
  const buffer = openBuffer({ dir, maxBytes: 2 * 1024 * 1024 * 1024, sinks: ['sink', 'copy'] }, silent);
  for (let i = 0; i < input.length; i += BATCH) buffer.append(input.slice(i, i + BATCH).map((r) => ({ ...r, routes: ['sink', 'copy'] })));
  const stored = buffer.read('copy', input.length, Number.MAX_SAFE_INTEGER);
  await output.start(outputContext('sink', buffer, silent));
  const f = new Forwarder({ buffer, output, name: 'sink', log: silent, linger: 0, batchSize: BATCH, backoff: { initialMs: 100, maxMs: 1000 } });
  const started = process.hrtime.bigint();
  f.start();
  const last = stored[stored.length - 1]!.seq;
  while (buffer.cursor('sink') < last) await sleep(5);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const stats = f.stats();
  await f.stop();
  await output.stop();
  buffer.close();
  rmSync(dir, { recursive: true, force: true });
  if (stats.failures > 0 || stats.quarantinedRecords > 0)
    throw new Error(`gateway run had ${stats.failures} failures, ${stats.quarantinedRecords} quarantined: ${stats.lastError?.message}`);
  return { seconds, records: stats.sentRecords, bytes: stats.sentBytes, stored };
}

async function timed(fn: () => Promise<number>, records: number): Promise<Run> {
  const started = process.hrtime.bigint();
  const bytes = await fn();
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, records, bytes };
}

// ---- kafka -----------------------------------------------------------------------------------

async function kafkaRound(input: RecordInput[], rawFirst: boolean): Promise<[Run, Run[]]> {
  const prefix = `lgbench${randomUUID().slice(0, 6)}`;
  const kafka = new Kafka({ clientId: 'lg-bench-raw', brokers: [...KAFKA.brokers], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const topic = `${prefix}-raw`;
  // both topics exist before the clock starts (creating one is not throughput)
  await admin.createTopics({
    topics: [
      { topic, numPartitions: 3 },
      { topic: `${prefix}.${MACHINE}.samples`, numPartitions: 3 },
    ],
    waitForLeaders: true,
  });
  await admin.disconnect();
  const out = kafkaOutput.create(kafkaOutput.configSchema.parse({ brokers: [...KAFKA.brokers], topicPrefix: prefix, topics: { partitions: 3 } }), {
    dataDir: '',
    machine: MACHINE,
  }) as KafkaOutput;
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const runRaw = (stored: StoredRecord[]) =>
    timed(async () => {
      let bytes = 0;
      for (let i = 0; i < stored.length; i += BATCH) {
        const messages: Message[] = stored.slice(i, i + BATCH).map((r) => {
          bytes += r.body!.length;
          return {
            key: r.signal,
            value: Buffer.from(encodeRecord(r)),
            headers: {
              'content-type': 'application/x-protobuf',
              'layergate-class': r.class,
              'layergate-seq': String(r.seq),
              'layergate-signal': r.signal,
              'layergate-source': r.source,
              'layergate-content-type': r.contentType,
            },
          };
        });
        await producer.sendBatch({ topicMessages: [{ topic, messages }], acks: -1 });
      }
      return bytes;
    }, stored.length);
  let raw: Run | undefined;
  if (rawFirst) raw = await runRaw(asStored(input));
  const gw = await viaGateway(out, input);
  raw ??= await runRaw(gw.stored);
  await producer.disconnect();
  return [gw, [raw]];
}

/** the records as the buffer would hand them out (for a raw run before the gateway's) */
function asStored(input: RecordInput[]): StoredRecord[] {
  return input.map((r, i) => ({ ...r, seq: i + 1 }));
}

// ---- redis -----------------------------------------------------------------------------------

async function redisRound(input: RecordInput[], rawFirst: boolean): Promise<[Run, Run[]]> {
  const prefix = `lgbench:${randomUUID().slice(0, 6)}`;
  const out = redisOutput.create(redisOutput.configSchema.parse({ url: REDIS.url, keyPrefix: prefix, maxLen: 10_000 }), { dataDir: '', machine: MACHINE });
  const client = new Redis(REDIS.url);
  await client.ping();
  const runRaw = (stored: StoredRecord[]) =>
    timed(async () => {
      let bytes = 0;
      for (let i = 0; i < stored.length; i += BATCH) {
        const tx = client.multi();
        for (const r of stored.slice(i, i + BATCH)) {
          tx.xadd(`${prefix}:raw:${r.signal}`, 'MAXLEN', '~', '10000', '*', ...entryFields(r));
          bytes += r.body!.length;
        }
        await tx.exec();
      }
      return bytes;
    }, stored.length);
  let raw: Run | undefined;
  if (rawFirst) raw = await runRaw(asStored(input));
  const gw = await viaGateway(out, input);
  raw ??= await runRaw(gw.stored);
  // leave the shared server as found
  const keys = await client.keys(`${prefix}:*`);
  if (keys.length > 0) await client.del(...keys);
  client.disconnect();
  return [gw, [raw]];
}

// ---- postgres ------------------------------------------------------------------------------

async function postgresRound(input: RecordInput[], rawFirst: boolean): Promise<[Run, Run[]]> {
  const id = randomUUID().slice(0, 6);
  const conn = {
    host: POSTGRES.host,
    port: POSTGRES.port,
    database: POSTGRES.database,
    user: POSTGRES.user,
    password: POSTGRES.password,
    tls: { ca: POSTGRES.caFile },
  };
  const make = (schema: string) =>
    postgresOutput.create(postgresOutput.configSchema.parse({ ...conn, schema }), { dataDir: '', machine: MACHINE }) as PostgresOutput;
  const out = make(`lgbench_${id}`);
  // the raw side's tables: the same migration in a schema of its own (made before the clock starts)
  const twin = make(`lgbench_raw_${id}`);
  await twin.start({ name: 'twin', log: silent, blobs: { read: async () => Buffer.alloc(0), path: () => '' } });
  await twin.stop();
  const client = new pg.Client({ ...POSTGRES, ssl: { ca: readFileSync(POSTGRES.caFile), rejectUnauthorized: true } });
  await client.connect();
  const cols = columnNames('samples')
    .map((c) => pg.escapeIdentifier(c))
    .join(', ');
  const runRaw = (stored: StoredRecord[]) =>
    timed(async () => {
      let bytes = 0;
      for (let i = 0; i < stored.length; i += BATCH) {
        const lines = stored.slice(i, i + BATCH).map((r) => {
          bytes += r.body!.length;
          return buildRow(MACHINE, r).line;
        });
        await client.query('BEGIN');
        await pipeline(Readable.from([lines.join('')]), client.query(copyFrom(`COPY ${twin.schema}.samples (${cols}) FROM STDIN`)));
        await client.query('COMMIT');
      }
      return bytes;
    }, stored.length);
  let raw: Run | undefined;
  if (rawFirst) raw = await runRaw(asStored(input));
  const gw = await viaGateway(out, input);
  raw ??= await runRaw(gw.stored);
  // leave the shared server as found
  for (const schema of [out.schema, twin.schema]) await client.query(`DROP SCHEMA ${schema} CASCADE`);
  await client.end();
  return [gw, [raw]];
}

// ---- mongodb ---------------------------------------------------------------------------------

/** machine events (what the mongodb output takes): a state, a layer every 100, a few process figures */
function eventRecords(n: number): RecordInput[] {
  const t0 = nowNs();
  return Array.from({ length: n }, (_, i) => ({
    source: 'bench',
    signal: 'machine.events',
    kind: 'event',
    class: 'internal',
    routes: ['sink'],
    build: 'JOB-B',
    layer: 1 + Math.floor(i / 100),
    contentType: CONTENT_TYPES.event,
    receiveTimeNs: t0 + BigInt(i) * 1000n,
    sourceTimeNs: t0 + BigInt(i) * 25_000_000n,
    body: Buffer.from(
      JSON.stringify({
        type: 'layer-progress',
        state: i % 7 === 0 ? 'recoating' : 'exposing',
        o2ppm: 180 + (i % 40),
        meanIntensity: 1500 + (i % 300),
        recoaterForceN: 12.5,
        i,
      }),
    ),
  }));
}

async function mongodbRound(input: RecordInput[], rawFirst: boolean): Promise<[Run, Run[]]> {
  const events = eventRecords(input.length);
  const database = `lgbench_${randomUUID().slice(0, 6)}`;
  const out = mongodbOutput.create(mongodbOutput.configSchema.parse({ url: MONGODB.url, database }), { dataDir: '', machine: MACHINE });
  const client = new MongoClient(MONGODB.url, { writeConcern: { w: 'majority', journal: true }, retryWrites: true });
  await client.connect();
  const raw = client.db(database).collection<IdDocument>('raw_events');
  const runRaw = (stored: StoredRecord[]) =>
    timed(async () => {
      let bytes = 0;
      for (let i = 0; i < stored.length; i += BATCH) {
        const docs = stored.slice(i, i + BATCH).map((r) => {
          bytes += r.body!.length;
          return recordDocument(r, MACHINE)!.doc;
        });
        await raw.insertMany(docs, { ordered: false });
      }
      return bytes;
    }, stored.length);
  let rawRun: Run | undefined;
  if (rawFirst) rawRun = await runRaw(asStored(events));
  const gw = await viaGateway(out, events);
  rawRun ??= await runRaw(gw.stored);
  // leave the shared server as found
  await client.db(database).dropDatabase();
  await client.close();
  return [gw, [rawRun]];
}

// ---- minio -----------------------------------------------------------------------------------

async function minioRound(input: RecordInput[], _rawFirst: boolean): Promise<[Run, Run[]]> {
  const bucket = `lgbench-${randomUUID().slice(0, 8)}`;
  const out = minioOutput.create(
    minioOutput.configSchema.parse({
      endPoint: MINIO_LOCAL.endPoint,
      port: MINIO_LOCAL.port,
      tls: false,
      accessKey: MINIO_LOCAL.accessKey,
      secretKey: MINIO_LOCAL.secretKey,
      bucket,
      series: { window: '1h' },
    }),
    { dataDir: '', machine: MACHINE },
  ) as MinioOutput;
  const gw = await viaGateway(out, input);
  const client = new Client({
    endPoint: MINIO_LOCAL.endPoint,
    port: MINIO_LOCAL.port,
    useSSL: false,
    accessKey: MINIO_LOCAL.accessKey,
    secretKey: MINIO_LOCAL.secretKey,
  });
  const objects: { key: string; bytes: Buffer }[] = [];
  for await (const o of client.listObjectsV2(bucket, '', true)) {
    const key = (o as { name: string }).name;
    const chunks: Buffer[] = [];
    for await (const c of await client.getObject(bucket, key)) chunks.push(c as Buffer);
    objects.push({ key, bytes: Buffer.concat(chunks) });
  }
  const rawBucket = `${bucket}-raw`;
  await client.makeBucket(rawBucket);
  const raw = await timed(async () => {
    let next = 0;
    const worker = async () => {
      while (next < objects.length) {
        const o = objects[next++]!;
        await client.putObject(rawBucket, o.key, o.bytes, o.bytes.length, { 'Content-Type': 'application/vnd.apache.parquet', 'layergate-class': 'internal' });
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    return gw.bytes;
  }, gw.records);
  const exporterBucket = `${bucket}-exp`;
  await client.makeBucket(exporterBucket);
  const exporter = await timed(async () => {
    const uploads = new Set<Promise<unknown>>();
    let n = 0;
    for (let i = 0; i < gw.stored.length; i += BATCH) {
      // the output's layout: one object per batch (table, build, date, window), rows by signal then seq
      const items: ColumnItem[] = gw.stored.slice(i, i + BATCH).map((r) => ({ record: r, body: r.body!, samples: parseSamples(r, r.body!) }));
      items.sort((x, y) => (x.record.signal < y.record.signal ? -1 : x.record.signal > y.record.signal ? 1 : x.record.seq - y.record.seq));
      const bytes = Buffer.from(toParquet(samplesTable(items, ['photodiode', 'pyrometer'], { signal: true }), { rowGroupRows: 65_536 }));
      while (uploads.size >= 4) await Promise.race(uploads);
      const p: Promise<unknown> = client
        .putObject(exporterBucket, `series/samples/date=2026-01-01/${n++}.parquet`, bytes, bytes.length, {
          'Content-Type': 'application/vnd.apache.parquet',
        })
        .finally(() => uploads.delete(p));
      uploads.add(p);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await Promise.all(uploads);
    return gw.bytes;
  }, gw.records);
  for (const b of [bucket, rawBucket, exporterBucket]) {
    const keys: string[] = [];
    for await (const o of client.listObjectsV2(b, '', true)) keys.push((o as { name: string }).name);
    await client.removeObjects(b, keys);
    await client.removeBucket(b);
  }
  return [gw, [raw, exporter]];
}

// ---- report ------------------------------------------------------------------------------------

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (x: number, d = 0) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

async function main(): Promise<void> {
  const input = records(N);
  // name, round, per raw baseline: [label, target]
  const cases: [string, (i: RecordInput[], rawFirst: boolean) => Promise<[Run, Run[]]>, [string, number | null][]][] = [
    ['kafka', kafkaRound, [['kafkajs producer', 0.8]]],
    ['redis', redisRound, [['ioredis MULTI/XADD', null]]],
    ['postgres', postgresRound, [['pg COPY of the same rows', 0.8]]],
    ['mongodb', mongodbRound, [['driver insertMany (unordered)', 0.8]]],
    [
      'minio',
      minioRound,
      [
        ['raw upload (pre-encoded)', null],
        ['raw exporter (encode + upload)', 0.8],
      ],
    ],
  ];
  // BENCH_SINKS=kafka,minio runs only those
  const only = process.env.BENCH_SINKS?.split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  if (only) cases.splice(0, cases.length, ...cases.filter(([name]) => only.includes(name)));
  // warm-up: JIT, connections, topic/bucket metadata paths
  for (const [, round] of cases) await round(records(2000), false);
  const rows: string[][] = [];
  const verdicts: string[] = [];
  for (const [name, round, baselines] of cases) {
    const gw: number[] = [];
    const raw: number[][] = baselines.map(() => []);
    const ratios: number[][] = baselines.map(() => []);
    let bytesPerRecord = 0;
    for (let i = 0; i < ROUNDS; i++) {
      // kafka and redis: raw first in odd rounds, so neither side always meets a warmer server
      const [g, rs] = await round(input, i % 2 === 1);
      gw.push(g.records / g.seconds);
      rs.forEach((r, b) => {
        raw[b]!.push(r.records / r.seconds);
        ratios[b]!.push(g.records / g.seconds / (r.records / r.seconds));
      });
      bytesPerRecord = g.bytes / g.records;
    }
    const g = median(gw);
    baselines.forEach(([label, target], b) => {
      const r = median(raw[b]!);
      const ratio = median(ratios[b]!);
      rows.push([
        name,
        fmt(g),
        fmt((g * bytesPerRecord) / 1e6, 1),
        label,
        fmt(r),
        fmt((r * bytesPerRecord) / 1e6, 1),
        fmt(ratio, 2),
        target === null ? '-' : `>= ${target}`,
      ]);
      if (target !== null) verdicts.push(`${name} vs ${label}: ${ratio >= target ? 'PASS' : 'MISS'} (ratio ${fmt(ratio, 2)}, target ${target})`);
    });
  }
  const header = ['sink', 'gateway rec/s', 'gateway MB/s', 'baseline (same library, no gateway)', 'raw rec/s', 'raw MB/s', 'ratio', 'target'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log(
    `output benchmark: ${fmt(N)} sample blocks of 2000 body bytes per round, batches of ${BATCH}, medians of ${ROUNDS} rounds (ratio paired within a round)`,
  );
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
  console.log();
  for (const v of verdicts) console.log(v);
  console.log('MB/s = record body bytes; the shared test servers run on the same (contended) machine: numbers are indicative');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
