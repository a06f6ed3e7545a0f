/**
 * The files input through the real path: drop folder (and upload route) -> files input -> Pipeline ->
 * SQLite buffer behind the sealing decorator (encryption at rest), read back as a sink would. Proves:
 * a 3MF, binary and ASCII STL, CLI job, job JSON, multi-page TIFF, DICOM series, zipped TIFF slices
 * and a vendor volume arrive as a file record plus a metadata document with the right type, class,
 * access pattern, build and content facts; DICOM patient fields never reach a record; the
 * confidential build file's bytes appear nowhere in plaintext under the buffer (database, WAL,
 * spool); every malformed kind (zip bomb, truncated TIFF, lying STL count, DICOM without preamble,
 * a file over maxFileBytes, a lying volume) is quarantined with its reason while the rest flows.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { openBuffer } from '../../../gateway/buffer/index.js';
import { AesGcmSealer, newKeyLine, parseKeyRing } from '../../../gateway/crypto/sealer.js';
import { SealingBuffer } from '../../../gateway/crypto/sealing-buffer.js';
import { Pipeline } from '../../../gateway/ingest/pipeline.js';
import type { StoredRecord } from '../../../gateway/plugin-api/record.js';
import { waitFor } from '../../../test/support/wait.js';
import { type FileMetadata, type FilesInput, META_SCHEMA, definition } from './index.js';
import { filesConfigSchema } from './schema.js';
import { asciiStl, binaryStl, dicomSlice, modelXml, tetra, threeMf, tiffStack, writeZip } from './test-support/writers.js';

const log = pino({ level: 'silent' });
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const until = <T>(what: string, fn: () => T | undefined | false | null, ms = 30_000): Promise<T> => waitFor(what, fn, ms, 20);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function setup(config: Record<string, unknown> = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-files-'));
  const dropDir = path.join(dir, 'drop');
  const sealer = new AesGcmSealer(parseKeyRing(newKeyLine('k1'), 'test ring'));
  // small inline limit: every body of some size goes to the spool, where the marker must not be found either
  const buffer = new SealingBuffer(openBuffer({ dir: path.join(dir, 'buffer'), maxBytes: 256 << 20, sinks: ['lake'], inlineMaxBytes: 512 }, log), sealer);
  const pipeline = new Pipeline({
    buffer,
    outputs: [{ name: 'lake', plugin: { premises: 'on' } }],
    dataDir: dir,
    quarantineMaxBytes: 64 << 20,
    log,
    blockedRetryMs: 50,
    sealer,
  });
  const input = definition.create(filesConfigSchema.parse({ dropDir, stableFor: '50ms', rescanInterval: '100ms', ...config }), {
    dataDir: dir,
    machine: 'm1',
  }) as FilesInput;
  await input.start(pipeline.contextFor('files'));
  cleanups.push(async () => {
    await input.stop();
    await pipeline.flush();
    buffer.close();
    await rm(dir, { recursive: true, force: true });
  });
  const all = () => buffer.read('lake', 100_000);
  const files = () => all().filter((r) => r.signal === 'files');
  const metas = () => all().filter((r) => r.signal === 'files.meta');
  // a spooled body comes as a blob reference (a sealed confidential one is opened into `body` by the sealing buffer)
  const bodyOf = (r: StoredRecord): Buffer => r.body ?? readFileSync(buffer.blobPath(r.blob!));
  const metaOf = (name: string): { record: StoredRecord; meta: FileMetadata } => {
    const record = metas().find((r) => r.attributes?.file_name === name);
    if (!record) throw new Error(`no metadata record for ${name}`);
    return { record, meta: JSON.parse(bodyOf(record).toString('utf8')) as FileMetadata };
  };
  return { dir, dropDir, buffer, pipeline, input, files, metas, metaOf, bodyOf };
}

/** every regular file below `dir` */
function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

function gatewayQuarantine(dir: string): { where: string; error: { reason?: string; message: string } }[] {
  const q = path.join(dir, 'quarantine', 'inputs', 'files');
  if (!existsSync(q)) return [];
  return readdirSync(q)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(path.join(q, f), 'utf8')));
}

