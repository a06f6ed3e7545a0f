/**
 * `layergate lake migrate`: a lake written in the earlier layout (one folder per signal, tables
 * without a signal column, as the earlier writer made them) is moved into machine/build/date
 * partitions, and pyarrow then reads every row exactly once, the signal a column.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { tableToIPC } from 'apache-arrow';
import type { Table } from 'apache-arrow';
import pino from 'pino';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CONTENT_TYPES } from '../../../gateway/plugin-api/record.js';
import type { StoredRecord } from '../../../gateway/plugin-api/record.js';
import { readLakeWithPyarrow, setupPython } from '../../../test/tools/pyarrow.js';
import { parseSamples, samplesTable, scalarTable, toParquet } from '../shared/columns.js';
import { partitionSegment, seqName } from '../shared/layout.js';
import { frameIndexTable } from './frame-index.js';
import { FileLakeOutput, definition } from './index.js';
import { oldLayoutFolders } from './layout.js';
import { inlineMerger } from './merge-worker.js';
import { LakeMigration } from './migrate.js';

const T0 = 1_764_000_000_123_456_789n; // 2025-11-24T16:00:00Z
const HOUR = 3_600_000_000_000n;
let dir: string;
let lakeDir: string;

beforeAll(async () => {
  await setupPython();
}, 300_000);
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lg-lake-migrate-'));
  lakeDir = path.join(dir, 'lake');
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

function rec(seq: number, signal: string, body: Buffer, extra: Partial<StoredRecord> = {}): StoredRecord {
  return {
    seq,
    source: 'opcua',
    signal,
    kind: 'scalar',
    class: 'internal',
    contentType: CONTENT_TYPES.scalar,
    receiveTimeNs: T0 + BigInt(seq) * 1_000_000n,
    routes: ['lake'],
    build: 'JOB-42',
    body,
    ...extra,
  };
}

/** A file of the earlier layout, as the earlier writer named and built it (no signal column). */
async function oldFile(table: string, signal: string, records: StoredRecord[], build: (items: StoredRecord[]) => Table, format = 'arrow'): Promise<void> {
  const folder = path.join(lakeDir, table, 'machine=pbf-01', `build=${partitionSegment(records[0]!.build)}`, `signal=${partitionSegment(signal)}`);
  await fs.mkdir(folder, { recursive: true });
  const t = build(records);
  const name = `part-${seqName(records[0]!.seq)}-${seqName(records[records.length - 1]!.seq)}.${format}`;
  await fs.writeFile(path.join(folder, name), format === 'parquet' ? toParquet(t) : tableToIPC(t, 'file'));
}

const scalars = (items: StoredRecord[]) => scalarTable(items.map((record) => ({ record, body: record.body! })));
const value = (v: number) => Buffer.from(JSON.stringify({ v, unit: 'ppm' }));

