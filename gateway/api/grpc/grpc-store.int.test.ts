/**
 * Store through the gRPC API into real object stores (the harness's two MinIO servers), as plant
 * software would use it with the package's own client (client/):
 * - a 200 MB file sent by client-streaming StoreStream with its size and SHA-256 in the header, routed
 *   by its access pattern (`archive` -> the plant MinIO only), arrives in the plant bucket byte for
 *   byte (hashed as it streams back) and never in the file lake beside it;
 * - a real Parquet table stored for `ml_training` goes to the plant MinIO and, synced by the cloud
 *   output, to the cloud bucket when its class may leave the premises (internal); the same kind of
 *   table asked to be sensitive goes to the plant MinIO only and is never in the cloud bucket.
 */
import { createCipheriv, createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { tableFromArrays, tableFromIPC, tableToIPC } from 'apache-arrow';
import { Client } from 'minio';
import * as parquet from 'parquet-wasm';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LayerGateClient } from '../../../client/index.js';
import { readTableFile } from '../../../plugins/outputs/shared/table-files.js';
import { MINIO_CLOUD, MINIO_LOCAL } from '../../../test/services/endpoints.js';
import { waitFor } from '../../../test/support/wait.js';
import type { StoreHeader } from '../../../wire/generated/grpc/layergate/v1/StoreHeader.js';
import type { StoreResult__Output } from '../../../wire/generated/grpc/layergate/v1/StoreResult.js';
import { type GatewayApiRig, startGatewayApi } from '../test-support/gateway-api-rig.js';
import { grpcClient } from './test-support/grpc-rig.js';

const plant = new Client({ ...MINIO_LOCAL });
const cloud = new Client({ ...MINIO_CLOUD });

/** buckets this file made on either server, removed with their objects after it */
const buckets: { client: Client; name: string }[] = [];
const bucket = (client: Client, prefix: string): string => {
  const name = `${prefix}-${randomUUID().slice(0, 12)}`;
  buckets.push({ client, name });
  return name;
};

let rig: GatewayApiRig | undefined;
let dir: string;
const clients: LayerGateClient[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'lg-grpc-store-'));
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await rig?.stop();
  rig = undefined;
  rmSync(dir, { recursive: true, force: true });
});

afterAll(async () => {
  for (const { client, name } of buckets) {
    if (!(await client.bucketExists(name).catch(() => false))) continue;
    const keys = await keysOf(client, name);
    if (keys.length) await client.removeObjects(name, keys);
    await client.removeBucket(name);
  }
});

async function keysOf(client: Client, name: string): Promise<string[]> {
  if (!(await client.bucketExists(name).catch(() => false))) return [];
  const keys: string[] = [];
  for await (const o of client.listObjectsV2(name, '', true)) keys.push((o as { name: string }).name);
  return keys.sort();
}

/** SHA-256 of an object, hashed as it streams in (a 200 MB object is never held whole) */
async function objectSha256(client: Client, name: string, key: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of await client.getObject(name, key)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}