const MARKER = 'CUSTOMER-IP-MARKER-7f3a9c';

/**
 * Write a file into the drop folder as a producer that renames into place does: under a temporary
 * name first (never taken), so a test machine under load cannot have a half-written file read.
 */
async function drop(dir: string, name: string, bytes: Buffer | string): Promise<void> {
  await writeFile(path.join(dir, `.${name}.part`), bytes);
  await rename(path.join(dir, `.${name}.part`), path.join(dir, name));
}

describe('files input: build files, CAD models and CT scans from the drop folder', () => {
  it('each file becomes a document record and a metadata document with type, class, access pattern, build and content facts; the confidential bytes are sealed at rest', async () => {
    const s = await setup();
    const meshes = [tetra(10, [0, 0, 0]), tetra(5, [20, 0, 0])];
    // stored, not deflated: the marker is plaintext in the file, so finding it under the buffer would mean a leak
    const threeMfBytes = threeMf(modelXml(meshes, MARKER), { deflate: false });
    expect(threeMfBytes.includes(MARKER)).toBe(true);
    const binStl = binaryStl(tetra(2, [1, 2, 3]), MARKER);
    const ascii = asciiStl(tetra(4, [-1, -1, 0]));
    const tiff = tiffStack(32, 24, 3);
    // the hand-written TIFF is one libvips reads too: the writer is not checked by the reader under test alone
    const sm = await sharp(tiff, { pages: -1 }).metadata();
    expect([sm.pages, sm.width, sm.pageHeight, sm.depth]).toEqual([3, 32, 24, 'ushort']);
    const study = '1.2.826.0.1.3680043.8.498.1';
    const series = '1.2.826.0.1.3680043.8.498.1.2';
    const slices = [1, 2, 3].map((i) =>
      dicomSlice({ studyUid: study, seriesUid: series, instance: i, rows: 16, columns: 16, patientName: 'DOE^JANE', patientId: 'PAT-SECRET-123' }),
    );
    const cli = Buffer.from(
      `$$HEADERSTART\n$$ASCII\n$$UNITS/00000000.005000\n$$VERSION/200\n$$LAYERS/000120\n$$DIMENSION/0,0,0,100,80,6\n$$HEADEREND\n$$GEOMETRYSTART\n$$LAYER/0\n$$GEOMETRYEND\n`,
    );
    const job = Buffer.from(JSON.stringify({ jobName: 'bracket', material: 'Ti64', layers: 120, note: MARKER }));
    const stack = writeZip([
      { name: 'slices/s001.tif', data: tiffStack(8, 8, 1), deflate: true },
      { name: 'slices/s002.tif', data: tiffStack(8, 8, 1), deflate: true },
    ]);
    const volume = Buffer.alloc(16 + 4 * 4 * 2 * 2, 7);

    await drop(s.dropDir, 'B-0042_bracket.3mf', threeMfBytes);
    await drop(s.dropDir, 'part.stl.json', JSON.stringify({ build: 'B-0007', ignored: 'Jane Doe' }));
    await drop(s.dropDir, 'part.stl', binStl);
    await drop(s.dropDir, 'B-0042_fixture.stl', ascii);
    await drop(s.dropDir, 'B-0042_job.cli', cli);
    await drop(s.dropDir, 'B-0042_job.json', job);
    await drop(s.dropDir, 'coupon.tif', tiff);
    for (const [i, b] of slices.entries()) await drop(s.dropDir, `ct-${i + 1}.dcm`, b);
    await drop(s.dropDir, 'stack.zip', stack);
    await writeFile(
      path.join(s.dropDir, 'scan.vol.json'),
      JSON.stringify({ build: 'B-0042', volume: { width: 4, height: 4, slices: 2, bitsPerVoxel: 16, headerBytes: 16 } }),
    );
    await drop(s.dropDir, 'scan.vol', volume);

    const total = 11;
    await until('all files stored and released', () => s.files().length === total && s.metas().length === total && s.input.counters.released === total);
    expect(s.input.counters.rejected).toMatchObject({ corrupt: 0, 'zip-bomb': 0, truncated: 0, 'size-mismatch': 0 });
    expect(s.pipeline.stats().files!.quarantined).toBe(0);

    // the file record: the original bytes (opened by the sealing buffer for a sink), class and access pattern by type
    const byName = new Map(s.files().map((r) => [r.attributes!.file_name!, r]));
    const expectFile = (name: string, bytes: Buffer, cls: string, type: string, pattern: string) => {
      const r = byName.get(name)!;
      expect(r).toMatchObject({
        kind: 'document',
        class: cls,
        attributes: { file_type: type, access_pattern: pattern, sha256: sha(bytes), size: String(bytes.length) },
      });
      expect(s.bodyOf(r).equals(bytes)).toBe(true);
    };
    expectFile('B-0042_bracket.3mf', threeMfBytes, 'confidential', 'build-file', 'archive');
    expectFile('part.stl', binStl, 'confidential', 'cad-model', 'archive');
    expectFile('B-0042_job.cli', cli, 'confidential', 'build-file', 'archive');
    expectFile('coupon.tif', tiff, 'sensitive', 'ct-scan', 'research');
    expectFile('ct-2.dcm', slices[1]!, 'sensitive', 'ct-scan', 'research');
    expectFile('stack.zip', stack, 'sensitive', 'ct-scan', 'research');
    expect(byName.get('B-0042_bracket.3mf')).toMatchObject({ build: 'B-0042', contentType: 'model/3mf' });
    expect(byName.get('part.stl')).toMatchObject({ build: 'B-0007', contentType: 'model/stl' });

    // the metadata documents
    const m3 = s.metaOf('B-0042_bracket.3mf');
    expect(m3.record).toMatchObject({
      kind: 'document',
      class: 'confidential',
      contentType: 'application/json',
      attributes: { meta_of: sha(threeMfBytes), access_pattern: 'archive' },
    });
    expect(m3.meta).toMatchObject({
      schema: META_SCHEMA,
      type: 'build-file',
      format: '3mf',
      fileName: 'B-0042_bracket.3mf',
      size: threeMfBytes.length,
      sha256: sha(threeMfBytes),
      build: 'B-0042',
      buildSource: 'file-name',
      receivedVia: 'drop-folder',
      class: 'confidential',
      accessPattern: 'archive',
      content: { objects: 2, vertices: 24, triangles: 8, unit: 'millimeter', boundingBox: { min: [0, 0, 0], max: [25, 10, 10] } },
    });
    expect(s.metaOf('part.stl').meta).toMatchObject({
      type: 'cad-model',
      build: 'B-0007',
      buildSource: 'sidecar',
      content: { encoding: 'binary', triangles: 4, boundingBox: { min: [1, 2, 3], max: [3, 4, 5] } },
    });
    expect(JSON.stringify(s.metaOf('part.stl').meta)).not.toContain('Jane Doe');
    expect(s.metaOf('B-0042_fixture.stl').meta).toMatchObject({
      type: 'cad-model',
      content: { encoding: 'ascii', triangles: 4, boundingBox: { min: [-1, -1, 0], max: [3, 3, 4] } },
    });
    expect(s.metaOf('B-0042_job.cli').meta).toMatchObject({
      type: 'build-file',
      format: 'cli',
      content: { encoding: 'ascii', unitsMm: 0.005, version: '200', layers: 120, boundingBox: { min: [0, 0, 0], max: [100, 80, 6] } },
    });
    expect(s.metaOf('B-0042_job.json').meta).toMatchObject({
      type: 'build-file',
      format: 'json',
      content: { topLevel: 'object', keys: ['jobName', 'material', 'layers', 'note'] },
    });
    expect(s.metaOf('coupon.tif').meta).toMatchObject({
      type: 'ct-scan',
      class: 'sensitive',
      accessPattern: 'research',
      build: null,
      buildSource: 'none',
      content: { pages: 3, width: 32, height: 24, bitsPerSample: 16, uniform: true },
    });
    for (const i of [1, 2, 3]) {
      const m = s.metaOf(`ct-${i}.dcm`);
      expect(m.meta).toMatchObject({
        type: 'ct-scan',
        format: 'dicom',
        content: {
          studyInstanceUid: study,
          seriesInstanceUid: series,
          modality: 'CT',
          rows: 16,
          columns: 16,
          bitsAllocated: 16,
          bitsStored: 12,
          instanceNumber: i,
        },
      });
      // no patient field, in the metadata document or in any attribute
      const text = JSON.stringify(m.meta) + JSON.stringify(m.record.attributes);
      for (const p of ['DOE', 'JANE', 'PAT-SECRET', '19700101']) expect(text).not.toContain(p);
    }
    expect(s.metaOf('stack.zip').meta).toMatchObject({
      type: 'ct-scan',
      content: { slices: 2, sliceFormat: 'tiff', firstSlice: { pages: 1, width: 8, height: 8 } },
    });
    expect(s.metaOf('scan.vol').meta).toMatchObject({
      type: 'ct-scan',
      format: 'volume',
      build: 'B-0042',
      content: { width: 4, height: 4, slices: 2, bitsPerVoxel: 16 },
    });

    // the confidential bytes are nowhere in plaintext under the buffer: database, WAL, spool
    const under = walk(path.join(s.dir, 'buffer'));
    expect(under.some((f) => f.includes('spool'))).toBe(true);
    for (const f of under) expect(readFileSync(f).includes(MARKER), f).toBe(false);
    // the sealed file is there (not merely absent): a spooled body the size of the 3MF or more
    expect(under.some((f) => f.includes('spool') && statSync(f).size >= threeMfBytes.length)).toBe(true);
    // released: moved to processed/ with their sidecars
    expect(readdirSync(path.join(s.dropDir, 'processed'))).toEqual(expect.arrayContaining(['part.stl', 'part.stl.json', 'scan.vol.json', 'B-0042_job.json']));
  });

  it('malformed files are quarantined with their reason (zip bomb, truncated TIFF, lying STL count, DICOM without preamble, over maxFileBytes, lying volume); the good files flow', async () => {
    const s = await setup({ maxFileBytes: '4MiB' });
    const bomb = threeMf(`<?xml version="1.0"?><model unit="millimeter">${' '.repeat(16 << 20)}</model>`);
    expect(bomb.length).toBeLessThan(256 << 10);
    const tiff = tiffStack(32, 32, 2);
    const lying = binaryStl(tetra(), 'x', 1000);
    const study = '1.2.3';
    const noPreamble = dicomSlice({
      studyUid: study,
      seriesUid: '1.2.3.4',
      instance: 1,
      rows: 4,
      columns: 4,
      patientName: 'X',
      patientId: 'Y',
      noPreamble: true,
    });
    const good = asciiStl(tetra());

    await drop(s.dropDir, 'bomb.3mf', bomb);
    await drop(s.dropDir, 'cut.tif', tiff.subarray(0, tiff.length - 100));
    await drop(s.dropDir, 'lying.stl', lying);
    await drop(s.dropDir, 'bare.dcm', noPreamble);
    await drop(s.dropDir, 'huge.step', Buffer.alloc(5 << 20, 0x20));
    await drop(s.dropDir, 'short.vol.json', JSON.stringify({ volume: { width: 64, height: 64, slices: 4 } }));
    await drop(s.dropDir, 'short.vol', Buffer.alloc(1000));
    await drop(s.dropDir, 'good.stl', good);

    await until('1 stored, 6 rejected', () => s.input.counters.released === 1 && Object.values(s.input.counters.rejected).reduce((a, b) => a + b, 0) === 6);
    expect(s.input.counters.rejected).toMatchObject({ 'zip-bomb': 1, truncated: 1, 'size-mismatch': 2, corrupt: 1, 'too-large': 1 });
    expect(s.files().map((r) => r.attributes?.file_name)).toEqual(['good.stl']);
    expect(readdirSync(path.join(s.dropDir, 'quarantine')).sort()).toEqual([
      'bare.dcm',
      'bomb.3mf',
      'cut.tif',
      'huge.step',
      'lying.stl',
      'short.vol',
      'short.vol.json',
    ]);
    // the gateway's quarantine is written beside the counters, not before them: wait for its six entries
    await until('six entries in the gateway quarantine', () => gatewayQuarantine(s.dir).length === 6);
    const q = Object.fromEntries(gatewayQuarantine(s.dir).map((e) => [e.where, e.error]));
    expect(q['bomb.3mf']).toMatchObject({ reason: 'zip-bomb', message: expect.stringMatching(/archive\.maxRatio/) });
    expect(q['cut.tif']).toMatchObject({ reason: 'truncated', message: expect.stringMatching(/ends past the file's end/) });
    expect(q['lying.stl']).toMatchObject({ reason: 'size-mismatch', message: expect.stringMatching(/says 1000 triangles/) });
    expect(q['bare.dcm']).toMatchObject({ reason: 'corrupt', message: expect.stringMatching(/no 128-byte preamble/) });
    expect(q['huge.step']).toMatchObject({ reason: 'too-large' });
    expect(q['short.vol']).toMatchObject({ reason: 'size-mismatch' });
    expect(readdirSync(s.dropDir).filter((n) => !['processed', 'quarantine'].includes(n))).toEqual([]);
  });

  it('a zip whose entries declare more than archive.maxExpandedBytes is refused before inflating', async () => {
    const s = await setup({ archive: { maxExpandedBytes: '64KiB' } });
    const big = threeMf(modelXml([tetra()], 'x'.repeat(100 << 10)), { deflate: false });
    await drop(s.dropDir, 'big.3mf', big);
    await until('rejected', () => s.input.counters.rejected['zip-bomb'] === 1);
    await until('the entry in the gateway quarantine', () => gatewayQuarantine(s.dir).length === 1);
    expect(gatewayQuarantine(s.dir)[0]!.error.message).toMatch(/more than archive\.maxExpandedBytes/);
    // a confidential type's bytes are not copied into the gateway quarantine (the file is in quarantine/)
    const qdir = path.join(s.dir, 'quarantine', 'inputs', 'files');
    expect(readdirSync(qdir).filter((f) => f.includes('.bin'))).toEqual([]);
    expect(readdirSync(path.join(s.dropDir, 'quarantine'))).toEqual(['big.3mf']);
  });
});

describe('files input: the upload route', () => {
  it('POST /files answers 201 after the commit with the build from the header; a malformed file is 400 with its reason', async () => {
    const s = await setup({ upload: { port: 0, token: 't0ken' } });
    const stl = binaryStl(tetra(3));
    const post = (body: Buffer, name: string, headers: Record<string, string> = {}) =>
      fetch(s.input.uploadUrl!, { method: 'POST', body, headers: { authorization: 'Bearer t0ken', 'x-layergate-file-name': name, ...headers } });
    const ok = await post(stl, 'upload.stl', { 'x-layergate-build': 'B-0099', 'x-layergate-file-type': 'build-file' });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toMatchObject({ sha256: sha(stl), type: 'build-file', build: 'B-0099' });
    const [r] = s.files();
    expect(r).toMatchObject({ build: 'B-0099', class: 'confidential', attributes: { file_type: 'build-file', access_pattern: 'archive' } });
    expect(s.metaOf('upload.stl').meta).toMatchObject({ buildSource: 'header', receivedVia: 'upload' });
    const bad = await post(binaryStl(tetra(), 'x', 9), 'lying.stl');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ reason: 'size-mismatch', code: 'LG_INPUT_MALFORMED' });
    expect(s.input.counters).toMatchObject({ uploads: 1, rejected: { 'size-mismatch': 1 } });
  });
});
