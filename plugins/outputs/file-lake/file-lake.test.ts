/**
 * The file lake, read back the way a user would: with pyarrow (a reader that shares no code with the
 * writer) and, for frames, with sharp. Records are written with `send`, as the forwarder calls it;
 * gateway/forwarder.test.ts covers the same output behind the real buffer and forwarder.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import sharp from 'sharp';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { OutputContext } from '../../../gateway/plugin-api/contract.js';
import { CONTENT_TYPES } from '../../../gateway/plugin-api/record.js';
import type { BlobRef, StoredRecord } from '../../../gateway/plugin-api/record.js';
import { readLakeWithPyarrow, setupPython } from '../../../test/tools/pyarrow.js';
import { type FileLakeOutput, definition } from './index.js';
import { partitionSegment } from '../shared/layout.js';

const log = pino({ level: 'silent' });
const T0 = 1_764_000_000_123_456_789n; // ns, with sub-microsecond digits to catch precision loss
let dir: string;
let spool: string;

beforeAll(async () => {
  await setupPython();
}, 300_000);

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lg-lake-'));
  spool = path.join(dir, 'spool');
  await fs.mkdir(spool);
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** A blob reader over a plain folder of files named by SHA-256, the way the buffer's spool keeps them. */
function context(): OutputContext {
  return {
    name: 'lake',
    log,
    blobs: {
      path: (ref: BlobRef) => path.join(spool, ref.sha256),
      read: (ref: BlobRef) => fs.readFile(path.join(spool, ref.sha256)),
    },
  };
}

async function spoolBlob(bytes: Buffer): Promise<BlobRef> {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  await fs.writeFile(path.join(spool, sha256), bytes);
  return { sha256, size: bytes.length };
}

async function lake(config: Record<string, unknown> = {}): Promise<FileLakeOutput> {
  const out = definition.create(definition.configSchema.parse({ path: path.join(dir, 'lake'), ...config }), {
    dataDir: dir,
    machine: 'pbf-01',
  }) as FileLakeOutput;
  await out.start(context());
  return out;
}

let nextSeq = 1;
function rec(partial: Partial<StoredRecord> & Pick<StoredRecord, 'kind' | 'contentType' | 'signal'>): StoredRecord {
  return {
    seq: nextSeq++,
    source: 'opcua',
    receiveTimeNs: T0 + 1_000_000n,
    class: 'internal',
    routes: ['lake'],
    build: 'JOB-42',
    ...partial,
  };
}
const scalar = (signal: string, v: unknown, extra: Partial<StoredRecord> = {}) =>
  rec({ kind: 'scalar', contentType: CONTENT_TYPES.scalar, signal, body: Buffer.from(JSON.stringify(v)), ...extra });

function samplesBlock(channels: string[], frames: number[][], firstSample: number, extra: Partial<StoredRecord> = {}) {
  const body = Buffer.alloc(frames.length * channels.length * 4);
  frames.forEach((f, i) => {
    f.forEach((v, c) => {
      body.writeFloatLE(v, (i * channels.length + c) * 4);
    });
  });
  return rec({
    kind: 'samples',
    contentType: CONTENT_TYPES.samplesF32,
    signal: 'meltpool.photodiode',
    body,
    attributes: { channels: channels.join(','), sample_rate_hz: '100000', first_sample: String(firstSample) },
    ...extra,
  });
}

async function png(width: number, height: number): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height);
  for (let i = 0; i < pixels.length; i++) pixels[i] = i % 251;
  return sharp(pixels, { raw: { width, height, channels: 1 } })
    .png()
    .toBuffer();
}

async function listFiles(root: string): Promise<string[]> {
  const entries = await fs.readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
    .sort();
}

const P = 'machine=pbf-01/build=JOB-42';

