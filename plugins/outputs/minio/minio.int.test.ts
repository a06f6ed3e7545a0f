/**
 * The minio output against real MinIO: the harness's `minio-local` for delivery and refusals, a
 * dedicated instance (test/services/dedicated.ts) for the restart test. Objects are read back with a
 * separate minio client; the columnar batches also with pyarrow (test/tools), which shares no code
 * with the writer. Confidential objects are opened with the gateway's AES-256-GCM sealer.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import type { Table } from 'apache-arrow';
import { Client } from 'minio';
import * as parquet from 'parquet-wasm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { registerForwarderMetrics } from '../../../gateway/forward/metrics.js';
import { AesGcmSealer, newKeyLine, parseKeyRing } from '../../../gateway/crypto/sealer.js';
import type { Sealer } from '../../../gateway/crypto/sealer.js';
import { MINIO_LOCAL } from '../../../test/services/endpoints.js';
import { DEDICATED_MINIO_KEYS, DedicatedMinio } from '../../../test/services/dedicated.js';
import { readLakeWithPyarrow, setupPython } from '../../../test/tools/pyarrow.js';
import { waitFor } from '../../../test/support/wait.js';
import { definition as fileLake } from '../file-lake/index.js';
import { samplesDraft, scalarDrafts, simulatorSource, sinkOutage, sinkRig } from '../../../test/support/sink-harness.js';
import type { SimulatedSource, SinkRig } from '../../../test/support/sink-harness.js';
import { type MinioOutput, definition } from './index.js';

const client = new Client({
  endPoint: MINIO_LOCAL.endPoint,
  port: MINIO_LOCAL.port,
  useSSL: false,
  accessKey: MINIO_LOCAL.accessKey,
  secretKey: MINIO_LOCAL.secretKey,
});
const rigs: SinkRig[] = [];
const sources: SimulatedSource[] = [];
const temps: string[] = [];
const sealer = new AesGcmSealer(parseKeyRing(newKeyLine('k-test-1'), 'test key ring'));

beforeAll(async () => {
  await setupPython();
}, 300_000);
afterEach(async () => {
  for (const s of sources.splice(0)) await s.stop();
  for (const r of rigs.splice(0)) await r.close();
});
afterAll(async () => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
  for (const b of buckets) {
    if (!(await client.bucketExists(b))) continue;
    await client.removeObjects(b, await list(client, b));
    await client.removeBucket(b);
  }
});

function output(
  config: Record<string, unknown>,
  env: { sealer?: Sealer } = {},
  endpoint: { port: number; accessKey: string; secretKey: string } = MINIO_LOCAL,
): MinioOutput {
  return definition.create(
    definition.configSchema.parse({
      endPoint: '127.0.0.1',
      port: endpoint.port,
      tls: false,
      accessKey: endpoint.accessKey,
      secretKey: endpoint.secretKey,
      ...config,
    }),
    { dataDir: '/nonexistent', machine: 'pbf-sim', ...env },
  ) as MinioOutput;
}

const buckets: string[] = [];
/** a unique bucket on the shared MinIO, removed with its objects after the file */
const bucketName = () => {
  const name = `lgt-${randomUUID().slice(0, 12)}`;
  buckets.push(name);
  return name;
};

async function list(c: Client, bucket: string): Promise<string[]> {
  const names: string[] = [];
  for await (const o of c.listObjectsV2(bucket, '', true)) names.push((o as { name: string }).name);
  return names.sort();
}