async function objectBytes(client: Client, name: string, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await client.getObject(name, key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** a gateway of the test's outputs and routing, with its API; no inputs but the API's own (`grpc`) */
async function startGateway(outputs: Record<string, unknown>, routing: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<GatewayApiRig> {
  rig = await startGatewayApi(path.join(dir, 'layergate.json'), {
    gateway: { dataDir: path.join(dir, 'data'), machine: 'pbf-01', shutdownGraceMs: 2000 },
    // no input but the API: every record in the buffer is one this test stored
    inputs: {},
    outputs,
    routing,
    ...extra,
  });
  return rig;
}

function operator(r: GatewayApiRig): LayerGateClient {
  const c = grpcClient(r, { role: 'operator' });
  clients.push(c);
  return c;
}

/** the plant MinIO as the `minio` output (plain HTTP on loopback), short linger so a test does not wait 10 s */
const plantOutput = (name: string) => ({
  type: 'minio',
  endPoint: MINIO_LOCAL.endPoint,
  port: MINIO_LOCAL.port,
  tls: false,
  accessKey: MINIO_LOCAL.accessKey,
  secretKey: MINIO_LOCAL.secretKey,
  bucket: name,
  linger: '100ms',
});

/** the minio output's key of a document record (plugins/outputs/minio/README.md, "Object keys") */
const documentKey = (o: { build: string; signal: string; seq: string; ext: string }) =>
  `objects/machine=pbf-01/build=${o.build}/layer=__HIVE_DEFAULT_PARTITION__/signal=${o.signal.replace('/', '%2F')}/${o.seq.padStart(16, '0')}.${o.ext}`;

/** the forwarder of `sink` has acked every record up to `seq` */
const delivered = (r: GatewayApiRig, sink: string, seq: number) => (r.gateway.stats().forwarders.find((f) => f.sink === sink)?.cursor ?? 0) >= seq;

describe('Store into the plant MinIO', () => {
  it('a 200 MB file stored through client-streaming Store arrives intact in the plant MinIO, routed by its access pattern', async () => {
    const plantBucket = bucket(plant, 'lg-grpc-archive');
    const r = await startGateway(
      {
        minio: plantOutput(plantBucket),
        lake: { type: 'file-lake', path: path.join(dir, 'lake'), linger: '100ms', compactWindow: 0 },
      },
      {
        rules: [
          { name: 'archive', accessPatterns: ['archive'], must: ['minio'] },
          { name: 'analysis', accessPatterns: ['realtime', 'batch', 'ml_training', 'research'], must: ['lake'] },
        ],
        unmatched: 'none',
      },
      // 200 MB is far below both defaults (1 GiB each); stated so the test says what it relies on
      { buffer: { maxBytes: '1GiB' }, api: { grpc: { maxStoreBytes: '1GiB' } } },
    );
    const op = operator(r);

    // 200 MiB and a partial last chunk of random bytes: an AES-256-CTR keystream of a random key, made
    // 1 MiB at a time, once to hash it (the header states size and SHA-256 before the data) and once to
    // send it. The client never holds 200 MB; the gateway, in this same process, holds its own copy.
    const SIZE = 200 * 1024 * 1024 + 4321;
    const CHUNK = 1024 * 1024;
    const key = randomBytes(32);
    const iv = randomBytes(16);
    function* chunks(): Generator<Buffer> {
      const stream = createCipheriv('aes-256-ctr', key, iv);
      const zeros = Buffer.alloc(CHUNK);
      for (let left = SIZE; left > 0; left -= CHUNK) yield stream.update(left >= CHUNK ? zeros : zeros.subarray(0, left));
    }
    const hash = createHash('sha256');
    for (const c of chunks()) hash.update(c);
    const sent = hash.digest('hex');

    const header: StoreHeader = {
      dataType: 'DATA_TYPE_FILE',
      contentType: 'application/octet-stream',
      accessPattern: 'ACCESS_PATTERN_ARCHIVE',
      signal: 'ct/scan-0042',
      build: 'B-200',
      size: String(SIZE),
      sha256: sent,
    };
    const t0 = Date.now();
    const result = await new Promise<StoreResult__Output>((resolve, reject) => {
      const call = op.raw.StoreStream(new grpc.Metadata(), (err, res) => (err || !res?.result ? reject(err ?? new Error('no result')) : resolve(res.result)));
      void (async () => {
        call.write({ header });
        for (const c of chunks()) if (!call.write({ data: c })) await new Promise((ok) => call.once('drain', ok));
        call.end();
      })().catch(reject);
    });
    const storeMs = Date.now() - t0;
    expect(result.routes).toEqual(['minio']);
    expect(result.kind).toBe('RECORD_KIND_DOCUMENT');
    expect(result.class).toBe('SENSITIVITY_CLASS_INTERNAL');
    expect(Number(result.size)).toBe(SIZE);
    expect(result.sha256).toBe(sent);
    const seq = Number(result.seq);

    // a small table for analysis right after it: routed to the lake only, so once the lake has acked it,
    // the lake has passed the archive file's seq without taking it
    const rows = Buffer.from(JSON.stringify({ scan: 'ct/scan-0042', voids: 3 }));
    const analysis = await op.store({
      header: { dataType: 'DATA_TYPE_DOCUMENT', contentType: 'application/json', accessPattern: 'ACCESS_PATTERN_BATCH', signal: 'ct/summary', build: 'B-200' },
      data: rows,
    });
    expect(analysis.result!.routes).toEqual(['lake']);
    const analysisSeq = Number(analysis.result!.seq);
    expect(analysisSeq).toBeGreaterThan(seq);

    await waitFor('the minio output to deliver the 200 MB file', () => delivered(r, 'minio', seq), 60_000, 100);
    const deliverMs = Date.now() - t0 - storeMs;
    // the only object in the plant bucket: the file, under its document key, with its seq and hash
    const objectKey = documentKey({ build: 'B-200', signal: 'ct/scan-0042', seq: String(seq), ext: 'bin' });
    expect(await keysOf(plant, plantBucket)).toEqual([objectKey]);
    const stat = await plant.statObject(plantBucket, objectKey);
    expect(stat.size).toBe(SIZE);
    expect(stat.metaData).toMatchObject({ 'layergate-seq': String(seq), 'layergate-sha256': sent, 'layergate-class': 'internal' });
    const back = await objectSha256(plant, plantBucket, objectKey);
    expect(back).toEqual({ sha256: sent, size: SIZE });

    // the lake got the analysis record and not the file
    await waitFor('the lake to deliver the analysis record', () => delivered(r, 'lake', analysisSeq), 20_000, 50);
    const lakeSeqs: number[] = [];
    const lake = path.join(dir, 'lake');
    for (const f of readdirSync(lake, { recursive: true, encoding: 'utf8' })) {
      if (f.startsWith('.tmp') || !/\.(arrow|parquet)$/.test(f)) continue;
      const table = await readTableFile(path.join(lake, f));
      lakeSeqs.push(...Array.from(table.getChild('seq')!.toArray() as BigInt64Array, Number));
    }
    expect(lakeSeqs).toEqual([analysisSeq]);
    console.info(`200 MB Store: ${storeMs} ms to the answer, ${deliverMs} ms more until MinIO had it`);
  }, 180_000);
});

/** a small Parquet table of per-layer porosity, as a notebook would hand over a training set */
function parquetTable(layers: number, seed: number): Buffer {
  const table = tableFromArrays({
    layer: Int32Array.from({ length: layers }, (_, i) => i + 1),
    porosity_pct: Float64Array.from({ length: layers }, (_, i) => ((i * 7 + seed) % 13) / 100),
    part: Array.from({ length: layers }, (_, i) => `P-${seed}-${i % 4}`),
  });
  return Buffer.from(parquet.writeParquet(parquet.Table.fromIPCStream(tableToIPC(table, 'stream'))));
}

describe('Store into the plant MinIO and the cloud', () => {
  it('a Store of a Parquet table with ml_training reaches both the local and the cloud target when its class allows, and only the local one when it does not', async () => {
    const plantBucket = bucket(plant, 'lg-grpc-train');
    const cloudBucket = bucket(cloud, 'lg-grpc-train-cloud');
    const r = await startGateway(
      {
        minio: plantOutput(plantBucket),
        cloud: {
          type: 'cloud',
          endpoint: `http://${MINIO_CLOUD.endPoint}:${MINIO_CLOUD.port}`,
          bucket: cloudBucket,
          accessKey: MINIO_CLOUD.accessKey,
          secretKey: MINIO_CLOUD.secretKey,
          linger: 0,
          retry: { initial: '100ms', max: '1s' },
        },
      },
      // `may: ['*']` (here: minio and cloud) and not the two names: a rule that names an off-premises output
      // while it matches sensitive records is a config error (gateway/classify/routing.ts); with `*` the
      // gateway's own off-premises guard decides per class, which is what this test shows
      { rules: [{ name: 'training-sets', accessPatterns: ['ml_training'], may: ['*'] }], unmatched: 'none' },
    );
    const op = operator(r);
    const header = (cls: StoreHeader['class']): StoreHeader => ({
      dataType: 'DATA_TYPE_STRUCTURED',
      contentType: 'application/vnd.apache.parquet',
      accessPattern: 'ACCESS_PATTERN_ML_TRAINING',
      signal: 'notebook/train-set',
      build: 'B-77',
      class: cls,
    });

    // two different tables (the cloud keys documents by their SHA-256: equal bytes would share a key).
    // The sensitive one first: when the later internal one is in the cloud, the earlier one had its chance.
    const sensitiveTable = parquetTable(40, 2);
    const internalTable = parquetTable(50, 1);
    const sensitive = (await op.store({ header: header('SENSITIVITY_CLASS_SENSITIVE'), data: sensitiveTable })).result!;
    const internal = (await op.store({ header: header('SENSITIVITY_CLASS_INTERNAL'), data: internalTable })).result!;

    expect(sensitive.class).toBe('SENSITIVITY_CLASS_SENSITIVE');
    expect(sensitive.routes).toEqual(['minio']);
    expect(internal.class).toBe('SENSITIVITY_CLASS_INTERNAL');
    expect([...internal.routes].sort()).toEqual(['cloud', 'minio']);
    for (const res of [sensitive, internal]) expect(res.kind).toBe('RECORD_KIND_DOCUMENT');
    expect(sensitive.sha256).toBe(sha256(sensitiveTable));
    expect(internal.sha256).toBe(sha256(internalTable));

    // the cloud: the internal table, content-addressed (plugins/outputs/cloud/README.md, continuous mode)
    const cloudKey = `layergate/blobs/sha256/${internal.sha256.slice(0, 2)}/${internal.sha256}`;
    await waitFor('the internal table in the cloud bucket', async () => (await keysOf(cloud, cloudBucket)).includes(cloudKey), 45_000, 200);
    const inCloud = await objectBytes(cloud, cloudBucket, cloudKey);
    expect(sha256(inCloud)).toBe(internal.sha256);
    // still a Parquet table a training job reads
    expect(tableFromIPC(parquet.readParquet(inCloud).intoIPCStream()).numRows).toBe(50);
    // ... and nothing of the sensitive one: no key, no object of its class or seq
    for (const k of await keysOf(cloud, cloudBucket)) {
      expect(k).not.toContain(sensitive.sha256);
      const meta = (await cloud.statObject(cloudBucket, k)).metaData;
      expect(meta['layergate-class'], k).not.toBe('sensitive');
      expect(meta['layergate-seq'], k).not.toBe(sensitive.seq);
    }
    const cloudForwarder = r.gateway.stats().forwarders.find((f) => f.sink === 'cloud')!;
    // routing kept it away: the cloud output was never even offered it
    expect(cloudForwarder.offPremisesRefused).toBe(0);

    // the plant MinIO: both tables, byte for byte, with their classes
    await waitFor('the minio output to deliver both tables', () => delivered(r, 'minio', Number(internal.seq)), 30_000, 50);
    const local = await keysOf(plant, plantBucket);
    const sensitiveKey = documentKey({ build: 'B-77', signal: 'notebook/train-set', seq: sensitive.seq, ext: 'bin' });
    const internalKey = documentKey({ build: 'B-77', signal: 'notebook/train-set', seq: internal.seq, ext: 'bin' });
    expect(local).toEqual([sensitiveKey, internalKey].sort());
    for (const [k, res, cls] of [
      [sensitiveKey, sensitive, 'sensitive'],
      [internalKey, internal, 'internal'],
    ] as const) {
      expect(sha256(await objectBytes(plant, plantBucket, k))).toBe(res.sha256);
      expect((await plant.statObject(plantBucket, k)).metaData).toMatchObject({ 'layergate-class': cls, 'content-type': 'application/vnd.apache.parquet' });
    }
  }, 120_000);
});
