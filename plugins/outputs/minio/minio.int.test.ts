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
import { setupPython } from '../../../test/tools/pyarrow.js';
import { CONTENT_TYPES } from '../../../gateway/plugin-api/record.js';
import type { SensitivityClass, StoredRecord } from '../../../gateway/plugin-api/record.js';
import { seqName } from '../shared/layout.js';
import { readSeriesWithPyarrow } from '../../../test/tools/pyarrow-series.js';
import { waitFor } from '../../../test/support/wait.js';
import { definition as fileLake } from '../file-lake/index.js';
import { expectSinkConfigFailing, recordingLog, samplesDraft, scalarDrafts, simulatorSource, sinkOutage, sinkRig } from '../../../test/support/sink-harness.js';
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

/** the series table a record goes to (the simulator's blocks and events are well formed) */
const tableOf = (r: StoredRecord) => (r.kind === 'samples' ? 'samples' : r.kind === 'event' ? 'events' : 'scalars');

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
    const classOf = (signal: string) => (signal === 'meltpool.binary' || signal === 'machine.events' ? 'internal' : 'sensitive');
    const rank = ['public', 'internal', 'sensitive', 'confidential'];
    for (const key of keys) {
      const stat = await client.statObject(bucket, key);
      // a series object holds every signal of its table and window: its class is the strictest inside
      const signals = key.startsWith('series/')
        ? [...new Set(routed.filter((x) => key.includes(`/series/${tableOf(x)}/`) || key.startsWith(`series/${tableOf(x)}/`)).map((x) => x.signal))]
        : [routed.find((x) => key === out.objectKey(x))!.signal];
      const cls = signals.map(classOf).sort((a, b) => rank.indexOf(b) - rank.indexOf(a))[0];
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
    const seriesKeys = keys.filter((k) => k.startsWith('series/'));
    for (const key of seriesKeys)
      expect(key).toMatch(
        /^series\/(samples|events)\/machine=pbf-sim\/build=[^/]+\/date=\d{4}-\d{2}-\d{2}\/\d{8}T\d{6}Z-\d{16}-\d{16}(-[0-9a-f]{8})?\.parquet$/,
      );
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-minio-read-'));
    temps.push(dir);
    for (const key of seriesKeys) {
      const file = path.join(dir, key);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, await get(client, bucket, key));
    }
    const dump = await readSeriesWithPyarrow(dir, 'meltpool.binary');
    const samples = dump.datasets.samples!;
    expect(samples.rows).toBe(2 * 32 * 250);
    expect([...new Set(samples.columns.signal)].sort()).toEqual(['meltpool.binary', 'meltpool.json']);
    expect(samples.rows_of_signal).toBe(32 * 250);
    expect(new Set(samples.partitions.map((p) => p.machine))).toEqual(new Set(['pbf-sim']));
    expect(samples.partitions.every((p) => /^\d{4}-\d{2}-\d{2}$/.test(p.date ?? ''))).toBe(true);
    expect(samples.schema).toMatchObject({
      seq: 'int64',
      signal: expect.stringMatching(/^dictionary<values=string/),
      time_ns: 'timestamp[ns, tz=UTC]',
      block_seq: 'int64',
      sample_rate_hz: 'double',
      photodiode: 'float',
      pyrometer: 'float',
    });
    // the simulator's block sequence, as it sent it, on every row of its block
    const binaryRows = samples.columns.signal!.map((s) => s === 'meltpool.binary');
    const binarySeqs = samples.columns.block_seq!.filter((_, i) => binaryRows[i]) as number[];
    expect([...new Set(binarySeqs)].sort((a, b) => a - b)).toEqual([...Array(32).keys()]);
    expect(binarySeqs).toHaveLength(32 * 250);
    expect(new Set(samples.columns.sample_rate_hz)).toEqual(new Set([10_000]));
    expect(dump.datasets.events!.rows).toBe(routed.filter((x) => x.kind === 'event').length);
    for (const f of Object.values(dump.files)) expect(f).toMatchObject({ sorted: true, compression: 'ZSTD' });
    const blocks = routed.filter((x) => x.signal === 'meltpool.binary');
    const first = samples.columns.seq!.findIndex(
      (seq, i) => seq === blocks[0]!.seq && samples.columns.sample_index![i] === Number(blocks[0]!.attributes!.first_sample ?? 0),
    );
    expect(samples.columns.photodiode![first]).toBe(blocks[0]!.body!.readFloatLE(0));
  });

  it('W1: 5,000 signals x 10 values in one batch become one series object per table and window, every record once with its signal and value', async () => {
    const bucket = bucketName();
    const out = output({ bucket, series: { window: '1h' } }, { sealer });
    const r = await sinkRig([{ name: 'minio', plugin: out }]);
    rigs.push(r);
    // the batch size the output asks the forwarder for holds this batch whole
    expect(definition.capabilities(definition.configSchema.parse({ endPoint: 'x', accessKey: 'a', secretKey: 's' })).batchRecords).toBeGreaterThanOrEqual(
      50_000,
    );
    const t0 = BigInt(Date.UTC(2026, 0, 15, 8, 0, 0)) * 1_000_000n;
    const batch: StoredRecord[] = [];
    for (let tick = 0; tick < 10; tick++) {
      for (let s = 0; s < 5000; s++) {
        const seq = batch.length + 1;
        const signal = `plc.axis${String(s).padStart(4, '0')}`;
        // one sensitive signal: the object's class is the strictest inside; three confidential records: an object of their own, sealed
        const cls: SensitivityClass = s === 17 ? 'sensitive' : s === 4242 && tick < 3 ? 'confidential' : 'internal';
        batch.push({
          seq,
          source: 'opcua',
          signal,
          kind: 'scalar',
          class: cls,
          contentType: CONTENT_TYPES.scalar,
          sourceTimeNs: t0 + BigInt(tick) * 100_000_000n,
          receiveTimeNs: t0 + BigInt(tick) * 100_000_000n + 1_000_000n,
          build: 'B-W1',
          layer: 3,
          body: Buffer.from(JSON.stringify({ v: s + tick / 10, unit: 'mm' })),
          routes: ['minio'],
        });
      }
    }
    await out.send(batch);
    const keys = await list(client, bucket);
    expect(keys).toEqual([
      `series/scalars/machine=pbf-sim/build=B-W1/date=2026-01-15/20260115T080000Z-${seqName(1)}-${seqName(50_000)}.parquet`,
      `series/scalars/machine=pbf-sim/build=B-W1/date=2026-01-15/20260115T080000Z-${seqName(4243)}-${seqName(14_243)}.parquet.sealed`,
    ]);
    const plain = await client.statObject(bucket, keys[0]!);
    expect(plain.metaData).toMatchObject({
      'layergate-class': 'sensitive',
      'layergate-records': String(50_000 - 3),
      'layergate-signals': '5000',
      'layergate-seq': '1-50000',
    });
    expect(plain.metaData['layergate-signal']).toBeUndefined();
    const sealedStat = await client.statObject(bucket, keys[1]!);
    expect(sealedStat.metaData).toMatchObject({
      'layergate-class': 'confidential',
      'layergate-sealed': 'k-test-1',
      'layergate-records': '3',
      'layergate-signals': '1',
    });
    // read back with apache-arrow / parquet-wasm: every record exactly once, with its signal and value
    const rows = new Map<number, { signal: string; value: number; class: string }>();
    for (const key of keys) {
      const raw = await get(client, bucket, key);
      const table = readTable(key, key.endsWith('.sealed') ? sealer.open(raw) : raw);
      const seqs = table.getChild('seq')!.toArray() as BigInt64Array;
      const signals = table.getChild('signal')!;
      const values = table.getChild('value')!;
      const classes = table.getChild('class')!;
      let previous = '';
      for (let i = 0; i < table.numRows; i++) {
        const seq = Number(seqs[i]);
        expect(rows.has(seq)).toBe(false);
        const signal = signals.get(i) as string;
        // sorted by signal, then seq
        expect(`${signal}\u0000${seqName(seq)}` > previous).toBe(true);
        previous = `${signal}\u0000${seqName(seq)}`;
        rows.set(seq, { signal, value: values.get(i) as number, class: classes.get(i) as string });
      }
    }
    expect(rows.size).toBe(batch.length);
    for (const rec of batch) {
      expect(rows.get(rec.seq)).toEqual({ signal: rec.signal, value: JSON.parse(rec.body!.toString()).v, class: rec.class });
    }
    // and with pyarrow, as a Hive-partitioned dataset filtered by signal
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-minio-w1-'));
    temps.push(dir);
    const file = path.join(dir, keys[0]!);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, await get(client, bucket, keys[0]!));
    const dump = await readSeriesWithPyarrow(dir, 'plc.axis0017');
    expect(dump.datasets.scalars).toMatchObject({
      rows: 50_000 - 3,
      files: 1,
      rows_of_signal: 10,
      partitions: [{ machine: 'pbf-sim', build: 'B-W1', date: '2026-01-15' }],
    });
    expect(dump.datasets.scalars!.columns.value!.slice(0, 3)).toEqual([0, 0.1, 0.2]);
  }, 120_000);

  it('a series object spanning layers 1 and 2 says so (layergate-layer 1-2, seq and source time ranges); its samples rows carry block_seq and sample_rate_hz', async () => {
    const bucket = bucketName();
    const out = output({ bucket, series: { window: '1h' } });
    rigs.push(await sinkRig([{ name: 'minio', plugin: out }]));
    const t0 = BigInt(Date.UTC(2026, 0, 15, 8, 0, 0)) * 1_000_000n;
    // blocks 5 and 6 in layer 1, block 7 lost, block 8 in layer 2 (at half the rate)
    const blocks = [
      { blockSeq: 5, layer: 1, first: 0, rate: 10_000 },
      { blockSeq: 6, layer: 1, first: 4, rate: 10_000 },
      { blockSeq: 8, layer: 2, first: 0, rate: 5_000 },
    ];
    const batch: StoredRecord[] = blocks.map((b, i) => {
      const draft = samplesDraft('meltpool.binary', b.first, 4);
      return {
        ...draft,
        seq: 101 + i,
        source: 'mqtt',
        class: 'internal',
        build: 'B-7',
        layer: b.layer,
        sourceTimeNs: t0 + BigInt(i) * 1_000_000n,
        receiveTimeNs: t0 + BigInt(i) * 1_000_000n + 500n,
        attributes: { ...draft.attributes, sample_rate_hz: String(b.rate), seq: String(b.blockSeq) },
        routes: ['minio'],
      } as StoredRecord;
    });
    await out.send(batch);
    const keys = await list(client, bucket);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(/^series\/samples\/machine=pbf-sim\/build=B-7\/date=2026-01-15\//);
    const stat = await client.statObject(bucket, keys[0]!);
    expect(stat.metaData).toMatchObject({
      'layergate-layer': '1-2',
      'layergate-build': 'B-7',
      'layergate-seq': '101-103',
      'layergate-source-time-ns': `${t0}-${t0 + 2_000_000n}`,
      'layergate-records': '3',
      'layergate-rows': '12',
    });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-minio-layers-'));
    temps.push(dir);
    const file = path.join(dir, keys[0]!);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, await get(client, bucket, keys[0]!));
    const samples = (await readSeriesWithPyarrow(dir)).datasets.samples!;
    expect(samples.columns.seq).toEqual([101, 101, 101, 101, 102, 102, 102, 102, 103, 103, 103, 103]);
    expect(samples.columns.layer).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2]);
    expect(samples.columns.block_seq).toEqual([5, 5, 5, 5, 6, 6, 6, 6, 8, 8, 8, 8]);
    expect(samples.columns.sample_rate_hz).toEqual([...Array(8).fill(10_000), ...Array(4).fill(5_000)]);
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
    expect(keys).toHaveLength(2);
    expect(sealedKeys[0]).toMatch(/^series\/scalars\/machine=pbf-sim\/build=JOB-7\/date=/);
    const plainKey = keys.find((k) => !k.endsWith('.sealed'))!;
    expect((await client.statObject(bucket, plainKey)).metaData['layergate-class']).toBe('internal');
    const stat = await client.statObject(bucket, sealedKeys[0]!);
    expect(stat.metaData).toMatchObject({ 'layergate-class': 'confidential', 'layergate-sealed': 'k-test-1', 'content-type': 'application/octet-stream' });
    const raw = await get(client, bucket, sealedKeys[0]!);
    expect(() => readTable(sealedKeys[0]!, raw)).toThrow();
    expect(raw.includes(Buffer.from('recipe'))).toBe(false);
    // confidential records never share an object: the sealed one holds exactly them
    const opened = readTable(sealedKeys[0]!, sealer.open(raw));
    expect(new Set(opened.getChild('signal')!.toArray() as string[])).toEqual(new Set(['recipe.power']));
    expect(new Set(opened.getChild('class')!.toArray() as string[])).toEqual(new Set(['confidential']));
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

  it('createBucket false: a missing bucket is retried with an error naming it (a failing sink, logged at error); once created the backlog drains', async () => {
    const bucket = bucketName();
    const out = output({ bucket, createBucket: false });
    const { log, lines } = recordingLog();
    const r = await sinkRig([{ name: 'minio', plugin: out, forwarder: { linger: 0, log, backoff: { initialMs: 50, maxMs: 200 } } }]);
    rigs.push(r);
    await r.emit(scalarDrafts(4, 'chamber.o2'));
    await waitFor('retries', () => (r.forwarders.get('minio')!.stats().errorsByKind['bucket-missing'] ?? 0) >= 2, 30_000);
    await expectSinkConfigFailing(r, 'minio', 4, 'bucket-missing', lines);
    const waiting = r.forwarders.get('minio')!.stats();
    expect(waiting).toMatchObject({ sentRecords: 0, quarantinedRecords: 0, lagRecords: 4 });
    expect(waiting.lastError!.message).toContain(bucket);
    await client.makeBucket(bucket);
    await r.drained('minio');
    expect((await seqsIn(client, bucket)).sort((a, b) => a - b)).toEqual(r.routed('minio').map((x) => x.seq));
  });

  it('a wrong secret key is a failing sink, not a refusal of the records: kept in the buffer, logged at error with what to fix; delivered once the key is right', async () => {
    const bucket = bucketName();
    const wrong = output({ bucket }, {}, { ...MINIO_LOCAL, secretKey: 'not-the-secret-key' });
    const { log, lines } = recordingLog();
    const r = await sinkRig([{ name: 'minio', plugin: wrong, forwarder: { linger: 0, log, backoff: { initialMs: 50, maxMs: 200 } } }]);
    rigs.push(r);
    await r.emit(scalarDrafts(3, 'chamber.o2'));
    await expectSinkConfigFailing(r, 'minio', 3, 'not-authorized', lines);
    expect(r.forwarders.get('minio')!.stats().configFailure!.action).toContain('secretKey');
    const scrape = await registerForwarderMetrics(() => [...r.forwarders.values()]).metrics();
    expect(scrape).toContain('layergate_sink_config_failing{sink="minio"} 1');
    expect(scrape).toContain('layergate_sink_lag_records{sink="minio"} 3');
    // the corrected config (a restart with the right key): the same cursor, everything delivered
    await r.replaceOutput('minio', output({ bucket }));
    await r.drained('minio');
    expect((await seqsIn(client, bucket)).sort((a, b) => a - b)).toEqual(r.routed('minio').map((x) => x.seq));
    expect(r.forwarders.get('minio')!.stats()).toMatchObject({ sentRecords: 3, quarantinedRecords: 0, configFailure: null });
  });

  it('a full sink quarantine folder keeps refused records in the buffer (retried, never dropped)', async () => {
    // confidential records and no sealer: refused for good on their own merit, so quarantined if there is room
    const out = output({ bucket: bucketName() });
    const r = await sinkRig([{ name: 'minio', plugin: out, forwarder: { linger: 0, quarantineMaxBytes: 200, backoff: { initialMs: 50, maxMs: 100 } } }]);
    rigs.push(r);
    await r.emit(scalarDrafts(3, 'recipe.power', 'confidential'));
    await waitFor('refusals retried', () => r.forwarders.get('minio')!.stats().failures >= 3, 30_000);
    const stats = r.forwarders.get('minio')!.stats();
    expect(stats).toMatchObject({ quarantinedRecords: 0, sentRecords: 0, lagRecords: 3, cursor: 0 });
    expect(stats.errorsByKind['no-sealer']).toBeGreaterThanOrEqual(3);
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
