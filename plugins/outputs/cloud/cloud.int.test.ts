/**
 * The cloud output against the harness's cloud MinIO (127.0.0.1:19010, standing in for AWS S3), fed
 * by the real on-disk buffer through the real forwarder. Each test uses its own bucket.
 *
 * What a user would check: the objects in the bucket (read back: JSON lines, Parquet through
 * apache-arrow, frame bytes by SHA-256), their class metadata and tags, the manifest and `sync
 * verify`, that sensitive/confidential records never reach the bucket, dedup of frames, and the
 * local tiers (synced copies evicted first, unsynced data never).
 */
import { randomBytes, createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Client } from 'minio';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MINIO_CLOUD } from '../../../test/services/endpoints.js';
import { waitFor } from '../../../test/support/wait.js';
import { recordingLog } from '../../../test/support/sink-harness.js';
import { openBuffer } from '../../../gateway/buffer/index.js';
import type { RecordBuffer } from '../../../gateway/buffer/types.js';
import { Forwarder } from '../../../gateway/forward/forwarder.js';
import { outputContext } from '../../../gateway/forward/output-context.js';
import { CONTENT_TYPES } from '../../../gateway/plugin-api/record.js';
import type { RecordInput, SensitivityClass, StoredRecord } from '../../../gateway/plugin-api/record.js';
import { SinkPermanentError, SyncStoreFullError } from '../../../gateway/plugin-api/errors.js';
import { readTableFile } from '../shared/table-files.js';
import { readSeriesWithPyarrow } from '../../../test/tools/pyarrow-series.js';
import { CloudOutput, cloudConfigSchema } from './index.js';

const silent = pino({ level: 'silent' });
const cloud = new Client({ ...MINIO_CLOUD });
const ENDPOINT = `http://${MINIO_CLOUD.endPoint}:${MINIO_CLOUD.port}`;

let dir: string;
let buffer: RecordBuffer | undefined;
let bucket: string;
const outputs: CloudOutput[] = [];
const forwarders: Forwarder[] = [];

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lg-cloud-'));
  bucket = `lg-cloud-${randomBytes(4).toString('hex')}`;
});

afterEach(async () => {
  await Promise.all(forwarders.splice(0).map((f) => f.stop()));
  await Promise.all(outputs.splice(0).map((o) => o.stop()));
  try {
    buffer?.close();
  } catch {
    /* closed */
  }
  buffer = undefined;
  await fs.rm(dir, { recursive: true, force: true });
  await removeBucket(bucket);
});

async function removeBucket(name: string): Promise<void> {
  if (!(await cloud.bucketExists(name).catch(() => false))) return;
  const keys = await listKeys(name, '');
  if (keys.length) await cloud.removeObjects(name, keys);
  await cloud.removeBucket(name).catch(() => undefined);
}

async function listKeys(name: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of cloud.listObjectsV2(name, prefix, true)) if ((o as { name?: string }).name) keys.push((o as { name: string }).name);
  return keys.sort();
}

