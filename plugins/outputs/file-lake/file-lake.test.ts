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
import { Schema, Table, Utf8, makeVector, tableToIPC, vectorFromArray } from 'apache-arrow';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { OutputContext } from '../../../gateway/plugin-api/contract.js';
import { CONTENT_TYPES, encodeScalarBody } from '../../../gateway/plugin-api/record.js';
import type { BlobRef, ScalarValue, StoredRecord, ValueType } from '../../../gateway/plugin-api/record.js';
import { readLakeWithPyarrow, setupPython } from '../../../test/tools/pyarrow.js';
import type { ArrowFileDump } from '../../../test/tools/pyarrow.js';
import { partitionSegment } from '../shared/layout.js';
import { readTableFile } from '../shared/table-files.js';
import type { Merger } from './compaction.js';
import { FileLakeOutput, definition } from './index.js';
import { startBatchWorker, workerBatchWriter } from './batch-worker.js';
import { inlineMerger } from './merge-worker.js';
import { tsxPrelude } from '../../../gateway/plugin-api/worker-thread.js';

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

const lakes: FileLakeOutput[] = [];
afterEach(async () => {
  for (const l of lakes.splice(0)) await l.stop();
});

/** A started lake; its compaction merges inline (tests call compactNow) unless a merger is given. */
async function lake(config: Record<string, unknown> = {}, merger: Merger = inlineMerger()): Promise<FileLakeOutput> {
  const out = new FileLakeOutput(definition.configSchema.parse({ path: path.join(dir, 'lake'), ...config }), { dataDir: dir, machine: 'pbf-01' }, { merger });
  await out.start(context());
  lakes.push(out);
  return out;
}

