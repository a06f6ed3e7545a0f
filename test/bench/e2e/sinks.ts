/**
 * What arrived at each sink, counted at the sink itself (not from the gateway's own figures), and the
 * cleanup of everything a case wrote on the shared servers:
 *   lake:  distinct record seqs in the lake's table files (read back with the table reader the
 *          outputs share, plugins/outputs/shared/table-files.ts), and the lake's bytes on disk;
 *   kafka: records in the case's topics, read back (a grouped message counts the records it holds);
 *   redis: entries in the case's streams (XLEN, summed; streams are trimmed at 100,000 each);
 *   minio, cloud: objects and bytes in the case's bucket (objects hold many records each).
 * Also the check that the servers the chosen sinks need are up, with a message saying how to start them.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'minio';
import { readTableFile } from '../../../plugins/outputs/shared/table-files.js';
import { HOST, KAFKA, MINIO_CLOUD, MINIO_LOCAL, MQTT, REDIS } from '../../services/endpoints.js';
import type { CaseNames } from './config.js';
import type { SinkName } from './workloads.js';

export interface SinkCount {
  /** what `count` counts: records, messages, entries, objects */
  unit: 'records' | 'entries' | 'objects';
  count: number;
  bytes: number;
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

export async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for (const f of await walk(dir)) n += (await fs.stat(f).catch(() => ({ size: 0 }))).size;
  return n;
}

async function countLake(dataDir: string): Promise<SinkCount> {
  const root = path.join(dataDir, 'lake');
  const seqs = new Set<number>();
  for (const table of ['scalars', 'samples', 'events', 'raw', 'frames']) {
    for (const f of await walk(path.join(root, table))) {
      if (!/\.(arrow|parquet)$/.test(f)) continue;
      const t = await readTableFile(f);
      const col = t.getChild('seq');
      if (!col) continue;
      for (const v of col.toArray() as BigInt64Array) seqs.add(Number(v));
    }
  }
  return { unit: 'records', count: seqs.size, bytes: await dirBytes(root) };
}

function kafkaClient(): Kafka {
  return new Kafka({ clientId: 'lg-bench-e2e', brokers: [...KAFKA.brokers], logLevel: logLevel.NOTHING });
}

async function kafkaTopics(prefix: string): Promise<string[]> {
  const admin = kafkaClient().admin();
  await admin.connect();
  try {
    return (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`) || t.startsWith(`${prefix}-`));
  } finally {
    await admin.disconnect();
  }
}

/**
 * Records in the topics of this prefix, read back: every message from the low to the high watermark
 * of each partition; a grouped message (`layergate-records` header) counts the records it holds, any
 * other message one.
 */
export async function kafkaRecords(prefix: string, timeoutMs = 120_000): Promise<number> {
  const kafka = kafkaClient();
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<string, number>();
  let expected = 0;
  let topics: string[];
  try {
    topics = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`));
    for (const topic of topics) {
      for (const p of await admin.fetchTopicOffsets(topic)) {
        if (Number(p.high) > Number(p.low)) ends.set(`${topic}/${p.partition}`, Number(p.high));
        expected += Number(p.high) - Number(p.low);
      }
    }
  } finally {
    await admin.disconnect();
  }
  if (expected === 0) return 0;
  const consumer = kafka.consumer({ groupId: `lg-bench-count-${randomBytes(4).toString('hex')}`, maxBytes: 50 * 1024 * 1024 });
  let records = 0;
  let messages = 0;
  await consumer.connect();
  try {
    for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          if (Number(m.offset) >= (ends.get(`${batch.topic}/${batch.partition}`) ?? 0)) continue;
          const grouped = m.headers?.['layergate-records'];
          records += grouped === undefined ? 1 : Number(String(grouped));
          messages++;
        }
      },
    });
    const by = Date.now() + timeoutMs;
    while (messages < expected && Date.now() < by) await new Promise((r) => setTimeout(r, 100));
    if (messages < expected) throw new Error(`kafka: read ${messages} of ${expected} messages of ${prefix}.* in ${timeoutMs / 1000} s`);
  } finally {
    await consumer.disconnect();
  }
  return records;
}