describe('layergate lake migrate', () => {
  it('moves every row of an old-layout lake into machine/build/date partitions exactly once; start warns while old folders exist', async () => {
    const expected: [number, string, number][] = [];
    let seq = 1;
    // three signals (one with a name that needs encoding), two files each (the old compaction's hours), one crossing midnight UTC
    const midnight = (T0 / (24n * HOUR) + 1n) * 24n * HOUR;
    for (const signal of ['chamber.o2', 'laser/1 power', 'machine.state']) {
      for (const hour of [0, 1]) {
        const records = [0, 1, 2].map((i) => {
          const r = rec(seq++, signal, value(seq * 10 + i));
          if (signal === 'machine.state' && hour === 1)
            r.receiveTimeNs = midnight - 1000n + BigInt(i) * 1000n; // 23:59:59.999999 and after
          else r.receiveTimeNs = T0 + BigInt(hour) * HOUR + BigInt(i);
          expected.push([r.seq, signal, JSON.parse(r.body!.toString()).v as number]);
          return r;
        });
        await oldFile('scalars', signal, records, scalars);
      }
    }
    // samples (no receive time: they go by sample time) and frames with their images
    const block = Buffer.alloc(2 * 2 * 4);
    for (const [i, v] of [1.5, 2.5, 3.5, 4.5].entries()) block.writeFloatLE(v, i * 4);
    const samplesRecord = rec(seq++, 'meltpool', block, {
      kind: 'samples',
      contentType: CONTENT_TYPES.samplesF32,
      sourceTimeNs: T0,
      attributes: { channels: 'a,b', sample_rate_hz: '1000' },
    });
    await oldFile(
      'samples',
      'meltpool',
      [samplesRecord],
      (items) =>
        samplesTable(
          items.map((record) => ({ record, body: record.body!, samples: parseSamples(record, record.body!) })),
          ['a', 'b'],
        ),
      'arrow',
    );
    const image = Buffer.from('not really a png, bytes are bytes');
    const frame = rec(seq++, 'camera', image, { kind: 'frame', contentType: 'image/png' });
    const oldImages = path.join(lakeDir, 'images', 'machine=pbf-01', 'build=JOB-42', 'signal=camera');
    await fs.mkdir(oldImages, { recursive: true });
    await fs.writeFile(path.join(oldImages, `${seqName(frame.seq)}.png`), image);
    const sha = createHash('sha256').update(image).digest('hex');
    await oldFile('frames', 'camera', [frame], (items) =>
      frameIndexTable(
        items.map((record) => ({
          record,
          file: `images/machine=pbf-01/build=JOB-42/signal=camera/${seqName(frame.seq)}.png`,
          sha256: sha,
          size: image.length,
        })),
      ),
    );

    // a gateway started on it warns, naming the command
    const warnings: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line).msg as string) });
    const out = new FileLakeOutput(definition.configSchema.parse({ path: lakeDir }), { dataDir: dir, machine: 'pbf-01' }, { merger: inlineMerger() });
    await out.start({ name: 'lake', log, blobs: { path: () => '', read: () => Promise.reject(new Error('none')) } });
    await out.stop();
    expect(warnings.some((w) => w.includes('layergate lake migrate -c <config>'))).toBe(true);

    const progress: string[] = [];
    const report = await new LakeMigration(lakeDir, definition.configSchema.parse({ path: lakeDir }), (l) => progress.push(l)).run();
    expect(report).toMatchObject({ folders: 6, files: 8, rows: 18 + 2 + 1, images: 1 });
    expect(progress.filter((l) => /^\[\d\/6\] /.test(l))).toHaveLength(6);
    expect(await oldLayoutFolders(lakeDir)).toEqual([]);

    const dump = await readLakeWithPyarrow(lakeDir);
    expect(dump.datasets.scalars!.partitions).toEqual([
      { machine: 'pbf-01', build: 'JOB-42', date: '2025-11-24' },
      { machine: 'pbf-01', build: 'JOB-42', date: '2025-11-25' },
    ]);
    expect(dump.datasets.scalars!.signals).toEqual(['chamber.o2', 'laser/1 power', 'machine.state']);
    const rows = Object.entries(dump.files)
      .filter(([f]) => f.startsWith('scalars/'))
      .flatMap(([, d]) =>
        (d.columns.seq as number[]).map((s, i): [number, string, number] => [s, d.columns.signal![i] as string, d.columns.value![i] as number]),
      )
      .sort((a, b) => a[0] - b[0]);
    expect(rows).toEqual(expected);
    // the signals' old files share a file per window now: 16:00, 17:00 and 23:00 UTC
    expect(Object.keys(dump.files).filter((f) => f.startsWith('scalars/machine=pbf-01/build=JOB-42/date=2025-11-24/'))).toHaveLength(3);

    const samples = Object.entries(dump.files).find(([f]) => f.startsWith('samples/machine=pbf-01/build=JOB-42/date=2025-11-24/'))![1];
    expect(samples.columns).toMatchObject({ signal: ['meltpool', 'meltpool'], a: [1.5, 3.5], b: [2.5, 4.5] });
    const frames = Object.entries(dump.files).find(([f]) => f.startsWith('frames/'))![1];
    expect(frames.columns.signal).toEqual(['camera']);
    const moved = frames.columns.file![0] as string;
    expect(moved).toBe(`images/machine=pbf-01/build=JOB-42/date=2025-11-24/${seqName(frame.seq)}.png`);
    expect(await fs.readFile(path.join(lakeDir, moved))).toEqual(image);
    await expect(fs.access(path.join(lakeDir, 'images', 'machine=pbf-01', 'build=JOB-42', 'signal=camera'))).rejects.toThrow();
  });

  it('an interrupted migration run again leaves every row once (a file rewritten but not yet unlinked)', async () => {
    const records = [1, 2, 3].map((s) => rec(s, 'chamber.o2', value(s)));
    await oldFile('scalars', 'chamber.o2', records, scalars);
    await oldFile('scalars', 'chamber.p', [rec(4, 'chamber.p', value(4))], scalars);
    const oldPath = path.join(lakeDir, 'scalars', 'machine=pbf-01', 'build=JOB-42', 'signal=chamber.o2', 'part-0000000000000001-0000000000000003.arrow');
    const copy = path.join(dir, 'copy.arrow');
    await fs.copyFile(oldPath, copy);
    const config = definition.configSchema.parse({ path: lakeDir });
    await new LakeMigration(lakeDir, config, () => undefined).run();
    // the crash: the first file was rewritten into the new layout, but not unlinked
    await fs.mkdir(path.dirname(oldPath), { recursive: true });
    await fs.copyFile(copy, oldPath);
    await new LakeMigration(lakeDir, config, () => undefined).run();
    const dump = await readLakeWithPyarrow(lakeDir);
    const seqs = Object.values(dump.files).flatMap((d) => d.columns.seq as number[]);
    expect(seqs.sort()).toEqual([1, 2, 3, 4]);
    expect(await oldLayoutFolders(lakeDir)).toEqual([]);
  });

  it('is a layergate subcommand of the file-lake output', async () => {
    const { Command } = await import('commander');
    const program = new Command();
    definition.commands!(program, {
      load: () => ({ origin: '', dataDir: dir, machine: 'm', instances: [] }),
      fail: (_c, m) => new Error(m),
      exit: { ok: 0, failure: 1, config: 2, checkFailed: 3 },
      json: JSON.stringify,
    });
    expect(program.commands.find((c) => c.name() === 'lake')!.commands.map((c) => c.name())).toEqual(['migrate']);
  });
});