/** The rows of one signal in a dumped file, column by column. */
function ofSignal(file: ArrowFileDump, signal: string): Record<string, unknown[]> {
  const keep = (file.columns.signal as string[]).map((s) => s === signal);
  return Object.fromEntries(Object.entries(file.columns).map(([name, values]) => [name, values.filter((_, i) => keep[i])]));
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
const SIGNAL_TYPE = 'dictionary<values=string, indices=int32, ordered=0>';
/** The scalars table's columns as pyarrow names their types (columns.ts scalarTable). */
const SCALAR_SCHEMA = {
  seq: 'int64',
  source: 'string',
  signal: SIGNAL_TYPE,
  source_time_ns: 'timestamp[ns, tz=UTC]',
  receive_time_ns: 'timestamp[ns, tz=UTC]',
  layer: 'int32',
  class: 'string',
  value: 'double',
  value_int: 'int64',
  value_uint: 'uint64',
  value_bool: 'bool',
  value_time: 'timestamp[ns, tz=UTC]',
  value_bytes: 'binary',
  value_text: 'string',
  value_type: 'string',
  unit: 'string',
  quality: 'string',
};
const scalar = (signal: string, v: unknown, extra: Partial<StoredRecord> = {}) =>
  rec({ kind: 'scalar', contentType: CONTENT_TYPES.scalar, signal, body: Buffer.from(JSON.stringify(v)), ...extra });

/** A samples record; `blockSeq` is the sender's block sequence (attribute `seq`), absent when not given. */
function samplesBlock(
  channels: string[],
  frames: number[][],
  firstSample: number,
  extra: Partial<StoredRecord> = {},
  block: { blockSeq?: number; rateHz?: number } = {},
) {
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
    attributes: {
      channels: channels.join(','),
      sample_rate_hz: String(block.rateHz ?? 100_000),
      first_sample: String(firstSample),
      ...(block.blockSeq !== undefined ? { seq: String(block.blockSeq) } : {}),
    },
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

/** the partition of every record here: machine, build, and the UTC date of T0 (2025-11-24T16:00:00Z) */
const DATE = 'date=2025-11-24';
const P = `machine=pbf-01/build=JOB-42/${DATE}`;

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

    // one file for the batch's partition, the signal a column, rows sorted by signal then seq
    const file = dump.files[`scalars/${P}/part-0000000000000001-0000000000000004.arrow`]!;
    expect(file.rows).toBe(4);
    expect(file.schema).toEqual(SCALAR_SCHEMA);
    expect(file.columns.signal).toEqual(['chamber.o2', 'chamber.o2', 'laser.on', 'machine.state']);
    expect(file.columns.seq).toEqual([1, 2, 4, 3]);

    const o2 = ofSignal(file, 'chamber.o2');
    expect(o2.seq).toEqual([1, 2]);
    expect(o2.value).toEqual([87.5, 91.25]);
    expect(o2.value_type).toEqual(['float64', 'float64']);
    expect(o2.unit).toEqual(['ppm', 'ppm']);
    expect(o2.quality).toEqual(['good', null]);
    expect(o2.layer).toEqual([17, 17]);
    expect(o2.class).toEqual(['internal', 'internal']);
    expect(o2.source_time_ns).toEqual([String(T0), String(T0 + 100_000_000n)]);
    expect(o2.receive_time_ns).toEqual([String(T0 + 1_000_000n), String(T0 + 1_000_000n)]);

    const state = ofSignal(file, 'machine.state');
    expect(state.value).toEqual([null]);
    expect(state.value_text).toEqual(['exposing']);
    expect(state.value_type).toEqual(['string']);
    expect(state.layer).toEqual([null]);

    const laser = ofSignal(file, 'laser.on');
    expect(laser.value).toEqual([1]);
    expect(laser.value_bool).toEqual([true]);
    expect(laser.value_type).toEqual(['bool']);
    expect(laser.source_time_ns).toEqual([null]);

    expect(dump.datasets.scalars!.rows).toBe(4);
    expect(dump.datasets.scalars!.partitions).toEqual([{ machine: 'pbf-01', build: 'JOB-42', date: '2025-11-24' }]);
    expect(dump.datasets.scalars!.signals).toEqual(['chamber.o2', 'laser.on', 'machine.state']);
    expect(out.stats()).toMatchObject({ files: 1, rows: 4, malformed: 0 });
  });

  it.each(['arrow', 'parquet'])(
    'keeps every value type exact in its own column (%s): 64-bit integers, float32, NaN, -0, datetime, bytes, arrays',
    async (format) => {
      nextSeq = 1;
      const out = await lake({ format });
      const typed = (signal: string, type: ValueType, v: ScalarValue) =>
        rec({ kind: 'scalar', contentType: CONTENT_TYPES.scalar, signal, body: encodeScalarBody({ type, v }) });
      await out.send([
        typed('a.int64.min', 'int64', -(2n ** 63n)),
        typed('b.int64.big', 'int64', 2n ** 53n + 1n),
        typed('c.uint64.max', 'uint64', 2n ** 64n - 1n),
        typed('d.int16', 'int16', -300),
        typed('e.uint32', 'uint32', 4294967295),
        typed('f.float32', 'float32', Math.fround(0.1)),
        typed('g.nan', 'float64', Number.NaN),
        typed('h.negzero', 'float64', -0),
        typed('i.when', 'datetime', 1_764_756_000_123_456_789n),
        typed('j.bytes', 'bytes', new Uint8Array([0, 255, 7])),
        typed('k.array', 'int64[]', [1n, -(2n ** 63n)]),
        typed('l.inf', 'float32', Number.NEGATIVE_INFINITY),
      ]);
      const before = Object.values((await readLakeWithPyarrow(path.join(dir, 'lake'))).files)[0]!;
      // the same values again, one batch each (one file each), merged into one file by the compactor
      nextSeq = 100;
      const again = await lake({ format });
      for (const r of [
        typed('m.bool', 'bool', false),
        typed('n.uint64', 'uint64', 2n ** 63n),
        typed('o.bytes', 'bytes', new Uint8Array([1])),
        typed('p.bool', 'bool', true),
      ])
        await again.send([{ ...r, receiveTimeNs: T0 + 2_000_000n }]);
      await again.compactNow();
      const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
      // the compactor merged the whole window (the first file and the four new ones) into one file
      const files = Object.values(dump.files);
      expect(files).toHaveLength(1);
      const m = files[0]!.columns;
      const at = (name: string, seq: number) => m[name]![(m.seq as number[]).indexOf(seq)];
      expect([100, 101, 102, 103].map((q) => at('value_bool', q))).toEqual([false, null, null, true]);
      expect([100, 101, 102, 103].map((q) => at('value_uint', q))).toEqual([null, '9223372036854775808', null, null]);
      expect([100, 101, 102, 103].map((q) => at('value_bytes', q))).toEqual([null, null, '01', null]);
      expect(at('value_uint', 3)).toBe('18446744073709551615');
      expect(at('value_int', 2)).toBe('9007199254740993');
      const file = before;
      expect(file.schema).toEqual(SCALAR_SCHEMA);
      const col = (name: string) => file.columns[name]!;
      expect(col('signal')).toEqual([
        'a.int64.min',
        'b.int64.big',
        'c.uint64.max',
        'd.int16',
        'e.uint32',
        'f.float32',
        'g.nan',
        'h.negzero',
        'i.when',
        'j.bytes',
        'k.array',
        'l.inf',
      ]);
      expect(col('value_type')).toEqual([
        'int64',
        'int64',
        'uint64',
        'int16',
        'uint32',
        'float32',
        'float64',
        'float64',
        'datetime',
        'bytes',
        'int64[]',
        'float32',
      ]);
      expect(col('value_int')).toEqual(['-9223372036854775808', '9007199254740993', null, -300, null, null, null, null, null, null, null, null]);
      expect(col('value_uint')).toEqual([null, null, '18446744073709551615', null, 4294967295, null, null, null, null, null, null, null]);
      // the float64 column only where a double holds the value exactly
      expect(col('value')).toEqual([-(2 ** 63), null, null, -300, 4294967295, Math.fround(0.1), 'nan', -0, null, null, null, '-inf']);
      expect(Object.is(col('value')[7], -0)).toBe(true);
      expect(col('value_time')).toEqual([null, null, null, null, null, null, null, null, '1764756000123456789', null, null, null]);
      expect(col('value_bytes')).toEqual([null, null, null, null, null, null, null, null, null, '00ff07', null, null]);
      expect(col('value_text')).toEqual([null, null, null, null, null, null, null, null, null, null, '["1","-9223372036854775808"]', null]);
    },
  );

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
    const f = dump.files[`samples/${P}/part-0000000000000010-0000000000000011.arrow`]!;
    expect(f.rows).toBe(5);
    expect(f.schema).toEqual({
      seq: 'int64',
      signal: SIGNAL_TYPE,
      sample_index: 'int64',
      time_ns: 'timestamp[ns, tz=UTC]',
      layer: 'int32',
      block_seq: 'int64',
      sample_rate_hz: 'double',
      pd_a: 'float',
      pd_b: 'float',
    });
    expect(f.columns.seq).toEqual([10, 10, 10, 11, 11]);
    expect(f.columns.signal).toEqual(Array(5).fill('meltpool.photodiode'));
    expect(f.columns.sample_index).toEqual([300, 301, 302, 303, 304]);
    expect(f.columns.pd_a).toEqual([...a, ...b].map((r) => Math.fround(r[0]!)));
    expect(f.columns.pd_b).toEqual([...a, ...b].map((r) => Math.fround(r[1]!)));
    // 100 kHz: 10 µs apart, from each block's source time (the time of its first sample)
    expect(f.columns.time_ns).toEqual([T0, T0 + 10_000n, T0 + 20_000n, T0 + 30_000n, T0 + 40_000n].map(String));
    expect(f.columns.layer).toEqual([5, 5, 5, 5, 5]);
    // these blocks carry no sender sequence (as JSON sample arrays): null, not a made-up number
    expect(f.columns.block_seq).toEqual([null, null, null, null, null]);
    expect(f.columns.sample_rate_hz).toEqual([100_000, 100_000, 100_000, 100_000, 100_000]);
    expect(out.stats().rows).toBe(5);
  });

  it("blocks with the sender's sequence 5, 6, 8: block_seq and sample_rate_hz per row show the lost block 7 and each block's rate", async () => {
    nextSeq = 15;
    const out = await lake({ format: 'parquet' });
    const frames = (n: number, base: number) => Array.from({ length: n }, (_, i) => [base + i, -(base + i)]);
    await out.send([
      samplesBlock(['pd_a', 'pd_b'], frames(3, 0), 0, { sourceTimeNs: T0, layer: 7 }, { blockSeq: 5 }),
      samplesBlock(['pd_a', 'pd_b'], frames(3, 10), 3, { sourceTimeNs: T0 + 30_000n, layer: 7 }, { blockSeq: 6 }),
      // block 7 never arrived; block 8 comes at half the rate
      samplesBlock(['pd_a', 'pd_b'], frames(2, 20), 9, { sourceTimeNs: T0 + 90_000n, layer: 7 }, { blockSeq: 8, rateHz: 50_000 }),
      // a channel named like a column would overwrite it: the block goes to the raw table, the rest is written
      samplesBlock(['block_seq', 'pd_b'], frames(1, 30), 11, { sourceTimeNs: T0 + 130_000n, layer: 7 }, { blockSeq: 9 }),
    ]);
    const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
    const f = dump.files[`samples/${P}/part-0000000000000015-0000000000000017.parquet`]!;
    expect(f.schema).toMatchObject({ layer: 'int32', block_seq: 'int64', sample_rate_hz: 'double', pd_a: 'float' });
    expect(Object.keys(f.schema)).toEqual(['seq', 'signal', 'sample_index', 'time_ns', 'layer', 'block_seq', 'sample_rate_hz', 'pd_a', 'pd_b']);
    expect(f.columns.seq).toEqual([15, 15, 15, 16, 16, 16, 17, 17]);
    expect(f.columns.block_seq).toEqual([5, 5, 5, 6, 6, 6, 8, 8]);
    expect(f.columns.sample_rate_hz).toEqual([100_000, 100_000, 100_000, 100_000, 100_000, 100_000, 50_000, 50_000]);
    expect(f.columns.time_ns!.slice(6)).toEqual([T0 + 90_000n, T0 + 110_000n].map(String));
    expect(f.columns.pd_a).toEqual([0, 1, 2, 10, 11, 12, 20, 21]);
    // the reader finds the gap from the table alone
    const seen = new Set(f.columns.block_seq as number[]);
    const lost = range(Math.min(...seen), Math.max(...seen)).filter((b) => !seen.has(b));
    expect(lost).toEqual([7]);
    // the block's repeated values cost a dictionary entry per block, not a value per row
    expect(f.parquet!.block_seq!.encodings).toContain('RLE_DICTIONARY');
    expect(f.parquet!.sample_rate_hz!.encodings).toContain('RLE_DICTIONARY');
    const raw = dump.files[`raw/${P}/part-0000000000000018-0000000000000018.parquet`]!;
    expect(raw.columns.error).toEqual(['samples channel "block_seq" has the name of a samples table column']);
    expect(out.stats()).toMatchObject({ rows: 9, malformed: 1 });
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
    const ev = dump.files[`events/${P}/part-0000000000000020-0000000000000020.arrow`]!;
    expect(ev.schema.body).toBe('string');
    expect(ev.columns.signal).toEqual(['machine.events']);
    expect(JSON.parse(ev.columns.body![0] as string)).toEqual(event);
    expect(ev.columns.content_type).toEqual([CONTENT_TYPES.event]);
    expect(JSON.parse(ev.columns.attributes![0] as string)).toEqual({ topic: 'x' });
    const raw = dump.files[`raw/${P}/part-0000000000000021-0000000000000021.arrow`]!;
    expect(raw.schema.body).toBe('binary');
    expect(raw.columns.signal).toEqual(['build.file']);
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
    const folder = path.join(dir, 'lake', 'images', P);
    expect((await fs.readdir(folder)).sort()).toEqual(['0000000000000030.png', '0000000000000031.png']);
    expect(await fs.readdir(path.join(dir, 'lake', 'frames', P))).toEqual(['part-0000000000000030-0000000000000031.arrow']);
    expect(await fs.readFile(path.join(folder, '0000000000000030.png'))).toEqual(small);
    const meta30 = await sharp(path.join(folder, '0000000000000030.png')).metadata();
    const meta31 = await sharp(path.join(folder, '0000000000000031.png')).metadata();
    expect([meta30.width, meta30.height, meta30.format]).toEqual([64, 48, 'png']);
    expect([meta31.width, meta31.height]).toEqual([320, 200]);

    const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
    const index = dump.files[`frames/${P}/part-0000000000000030-0000000000000031.arrow`]!;
    expect(index.columns.file).toEqual([`images/${P}/0000000000000030.png`, `images/${P}/0000000000000031.png`]);
    expect(index.columns.signal).toEqual(['camera.after_recoat', 'camera.after_recoat']);
    expect(dump.datasets.frames!.rows).toBe(2);
    expect(dump.datasets.frames!.partitions).toEqual([{ machine: 'pbf-01', build: 'JOB-42', date: '2025-11-24' }]);
    expect(index.columns.layer).toEqual([7, 8]);
    expect(index.columns.size_bytes).toEqual([small.length, large.length]);
    expect(index.columns.sha256).toEqual([small, large].map((b) => createHash('sha256').update(b).digest('hex')));
    expect(index.columns.class).toEqual(['sensitive', 'sensitive']);
  });

  it('turns names into safe, reversible path segments; signal names are column values as they are', async () => {
    nextSeq = 40;
    const out = await lake();
    await out.send([scalar('laser/1 power=W', { v: 200 }, { build: undefined }), scalar('..', { v: 1 }, { build: 'Kunde ÄÖ/../x' })]);
    const files = await listFiles(path.join(dir, 'lake'));
    expect(files).toContain(`scalars/machine=pbf-01/build=__HIVE_DEFAULT_PARTITION__/${DATE}/part-0000000000000040-0000000000000040.arrow`);
    expect(files).toContain(`scalars/machine=pbf-01/build=Kunde%20%C3%84%C3%96%2F..%2Fx/${DATE}/part-0000000000000041-0000000000000041.arrow`);
    const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
    expect(dump.datasets.scalars!.partitions).toEqual([
      { machine: 'pbf-01', build: null, date: '2025-11-24' },
      { machine: 'pbf-01', build: 'Kunde ÄÖ/../x', date: '2025-11-24' },
    ]);
    expect(dump.datasets.scalars!.signals).toEqual(['..', 'laser/1 power=W']);
    const long = 'x'.repeat(500);
    expect(partitionSegment(long).length).toBeLessThanOrEqual(120);
    expect(partitionSegment(long)).not.toBe(partitionSegment(`${long}y`));
  });

  it('partitions by the UTC date of the receive time', async () => {
    nextSeq = 45;
    const out = await lake();
    const midnight = BigInt(Date.UTC(2026, 0, 1)) * 1_000_000n;
    await out.send([scalar('a', { v: 1 }, { receiveTimeNs: midnight - 1n }), scalar('a', { v: 2 }, { receiveTimeNs: midnight })]);
    expect(await listFiles(path.join(dir, 'lake', 'scalars'))).toEqual([
      'machine=pbf-01/build=JOB-42/date=2025-12-31/part-0000000000000045-0000000000000045.arrow',
      'machine=pbf-01/build=JOB-42/date=2026-01-01/part-0000000000000046-0000000000000046.arrow',
    ]);
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
    const rawFile = dump.files[`raw/${P}/part-0000000000000051-0000000000000054.arrow`]!;
    const raw = ofSignal(rawFile, 'chamber.o2');
    expect(raw.seq).toEqual([51]);
    expect(raw.error![0]).toMatch(/scalar body is not JSON/);
    expect(Buffer.from(raw.body![0] as string, 'hex').toString()).toBe('{"v": ');
    const rawSamples = ofSignal(rawFile, 'meltpool.photodiode');
    expect(rawSamples.error![0]).toMatch(/6 bytes is not a whole number of 2-channel float32 frames/);
    const rawFrame = ofSignal(rawFile, 'camera');
    expect(rawFrame.error![0]).toBe(`body blob ${'ab'.repeat(32)} (1234 bytes) is missing from the spool`);
    expect(rawFrame.kind).toEqual(['frame']);
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
    const folder = `scalars/${P}`;
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

  it('writes Parquet (zstd, float32 as BYTE_STREAM_SPLIT, signal dictionary-encoded) with the same tables and types', async () => {
    nextSeq = 80;
    const out = await lake({ format: 'parquet' });
    const frames = Array.from({ length: 500 }, (_, i) => [Math.sin(i / 10) * 3 + 0.001 * i, Math.cos(i / 7)]);
    await out.send([
      scalar('chamber.o2', { v: 87.5, unit: 'ppm' }, { sourceTimeNs: T0, layer: 3 }),
      samplesBlock(['pd_a', 'pd_b'], frames, 1000, { sourceTimeNs: T0 }),
      rec({ kind: 'frame', contentType: 'image/png', signal: 'camera', body: await png(16, 12) }),
    ]);
    const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
    const sc = dump.files[`scalars/${P}/part-0000000000000080-0000000000000080.parquet`]!;
    expect(sc.schema).toMatchObject({ seq: 'int64', signal: SIGNAL_TYPE, source_time_ns: 'timestamp[ns, tz=UTC]', layer: 'int32', value: 'double' });
    expect(sc.columns.source_time_ns).toEqual([String(T0)]);
    expect(sc.columns.value).toEqual([87.5]);
    expect(sc.parquet!.value!.compression).toBe('ZSTD');
    expect(sc.parquet!.signal!.encodings).toContain('RLE_DICTIONARY');

    const sm = dump.files[`samples/${P}/part-0000000000000081-0000000000000081.parquet`]!;
    expect(sm.rows).toBe(500);
    expect(sm.schema).toMatchObject({ pd_a: 'float', pd_b: 'float', time_ns: 'timestamp[ns, tz=UTC]', signal: SIGNAL_TYPE });
    expect(sm.columns.pd_a).toEqual(frames.map((f) => Math.fround(f[0]!)));
    expect(sm.columns.sample_index![499]).toBe(1499);
    expect(sm.parquet!.pd_a!.encodings).toContain('BYTE_STREAM_SPLIT');
    expect(sm.parquet!.pd_b!.encodings).toContain('BYTE_STREAM_SPLIT');
    expect(sm.parquet!.seq!.encodings).not.toContain('BYTE_STREAM_SPLIT');

    expect(dump.datasets.frames!.rows).toBe(1);
    expect(dump.datasets.samples!.partitions).toEqual([{ machine: 'pbf-01', build: 'JOB-42', date: '2025-11-24' }]);
    expect(dump.datasets.samples!.signals).toEqual(['meltpool.photodiode']);
    const image = path.join(dir, 'lake', dump.files[`frames/${P}/part-0000000000000082-0000000000000082.parquet`]!.columns.file![0] as string);
    expect((await sharp(image).metadata()).width).toBe(16);
  });

  it('validates its config with defaults and names a bad key', () => {
    const cfg = definition.configSchema.parse({});
    expect(cfg).toEqual({ format: 'arrow', rollEvery: { records: 1_000_000, bytes: 64 * 1024 * 1024 }, compactWindow: 3_600_000, compactEvery: 60_000 });
    expect(definition.configSchema.parse({ compactWindow: '15m' }).compactWindow).toBe(900_000);
    const out = definition.create(cfg, { dataDir: '/var/lib/layergate', machine: 'm' }) as FileLakeOutput;
    expect(out.root).toBe('/var/lib/layergate/lake');
    // what the lake asks of the forwarder: a linger, batches sized for files, and no send timeout (its
    // send is local work that ends; gateway/forward/forwarder.test.ts shows a slow one is sent once)
    expect(definition.capabilities(cfg)).toMatchObject({ linger: 60_000, batchRecords: 50_000, batchBytes: 16 * 1024 * 1024, sendTimeoutMs: null });
    const bad = definition.configSchema.safeParse({ format: 'csv', rollEvery: { records: 0 } });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => i.path.join('.')).sort()).toEqual(['format', 'rollEvery.records']);
  });
});