async function scanKeys(client: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

async function countRedis(prefix: string): Promise<SinkCount> {
  const client = new Redis(REDIS.url, { lazyConnect: true });
  await client.connect();
  try {
    const keys = await scanKeys(client, `${prefix}:*:stream:*`);
    let n = 0;
    let bytes = 0;
    for (const k of keys) {
      n += await client.xlen(k);
      bytes += Number((await client.memory('USAGE', k)) ?? 0);
    }
    return { unit: 'entries', count: n, bytes };
  } finally {
    client.disconnect();
  }
}

function s3(sink: 'minio' | 'cloud'): Client {
  const s = sink === 'minio' ? MINIO_LOCAL : MINIO_CLOUD;
  return new Client({ endPoint: s.endPoint, port: s.port, useSSL: false, accessKey: s.accessKey, secretKey: s.secretKey });
}

async function listObjects(client: Client, bucket: string): Promise<{ name: string; size: number }[]> {
  if (!(await client.bucketExists(bucket).catch(() => false))) return [];
  const out: { name: string; size: number }[] = [];
  for await (const o of client.listObjectsV2(bucket, '', true)) out.push({ name: (o as { name: string }).name, size: (o as { size: number }).size });
  return out;
}

export async function countAtSink(sink: SinkName, names: CaseNames, dataDir: string): Promise<SinkCount> {
  switch (sink) {
    case 'lake':
      return countLake(dataDir);
    case 'kafka':
      return { unit: 'records', count: await kafkaRecords(names.kafkaPrefix), bytes: 0 };
    case 'redis':
      return countRedis(names.redisPrefix);
    case 'minio':
    case 'cloud': {
      const objects = await listObjects(s3(sink), names.bucket);
      return { unit: 'objects', count: objects.length, bytes: objects.reduce((n, o) => n + o.size, 0) };
    }
  }
}

/** Remove what the case wrote on the shared servers: topics, keys, buckets (its temp folder is the caller's). */
export async function cleanupSink(sink: SinkName, names: CaseNames): Promise<void> {
  switch (sink) {
    case 'lake':
      return;
    case 'kafka':
      return deleteKafkaTopics(names.kafkaPrefix);
    case 'redis':
      return deleteRedisKeys(names.redisPrefix);
    case 'minio':
    case 'cloud':
      return deleteBucket(s3(sink), names.bucket);
  }
}

export async function deleteKafkaTopics(prefix: string): Promise<void> {
  const topics = await kafkaTopics(prefix);
  if (topics.length === 0) return;
  const admin = kafkaClient().admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics, timeout: 30_000 });
  } finally {
    await admin.disconnect();
  }
}

export async function deleteRedisKeys(prefix: string): Promise<void> {
  const client = new Redis(REDIS.url, { lazyConnect: true });
  await client.connect();
  try {
    const keys = await scanKeys(client, `${prefix}:*`);
    for (let i = 0; i < keys.length; i += 500) await client.del(...keys.slice(i, i + 500));
  } finally {
    client.disconnect();
  }
}

export async function deleteBucket(client: Client, bucket: string): Promise<void> {
  if (!(await client.bucketExists(bucket).catch(() => false))) return;
  const names = (await listObjects(client, bucket)).map((o) => o.name);
  for (let i = 0; i < names.length; i += 1000) await client.removeObjects(bucket, names.slice(i, i + 1000));
  await client.removeBucket(bucket);
}

export function s3For(sink: 'minio' | 'cloud'): Client {
  return s3(sink);
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, HOST);
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(2000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** The servers the run needs that do not answer on their port (empty: all up). */
export async function serversDown(sinks: readonly SinkName[], needMqtt: boolean): Promise<string[]> {
  const need: [string, number][] = [];
  if (needMqtt) need.push(['mosquitto', MQTT.port]);
  if (sinks.includes('kafka')) need.push(['kafka', Number(KAFKA.brokers[0]!.split(':')[1])]);
  if (sinks.includes('redis')) need.push(['redis', REDIS.port]);
  if (sinks.includes('minio')) need.push(['minio-local', MINIO_LOCAL.port]);
  if (sinks.includes('cloud')) need.push(['minio-cloud', MINIO_CLOUD.port]);
  const down: string[] = [];
  for (const [name, port] of need) if (!(await portOpen(port))) down.push(`${name} (${HOST}:${port})`);
  return down;
}