describe('file-lake output', () => {
  it('writes scalars as Arrow files that pyarrow reads with the documented types and values', async () => {
    nextSeq = 1;
    const out = await lake();
    await out.send([
      scalar('chamber.o2', { v: 87.5, unit: 'ppm', quality: 'good' }, { sourceTimeNs: T0, layer: 17 }),
      scalar('chamber.o2', { v: 91.25, unit: 'ppm' }, { sourceTimeNs: T0 + 100_000_000n, layer: 17 }),
      scalar('machine.state', { v: 'exposing' }, { sourceTimeNs: T0 + 5n }),
      scalar('laser.on', { v: true }),
    ]);
    const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));

    const o2 = dump.files[`scalars/${P}/signal=chamber.o2/part-0000000000000001-0000000000000002.arrow`]!;
    expect(o2.rows).toBe(2);
    expect(o2.schema).toEqual({
      seq: 'int64',
      source: 'string',
      source_time_ns: 'timestamp[ns, tz=UTC]',
      receive_time_ns: 'timestamp[ns, tz=UTC]',
      layer: 'int32',
      class: 'string',
      value: 'double',
      value_text: 'string',
      unit: 'string',
      quality: 'string',
    });
    expect(o2.columns.seq).toEqual([1, 2]);
    expect(o2.columns.value).toEqual([87.5, 91.25]);
    expect(o2.columns.unit).toEqual(['ppm', 'ppm']);
    expect(o2.columns.quality).toEqual(['good', null]);
    expect(o2.columns.layer).toEqual([17, 17]);
    expect(o2.columns.class).toEqual(['internal', 'internal']);
    expect(o2.columns.source_time_ns).toEqual([String(T0), String(T0 + 100_000_000n)]);
    expect(o2.columns.receive_time_ns).toEqual([String(T0 + 1_000_000n), String(T0 + 1_000_000n)]);

    const state = dump.files[`scalars/${P}/signal=machine.state/part-0000000000000003-0000000000000003.arrow`]!;
    expect(state.columns.value).toEqual([null]);
    expect(state.columns.value_text).toEqual(['exposing']);
    expect(state.columns.layer).toEqual([null]);

    const laser = dump.files[`scalars/${P}/signal=laser.on/part-0000000000000004-0000000000000004.arrow`]!;
    expect(laser.columns.value).toEqual([1]);
    expect(laser.columns.value_text).toEqual(['true']);
    expect(laser.columns.source_time_ns).toEqual([null]);

    expect(dump.datasets.scalars!.rows).toBe(4);
    expect(dump.datasets.scalars!.partitions).toEqual([
      { machine: 'pbf-01', build: 'JOB-42', signal: 'chamber.o2' },
      { machine: 'pbf-01', build: 'JOB-42', signal: 'laser.on' },
      { machine: 'pbf-01', build: 'JOB-42', signal: 'machine.state' },
    ]);
    expect(out.stats()).toMatchObject({ files: 3, rows: 4, malformed: 0 });
  });

  it('writes one row per sample with a float32 column per channel', async () => {
    nextSeq = 10;
    const out = await lake();
    const a = [
      [0.5, -1.25],
      [0.75, 2.5],
      [1.1, 3.3],
    ];
    const b = [
      [9.9, -0.1],
      [1e-3, 1e3],
    ];
    await out.send([
      samplesBlock(['pd_a', 'pd_b'], a, 300, { sourceTimeNs: T0, layer: 5 }),
      samplesBlock(['pd_a', 'pd_b'], b, 303, { sourceTimeNs: T0 + 30_000n, layer: 5 }),
    ]);
    const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
    const f = dump.files[`samples/${P}/signal=meltpool.photodiode/part-0000000000000010-0000000000000011.arrow`]!;
    expect(f.rows).toBe(5);
    expect(f.schema).toEqual({
      seq: 'int64',
      sample_index: 'int64',
      time_ns: 'timestamp[ns, tz=UTC]',
      layer: 'int32',
      pd_a: 'float',
      pd_b: 'float',
    });
    expect(f.columns.seq).toEqual([10, 10, 10, 11, 11]);
    expect(f.columns.sample_index).toEqual([300, 301, 302, 303, 304]);
    expect(f.columns.pd_a).toEqual([...a, ...b].map((r) => Math.fround(r[0]!)));
    expect(f.columns.pd_b).toEqual([...a, ...b].map((r) => Math.fround(r[1]!)));
    // 100 kHz: 10 µs apart, from each block's source time (the time of its first sample)
    expect(f.columns.time_ns).toEqual([T0, T0 + 10_000n, T0 + 20_000n, T0 + 30_000n, T0 + 40_000n].map(String));
    expect(f.columns.layer).toEqual([5, 5, 5, 5, 5]);
    expect(out.stats().rows).toBe(5);
  });

  it('writes events as utf8 JSON and other bodies as binary', async () => {
    nextSeq = 20;
    const out = await lake();
    const event = { type: 'layer-start', layer: 3 };
    const opaque = Buffer.from([0, 1, 2, 0xff]);
    await out.send([
      rec({ kind: 'event', contentType: CONTENT_TYPES.event, signal: 'machine.events', body: Buffer.from(JSON.stringify(event)), attributes: { topic: 'x' } }),
      rec({ kind: 'document', contentType: 'application/octet-stream', signal: 'build.file', body: opaque, class: 'confidential' }),
    ]);
    const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
    const ev = dump.files[`events/${P}/signal=machine.events/part-0000000000000020-0000000000000020.arrow`]!;
    expect(ev.schema.body).toBe('string');
    expect(JSON.parse(ev.columns.body![0] as string)).toEqual(event);
    expect(ev.columns.content_type).toEqual([CONTENT_TYPES.event]);
    expect(JSON.parse(ev.columns.attributes![0] as string)).toEqual({ topic: 'x' });
    const raw = dump.files[`raw/${P}/signal=build.file/part-0000000000000021-0000000000000021.arrow`]!;
    expect(raw.schema.body).toBe('binary');
    expect(raw.columns.body).toEqual(['000102ff']);
    expect(raw.columns.kind).toEqual(['document']);
    expect(raw.columns.class).toEqual(['confidential']);
    expect(raw.columns.error).toEqual([null]);
  });

  it('writes frames as image files with their original bytes plus index rows', async () => {
    nextSeq = 30;
    const out = await lake();
    const small = await png(64, 48);
    const large = await png(320, 200);
    await out.send([
      rec({ kind: 'frame', contentType: 'image/png', signal: 'camera.after_recoat', body: small, layer: 7, class: 'sensitive' }),
      rec({ kind: 'frame', contentType: 'image/png', signal: 'camera.after_recoat', blob: await spoolBlob(large), layer: 8, class: 'sensitive' }),
    ]);
    const folder = path.join(dir, 'lake', 'images', P, 'signal=camera.after_recoat');
    expect((await fs.readdir(folder)).sort()).toEqual(['0000000000000030.png', '0000000000000031.png']);
    expect(await fs.readdir(path.join(dir, 'lake', 'frames', P, 'signal=camera.after_recoat'))).toEqual(['part-0000000000000030-0000000000000031.arrow']);
    expect(await fs.readFile(path.join(folder, '0000000000000030.png'))).toEqual(small);
    const meta30 = await sharp(path.join(folder, '0000000000000030.png')).metadata();
    const meta31 = await sharp(path.join(folder, '0000000000000031.png')).metadata();
    expect([meta30.width, meta30.height, meta30.format]).toEqual([64, 48, 'png']);
    expect([meta31.width, meta31.height]).toEqual([320, 200]);

    const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
    const index = dump.files[`frames/${P}/signal=camera.after_recoat/part-0000000000000030-0000000000000031.arrow`]!;
    expect(index.columns.file).toEqual([
      `images/${P}/signal=camera.after_recoat/0000000000000030.png`,
      `images/${P}/signal=camera.after_recoat/0000000000000031.png`,
    ]);
    expect(dump.datasets.frames!.rows).toBe(2);
    expect(dump.datasets.frames!.partitions).toEqual([{ machine: 'pbf-01', build: 'JOB-42', signal: 'camera.after_recoat' }]);
    expect(index.columns.layer).toEqual([7, 8]);
    expect(index.columns.size_bytes).toEqual([small.length, large.length]);
    expect(index.columns.sha256).toEqual([small, large].map((b) => createHash('sha256').update(b).digest('hex')));
    expect(index.columns.class).toEqual(['sensitive', 'sensitive']);
  });

  it('turns names into safe, reversible path segments', async () => {
    nextSeq = 40;
    const out = await lake();
    await out.send([scalar('laser/1 power=W', { v: 200 }, { build: undefined }), scalar('..', { v: 1 }, { build: 'Kunde ÄÖ/../x' })]);
    const files = await listFiles(path.join(dir, 'lake'));
    expect(files).toContain(
      'scalars/machine=pbf-01/build=__HIVE_DEFAULT_PARTITION__/signal=laser%2F1%20power%3DW/part-0000000000000040-0000000000000040.arrow',
    );
    expect(files).toContain('scalars/machine=pbf-01/build=Kunde%20%C3%84%C3%96%2F..%2Fx/signal=%2E%2E/part-0000000000000041-0000000000000041.arrow');
    const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
    expect(dump.datasets.scalars!.partitions).toEqual([
      { machine: 'pbf-01', build: null, signal: 'laser/1 power=W' },
      { machine: 'pbf-01', build: 'Kunde ÄÖ/../x', signal: '..' },
    ]);
    const long = 'x'.repeat(500);
    expect(partitionSegment(long).length).toBeLessThanOrEqual(120);
    expect(partitionSegment(long)).not.toBe(partitionSegment(`${long}y`));
  });

  it('stores a malformed body or a lost blob in the raw table with its error and loses nothing else', async () => {
    nextSeq = 50;
    const out = await lake();
    const first = scalar('chamber.o2', { v: 1 });
    const bad = rec({ kind: 'scalar', contentType: CONTENT_TYPES.scalar, signal: 'chamber.o2', body: Buffer.from('{"v": ') });
    const badSamples = samplesBlock(['a', 'b'], [[1, 2]], 0);
    badSamples.body = badSamples.body!.subarray(0, 6); // not a whole frame
    const last = scalar('chamber.o2', { v: 2 });
    const lostFrame = rec({ kind: 'frame', contentType: 'image/png', signal: 'camera', blob: { sha256: 'ab'.repeat(32), size: 1234 } });
    await out.send([first, bad, badSamples, last, lostFrame]);
    const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
    expect(dump.datasets.scalars!.rows).toBe(2);
    const raw = dump.files[`raw/${P}/signal=chamber.o2/part-0000000000000051-0000000000000051.arrow`]!;
    expect(raw.columns.error![0]).toMatch(/scalar body is not JSON/);
    expect(Buffer.from(raw.columns.body![0] as string, 'hex').toString()).toBe('{"v": ');
    const rawSamples = dump.files[`raw/${P}/signal=meltpool.photodiode/part-0000000000000052-0000000000000052.arrow`]!;
    expect(rawSamples.columns.error![0]).toMatch(/6 bytes is not a whole number of 2-channel float32 frames/);
    const rawFrame = dump.files[`raw/${P}/signal=camera/part-0000000000000054-0000000000000054.arrow`]!;
    expect(rawFrame.columns.error![0]).toBe(`body blob ${'ab'.repeat(32)} (1234 bytes) is missing from the spool`);
    expect(rawFrame.columns.kind).toEqual(['frame']);
    expect(out.stats().malformed).toBe(3);
  });

  it('a redelivered batch neither duplicates nor overwrites; a clash with other bytes is kept beside', async () => {
    nextSeq = 60;
    const out = await lake();
    const batch = [
      scalar('chamber.o2', { v: 1 }),
      scalar('chamber.o2', { v: 2 }),
      rec({ kind: 'frame', contentType: 'image/png', signal: 'camera', body: await png(8, 8) }),
    ];
    await out.send(batch);
    const before = await listFiles(path.join(dir, 'lake'));
    await out.send(batch); // at-least-once redelivery after a lost ack
    expect(await listFiles(path.join(dir, 'lake'))).toEqual(before);
    expect(out.stats().duplicateFilesSkipped).toBe(3);

    // same seqs, other content (a buffer whose seq restarted): nothing is overwritten
    nextSeq = 60;
    await out.send([scalar('chamber.o2', { v: 100 }), scalar('chamber.o2', { v: 200 })]);
    const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
    const folder = `scalars/${P}/signal=chamber.o2`;
    expect(dump.files[`${folder}/part-0000000000000060-0000000000000061.arrow`]!.columns.value).toEqual([1, 2]);
    expect(dump.files[`${folder}/part-0000000000000060-0000000000000061-dup1.arrow`]!.columns.value).toEqual([100, 200]);
  });

  it('splits a batch at rollEvery and cleans temp files of a crashed run at start', async () => {
    nextSeq = 70;
    const tmp = path.join(dir, 'lake', '.tmp');
    await fs.mkdir(tmp, { recursive: true });
    await fs.writeFile(path.join(tmp, 'half-written.tmp'), 'partial');
    const out = await lake({ rollEvery: { records: 3 } });
    expect(await fs.readdir(tmp)).toEqual([]);
    await out.send(Array.from({ length: 7 }, (_, i) => scalar('chamber.o2', { v: i })));
    const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
    expect(Object.entries(dump.files).map(([f, d]) => [path.basename(f), d.rows])).toEqual([
      ['part-0000000000000070-0000000000000072.arrow', 3],
      ['part-0000000000000073-0000000000000075.arrow', 3],
      ['part-0000000000000076-0000000000000076.arrow', 1],
    ]);
    expect(await fs.readdir(tmp)).toEqual([]); // nothing left behind after a successful send
  });

  it('writes Parquet (zstd, float32 as BYTE_STREAM_SPLIT) with the same tables and types', async () => {
    nextSeq = 80;
    const out = await lake({ format: 'parquet' });
    const frames = Array.from({ length: 500 }, (_, i) => [Math.sin(i / 10) * 3 + 0.001 * i, Math.cos(i / 7)]);
    await out.send([
      scalar('chamber.o2', { v: 87.5, unit: 'ppm' }, { sourceTimeNs: T0, layer: 3 }),
      samplesBlock(['pd_a', 'pd_b'], frames, 1000, { sourceTimeNs: T0 }),
      rec({ kind: 'frame', contentType: 'image/png', signal: 'camera', body: await png(16, 12) }),
    ]);
    const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
    const sc = dump.files[`scalars/${P}/signal=chamber.o2/part-0000000000000080-0000000000000080.parquet`]!;
    expect(sc.schema).toMatchObject({ seq: 'int64', source_time_ns: 'timestamp[ns, tz=UTC]', layer: 'int32', value: 'double' });
    expect(sc.columns.source_time_ns).toEqual([String(T0)]);
    expect(sc.columns.value).toEqual([87.5]);
    expect(sc.parquet!.value!.compression).toBe('ZSTD');

    const sm = dump.files[`samples/${P}/signal=meltpool.photodiode/part-0000000000000081-0000000000000081.parquet`]!;
    expect(sm.rows).toBe(500);
    expect(sm.schema).toMatchObject({ pd_a: 'float', pd_b: 'float', time_ns: 'timestamp[ns, tz=UTC]' });
    expect(sm.columns.pd_a).toEqual(frames.map((f) => Math.fround(f[0]!)));
    expect(sm.columns.sample_index![499]).toBe(1499);
    expect(sm.parquet!.pd_a!.encodings).toContain('BYTE_STREAM_SPLIT');
    expect(sm.parquet!.pd_b!.encodings).toContain('BYTE_STREAM_SPLIT');
    expect(sm.parquet!.seq!.encodings).not.toContain('BYTE_STREAM_SPLIT');

    expect(dump.datasets.frames!.rows).toBe(1);
    expect(dump.datasets.samples!.partitions).toEqual([{ machine: 'pbf-01', build: 'JOB-42', signal: 'meltpool.photodiode' }]);
    const image = path.join(dir, 'lake', dump.files[`frames/${P}/signal=camera/part-0000000000000082-0000000000000082.parquet`]!.columns.file![0] as string);
    expect((await sharp(image).metadata()).width).toBe(16);
  });

  it('validates its config with defaults and names a bad key', () => {
    const cfg = definition.configSchema.parse({});
    expect(cfg).toEqual({ format: 'arrow', rollEvery: { records: 1_000_000, bytes: 64 * 1024 * 1024 }, compactWindow: 3_600_000 });
    expect(definition.configSchema.parse({ compactWindow: '15m' }).compactWindow).toBe(900_000);
    const out = definition.create(cfg, { dataDir: '/var/lib/layergate', machine: 'm' }) as FileLakeOutput;
    expect(out.root).toBe('/var/lib/layergate/lake');
    expect(definition.capabilities(cfg).linger).toBe(60_000); // the forwarder linger the lake asks for
    const bad = definition.configSchema.safeParse({ format: 'csv', rollEvery: { records: 0 } });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => i.path.join('.')).sort()).toEqual(['format', 'rollEvery.records']);
  });
});