const HOUR = 3_600_000_000_000n;
/** a receive time in hour `h` after an hour boundary, `ms` into it */
const inHour = (h: number, ms: number) => (T0 / HOUR + BigInt(h)) * HOUR + BigInt(ms) * 1_000_000n;

/** table files of a lake folder, by name */
async function partFiles(folder: string): Promise<string[]> {
  return (await fs.readdir(folder)).filter((f) => f.startsWith('part-')).sort();
}

/** Every row of a table in a lake (all files), as [signal, seq, value] read back with pyarrow, sorted by seq. */
async function scalarRows(root: string): Promise<[string, number, unknown][]> {
  const dump = await readLakeWithPyarrow(root);
  return Object.entries(dump.files)
    .filter(([f]) => f.startsWith('scalars/'))
    .flatMap(([, d]) => (d.columns.seq as number[]).map((seq, i): [string, number, unknown] => [d.columns.signal![i] as string, seq, d.columns.value![i]]))
    .sort((a, b) => a[1] - b[1]);
}

/** Rows of a file are sorted by signal, then seq. */
function sortedBySignalThenSeq(d: ArrowFileDump): boolean {
  const signals = d.columns.signal as string[];
  const seqs = d.columns.seq as number[];
  return signals.every((s, i) => i === 0 || signals[i - 1]! < s || (signals[i - 1] === s && seqs[i - 1]! <= seqs[i]!));
}