async function getBytes(key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await cloud.getObject(bucket, key)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function waitForAsync(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function config(extra: Record<string, unknown> = {}) {
  return cloudConfigSchema.parse({
    endpoint: ENDPOINT,
    bucket,
    accessKey: MINIO_CLOUD.accessKey,
    secretKey: MINIO_CLOUD.secretKey,
    batchWindow: '1s',
    manifestAfter: '1s',
    retry: { initial: '50ms', max: '500ms' },
    stallTimeout: '5s',
    ...extra,
  });
}

async function startCloud(name = 'cloud', extra: Record<string, unknown> = {}, sinks = [name]): Promise<CloudOutput> {
  buffer ??= await openBuffer({ dir: path.join(dir, 'buffer'), maxBytes: 512 * 1024 * 1024, inlineMaxBytes: 4096, sinks }, silent);
  const out = new CloudOutput(config(extra), { dataDir: dir, machine: 'pbf-01' });
  await out.start(outputContext(name, buffer, silent));
  outputs.push(out);
  return out;
}

function forward(out: CloudOutput, name = 'cloud'): Forwarder {
  const f = new Forwarder({ buffer: buffer!, output: out, name, log: silent, backoff: { initialMs: 20, maxMs: 200 } });
  forwarders.push(f);
  f.start();
  return f;
}

let seqTime = BigInt(Date.now()) * 1_000_000n;
function rec(kind: RecordInput['kind'], body: Buffer, extra: Partial<RecordInput> = {}): RecordInput {
  seqTime += 1_000_000n;
  const contentType =
    kind === 'event' ? CONTENT_TYPES.event : kind === 'scalar' ? CONTENT_TYPES.scalar : kind === 'frame' ? 'image/png' : 'application/octet-stream';
  return {
    source: 'sim',
    signal: kind === 'frame' ? 'camera/powder-bed' : kind === 'event' ? 'events' : 'chamber/o2_ppm',
    kind,
    receiveTimeNs: seqTime,
    class: 'internal',
    contentType,
    body,
    build: 'B-42',
    layer: 7,
    routes: ['cloud'],
    ...extra,
  };
}

describe('cloud output', () => {
  it('syncs events (realtime), time series (Parquet per window) and frames (content-addressed, deduplicated), then writes a manifest that verifies', async () => {
    const out = await startCloud();
    const frameA = randomBytes(20_000); // spooled (above inlineMaxBytes)
    const frameB = randomBytes(9_000);
    buffer!.append([
      rec('event', Buffer.from(JSON.stringify({ type: 'layer-start', layer: 7 }))),
      rec('scalar', Buffer.from(JSON.stringify({ v: 3.5, unit: 'ppm' }))),
      rec('scalar', Buffer.from(JSON.stringify({ v: 3.7, unit: 'ppm' })), { layer: 8 }),
      rec('frame', frameA),
      rec('frame', frameB, { layer: 8 }),
      rec('frame', frameA, { layer: 9 }), // the same image again: uploaded once
      rec('event', Buffer.from(JSON.stringify({ type: 'layer-end', layer: 9 })), { layer: 9 }),
    ]);
    forward(out);
    const manifestKey = out.manifestKey('B-42');
    await waitForAsync('the manifest of build B-42', async () => (await listKeys(bucket, manifestKey)).length > 0, 30_000);
    const keys = await listKeys(bucket, '');
    const frames = keys.filter((k) => k.includes('/blobs/sha256/'));
    expect(frames).toHaveLength(2);
    const shaA = createHash('sha256').update(frameA).digest('hex');
    expect(frames).toContain(`layergate/blobs/sha256/${shaA.slice(0, 2)}/${shaA}.png`);
    expect(
      createHash('sha256')
        .update(await getBytes(`layergate/blobs/sha256/${shaA.slice(0, 2)}/${shaA}.png`))
        .digest('hex'),
    ).toBe(shaA);
    const stat = await cloud.statObject(bucket, frames[0]!);
    expect(stat.metaData['layergate-class']).toBe('internal');
    const tags = await cloud.getObjectTagging(bucket, frames[0]!);
    expect(tags).toEqual(expect.arrayContaining([expect.objectContaining({ Key: 'layergate-class', Value: 'internal' })]));

    const realtime = keys.filter((k) => k.includes('/realtime/'));
    const events = (
      await Promise.all(
        realtime.map(async (k) =>
          gunzipSync(await getBytes(k))
            .toString('utf8')
            .trim()
            .split('\n'),
        ),
      )
    )
      .flat()
      .map((l) => JSON.parse(l) as { body: string; class: string });
    expect(events.map((e) => JSON.parse(Buffer.from(e.body, 'base64').toString('utf8')).type)).toEqual(['layer-start', 'layer-end']);

    const parquetKeys = keys.filter((k) => k.endsWith('.parquet'));
    expect(parquetKeys.length).toBe(1);
    expect(parquetKeys[0]).toMatch(/^layergate\/machine=pbf-01\/build=B-42\/timeseries\/scalars\/date=\d{4}-\d{2}-\d{2}\/part-\d{16}-\d{16}\.parquet$/);
    const local = path.join(dir, 'scalars.parquet');
    await fs.writeFile(local, await getBytes(parquetKeys[0]!));
    const table = await readTableFile(local);
    expect(table.numRows).toBe(2);
    expect(table.getChild('value')!.toArray()).toEqual(new Float64Array([3.5, 3.7]));
    expect(table.getChild('signal')!.toArray()).toEqual(['chamber/o2_ppm', 'chamber/o2_ppm']);
    // its two scalars are of layers 7 and 8: the metadata says both, as the seq range does
    const seriesMeta = (await cloud.statObject(bucket, parquetKeys[0]!)).metaData;
    expect(seriesMeta['layergate-layer']).toBe('7-8');
    expect(seriesMeta['layergate-seq']).toMatch(/^\d+-\d+$/);

    const manifest = JSON.parse((await getBytes(manifestKey)).toString('utf8')) as {
      build: string;
      records: number;
      layerRange: number[];
      entries: { key: string; size: number; sha256: string; class: string }[];
    };
    expect(manifest.build).toBe('B-42');
    expect(manifest.records).toBe(7);
    expect(manifest.layerRange).toEqual([7, 9]);
    expect(manifest.entries.map((e) => e.key).sort()).toEqual(keys.filter((k) => k !== manifestKey).sort());
    for (const e of manifest.entries) {
      expect(
        createHash('sha256')
          .update(await getBytes(e.key))
          .digest('hex'),
      ).toBe(e.sha256);
    }
    const up = out.syncUploader!.stats();
    expect(up.objectsSynced + up.objectsDeduplicated).toBe(manifest.entries.length);
  });

  it('a wrong secret key: uploads are retried and logged at error with what to fix, nothing quarantined or lost; with the right key everything is uploaded', async () => {
    const { log, lines } = recordingLog();
    buffer = await openBuffer({ dir: path.join(dir, 'buffer'), maxBytes: 512 * 1024 * 1024, inlineMaxBytes: 4096, sinks: ['cloud'] }, silent);
    const wrong = new CloudOutput(config({ secretKey: 'not-the-secret-key' }), { dataDir: dir, machine: 'pbf-01' });
    await wrong.start(outputContext('cloud', buffer, log));
    outputs.push(wrong);
    buffer.append([
      rec('event', Buffer.from(JSON.stringify({ type: 'layer-start', layer: 7 }))),
      rec('scalar', Buffer.from(JSON.stringify({ v: 3.5, unit: 'ppm' }))),
      rec('event', Buffer.from(JSON.stringify({ type: 'layer-end', layer: 7 }))),
    ]);
    const f = forward(wrong);
    await waitFor('upload retries', () => (wrong.stats().uploader?.failures ?? 0) >= 3 || undefined, 30_000);
    expect(f.stats()).toMatchObject({ quarantinedRecords: 0, permanentFailures: 0 });
    const errors = lines.filter((l) => l.level === 50 && l.component === 'uploader');
    // once, not at every retry (at most once a minute)
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ reason: 'not-authorized' });
    expect(String(errors[0]!.action)).toContain('secretKey');
    expect(await cloud.bucketExists(bucket)).toBe(false);
    // the corrected config (a restart with the right key) uploads what was queued locally
    await f.stop();
    await wrong.stop();
    const right = await startCloud();
    forward(right);
    await waitForAsync('the manifest of build B-42', async () => (await listKeys(bucket, right.manifestKey('B-42'))).length > 0, 30_000);
    expect(right.syncStore!.progress().queued.objects).toBe(0);
    // every record of the three is there: the events in the realtime object, the scalar in its table
    const keys = await listKeys(bucket, 'layergate/machine=pbf-01/build=B-42/');
    expect(keys.filter((k) => k.includes('/realtime/'))).toEqual([
      'layergate/machine=pbf-01/build=B-42/realtime/part-0000000000000001-0000000000000003.jsonl.gz',
    ]);
    expect(keys.filter((k) => k.includes('/timeseries/scalars/'))).toHaveLength(1);
  });

  it('refuses sensitive and confidential records even when a broken route sends them: counted, quarantined by the forwarder, never in the bucket', async () => {
    const out = await startCloud();
    const marker = `secret-${randomBytes(6).toString('hex')}`;
    const classes: SensitivityClass[] = ['public', 'sensitive', 'internal', 'confidential'];
    // the buffer routes whatever it is told: this is the broken router
    buffer!.append(classes.map((c) => rec('event', Buffer.from(JSON.stringify({ type: 'note', text: `${c}:${marker}` })), { class: c })));
    buffer!.append([rec('frame', Buffer.from(`${marker}-confidential-frame`), { class: 'confidential' })]);
    const f = forward(out);
    await waitFor('the batches to be handled', () => f.stats().cursor >= 5 || undefined, 20_000);
    await waitFor(
      'the realtime object to be synced',
      () => (out.syncStore!.progress().synced.objects >= 1 && out.syncStore!.progress().queued.objects === 0) || undefined,
      20_000,
    );
    // (the forwarder refuses them too, before send: enforcement in depth; below, the output's own check)
    const keys = await listKeys(bucket, '');
    expect(keys.some((k) => k.includes('/blobs/'))).toBe(false);
    let all = '';
    for (const k of keys) all += k.endsWith('.gz') ? gunzipSync(await getBytes(k)).toString('utf8') : (await getBytes(k)).toString('utf8');
    const bodies = all
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => Buffer.from((JSON.parse(l) as { body: string }).body, 'base64').toString('utf8'));
    expect(bodies.join('\n')).toContain(`public:${marker}`);
    expect(bodies.join('\n')).toContain(`internal:${marker}`);
    expect(bodies.join('\n')).not.toContain(`sensitive:${marker}`);
    expect(bodies.join('\n')).not.toContain(`confidential:${marker}`);

    // handed to the output directly (a broken router or forwarder): the output refuses them itself, a
    // permanent error naming exactly the refused seqs, while the allowed record of the batch is queued
    const refusedBefore = out.syncStore!.progress().refused;
    expect(refusedBefore).toEqual([]);
    const err = await out
      .send([
        { ...rec('event', Buffer.from(`{"type":"x","text":"sensitive:${marker}"}`), { class: 'sensitive' }), seq: 97 },
        { ...rec('event', Buffer.from('{"type":"ok"}'), { class: 'public' }), seq: 98 },
        { ...rec('frame', Buffer.from(`confidential:${marker}`), { class: 'confidential' }), seq: 99 },
      ])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkPermanentError);
    expect((err as SinkPermanentError).seqs).toEqual([97, 99]);
    expect((err as SinkPermanentError).reason).toBe('off-premises');
    expect(out.stats().refused).toEqual({ sensitive: 1, confidential: 1 });
    expect(out.syncStore!.progress().refused).toEqual([
      { class: 'sensitive', records: 1 },
      { class: 'confidential', records: 1 },
    ]);
    await waitFor(
      'the public record synced',
      () => (out.syncStore!.progress().queued.objects === 0 && out.syncStore!.progress().synced.objects >= 2) || undefined,
      20_000,
    );
    const after = await listKeys(bucket, '');
    expect(after.some((k) => k.includes('/blobs/'))).toBe(false);
    let text = '';
    for (const k of after) text += gunzipSync(await getBytes(k)).toString('utf8');
    for (const line of text.trim().split('\n')) {
      const r = JSON.parse(line) as { class: string; body: string };
      expect(['public', 'internal']).toContain(r.class);
      expect(Buffer.from(r.body, 'base64').toString('utf8')).not.toMatch(/^(sensitive|confidential):|"text":"(sensitive|confidential):/);
    }
    expect(text).toContain(Buffer.from('{"type":"ok"}').toString('base64'));
  });

  it('keeps synced data local as evictable and evicts it first; data not yet in the cloud is never evicted (the store refuses instead)', async () => {
    const out = await startCloud('cloud', { modes: { frame: 'continuous' }, local: { maxBytes: 300_000 } });
    const store = out.syncStore!;
    const send = (n: number) => out.send([{ ...rec('frame', randomBytes(n)), seq: ++seqCounter }]);
    let seqCounter = 1000;
    await send(100_000);
    await send(100_000);
    await waitFor('two synced frames', () => store.progress().synced.objects === 2 || undefined, 20_000);
    expect(store.progress().local).toMatchObject({ objects: 2, bytes: 200_000, syncedBytes: 200_000 });

    // no uploads from here: what comes now stays unsynced
    out.syncUploader!.pause();
    await send(100_000); // fits: 300,000
    await send(100_000); // needs room: the oldest synced copy goes
    let objs = store.objects();
    expect(objs.map((o) => [o.state, o.local])).toEqual([
      ['synced', false],
      ['synced', true],
      ['queued', true],
      ['queued', true],
    ]);
    await send(100_000); // the second synced copy goes
    objs = store.objects();
    expect(objs.filter((o) => o.local).every((o) => o.state === 'queued')).toBe(true);
    expect(objs.filter((o) => o.state === 'queued')).toHaveLength(3);
    // only unsynced data left: refused (the records stay in the buffer), nothing evicted
    await expect(send(100_000)).rejects.toBeInstanceOf(SyncStoreFullError);
    expect(store.objects().filter((o) => o.state === 'queued' && o.local)).toHaveLength(3);
    for (const o of store.objects().filter((x) => x.local)) expect(store.localFileSize(o.file)).toBe(o.size);

    // once uploaded they become evictable too
    out.syncUploader!.resume();
    await waitFor('all synced', () => store.progress().queued.objects === 0 || undefined, 20_000);
    await send(100_000);
    expect(store.progress().local.syncedBytes).toBeGreaterThan(0);
  });

  it('resumes a multipart upload after a pause from the last confirmed part; no confirmed part is sent again', async () => {
    const out = await startCloud('cloud', { partSize: '5MiB', bandwidth: { cap: '80Mbit', adaptive: false } });
    const store = out.syncStore!;
    const body = randomBytes(21 * 1024 * 1024); // 5 parts
    await out.send([{ ...rec('document', body), seq: 1 }]);
    await waitFor('two confirmed parts', () => store.partLog().filter((p) => p.event === 'confirmed').length >= 2 || undefined, 30_000, 20);
    out.syncUploader!.pause();
    const confirmedAtPause = store
      .partLog()
      .filter((p) => p.event === 'confirmed')
      .map((p) => p.part);
    await new Promise((r) => setTimeout(r, 1500));
    out.syncUploader!.resume();
    await waitFor('the object synced', () => store.progress().synced.objects === 1 || undefined, 60_000);
    const log = store.partLog();
    for (const part of confirmedAtPause) {
      const i = log.findIndex((p) => p.part === part && p.event === 'confirmed');
      expect(log.slice(i + 1).some((p) => p.part === part && p.event === 'send')).toBe(false);
    }
    expect(
      log
        .filter((p) => p.event === 'confirmed')
        .map((p) => p.part)
        .sort(),
    ).toEqual([1, 2, 3, 4, 5]);
    const key = store.objects()[0]!.key;
    const sha = createHash('sha256')
      .update(await getBytes(key))
      .digest('hex');
    expect(sha).toBe(createHash('sha256').update(body).digest('hex'));
  });
  it('gives objects whose records are older than coldAfter the colder storage class on upload', async () => {
    const out = await startCloud('cloud', { coldStorageClass: 'REDUCED_REDUNDANCY', coldAfter: '1d' });
    const old = { ...rec('document', randomBytes(2000)), seq: 1, receiveTimeNs: BigInt(Date.now() - 2 * 86_400_000) * 1_000_000n };
    const fresh = { ...rec('document', randomBytes(2000)), seq: 2, receiveTimeNs: BigInt(Date.now()) * 1_000_000n };
    await out.send([old, fresh]);
    await waitFor('both synced', () => out.syncStore!.progress().synced.objects === 2 || undefined, 20_000);
    const byTime = out.syncStore!.objects().sort((a, b) => Number(a.recordTimeNs - b.recordTimeNs));
    const oldStat = await cloud.statObject(bucket, byTime[0]!.key);
    const freshStat = await cloud.statObject(bucket, byTime[1]!.key);
    expect(oldStat.metaData['x-amz-storage-class']).toBe('REDUCED_REDUNDANCY');
    expect(freshStat.metaData['x-amz-storage-class']).toBeUndefined();
  });
  it('does not upload bytes the cloud already has, even from another gateway (HEAD by content hash)', async () => {
    const a = await startCloud('cloud');
    const frame = randomBytes(50_000);
    await a.send([{ ...rec('frame', frame), seq: 1 }]);
    await waitFor('synced by the first gateway', () => a.syncStore!.progress().synced.objects === 1 || undefined, 20_000);
    const b = await startCloud('cloud-b');
    await b.send([{ ...rec('frame', frame, { layer: 12 }), seq: 500 }]);
    await waitFor('synced by the second gateway', () => b.syncStore!.progress().synced.objects === 1 || undefined, 20_000);
    expect(b.syncUploader!.stats()).toMatchObject({ objectsDeduplicated: 1, objectsSynced: 0, sentBytes: 0 });
    expect((await listKeys(bucket, 'layergate/blobs/')).length).toBe(1);
  });

  it('compacts a window larger than one chunk into several objects, every record once, never more than a chunk held; a failed chunk leaves exactly its rows staged', async () => {
    const out = await startCloud('cloud', { batchWindow: '1h', compaction: { maxRecords: 1000 } });
    out.syncUploader!.pause();
    const store = out.syncStore!;
    // 3,500 scalars of 50 signals and 30 samples blocks of one build, all in one window that has not
    // closed yet (receive times ahead of the clock): only the forced flushes below compact it
    const t0 = BigInt(Date.UTC(2099, 0, 15, 8, 0, 0)) * 1_000_000n;
    const batch: StoredRecord[] = [];
    for (let i = 0; i < 3530; i++) {
      const samples = i % 117 === 116;
      batch.push({
        ...rec(samples ? 'samples' : 'scalar', samples ? Buffer.alloc(4 * 2 * 10, 1) : Buffer.from(JSON.stringify({ v: i }))),
        seq: i + 1,
        signal: samples ? 'meltpool/block' : `axis/s${String(i % 50).padStart(2, '0')}`,
        receiveTimeNs: t0 + BigInt(i) * 1_000_000n,
        ...(samples ? { contentType: CONTENT_TYPES.samplesF32, attributes: { channels: 'a,b', sample_rate_hz: '1000' } } : {}),
      });
    }
    for (let i = 0; i < batch.length; i += 500) await out.send(batch.slice(i, i + 500));
    expect(out.stats().stagedRecords).toBe(3530);

    // the second chunk's commit fails (a crash of the compaction): the first chunk's objects are queued
    // with exactly its rows unstaged, the rest stays staged, nothing of the second chunk is queued
    const enqueue = store.enqueue.bind(store);
    let calls = 0;
    store.enqueue = (b) => {
      if (b.unstage && ++calls === 2) throw new Error('compaction interrupted');
      enqueue(b);
    };
    await out.flushStaged(true);
    expect(out.stats().stagedRecords).toBe(3530 - 1000);
    const afterFirst = store.objects();
    expect(afterFirst.map((o) => o.key)).toEqual([
      expect.stringMatching(/\/timeseries\/scalars\/date=2099-01-15\/part-0{15}1-0000000000001000\.parquet$/),
      expect.stringMatching(/\/timeseries\/samples\/date=2099-01-15\/part-0000000000000117-0000000000000936-[0-9a-f]{8}\.parquet$/),
    ]);
    store.enqueue = enqueue;
    await out.flushStaged(true);
    expect(out.stats().stagedRecords).toBe(0);

    const objects = store.objects();
    const scalarKeys = objects.filter((o) => o.key.includes('/scalars/')).map((o) => o.key);
    const sampleKeys = objects.filter((o) => o.key.includes('/samples/')).map((o) => o.key);
    expect(scalarKeys).toHaveLength(4);
    expect(sampleKeys).toHaveLength(4);
    const compaction = out.stats().compaction!;
    expect(compaction).toMatchObject({ chunks: 5, largestChunkRecords: 1000 });
    expect(compaction.records).toBe(3530 + 1000); // the interrupted chunk was read twice
    // each object holds one chunk's rows, chunks are consecutive seq ranges, every record exactly once
    const seen = new Map<number, string>();
    let previousLast = 0;
    for (const o of objects.filter((x) => x.key.includes('/scalars/'))) {
      const file = path.join(dir, 'chunk.parquet');
      await fs.copyFile(store.filePath(o.file), file);
      const table = await readTableFile(file);
      expect(table.numRows).toBeLessThanOrEqual(1000);
      const seqs = Array.from(table.getChild('seq')!.toArray() as BigInt64Array, Number);
      const signals = table.getChild('signal')!.toArray() as string[];
      const values = table.getChild('value')!.toArray() as Float64Array;
      expect(Math.min(...seqs)).toBeGreaterThan(previousLast);
      previousLast = Math.max(...seqs);
      const order = seqs.map((seq, i) => `${signals[i]}\u0000${String(seq).padStart(16, '0')}`);
      expect(order).toEqual([...order].sort());
      seqs.forEach((seq, i) => {
        expect(seen.has(seq)).toBe(false);
        seen.set(seq, signals[i]!);
        expect(values[i]).toBe(seq - 1);
      });
    }
    for (const o of objects.filter((x) => x.key.includes('/samples/'))) {
      const file = path.join(dir, 'chunk.parquet');
      await fs.copyFile(store.filePath(o.file), file);
      const table = await readTableFile(file);
      for (const seq of new Set(Array.from(table.getChild('seq')!.toArray() as BigInt64Array, Number))) {
        expect(seen.has(seq)).toBe(false);
        seen.set(seq, 'meltpool/block');
      }
    }
    expect(seen.size).toBe(3530);
    for (const r of batch) expect(seen.get(r.seq)).toBe(r.signal);

    // uploaded, they are what the bucket holds, and pyarrow reads them as one Hive-partitioned dataset per table
    out.syncUploader!.resume();
    await waitFor('all synced', () => out.syncStore!.progress().queued.objects === 0 || undefined, 30_000);
    const root = path.join(dir, 'bucket');
    for (const key of await listKeys(bucket, 'layergate/')) {
      const file = path.join(root, key);
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.writeFile(file, await getBytes(key));
    }
    const dump = await readSeriesWithPyarrow(root, 'axis/s07');
    expect(dump.datasets.scalars).toMatchObject({
      rows: 3500,
      files: 4,
      rows_of_signal: batch.filter((r) => r.signal === 'axis/s07').length,
      partitions: [{ machine: 'pbf-01', build: 'B-42', date: '2099-01-15' }],
    });
    expect(dump.datasets.samples!.rows).toBe(30 * 10);
  }, 120_000);

  it('rejects a bad config with messages naming the key', () => {
    const bad = cloudConfigSchema.safeParse({
      endpoint: 'not a url',
      bucket,
      partSize: '1MiB',
      bandwidth: { cap: '20 furlongs', schedule: [{ from: '25:00', to: '06:00', cap: '1Mbit' }] },
      modes: { frame: 'sometimes' },
    });
    expect(bad.success).toBe(false);
    const issues = bad.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^endpoint: /),
        'partSize: expected at least 5MiB (the S3 minimum part size)',
        'bandwidth.cap: expected a bit rate like 20Mbit, 800kbit or unlimited, got "20 furlongs"',
        'bandwidth.schedule.0.from: expected a local time "HH:MM"',
        expect.stringMatching(/^modes\.frame: /),
      ]),
    );
  });
  it('writes the manifest as soon as the machine reports the build finished and its data is in the cloud', async () => {
    const out = await startCloud('cloud', { manifestAfter: '1h', batchWindow: '1h' });
    await out.send([
      { ...rec('scalar', Buffer.from('{"v":1.5}'), { build: 'B-77' }), seq: 1 },
      { ...rec('scalar', Buffer.from('{"v":1.6}'), { build: 'B-77' }), seq: 2 },
    ]);
    expect(out.syncStore!.progress().staged.records).toBe(2); // waiting for its (1 h) window
    await out.send([
      {
        ...rec('event', Buffer.from(JSON.stringify({ type: 'machine_state', state: 'finished', previous: 'exposing' })), {
          build: 'B-77',
          signal: 'machine.state',
        }),
        seq: 3,
      },
    ]);
    const key = out.manifestKey('B-77');
    await waitForAsync('the manifest of B-77', async () => (await listKeys(bucket, key)).length === 1, 20_000);
    const manifest = JSON.parse((await getBytes(key)).toString('utf8')) as { records: number; entries: { key: string }[] };
    expect(manifest.records).toBe(3);
    expect(manifest.entries.some((e) => e.key.endsWith('.parquet'))).toBe(true);
    expect(manifest.entries.some((e) => e.key.includes('/realtime/'))).toBe(true);
  });
});