async function get(c: Client, bucket: string, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await c.getObject(bucket, key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function readTable(key: string, bytes: Buffer): Table {
  const name = key.replace(/\.sealed$/, '');
  return name.endsWith('.parquet') ? tableFromIPC(parquet.readParquet(bytes).intoIPCStream()) : tableFromIPC(bytes);
}

/** every seq a bucket holds: from the seq column of batch objects, from metadata of single objects */
async function seqsIn(c: Client, bucket: string, open: (b: Buffer) => Buffer = (b) => b): Promise<number[]> {
  const seqs: number[] = [];
  for (const key of await list(c, bucket)) {
    const stat = await c.statObject(bucket, key);
    if (key.includes('/series/') || key.startsWith('series/')) {
      const raw = await get(c, bucket, key);
      const table = readTable(key, stat.metaData['layergate-sealed'] ? open(raw) : raw);
      seqs.push(...new Set(Array.from(table.getChild('seq')!.toArray() as BigInt64Array, Number)));
    } else {
      seqs.push(Number(stat.metaData['layergate-seq']));
    }
  }
  return seqs;
}

describe('minio output (real MinIO)', () => {
  it('simulator blocks, events and frames reach MinIO: every routed seq, marked objects, columnar batches pyarrow reads, no class not routed here', async () => {
    const bucket = bucketName();
    const out = output({ bucket });
    // frames and the JSON blocks are sensitive, the binary blocks internal; confidential is not routed here
    const r = await sinkRig([{ name: 'minio', plugin: out, classes: ['internal', 'sensitive'], forwarder: { linger: 300 } }]);
    rigs.push(r);
    const src = await simulatorSource(r, { frames: true });
    sources.push(src);
    await r.emit(scalarDrafts(5, 'recipe.power', 'confidential'));
    await src.committed();
    await r.drained('minio');
    const routed = r.routed('minio');
    expect(r.routed('all').filter((x) => x.class === 'confidential')).toHaveLength(5);
    expect(routed.some((x) => x.class === 'confidential')).toBe(false);
    expect(routed.filter((x) => x.kind === 'frame')).toHaveLength(src.sim.state().counters.framesWritten);

    const seqs = await seqsIn(client, bucket);
    expect([...new Set(seqs)].sort((a, b) => a - b)).toEqual(routed.map((x) => x.seq));
    const keys = await list(client, bucket);
    for (const key of keys) {
      const stat = await client.statObject(bucket, key);
      const cls = key.includes('meltpool.binary') || key.includes('machine.events') ? 'internal' : 'sensitive';
      expect(stat.metaData['layergate-class']).toBe(cls);
      expect(stat.metaData['layergate-machine']).toBe('pbf-sim');
      const tags = await client.getObjectTagging(bucket, key);
      expect(tags).toContainEqual(expect.objectContaining({ Key: 'layergate-class', Value: cls }));
    }
    expect(keys.some((k) => k.includes('recipe.power') || k.endsWith('.sealed'))).toBe(false);
    // frames: partitioned by machine/build/layer, bytes as spooled, sha256 in the metadata
    const frames = routed.filter((x) => x.kind === 'frame');
    for (const f of frames) {
      const key = out.objectKey(f);
      expect(key).toMatch(new RegExp(`^objects/machine=pbf-sim/build=[^/]+/layer=${f.layer}/signal=`));
      const bytes = await get(client, bucket, key);
      const sha = createHash('sha256').update(bytes).digest('hex');
      expect(sha).toBe(f.blob?.sha256 ?? createHash('sha256').update(f.body!).digest('hex'));
      const stat = await client.statObject(bucket, key);
      expect(stat.metaData['layergate-sha256']).toBe(sha);
      expect(stat.metaData['content-type']).toBe(f.contentType);
      expect(stat.metaData['layergate-layer']).toBe(String(f.layer));
      expect(stat.metaData['layergate-build']).toBe(f.build);
    }
    // the columnar batches, downloaded as they are and read by pyarrow as a Hive-partitioned dataset
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-minio-read-'));
    temps.push(dir);
    for (const key of keys.filter((k) => k.startsWith('series/'))) {
      const file = path.join(dir, key.slice('series/'.length));
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, await get(client, bucket, key));
    }
    const dump = await readLakeWithPyarrow(dir);
    expect(dump.datasets.samples!.rows).toBe(2 * 32 * 250);
    expect(dump.datasets.samples!.partitions.map((p) => [p.machine, p.signal])).toEqual([
      ['pbf-sim', 'meltpool.binary'],
      ['pbf-sim', 'meltpool.json'],
    ]);
    expect(dump.datasets.samples!.schema).toMatchObject({ seq: 'int64', time_ns: 'timestamp[ns, tz=UTC]', photodiode: 'float', pyrometer: 'float' });
    expect(dump.datasets.events!.rows).toBe(routed.filter((x) => x.kind === 'event').length);
    for (const f of Object.values(dump.files)) expect(f.parquet!.photodiode ?? f.parquet!.seq).toMatchObject({ compression: 'ZSTD' });
    const blocks = routed.filter((x) => x.signal === 'meltpool.binary');
    const pySamples = Object.entries(dump.files)
      .filter(([k]) => k.startsWith('samples/') && k.includes('meltpool.binary'))
      .flatMap(([, f]) => f.columns.photodiode as number[]);
    expect(pySamples[0]).toBe(blocks[0]!.body!.readFloatLE(0));
  });

  it('idempotent keys: a batch sent again overwrites the same objects', async () => {
    const bucket = bucketName();
    const out = output({ bucket, series: { format: 'arrow' } });
    const r = await sinkRig([{ name: 'minio', plugin: out, forwarder: { linger: 0 } }]);
    rigs.push(r);
    await r.emit([...scalarDrafts(20, 'chamber.o2'), samplesDraft('meltpool.a', 0, 200)]);
    await r.drained('minio');
    const before = await list(client, bucket);
    await out.send(r.routed('minio'));
    await out.send(r.routed('minio'));
    expect(await list(client, bucket)).toEqual(before);
    expect(before.every((k) => k.endsWith('.arrow'))).toBe(true);
  });

  it('a large frame is uploaded in parts from the spool: same bytes, sha256 in the metadata, multipart ETag', async () => {
    const bucket = bucketName();
    const out = output({ bucket, partSize: '5MiB' });
    const r = await sinkRig([{ name: 'minio', plugin: out, forwarder: { linger: 0 } }]);
    rigs.push(r);
    const image = Buffer.alloc(12 * 1024 * 1024);
    for (let i = 0; i < image.length; i += 4) image.writeUInt32LE((i * 2654435761) >>> 0, i);
    await r.emit([{ signal: 'camera.powder_bed', kind: 'frame', class: 'internal', contentType: 'image/tiff', build: 'JOB-7', layer: 12, body: image }]);
    await r.drained('minio', 120_000);
    const [frame] = r.routed('minio');
    expect(frame!.blob).toBeDefined(); // the buffer spooled it: the output streams the file
    const key = out.objectKey(frame!);
    expect(key).toBe(`objects/machine=pbf-sim/build=JOB-7/layer=12/signal=camera.powder_bed/${String(frame!.seq).padStart(16, '0')}.tif`);
    const stat = await client.statObject(bucket, key);
    expect(stat.size).toBe(image.length);
    expect(stat.etag).toMatch(/-3$/); // 12 MiB in 5 MiB parts
    const sha = createHash('sha256').update(image).digest('hex');
    expect(stat.metaData['layergate-sha256']).toBe(sha);
    expect(
      createHash('sha256')
        .update(await get(client, bucket, key))
        .digest('hex'),
    ).toBe(sha);
  }, 180_000);

  it('confidential records are stored sealed and marked; without a sealer they are refused for good and quarantined, the rest stored', async () => {
    const bucket = bucketName();
    const sealed = output({ bucket }, { sealer });
    const r = await sinkRig([{ name: 'minio', plugin: sealed, forwarder: { linger: 0 } }]);
    rigs.push(r);
    await r.emit([...scalarDrafts(5, 'recipe.power', 'confidential'), ...scalarDrafts(5, 'chamber.o2', 'internal')]);
    await r.drained('minio');
    const routed = r.routed('minio');
    const keys = await list(client, bucket);
    const sealedKeys = keys.filter((k) => k.endsWith('.sealed'));
    expect(sealedKeys).toHaveLength(1);
    expect(sealedKeys[0]).toContain('signal=recipe.power');
    const stat = await client.statObject(bucket, sealedKeys[0]!);
    expect(stat.metaData).toMatchObject({ 'layergate-class': 'confidential', 'layergate-sealed': 'k-test-1', 'content-type': 'application/octet-stream' });
    const raw = await get(client, bucket, sealedKeys[0]!);
    expect(() => readTable(sealedKeys[0]!, raw)).toThrow();
    expect(raw.includes(Buffer.from('recipe'))).toBe(false);
    expect((await seqsIn(client, bucket, (b) => sealer.open(b))).sort((a, b) => a - b)).toEqual(routed.map((x) => x.seq));

    const bucket2 = bucketName();
    const unsealed = output({ bucket: bucket2 });
    const r2 = await sinkRig([{ name: 'minio', plugin: unsealed, forwarder: { linger: 0 } }]);
    rigs.push(r2);
    await r2.emit([...scalarDrafts(5, 'recipe.power', 'confidential'), ...scalarDrafts(5, 'chamber.o2', 'internal')]);
    await r2.drained('minio');
    const routed2 = r2.routed('minio');
    const stats = r2.forwarders.get('minio')!.stats();
    expect(stats).toMatchObject({ quarantinedRecords: 5, sentRecords: 5, lagRecords: 0 });
    expect(stats.errorsByKind['no-sealer']).toBe(1);
    // the same figures as a Prometheus scrape
    const scrape = await registerForwarderMetrics(() => [...r2.forwarders.values()]).metrics();
    expect(scrape).toContain('layergate_sink_delivered_records_total{sink="minio"} 5');
    expect(scrape).toContain('layergate_sink_quarantined_records_total{sink="minio"} 5');
    expect(scrape).toContain('layergate_sink_errors_total{sink="minio",kind="no-sealer"} 1');
    expect(scrape).toContain('layergate_sink_lag_records{sink="minio"} 0');
    expect((await seqsIn(client, bucket2)).sort((a, b) => a - b)).toEqual(routed2.filter((x) => x.class === 'internal').map((x) => x.seq));
    const qdir = path.join(r2.dataDir, 'quarantine', 'outputs', 'minio');
    const side = JSON.parse(readFileSync(path.join(qdir, readdirSync(qdir).find((f) => f.endsWith('.json'))!), 'utf8')) as {
      seqs: number[];
      error: { reason: string };
    };
    expect(side).toMatchObject({ seqs: routed2.filter((x) => x.class === 'confidential').map((x) => x.seq), error: { reason: 'no-sealer' } });
  });

  it('createBucket false: a missing bucket is retried with an error naming it; once created the backlog drains', async () => {
    const bucket = bucketName();
    const out = output({ bucket, createBucket: false });
    const r = await sinkRig([{ name: 'minio', plugin: out, forwarder: { linger: 0, backoff: { initialMs: 50, maxMs: 200 } } }]);
    rigs.push(r);
    await r.emit(scalarDrafts(4, 'chamber.o2'));
    await waitFor('retries', () => (r.forwarders.get('minio')!.stats().errorsByKind['bucket-missing'] ?? 0) >= 2, 30_000);
    const waiting = r.forwarders.get('minio')!.stats();
    expect(waiting).toMatchObject({ sentRecords: 0, quarantinedRecords: 0, lagRecords: 4 });
    expect(waiting.lastError!.message).toContain(bucket);
    await client.makeBucket(bucket);
    await r.drained('minio');
    expect((await seqsIn(client, bucket)).sort((a, b) => a - b)).toEqual(r.routed('minio').map((x) => x.seq));
  });

  it('bad credentials are a permanent refusal: quarantined, counted, not retried forever', async () => {
    const out = output({ bucket: bucketName() }, {}, { ...MINIO_LOCAL, secretKey: 'not-the-secret-key' });
    const r = await sinkRig([{ name: 'minio', plugin: out, forwarder: { linger: 0 } }]);
    rigs.push(r);
    await r.emit(scalarDrafts(3, 'chamber.o2'));
    await r.drained('minio');
    const stats = r.forwarders.get('minio')!.stats();
    expect(stats).toMatchObject({ quarantinedRecords: 3, sentRecords: 0, permanentFailures: 1 });
    expect(stats.errorsByKind['not-authorized']).toBe(1);
  });

  it('a full sink quarantine folder keeps refused records in the buffer (retried, never dropped)', async () => {
    const out = output({ bucket: bucketName() }, {}, { ...MINIO_LOCAL, secretKey: 'not-the-secret-key' });
    const r = await sinkRig([{ name: 'minio', plugin: out, forwarder: { linger: 0, quarantineMaxBytes: 200, backoff: { initialMs: 50, maxMs: 100 } } }]);
    rigs.push(r);
    await r.emit(scalarDrafts(3, 'chamber.o2'));
    await waitFor('refusals retried', () => r.forwarders.get('minio')!.stats().failures >= 3, 30_000);
    const stats = r.forwarders.get('minio')!.stats();
    expect(stats).toMatchObject({ quarantinedRecords: 0, sentRecords: 0, lagRecords: 3, cursor: 0 });
    expect(stats.errorsByKind['not-authorized']).toBeGreaterThanOrEqual(3);
  });

  it('MinIO restart (dedicated instance): the backlog drains, nothing lost, the other sink never paused', async () => {
    const server = new DedicatedMinio();
    temps.push(server.dir);
    await server.start();
    try {
      const bucket = bucketName();
      const out = output({ bucket, series: { window: '1s' } }, {}, { port: server.port, ...DEDICATED_MINIO_KEYS });
      const r = await sinkRig([
        { name: 'minio', plugin: out, forwarder: { linger: 200, sendTimeoutMs: 10_000, backoff: { initialMs: 200, maxMs: 1000 } } },
        {
          name: 'lake',
          plugin: fileLake.create(fileLake.configSchema.parse({ path: path.join(server.dir, 'lake') }), { dataDir: server.dir, machine: 'pbf-sim' }),
          forwarder: { linger: 0 },
        },
      ]);
      rigs.push(r);
      let n = 0;
      await sinkOutage({
        label: 'minio restart',
        r,
        sink: 'minio',
        other: 'lake',
        server: 'MinIO',
        duplicatesIn: 'in the bucket',
        burst: () => [...scalarDrafts(10, 'chamber.o2'), samplesDraft('meltpool.a', n++ * 100, 100)],
        pauseMs: 50,
        deliveringBefore: 100,
        deliveringTimeoutMs: 30_000,
        downMs: 3000,
        otherDeliveredAbove: 300,
        otherLagBelow: 200,
        sinkLagAbove: 300,
        stopServer: () => server.stop(),
        startServer: () => server.start(),
        drainTimeoutMs: 90_000,
        readBack: () => seqsIn(server.client(), bucket),
      });
    } finally {
      await server.stop({ kill: true });
    }
  }, 180_000);
});