describe('file-lake compaction', () => {
  it('5,000 signals over several batches: one folder per table, machine, build and date, a file per batch, merged into one; every value once', async () => {
    nextSeq = 100_000;
    const out = await lake();
    const signals = Array.from({ length: 5000 }, (_, i) => `ns=2;s=Line1.Item${String(i).padStart(4, '0')}`);
    const sent = new Map<number, { signal: string; v: number }>();
    // 6 cycles of 5,000 items at 10 Hz, sent in 3 batches of 10,000 records (as the forwarder would)
    for (let b = 0; b < 3; b++) {
      const batch: StoredRecord[] = [];
      for (let c = 0; c < 2; c++) {
        const cycle = b * 2 + c;
        for (const [i, signal] of signals.entries()) {
          const v = cycle * 10_000 + i + 0.25;
          const r = scalar(signal, { v, unit: 'mm/s' }, { receiveTimeNs: inHour(0, 1000 + cycle * 100), sourceTimeNs: inHour(0, 990 + cycle * 100) });
          sent.set(r.seq, { signal, v });
          batch.push(r);
        }
      }
      await out.send(batch);
    }
    const table = path.join(dir, 'lake', 'scalars');
    const folders = (await fs.readdir(table, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isDirectory())
      .map((e) => path.relative(table, path.join(e.parentPath, e.name)));
    expect(folders.sort()).toEqual(['machine=pbf-01', 'machine=pbf-01/build=JOB-42', `machine=pbf-01/build=JOB-42/${DATE}`]);
    expect(await partFiles(path.join(table, P))).toHaveLength(3);

    await out.compactNow();
    const files = await partFiles(path.join(table, P));
    expect(files).toEqual(['part-0000000000100000-0000000000129999.arrow']);
    expect(out.stats()).toMatchObject({ merges: 1, filesRemoved: 3 });

    // with our own reader: exact values, sorted by signal then seq
    const merged = await readTableFile(path.join(table, P, files[0]!));
    expect(merged.numRows).toBe(30_000);
    const seqs = merged.getChild('seq')!.toArray() as BigInt64Array;
    const names = [...merged.getChild('signal')!] as string[];
    const values = merged.getChild('value')!.toArray() as Float64Array;
    const seen = new Set<number>();
    for (let i = 0; i < merged.numRows; i++) {
      const seq = Number(seqs[i]);
      expect(seen.has(seq)).toBe(false);
      seen.add(seq);
      expect([names[i], values[i]]).toEqual([sent.get(seq)!.signal, sent.get(seq)!.v]);
      if (i > 0) expect(names[i - 1]! < names[i]! || (names[i - 1] === names[i] && seqs[i - 1]! < seqs[i]!)).toBe(true);
    }
    expect(seen.size).toBe(sent.size);

    // and with pyarrow
    const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
    const d = dump.files[`scalars/${P}/${files[0]}`]!;
    expect(sortedBySignalThenSeq(d)).toBe(true);
    expect(dump.datasets.scalars!.rows).toBe(30_000);
    expect(dump.datasets.scalars!.signals).toHaveLength(5000);
    const pyRows = (d.columns.seq as number[]).map((seq, i) => [seq, d.columns.signal![i], d.columns.value![i], d.columns.unit![i]]);
    expect(pyRows.sort((a, b) => (a[0] as number) - (b[0] as number))).toEqual([...sent].map(([seq, r]) => [seq, r.signal, r.v, 'mm/s']));
  });

  it('merges the small files of each window into one, never across windows; a restart merges what an earlier run left', async () => {
    nextSeq = 1000;
    const out = await lake();
    const sent: [string, number, unknown][] = [];
    // 30 batches of two or three records (as the health input sends them), receive times crossing one
    // hour boundary after batch 20
    for (let b = 0; b < 30; b++) {
      const t = b < 20 ? inHour(0, 3_000_000 + b * 10_000) : inHour(1, b * 10_000);
      const batch = [scalar('chamber.o2', { v: b }, { receiveTimeNs: t })];
      if (b % 3 === 0) batch.push(scalar('chamber.o2', { v: b + 0.5 }, { receiveTimeNs: t }));
      batch.push(scalar('chamber.pressure', { v: -b }, { receiveTimeNs: t }));
      for (const r of batch) sent.push([r.signal, r.seq, JSON.parse(r.body!.toString()).v]);
      await out.send(batch);
    }
    const folder = path.join(dir, 'lake', 'scalars', P);
    expect(await partFiles(folder)).toHaveLength(30); // one file per batch: nothing merged on the ack path
    await out.compactNow();
    expect(await partFiles(folder)).toHaveLength(2); // one per hour window
    expect(out.stats().merges).toBe(2);
    expect(await fs.readdir(path.join(dir, 'lake', '.tmp'))).toEqual([]);

    // a restart in the same window: the new instance merges its file into what it finds
    await out.stop();
    const again = await lake();
    const late = scalar('chamber.o2', { v: 99 }, { receiveTimeNs: inHour(1, 500_000) });
    sent.push(['chamber.o2', late.seq, 99]);
    await again.send([late]);
    await again.compactNow();
    expect(await partFiles(folder)).toHaveLength(2);
    expect(again.stats().merges).toBe(1);

    expect(await scalarRows(path.join(dir, 'lake'))).toEqual(sent); // every row once
    const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
    for (const [file, d] of Object.entries(dump.files)) {
      // each file's rows share one hour of receive time, sorted by signal then seq, its name its seq range
      expect(new Set((d.columns.receive_time_ns as string[]).map((t) => BigInt(t) / HOUR)).size).toBe(1);
      expect(sortedBySignalThenSeq(d)).toBe(true);
      const s = d.columns.seq as number[];
      expect(path.basename(file)).toBe(`part-${String(Math.min(...s)).padStart(16, '0')}-${String(Math.max(...s)).padStart(16, '0')}.arrow`);
    }
  });

  it('merges Parquet files too, and a batch sent again after its file was merged is removed, not kept twice', async () => {
    nextSeq = 2000;
    const out = await lake({ format: 'parquet' });
    const t = inHour(0, 1000);
    const batches = [0, 1, 2].map((b) => [1, 2, 3].map((i) => scalar(i === 2 ? 'chamber.p' : 'chamber.o2', { v: b * 10 + i }, { receiveTimeNs: t })));
    for (const b of batches) await out.send(b);
    await out.compactNow();
    const folder = path.join(dir, 'lake', 'scalars', P);
    expect(await partFiles(folder)).toEqual(['part-0000000000002000-0000000000002008.parquet']);
    // the ack of the second batch was lost: it comes again, after the merge
    await out.send(batches[1]!);
    expect(await partFiles(folder)).toHaveLength(2);
    await out.compactNow();
    expect(await partFiles(folder)).toEqual(['part-0000000000002000-0000000000002008.parquet']);
    const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
    const file = dump.files[`scalars/${P}/part-0000000000002000-0000000000002008.parquet`]!;
    expect(file.columns.seq).toEqual([2000, 2002, 2003, 2005, 2006, 2008, 2001, 2004, 2007]);
    expect(file.columns.value).toEqual([1, 3, 11, 13, 21, 23, 2, 12, 22]);
    expect(file.parquet!.value!.compression).toBe('ZSTD');
    expect(file.parquet!.signal!.encodings).toContain('RLE_DICTIONARY');
    expect(out.stats()).toMatchObject({ merges: 1, filesRemoved: 4, rows: 12 });
  });

  it('merges a samples file written before block_seq and sample_rate_hz with newer ones: its rows null there, nothing lost; its crash leftover is still found', async () => {
    nextSeq = 2500;
    const t = inHour(0, 1000);
    const folder = path.join(dir, 'lake', 'samples', P);
    const frames = (n: number, base: number) => Array.from({ length: n }, (_, i) => [base + i]);
    const block = (n: number, base: number, first: number, blockSeq: number) =>
      samplesBlock(['pd'], frames(n, base), first, { receiveTimeNs: t, sourceTimeNs: T0 + BigInt(first) * 10_000n, layer: 3 }, { blockSeq });
    const first = await lake();
    await first.send([block(2, 0, 0, 5)]);
    await first.stop();
    // the file as an earlier version wrote it: the same rows and metadata, without the two columns
    const [oldName] = await partFiles(folder);
    const written = await readTableFile(path.join(folder, oldName!));
    const older = written.select(written.schema.fields.map((f) => f.name).filter((n) => n !== 'block_seq' && n !== 'sample_rate_hz'));
    await fs.writeFile(path.join(folder, oldName!), tableToIPC(older, 'file'));
    const aside = path.join(dir, 'aside');
    await fs.mkdir(aside);
    await fs.copyFile(path.join(folder, oldName!), path.join(aside, oldName!));

    const out = await lake();
    await out.send([block(2, 10, 2, 6)]);
    await out.send([block(1, 20, 4, 8)]);
    expect(await partFiles(folder)).toHaveLength(3);
    await out.compactNow();
    expect(await partFiles(folder)).toEqual(['part-0000000000002500-0000000000002502.arrow']);
    const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
    const merged = dump.files[`samples/${P}/part-0000000000002500-0000000000002502.arrow`]!;
    expect(Object.keys(merged.schema)).toEqual(['seq', 'signal', 'sample_index', 'time_ns', 'layer', 'block_seq', 'sample_rate_hz', 'pd']);
    expect(merged.columns.seq).toEqual([2500, 2500, 2501, 2501, 2502]);
    expect(merged.columns.pd).toEqual([0, 1, 10, 11, 20]);
    expect(merged.columns.sample_index).toEqual([0, 1, 2, 3, 4]);
    expect(merged.columns.block_seq).toEqual([null, null, 6, 6, 8]);
    expect(merged.columns.sample_rate_hz).toEqual([null, null, 100_000, 100_000, 100_000]);
    expect(merged.columns.layer).toEqual([3, 3, 3, 3, 3]);

    // a crash after the merged file was published, before the older input was unlinked: found at start
    await out.stop();
    await fs.copyFile(path.join(aside, oldName!), path.join(folder, oldName!));
    const restarted = await lake();
    expect(await partFiles(folder)).toEqual(['part-0000000000002500-0000000000002502.arrow']);
    expect(restarted.stats().filesRemoved).toBe(1);
  });

  it('merges a scalars file written before the typed value columns with newer ones: its bools, numbers and strings keep their types', async () => {
    nextSeq = 2700;
    const t = inHour(0, 1000);
    const folder = path.join(dir, 'lake', 'scalars', P);
    const first = await lake();
    await first.send([
      scalar('laser.on', { v: true }, { receiveTimeNs: t }),
      scalar('chamber.o2', { v: 87.5, unit: 'ppm' }, { receiveTimeNs: t }),
      scalar('machine.state', { v: 'exposing' }, { receiveTimeNs: t }),
    ]);
    await first.stop();
    // the file as an earlier version wrote it: value (bools as 1/0), value_text (strings, bools as text), unit, quality
    const [oldName] = await partFiles(folder);
    const written = await readTableFile(path.join(folder, oldName!));
    const keep = ['seq', 'source', 'signal', 'source_time_ns', 'receive_time_ns', 'layer', 'class', 'value', 'unit', 'quality'];
    const oldText = makeVector(
      vectorFromArray(
        (written.getChild('signal')!.toArray() as string[]).map((sig) => (sig === 'laser.on' ? 'true' : sig === 'machine.state' ? 'exposing' : null)),
        new Utf8(),
      ),
    );
    const older = new Table({
      ...Object.fromEntries(keep.slice(0, 8).map((n) => [n, written.getChild(n)!])),
      value_text: oldText,
      unit: written.getChild('unit')!,
      quality: written.getChild('quality')!,
    });
    await fs.writeFile(path.join(folder, oldName!), tableToIPC(new Table(new Schema(older.schema.fields, written.schema.metadata), older.batches), 'file'));
    expect(Object.keys((await readLakeWithPyarrow(path.join(dir, 'lake'))).files[`scalars/${P}/${oldName}`]!.schema)).toEqual([
      ...keep.slice(0, 8),
      'value_text',
      'unit',
      'quality',
    ]);

    const out = await lake();
    await out.send([
      rec({
        kind: 'scalar',
        contentType: CONTENT_TYPES.scalar,
        signal: 'plc.counter',
        body: encodeScalarBody({ type: 'uint64', v: 2n ** 64n - 1n }),
        receiveTimeNs: t,
      }),
    ]);
    await out.compactNow();
    expect(await partFiles(folder)).toEqual(['part-0000000000002700-0000000000002703.arrow']);
    const merged = (await readLakeWithPyarrow(path.join(dir, 'lake'))).files[`scalars/${P}/part-0000000000002700-0000000000002703.arrow`]!;
    expect(merged.schema).toEqual(SCALAR_SCHEMA);
    const c = merged.columns;
    expect(c.signal).toEqual(['chamber.o2', 'laser.on', 'machine.state', 'plc.counter']);
    expect(c.value_type).toEqual(['float64', 'bool', 'string', 'uint64']);
    expect(c.value).toEqual([87.5, 1, null, null]);
    expect(c.value_bool).toEqual([null, true, null, null]);
    expect(c.value_text).toEqual([null, null, 'exposing', null]);
    expect(c.value_uint).toEqual([null, null, null, '18446744073709551615']);
    expect(c.unit).toEqual(['ppm', null, null, null]);
  });

  it('at start removes the inputs a crash left behind after publishing their merged file, and keeps files with other rows', async () => {
    nextSeq = 3000;
    const t = inHour(0, 1000);
    const folder = path.join(dir, 'lake', 'scalars', P);
    const aside = path.join(dir, 'aside');
    await fs.mkdir(aside);
    const out = await lake();
    for (let b = 0; b < 3; b++)
      await out.send([scalar('chamber.o2', { v: 2 * b }, { receiveTimeNs: t }), scalar('chamber.p', { v: 2 * b + 1 }, { receiveTimeNs: t })]);
    const inputs = await partFiles(folder);
    expect(inputs).toHaveLength(3);
    for (const f of inputs) await fs.copyFile(path.join(folder, f), path.join(aside, f));
    await out.compactNow();
    expect(await partFiles(folder)).toEqual(['part-0000000000003000-0000000000003005.arrow']);
    // the crash: the merged file was published, its inputs not yet unlinked
    for (const f of inputs) await fs.copyFile(path.join(aside, f), path.join(folder, f));
    // and a file inside that range with other rows (a buffer whose seq numbering restarted): not a leftover
    nextSeq = 3002;
    const otherLake = await lake({ path: path.join(dir, 'other'), compactWindow: 0 });
    await otherLake.send([scalar('chamber.o2', { v: 333 }, { receiveTimeNs: t })]);
    await fs.copyFile(
      path.join(dir, 'other', 'scalars', P, 'part-0000000000003002-0000000000003002.arrow'),
      path.join(folder, 'part-0000000000003002-0000000000003002.arrow'),
    );
    await out.stop();

    const restarted = await lake();
    expect(await partFiles(folder)).toEqual(['part-0000000000003000-0000000000003005.arrow', 'part-0000000000003002-0000000000003002.arrow']);
    expect(restarted.stats().filesRemoved).toBe(3);
    const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
    expect(dump.files[`scalars/${P}/part-0000000000003000-0000000000003005.arrow`]!.columns.value).toEqual([0, 2, 4, 1, 3, 5]);
    expect(dump.files[`scalars/${P}/part-0000000000003002-0000000000003002.arrow`]!.columns.value).toEqual([333]);
  });

  it('never merges beyond rollEvery', async () => {
    nextSeq = 4000;
    const out = await lake({ rollEvery: { records: 5 } });
    const t = inHour(0, 1000);
    for (let i = 0; i < 12; i++) await out.send([scalar('chamber.o2', { v: i }, { receiveTimeNs: t })]);
    await out.compactNow();
    const folder = path.join(dir, 'lake', 'scalars', P);
    expect(await partFiles(folder)).toEqual([
      'part-0000000000004000-0000000000004004.arrow',
      'part-0000000000004005-0000000000004009.arrow',
      'part-0000000000004010-0000000000004011.arrow',
    ]);
    // a 7-record batch is split at rollEvery (5 + 2); the 2-record part joins the 2-row file
    await out.send(Array.from({ length: 7 }, (_, i) => scalar('chamber.o2', { v: 12 + i }, { receiveTimeNs: t })));
    await out.compactNow();
    const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
    for (const d of Object.values(dump.files)) expect(d.rows).toBeLessThanOrEqual(5);
    expect(Object.keys(dump.files)).toHaveLength(4);
    expect((await scalarRows(path.join(dir, 'lake'))).map((r) => r[2])).toEqual(range(0, 18));
  });

  it('a damaged file is left alone: sends and the merging of other files go on', async () => {
    nextSeq = 6000;
    const t = inHour(0, 1000);
    const folder = path.join(dir, 'lake', 'scalars', P);
    const out = await lake();
    await out.send([scalar('chamber.o2', { v: 1 }, { receiveTimeNs: t })]);
    await fs.mkdir(folder, { recursive: true });
    await fs.writeFile(path.join(folder, 'part-0000000000005000-0000000000005000.arrow'), 'not arrow'); // damaged by hand
    await out.send([scalar('chamber.o2', { v: 2 }, { receiveTimeNs: t })]);
    await out.stop();
    const again = await lake();
    await again.compactNow();
    expect(await partFiles(folder)).toEqual(['part-0000000000005000-0000000000005000.arrow', 'part-0000000000006000-0000000000006001.arrow']);
    expect(await fs.readFile(path.join(folder, 'part-0000000000005000-0000000000005000.arrow'), 'utf8')).toBe('not arrow');
  });

  it('compactWindow 0 turns compaction off: one file per batch and partition', async () => {
    nextSeq = 5000;
    const out = await lake({ compactWindow: 0 });
    for (let i = 0; i < 3; i++) await out.send([scalar('chamber.o2', { v: i })]);
    await out.compactNow();
    expect(await partFiles(path.join(dir, 'lake', 'scalars', P))).toHaveLength(3);
    expect(out.stats().merges).toBe(0);
  });

  it('compaction never runs inside send: a send resolves while a merge is in progress', async () => {
    nextSeq = 7000;
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let mergeStarted!: () => void;
    const started = new Promise<void>((r) => {
      mergeStarted = r;
    });
    const inline = inlineMerger();
    const blocked: Merger = {
      run: async (job) => {
        mergeStarted();
        await gate;
        return inline.run(job);
      },
      close: async () => undefined,
    };
    const out = await lake({}, blocked);
    const t = inHour(0, 1000);
    await out.send([scalar('chamber.o2', { v: 1 }, { receiveTimeNs: t })]);
    await out.send([scalar('chamber.o2', { v: 2 }, { receiveTimeNs: t })]);
    const compaction = out.compactNow();
    await started;
    expect(out.compacting).toBe(true);
    // the merge waits on the gate; a send to the same folder goes through beside it
    await out.send([scalar('chamber.o2', { v: 3 }, { receiveTimeNs: t })]);
    expect(out.compacting).toBe(true);
    const folder = path.join(dir, 'lake', 'scalars', P);
    expect(await partFiles(folder)).toHaveLength(3);
    release();
    await compaction;
    expect(out.compacting).toBe(false);
    expect(await partFiles(folder)).toEqual(['part-0000000000007000-0000000000007001.arrow', 'part-0000000000007002-0000000000007002.arrow']);
    expect((await scalarRows(path.join(dir, 'lake'))).map((r) => r[2])).toEqual([1, 2, 3]);
  });

  it('merges in a worker thread by default, and stop cancels a pass', async () => {
    nextSeq = 8000;
    const out = new FileLakeOutput(definition.configSchema.parse({ path: path.join(dir, 'lake') }), { dataDir: dir, machine: 'pbf-01' });
    await out.start(context());
    const t = inHour(0, 1000);
    for (let i = 0; i < 3; i++) await out.send([scalar('chamber.o2', { v: i }, { receiveTimeNs: t })]);
    await out.compactNow();
    const folder = path.join(dir, 'lake', 'scalars', P);
    expect(await partFiles(folder)).toEqual(['part-0000000000008000-0000000000008002.arrow']);
    await out.send([scalar('chamber.o2', { v: 3 }, { receiveTimeNs: t })]);
    await out.stop(); // the pass scheduled by that send never runs
    expect(await partFiles(folder)).toHaveLength(2);
    expect((await scalarRows(path.join(dir, 'lake'))).map((r) => r[2])).toEqual([0, 1, 2, 3]);
  });
});

describe('file-lake batch worker', () => {
  /**
   * A mock of the batch worker, only for the crash: on the first job it exits without a reply, either at
   * once or when the real worker module (run unchanged) would reply, its files published. Later threads
   * are the real one.
   */
  function crashingThread(when: 'before writing' | 'after publishing'): Worker {
    const module = JSON.stringify(new URL('./batch-worker.ts', import.meta.url).href);
    const code =
      when === 'before writing'
        ? `require('node:worker_threads').parentPort.once('message', () => process.exit(3));`
        : `const { parentPort } = require('node:worker_threads');
           const post = parentPort.postMessage.bind(parentPort);
           parentPort.postMessage = (m) => ('ok' in m ? process.exit(3) : post(m));
           ${tsxPrelude()}.then(() => import(${module}));`;
    return new Worker(code, { eval: true, workerData: 'layergate-lake-batch' });
  }

  it.each(['before writing', 'after publishing'] as const)(
    'a worker crash (%s) rejects that send retryably; sent again it lands once, and malformed bodies still go to raw with their error',
    async (when) => {
      nextSeq = 9000;
      let spawned = 0;
      const batchWriter = workerBatchWriter(() => (spawned++ === 0 ? crashingThread(when) : startBatchWorker()));
      const out = new FileLakeOutput(
        definition.configSchema.parse({ path: path.join(dir, 'lake') }),
        { dataDir: dir, machine: 'pbf-01' },
        { merger: inlineMerger(), batchWriter },
      );
      await out.start(context());
      lakes.push(out);
      const first = [
        scalar('chamber.o2', { v: 1 }, { attributes: { status: 'Good' } }),
        scalar('chamber.o2', { v: 2 }, { build: 'JOB-43' }),
        rec({ kind: 'scalar', contentType: CONTENT_TYPES.scalar, signal: 'chamber.o2', body: Buffer.from('{"v": '), attributes: { status: 'Bad' } }),
        rec({ kind: 'scalar', contentType: CONTENT_TYPES.scalar, signal: 'laser.power', body: Buffer.from('{"v": null}') }),
        rec({ kind: 'event', contentType: 'application/json', signal: 'job', body: Buffer.from('{"state":"run"}'), attributes: { by: 'mes' } }),
      ];
      await expect(out.send(first)).rejects.toMatchObject({ code: 'LG_SINK_SEND', reason: 'worker-exited' });
      expect(out.stats().malformed).toBe(0); // counted once the batch is written, not per attempt
      // the forwarder sends the same batch again, then goes on
      await out.send(first);
      await out.send([scalar('chamber.o2', { v: 3 })]);

      const dump = await readLakeWithPyarrow(path.join(dir, 'lake'));
      expect((await scalarRows(path.join(dir, 'lake'))).map((r) => [r[1], r[2]])).toEqual([
        [9000, 1],
        [9001, 2],
        [9005, 3],
      ]);
      const raw = Object.entries(dump.files).filter(([f]) => f.startsWith('raw/'));
      expect(raw).toHaveLength(1);
      const rows = raw[0]![1].columns;
      expect(rows.seq).toEqual([9002, 9003]);
      expect(rows.error![0]).toMatch(/scalar body is not JSON/);
      expect(rows.error![1]).toBe('scalar "v" without "type" must be a number, string or boolean, got null');
      expect(Buffer.from(rows.body![0] as string, 'hex').toString()).toBe('{"v": ');
      // a malformed scalar keeps its attributes (asked of the main thread only then)
      expect(rows.attributes).toEqual(['{"status":"Bad"}', null]);
      const events = Object.entries(dump.files).filter(([f]) => f.startsWith('events/'));
      expect(events.map(([, d]) => d.columns.attributes)).toEqual([['{"by":"mes"}']]);
      // after publishing: the crashed thread's four files (two scalar partitions, raw, events) were found again and kept
      const again = when === 'after publishing';
      expect(out.stats()).toMatchObject({ malformed: 2, rows: again ? 1 : 6, duplicateFilesSkipped: again ? 4 : 0 });
      expect(spawned).toBe(2);
    },
  );
});

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
