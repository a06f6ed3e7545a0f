/**
 * The frames input through the real path: simulator camera (drop folder, in-process, seeded, fast
 * time) -> frames input -> Pipeline (InputContext) -> SQLite buffer, read back as a sink would.
 * Proves: frames arrive with the right size, depth, build, layer and phase; the source file is
 * released only after the commit (held while the buffer blocks); content-hash dedup; the
 * simulator's corrupt and half-written images, unknown formats and oversized files are quarantined
 * and counted while other files keep flowing; thumbnails decode; the upload route answers 201 only
 * after the commit and 4xx for broken images; raw frames with a sidecar; lossless re-encode.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/support/wait.js';
import { openBuffer } from '../../../gateway/buffer/index.js';
import type { FullPolicy, RecordBuffer } from '../../../gateway/buffer/types.js';
import { Pipeline } from '../../../gateway/ingest/pipeline.js';
import type { StoredRecord } from '../../../gateway/plugin-api/record.js';
import { renderFrame } from '../../../simulator/camera.js';
import type { FrameKind } from '../../../simulator/camera.js';
import { makeConfig } from '../../../simulator/config.js';
import type { SimConfig } from '../../../simulator/config.js';
import { SimCore } from '../../../simulator/core.js';
import { Simulator } from '../../../simulator/engine.js';
import { FrameSink } from '../../../simulator/transports/frames.js';
import { type FramesInput, definition } from './index.js';
import { DEFAULT_FILE_NAME_PATTERN, framesConfigSchema } from './schema.js';

const log = pino({ level: 'silent' });
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const until = <T>(what: string, fn: () => T | undefined | false | null, ms = 30_000): Promise<T> => waitFor(what, fn, ms, 20);

interface Setup {
  dir: string;
  dropDir: string;
  buffer: RecordBuffer;
  pipeline: Pipeline;
  input: FramesInput;
  frames: () => StoredRecord[];
  thumbnails: () => StoredRecord[];
  body: (r: StoredRecord) => Promise<Buffer>;
}

async function setup(config: Record<string, unknown> = {}, bufferOpts: { maxBytes?: number; policy?: FullPolicy } = {}): Promise<Setup> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-frames-'));
  const dropDir = path.join(dir, 'drop');
  const buffer = openBuffer(
    {
      dir: path.join(dir, 'buffer'),
      maxBytes: bufferOpts.maxBytes ?? 256 * 1024 * 1024,
      sinks: ['lake'],
      ...(bufferOpts.policy ? { fullPolicy: { sensitive: bufferOpts.policy } } : {}),
    },
    log,
  );
  const pipeline = new Pipeline({
    buffer,
    outputs: [{ name: 'lake', plugin: { premises: 'on' } }],
    dataDir: dir,
    quarantineMaxBytes: 16 << 20,
    log,
    blockedRetryMs: 50,
  });
  const input = definition.create(framesConfigSchema.parse({ dropDir, stableFor: '100ms', rescanInterval: '100ms', ...config }), {
    dataDir: dir,
    machine: 'm1',
  }) as FramesInput;
  await input.start(pipeline.contextFor('camera'));
  cleanups.push(async () => {
    await input.stop();
    await pipeline.flush();
    buffer.close();
    await rm(dir, { recursive: true, force: true });
  });
  // everything the lake would get: read without acking, so it can be read again
  const all = () => buffer.read('lake', 100_000);
  return {
    dir,
    dropDir,
    buffer,
    pipeline,
    input,
    frames: () => all().filter((r) => r.signal === 'camera.powder_bed'),
    thumbnails: () => all().filter((r) => r.signal === 'camera.powder_bed.thumbnail'),
    body: async (r) => r.body ?? buffer.readBlob(r.blob!),
  };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const ls = (d: string) =>
  existsSync(d)
    ? readdirSync(d)
        .filter((n) => !n.startsWith('.'))
        .sort()
    : [];
const images = (d: string) => ls(d).filter((n) => /\.(png|tiff?|jpe?g|raw|bin|txt)$/.test(n));

function simCfg(bitDepth: 8 | 16 = 8, size = 256, layers = 3, seed = 7): SimConfig {
  return makeConfig({
    seed,
    job: { totalLayers: layers, partCount: 4 },
    timing: { idleS: 0, inertingS: 0.2, layerS: 0.5, recoatS: 0.1, speed: 2 },
    meltPool: { rateHz: 1000, blockSize: 100 },
    camera: { width: size, height: size, bitDepth },
  });
}

async function simFrame(layer: number, kind: FrameKind = 'after-exposure', cfg = simCfg()) {
  const core = new SimCore(cfg);
  return renderFrame(cfg, core.parts, layer, kind, core.defects, cfg.startTimeMs + layer * 1000);
}

describe('frames input: the simulator camera drop folder', () => {
  it('every frame of a job arrives with size, depth, build, layer, phase and the original bytes; files are released to processed/', async () => {
    const s = await setup();
    const cfg = simCfg(8, 256, 3);
    const sim = new Simulator({ cfg, dataDir: path.join(s.dir, 'sim'), log, camera: { dropDir: s.dropDir }, controlPort: null });
    cleanups.push(() => sim.stop());
    await sim.start();
    await sim.finished;
    expect(sim.counters.frames).toBe(6); // 3 layers x (after-recoat, after-exposure)
    await until('6 frames committed and released', () => s.frames().length === 6 && s.input.counters.released === 6);

    const frames = s.frames();
    expect(frames.map((r) => `${r.layer}/${r.attributes?.phase}`).sort()).toEqual([
      '1/after-exposure',
      '1/after-recoat',
      '2/after-exposure',
      '2/after-recoat',
      '3/after-exposure',
      '3/after-recoat',
    ]);
    for (const r of frames) {
      expect(r).toMatchObject({ source: 'camera', kind: 'frame', class: 'sensitive', contentType: 'image/png', build: 'B-0001' });
      expect(r.attributes).toMatchObject({ width: '256', height: '256', depth: '8', format: 'png' });
      expect(r.attributes?.file_name).toBe(`B-0001_L0000${r.layer}_${r.attributes?.phase}.png`);
      // the stored bytes are the file's bytes, untouched, and decode to the camera's image
      const body = await s.body(r);
      expect(sha(body)).toBe(r.attributes?.sha256);
      const released = await readFile(path.join(s.dropDir, 'processed', r.attributes!.file_name!));
      expect(released.equals(body)).toBe(true);
      const m = await sharp(body).metadata();
      expect([m.width, m.height, m.depth]).toEqual([256, 256, 'uchar']);
      expect(Number(r.sourceTimeNs! / 1_000_000n)).toBeGreaterThan(0);
    }
    // the drop folder holds no image any more; nothing was quarantined
    expect(images(s.dropDir)).toEqual([]);
    expect(ls(path.join(s.dropDir, 'processed'))).toHaveLength(6);
    expect(s.pipeline.stats().camera!.quarantined).toBe(0);

    // one thumbnail per frame, a decodable 8-bit PNG pointing at its frame
    const thumbs = s.thumbnails();
    expect(thumbs).toHaveLength(6);
    const shas = new Set(frames.map((r) => r.attributes?.sha256));
    for (const t of thumbs) {
      expect(shas.has(t.attributes?.thumbnail_of)).toBe(true);
      expect(t).toMatchObject({ kind: 'frame', class: 'sensitive', contentType: 'image/png' });
      const m = await sharp(await s.body(t)).metadata();
      expect([m.format, m.width, m.height, m.depth]).toEqual(['png', 256, 256, 'uchar']);
    }
  });

  it('16-bit PNG frames keep their depth; thumbnails are 8-bit at most `size` px', async () => {
    const s = await setup({ thumbnail: { size: 64 } });
    const sink = new FrameSink({ dropDir: s.dropDir }, new SimCore(simCfg(16, 128)).faults, 7, log);
    const f = await simFrame(4, 'after-recoat', simCfg(16, 128));
    await sink.deliver(f);
    await until('the frame', () => s.input.counters.released === 1);
    const [r] = s.frames();
    expect(r!.attributes).toMatchObject({ width: '128', height: '128', depth: '16', format: 'png', phase: 'after-recoat' });
    expect(r!.layer).toBe(4);
    expect((await s.body(r!)).equals(f.png)).toBe(true);
    const tm = await sharp(await s.body(s.thumbnails()[0]!)).metadata();
    expect([tm.width, tm.height, tm.depth]).toEqual([64, 64, 'uchar']);
  });

  it('corrupt and half-written images are quarantined and counted; the frames around them flow', async () => {
    const s = await setup();
    const core = new SimCore(simCfg());
    const sink = new FrameSink({ dropDir: s.dropDir }, core.faults, 7, log);
    await sink.deliver(await simFrame(1));
    core.faults.set('corrupt-image', true);
    await sink.deliver(await simFrame(2));
    core.faults.set('corrupt-image', false);
    core.faults.set('half-written-image', true);
    await sink.deliver(await simFrame(3));
    core.faults.set('half-written-image', false);
    await sink.deliver(await simFrame(4));

    await until('2 frames stored, 2 rejected', () => s.input.counters.released === 2 && s.input.counters.rejected.corrupt === 2);
    expect(
      s
        .frames()
        .map((r) => r.layer)
        .sort(),
    ).toEqual([1, 4]);
    // the broken files sit in the drop folder's quarantine/, the good ones in processed/
    expect(ls(path.join(s.dropDir, 'quarantine'))).toEqual(['B-0001_L00002_after-exposure.png', 'B-0001_L00003_after-exposure.png']);
    expect(ls(path.join(s.dropDir, 'processed'))).toEqual(['B-0001_L00001_after-exposure.png', 'B-0001_L00004_after-exposure.png']);
    expect(images(s.dropDir)).toEqual([]);
    // and in the gateway quarantine with the reason and the raw bytes
    await s.pipeline.flush();
    expect(s.pipeline.stats().camera!.quarantined).toBe(2);
    const qdir = path.join(s.dir, 'quarantine', 'inputs', 'camera');
    const sidecars = await Promise.all(
      ls(qdir)
        .filter((n) => n.endsWith('.json'))
        .map(async (n) => JSON.parse(await readFile(path.join(qdir, n), 'utf8'))),
    );
    expect(sidecars.map((j) => j.where).sort()).toEqual(['B-0001_L00002_after-exposure.png', 'B-0001_L00003_after-exposure.png']);
    for (const j of sidecars) {
      expect(j.error.code).toBe('LG_INPUT_MALFORMED');
      expect(j.error.message).toMatch(/truncated or corrupt png image/);
    }
    expect(ls(qdir).filter((n) => n.endsWith('.bin'))).toHaveLength(2);
  });

  it('unknown formats, oversized files and bad sidecars are quarantined with their reason; temp names are never read', async () => {
    const s = await setup({ maxFileBytes: '200KiB' });
    await writeFile(path.join(s.dropDir, 'notes.txt'), 'this is not an image');
    await writeFile(path.join(s.dropDir, 'huge.png'), Buffer.alloc(300 * 1024, 1));
    const good = await simFrame(5);
    // the sidecar first, as a camera must write it (an image without one is taken as it is)
    await writeFile(path.join(s.dropDir, 'B-0001_L00005_after-exposure.json'), '{"layer": "five"');
    await writeFile(path.join(s.dropDir, 'B-0001_L00005_after-exposure.png'), good.png);
    // a file a producer is still writing: never taken, whatever its age
    await writeFile(path.join(s.dropDir, '.B-0001_L00006_after-exposure.png.part'), good.png.subarray(0, 100));
    await until(
      '3 rejected',
      () => s.input.counters.rejected['unknown-format'] === 1 && s.input.counters.rejected['too-large'] === 1 && s.input.counters.rejected['bad-sidecar'] === 1,
    );
    expect(ls(path.join(s.dropDir, 'quarantine'))).toEqual(['B-0001_L00005_after-exposure.json', 'B-0001_L00005_after-exposure.png', 'huge.png', 'notes.txt']);
    expect(s.frames()).toHaveLength(0);
    expect(readdirSync(s.dropDir)).toContain('.B-0001_L00006_after-exposure.png.part');
    // completing the .part by rename makes it a frame
    await rename(path.join(s.dropDir, '.B-0001_L00006_after-exposure.png.part'), path.join(s.dropDir, 'B-0001_L00006_after-exposure.png'));
    await until('the half-written-then-renamed file rejected', () => s.input.counters.rejected.corrupt === 1);
    await writeFile(path.join(s.dropDir, 'B-0001_L00007_after-exposure.png'), good.png);
    await until('a good frame after all that', () => s.frames().length === 1);
  });

  it('content-hash dedup: the same image under another name is released and counted, not stored twice', async () => {
    const s = await setup();
    const f = await simFrame(8);
    await writeFile(path.join(s.dropDir, 'B-0001_L00008_after-exposure.png'), f.png);
    await until('the first copy', () => s.input.counters.released === 1);
    await writeFile(path.join(s.dropDir, 'again_L00008_after-exposure.png'), f.png);
    await until('the second copy released', () => s.input.counters.released === 2);
    expect(s.input.counters.duplicates).toBe(1);
    expect(s.frames()).toHaveLength(1);
    expect(ls(path.join(s.dropDir, 'processed'))).toEqual(['B-0001_L00008_after-exposure.png', 'again_L00008_after-exposure.png']);
  });

  it('the dedup memory survives a restart: a frame seen before the restart is released, not stored again', async () => {
    const s = await setup();
    const f = await simFrame(5);
    await writeFile(path.join(s.dropDir, 'B-0001_L00005_after-exposure.png'), f.png);
    await until('the first copy', () => s.input.counters.released === 1);
    await s.input.stop();
    const again = definition.create(framesConfigSchema.parse({ dropDir: s.dropDir, stableFor: '100ms', rescanInterval: '100ms' }), {
      dataDir: s.dir,
      machine: 'm1',
    }) as FramesInput;
    cleanups.push(() => again.stop());
    await again.start(s.pipeline.contextFor('camera'));
    await writeFile(path.join(s.dropDir, 'copy_L00005_after-exposure.png'), f.png);
    await until('the copy released', () => again.counters.released === 1);
    expect(again.counters.duplicates).toBe(1);
    expect(s.frames()).toHaveLength(1);
    expect(readFileSync(path.join(s.dir, 'inputs', 'camera', 'recent-frames'), 'utf8')).toBe(`${sha(f.png)} 256 256 8 png\n`);
  });

  it('the source file stays in the drop folder while the buffer blocks, and is released right after the commit', async () => {
    const a = await simFrame(1);
    const b = await simFrame(2);
    // room for the first frame (and its small thumbnail), not for the second as well
    const s = await setup({ thumbnail: { size: 32 } }, { maxBytes: a.png.length + 8 * 1024, policy: 'block' });
    await writeFile(path.join(s.dropDir, 'B-0001_L00001_after-exposure.png'), a.png);
    await until('the first frame', () => s.input.counters.released === 1);
    await writeFile(path.join(s.dropDir, 'B-0001_L00002_after-exposure.png'), b.png);
    await until('the second emit blocked', () => s.pipeline.stats().camera!.blockedEmits === 1);
    // the emit is waiting: nothing committed, the file is where the camera left it
    expect(images(s.dropDir)).toEqual(['B-0001_L00002_after-exposure.png']);
    expect(ls(path.join(s.dropDir, 'processed'))).toEqual(['B-0001_L00001_after-exposure.png']);
    expect(s.frames()).toHaveLength(1);
    // the sink takes the first frame: it can be evicted, the second commits, then the file goes
    const delivered = s.buffer.read('lake', 100);
    s.buffer.ack('lake', delivered.at(-1)!.seq);
    await until('the second frame released', () => s.input.counters.released === 2);
    expect(images(s.dropDir)).toEqual([]);
    const stored = s.buffer.read('lake', 100).filter((r) => r.signal === 'camera.powder_bed');
    expect(stored.map((r) => r.layer)).toEqual([2]);
  });

  it('formats: TIFF 16-bit, JPEG, raw with a sidecar; build/layer from a sidecar or, failing both, the machine context', async () => {
    const s = await setup({ release: 'delete' });
    const px = new Uint16Array(96 * 64);
    for (let i = 0; i < px.length; i++) px[i] = (i * 37) % 65536;
    const raw16 = Buffer.from(px.buffer);
    const tiff = await sharp(px, { raw: { width: 96, height: 64, channels: 1 } })
      .toColourspace('grey16')
      .tiff({ compression: 'none' })
      .toBuffer();
    const jpeg = await sharp((await simFrame(3)).png)
      .jpeg({ quality: 90 })
      .toBuffer();
    // the machine context (followed by the OPC-UA input) fills in what the file does not say
    const ctx = s.pipeline.contextFor('opcua');
    ctx.setMachineContext({ build: 'J-42', layer: 17, state: 'exposing' });
    await writeFile(path.join(s.dropDir, 'cam1-000123.tif'), tiff);
    await writeFile(path.join(s.dropDir, 'cam1-000124.jpg'), jpeg);
    await writeFile(
      path.join(s.dropDir, 'cam1-000125.json'),
      JSON.stringify({ width: 96, height: 64, depth: 16, build: 'B-9', layer: 3, phase: 'after-recoat' }),
    );
    await writeFile(path.join(s.dropDir, 'cam1-000125.raw'), raw16);
    // a raw file whose size does not match its sidecar
    await writeFile(path.join(s.dropDir, 'cam1-000126.json'), JSON.stringify({ width: 10, height: 10, depth: 8 }));
    await writeFile(path.join(s.dropDir, 'cam1-000126.raw'), Buffer.alloc(50, 7));
    await until('3 frames, 1 rejected', () => s.input.counters.released === 3 && s.input.counters.rejected.corrupt === 1);
    expect(ls(path.join(s.dropDir, 'quarantine'))).toEqual(['cam1-000126.json', 'cam1-000126.raw']);
    const by = Object.fromEntries(s.frames().map((r) => [r.attributes!.file_name!, r]));
    expect(by['cam1-000123.tif']).toMatchObject({
      contentType: 'image/tiff',
      build: 'J-42',
      layer: 17,
      attributes: { format: 'tiff', depth: '16', width: '96', height: '64', machine_state: 'exposing' },
    });
    expect(by['cam1-000124.jpg']).toMatchObject({ contentType: 'image/jpeg', build: 'J-42', attributes: { format: 'jpeg', depth: '8', width: '256' } });
    expect(by['cam1-000125.raw']).toMatchObject({
      contentType: 'application/octet-stream',
      build: 'B-9',
      layer: 3,
      attributes: { format: 'raw', depth: '16', width: '96', height: '64', phase: 'after-recoat' },
    });
    expect((await s.body(by['cam1-000125.raw']!)).equals(raw16)).toBe(true);
    expect((await s.body(by['cam1-000123.tif']!)).equals(tiff)).toBe(true);
    // release: delete leaves nothing behind, the sidecar included
    expect(ls(s.dropDir)).toEqual(['quarantine']);
  });

  it('lossless re-encode: kept beside the original by default; replaces it only with keep: reencoded-only; pixels identical', async () => {
    // an uncompressed PNG, so that a re-encode is smaller
    const f = await simFrame(6);
    const loose = await sharp(f.png).png({ compressionLevel: 0 }).toBuffer();
    const pixels = (b: Buffer) => sharp(b).extractChannel(0).raw().toBuffer();

    const both = await setup({ reencode: 'webp' });
    await writeFile(path.join(both.dropDir, 'B-0001_L00006_after-exposure.png'), loose);
    await until('released', () => both.input.counters.released === 1);
    const [orig] = both.frames();
    expect((await both.body(orig!)).equals(loose)).toBe(true);
    const re = both.buffer.read('lake', 100).find((r) => r.signal === 'camera.powder_bed.reencoded')!;
    expect(re).toMatchObject({ contentType: 'image/webp', attributes: { reencoded_of: sha(loose), original_format: 'png' } });
    const reBytes = await both.body(re);
    expect(reBytes.length).toBeLessThan(loose.length);
    expect((await pixels(reBytes)).equals(await pixels(loose))).toBe(true);

    const only = await setup({ reencode: 'png', keep: 'reencoded-only' });
    await writeFile(path.join(only.dropDir, 'B-0001_L00006_after-exposure.png'), loose);
    await until('released', () => only.input.counters.released === 1);
    const [r] = only.frames();
    const body = await only.body(r!);
    expect(body.length).toBeLessThan(loose.length);
    expect(r!.attributes).toMatchObject({ original_sha256: sha(loose), original_size: String(loose.length), sha256: sha(body) });
    expect((await pixels(body)).equals(await pixels(loose))).toBe(true);
    expect(only.buffer.read('lake', 100).filter((x) => x.signal === 'camera.powder_bed.reencoded')).toHaveLength(0);
  });
});

describe('frames input: upload route', () => {
  it('201 after the commit, 401 without the token, 400 for a broken image, 200 for a duplicate', async () => {
    const s = await setup({ upload: { port: 0, token: 'frames-test-token' } });
    const url = s.input.uploadUrl!;
    const f = await simFrame(9, 'after-recoat');
    const post = (body: Buffer, headers: Record<string, string> = {}) =>
      fetch(url, { method: 'POST', body, headers: { authorization: 'Bearer frames-test-token', 'content-type': 'image/png', ...headers } });

    const ok = await post(f.png, {
      'x-layergate-build': 'B-0001',
      'x-layergate-layer': '9',
      'x-layergate-kind': 'after-recoat',
      'x-layergate-file-name': f.fileName,
    });
    expect(ok.status).toBe(201);
    const answer = (await ok.json()) as { sha256: string; width: number; depth: number };
    expect(answer).toMatchObject({ sha256: sha(f.png), width: 256, depth: 8, duplicate: false });
    // committed by the time the 201 arrived
    const [r] = s.frames();
    expect(r).toMatchObject({ build: 'B-0001', layer: 9, class: 'sensitive', attributes: { phase: 'after-recoat', file_name: f.fileName } });
    expect((await s.body(r!)).equals(f.png)).toBe(true);

    expect((await post(f.png, { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await fetch(url, { method: 'POST', body: f.png })).status).toBe(401);
    const half = await post(f.png.subarray(0, f.png.length >> 1), { 'x-layergate-file-name': 'half.png' });
    expect(half.status).toBe(400);
    expect(((await half.json()) as { error: string }).error).toMatch(/half\.png: truncated or corrupt png image/);
    const text = await post(Buffer.from('hello'));
    expect(text.status).toBe(400);
    expect(((await text.json()) as { reason: string }).reason).toBe('unknown-format');
    const dup = await post(f.png);
    expect(dup.status).toBe(200);
    expect(((await dup.json()) as { duplicate: boolean }).duplicate).toBe(true);
    expect(s.frames()).toHaveLength(1);
    expect(s.input.counters.rejected).toMatchObject({ corrupt: 1, 'unknown-format': 1 });
    await s.pipeline.flush();
    expect(s.pipeline.stats().camera!.quarantined).toBe(2);
  });

  it("the simulator camera's uploads (with its bearer token) are committed with build, layer and phase", async () => {
    const s = await setup({ upload: { port: 0, token: 'frames-test-token' } });
    const cfg = simCfg();
    const core = new SimCore(cfg);
    const withToken = new FrameSink({ uploadUrl: s.input.uploadUrl!, uploadToken: 'frames-test-token' }, core.faults, cfg.seed, log);
    const withoutToken = new FrameSink({ uploadUrl: s.input.uploadUrl! }, core.faults, cfg.seed, log);
    const f = await simFrame(4, 'after-exposure', cfg);
    await withToken.deliver(f);
    await withoutToken.deliver(await simFrame(5, 'after-exposure', cfg));
    expect([withToken.uploaded, withToken.uploadFailures, withoutToken.uploaded, withoutToken.uploadFailures]).toEqual([1, 0, 0, 1]);
    const [r] = s.frames();
    expect(s.frames()).toHaveLength(1);
    expect(r).toMatchObject({ build: f.build, layer: 4, attributes: { phase: 'after-exposure', file_name: f.fileName } });
    expect((await s.body(r!)).equals(f.png)).toBe(true);
  });

  it('at most upload.maxConcurrent uploads at once: one more gets 503 with Retry-After at once, and the slot frees after the commit', async () => {
    const s = await setup({ upload: { port: 0, token: 'frames-test-token', maxConcurrent: 1 } });
    const f = await simFrame(6);
    const url = new URL(s.input.uploadUrl!);
    // the first upload sends half its body and waits, holding the one slot
    const slow = http.request({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'POST',
      headers: { authorization: 'Bearer frames-test-token', 'content-length': f.png.length },
    });
    const slowAnswer = new Promise<number>((resolve, reject) =>
      slow
        .on('response', (res) => {
          res.resume();
          resolve(res.statusCode!);
        })
        .on('error', reject),
    );
    slow.write(f.png.subarray(0, 1000));
    await until('the first upload is being handled', () => s.input.uploadsInProgress === 1);
    const post = () => fetch(url, { method: 'POST', body: f.png, headers: { authorization: 'Bearer frames-test-token' } });
    const refused = await post();
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(s.input.counters.uploadsRefused).toBe(1);
    slow.end(f.png.subarray(1000));
    expect(await slowAnswer).toBe(201);
    expect(s.input.uploadsInProgress).toBe(0);
    expect((await post()).status).toBe(200); // the same image again: a duplicate, but served
    expect(s.frames()).toHaveLength(1);
  });

  it('413 for a body over maxFileBytes, counted and quarantined', async () => {
    const s = await setup({ maxFileBytes: '4KiB', upload: { port: 0, token: 'frames-test-token' } });
    const f = await simFrame(10);
    const res = await fetch(s.input.uploadUrl!, {
      method: 'POST',
      body: f.png,
      headers: { authorization: 'Bearer frames-test-token', 'x-layergate-file-name': 'big.png' },
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toMatch(/big\.png: .* more than maxFileBytes \(4096\)/);
    expect(s.input.counters.rejected['too-large']).toBe(1);
    expect(s.pipeline.stats().camera!.quarantined).toBe(1);
    expect(s.frames()).toHaveLength(0);
  });
});

describe('frames config', () => {
  it('defaults, the simulator naming, and refusals', () => {
    const c = framesConfigSchema.parse({ dropDir: '/tmp/x' });
    expect(c).toMatchObject({
      release: 'move',
      stableFor: 1000,
      rescanInterval: 2000,
      dedupWindow: 10_000,
      thumbnail: { enabled: true, size: 256 },
      reencode: 'off',
      keep: 'original',
    });
    expect(new RegExp(DEFAULT_FILE_NAME_PATTERN).exec('B-0001_L00010_after-exposure.png')?.groups).toMatchObject({
      build: 'B-0001',
      layer: '00010',
      phase: 'after-exposure',
    });
    expect(framesConfigSchema.safeParse({ dropDir: '/tmp/x', fileNamePattern: '(unclosed' }).success).toBe(false);
    expect(framesConfigSchema.safeParse({ dropDir: '/tmp/x', dropdir: '/tmp/y' }).success).toBe(false);
    expect(framesConfigSchema.safeParse({ dropDir: '/tmp/x', upload: { port: 8089 } }).success).toBe(false); // a token is required
  });
});