const HOUR = 3_600_000_000_000n;
/** a receive time in hour `h` after an hour boundary, `ms` into it */
const inHour = (h: number, ms: number) => (T0 / HOUR + BigInt(h)) * HOUR + BigInt(ms) * 1_000_000n;

/** table files of a lake folder, by name, with their seq ranges */
async function partFiles(folder: string): Promise<string[]> {
  return (await fs.readdir(folder)).filter((f) => f.startsWith('part-')).sort();
}

describe('file-lake compaction', () => {
  it('many small batches into one partition leave one file per window, every row exactly once', async () => {
    nextSeq = 1000;
    const out = await lake();
    const sent: { seq: number; v: number }[] = [];
    // 30 batches of one or two records for each of two signals (as the health input sends them),
    // receive times crossing one hour boundary after batch 20
    for (let b = 0; b < 30; b++) {
      const t = b < 20 ? inHour(0, 3_000_000 + b * 10_000) : inHour(1, b * 10_000);
      const batch = [scalar('chamber.o2', { v: b }, { receiveTimeNs: t })];
      if (b % 3 === 0) batch.push(scalar('chamber.o2', { v: b + 0.5 }, { receiveTimeNs: t }));
      batch.push(scalar('chamber.pressure', { v: -b }, { receiveTimeNs: t }));
      for (const r of batch) if (r.signal === 'chamber.o2') sent.push({ seq: r.seq, v: JSON.parse(r.body!.toString()).v as number });
      await out.send(batch);
    }
    // a restart in the same window: the new instance finds the partition's latest file and merges into it
    await out.stop();
    const again = await lake();
    const late = scalar('chamber.o2', { v: 99 }, { receiveTimeNs: inHour(1, 500_000) });
    sent.push({ seq: late.seq, v: 99 });
    await again.send([late]);

    const folder = path.join(dir, 'lake', 'scalars', P, 'signal=chamber.o2');
    const files = await partFiles(folder);
    expect(files).toHaveLength(2); // one per hour window
    expect(await partFiles(path.join(dir, 'lake', 'scalars', P, 'signal=chamber.pressure'))).toHaveLength(2);
    expect(await fs.readdir(path.join(dir, 'lake', '.tmp'))).toEqual([]);
    expect(again.stats().merges).toBe(1);

    const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
    const o2 = Object.entries(dump.files)
      .filter(([f]) => f.startsWith(`scalars/${P}/signal=chamber.o2/`))
      .sort(([a], [b]) => a.localeCompare(b));
    const seqs = o2.flatMap(([, d]) => d.columns.seq as number[]);
    const values = o2.flatMap(([, d]) => d.columns.value as number[]);
    expect(seqs).toEqual(sent.map((r) => r.seq)); // every row once, in seq order
    expect(values).toEqual(sent.map((r) => r.v));
    // each file's name states the seq range it holds, and its rows share one hour of receive time
    for (const [file, d] of o2) {
      const s = d.columns.seq as number[];
      expect(path.basename(file)).toBe(`part-${String(s[0]).padStart(16, '0')}-${String(s[s.length - 1]).padStart(16, '0')}.arrow`);
      const hours = new Set((d.columns.receive_time_ns as string[]).map((t) => BigInt(t) / HOUR));
      expect(hours.size).toBe(1);
    }
    expect(dump.datasets.scalars!.rows).toBe(sent.length + 30);
  });

  it('merges Parquet files too, and rows sent again after a merge are not written twice', async () => {
    nextSeq = 2000;
    const out = await lake({ format: 'parquet' });
    const t = inHour(0, 1000);
    const batches = [0, 1, 2].map((b) => [1, 2, 3].map((i) => scalar('chamber.o2', { v: b * 10 + i }, { receiveTimeNs: t })));
    await out.send(batches[0]!);
    await out.send(batches[1]!);
    // the ack of the second batch was lost: it comes again, with the third
    await out.send([...batches[1]!, ...batches[2]!]);
    const folder = path.join(dir, 'lake', 'scalars', P, 'signal=chamber.o2');
    expect(await partFiles(folder)).toEqual(['part-0000000000002000-0000000000002008.parquet']);
    const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
    const file = dump.files[`scalars/${P}/signal=chamber.o2/part-0000000000002000-0000000000002008.parquet`]!;
    expect(file.columns.seq).toEqual(range(2000, 2008));
    expect(file.columns.value).toEqual([1, 2, 3, 11, 12, 13, 21, 22, 23]);
    expect(file.parquet!.value!.compression).toBe('ZSTD');
    expect(out.stats()).toMatchObject({ merges: 2, duplicateFilesSkipped: 1, rows: 9 });
  });

  it('at start removes files a crash left behind after merging them, and keeps files with other rows', async () => {
    nextSeq = 3000;
    const t = inHour(0, 1000);
    const folder = path.join(dir, 'lake', 'scalars', P, 'signal=chamber.o2');
    const out = await lake();
    await out.send([scalar('chamber.o2', { v: 1 }, { receiveTimeNs: t }), scalar('chamber.o2', { v: 2 }, { receiveTimeNs: t })]);
    const small = path.join(dir, 'small.arrow');
    await fs.copyFile(path.join(folder, 'part-0000000000003000-0000000000003001.arrow'), small);
    await out.send([scalar('chamber.o2', { v: 3 }, { receiveTimeNs: t }), scalar('chamber.o2', { v: 4 }, { receiveTimeNs: t })]);
    expect(await partFiles(folder)).toEqual(['part-0000000000003000-0000000000003003.arrow']);
    // the crash: the merged file was published, the file it replaced not yet unlinked
    await fs.copyFile(small, path.join(folder, 'part-0000000000003000-0000000000003001.arrow'));
    // and a file inside that range with other rows (a buffer whose seq numbering restarted): not a leftover
    const other = path.join(dir, 'other');
    nextSeq = 3002;
    const otherLake = await lake({ path: other, compactWindow: 0 });
    await otherLake.send([scalar('chamber.o2', { v: 333 }, { receiveTimeNs: t })]);
    await fs.copyFile(
      path.join(other, 'scalars', P, 'signal=chamber.o2', 'part-0000000000003002-0000000000003002.arrow'),
      path.join(folder, 'part-0000000000003002-0000000000003002.arrow'),
    );
    await out.stop();

    const restarted = await lake();
    expect(await partFiles(folder)).toEqual(['part-0000000000003000-0000000000003003.arrow', 'part-0000000000003002-0000000000003002.arrow']);
    expect(restarted.stats().filesRemoved).toBe(1);
    const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
    expect(dump.files[`scalars/${P}/signal=chamber.o2/part-0000000000003000-0000000000003003.arrow`]!.columns.value).toEqual([1, 2, 3, 4]);
    expect(dump.files[`scalars/${P}/signal=chamber.o2/part-0000000000003002-0000000000003002.arrow`]!.columns.value).toEqual([333]);
  });

  it('never merges beyond rollEvery: a new file starts', async () => {
    nextSeq = 4000;
    const out = await lake({ rollEvery: { records: 5 } });
    const t = inHour(0, 1000);
    for (let i = 0; i < 12; i++) await out.send([scalar('chamber.o2', { v: i }, { receiveTimeNs: t })]);
    await out.send(Array.from({ length: 7 }, (_, i) => scalar('chamber.o2', { v: 12 + i }, { receiveTimeNs: t })));
    const folder = path.join(dir, 'lake', 'scalars', P, 'signal=chamber.o2');
    // the 7-record batch is split at rollEvery (5 + 2) first; neither part fits beside the 2-row file
    expect(await partFiles(folder)).toEqual([
      'part-0000000000004000-0000000000004004.arrow',
      'part-0000000000004005-0000000000004009.arrow',
      'part-0000000000004010-0000000000004011.arrow',
      'part-0000000000004012-0000000000004016.arrow',
      'part-0000000000004017-0000000000004018.arrow',
    ]);
    const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
    expect(Object.values(dump.files).flatMap((d) => d.columns.value as number[])).toEqual(range(0, 18));
  });

  it('a damaged latest file is left alone: the next batch goes to a new file and nothing blocks', async () => {
    nextSeq = 6000;
    const t = inHour(0, 1000);
    const folder = path.join(dir, 'lake', 'scalars', P, 'signal=chamber.o2');
    const out = await lake();
    await out.send([scalar('chamber.o2', { v: 1 }, { receiveTimeNs: t })]);
    await fs.writeFile(path.join(folder, 'part-0000000000006000-0000000000006000.arrow'), 'not arrow'); // damaged by hand
    await out.send([scalar('chamber.o2', { v: 2 }, { receiveTimeNs: t })]);
    expect(await partFiles(folder)).toEqual(['part-0000000000006000-0000000000006000.arrow', 'part-0000000000006001-0000000000006001.arrow']);
    expect(await fs.readFile(path.join(folder, 'part-0000000000006000-0000000000006000.arrow'), 'utf8')).toBe('not arrow');
    // later batches merge into the new file; a restart does not remove the damaged one
    await out.send([scalar('chamber.o2', { v: 3 }, { receiveTimeNs: t })]);
    await out.stop();
    await lake();
    expect(await partFiles(folder)).toEqual(['part-0000000000006000-0000000000006000.arrow', 'part-0000000000006001-0000000000006002.arrow']);
  });

  it('compactWindow 0 turns compaction off: one file per batch and partition', async () => {
    nextSeq = 5000;
    const out = await lake({ compactWindow: 0 });
    for (let i = 0; i < 3; i++) await out.send([scalar('chamber.o2', { v: i })]);
    expect(await partFiles(path.join(dir, 'lake', 'scalars', P, 'signal=chamber.o2'))).toHaveLength(3);
    expect(out.stats().merges).toBe(0);
  });
});

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
