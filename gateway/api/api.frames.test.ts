/**
 * Frames as the UI reads them from a running gateway with a frames input (drop folder): a frame
 * dropped into the folder is listed with its build and layer, its image bytes are the file's, its
 * thumbnail is a decodable image smaller than the frame; a spooled frame (larger than the buffer's
 * inline size) and an inline one alike; a confidential camera's frame is sealed at rest and served
 * opened; a token limited to `public` neither lists nor reads the (sensitive) frames.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/wait.js';
import { type ApiRig, startApiRig } from './test-support/api-rig.js';

interface FrameInfo {
  seq: number;
  camera: string;
  signal: string;
  build: string | null;
  layer: number | null;
  receivedAt: string;
  size: number;
  contentType: string;
  class: string;
  width: number | null;
  height: number | null;
  phase: string | null;
  thumbnailSeq: number | null;
}
interface FrameList {
  frames: FrameInfo[];
  truncated: boolean;
}

let rig: ApiRig;
let drop: string;
let vault: string;
let viewer: string;
/** noise: it does not compress, so the PNG is about width x height bytes */
const big = { name: 'B-7_L12_after-exposure.png', width: 640, height: 480 };
const small = { name: 'B-7_L13_after-recoat.png', width: 48, height: 32 };
const secret = { name: 'B-9_L2_after-exposure.png', width: 400, height: 300 };
const bytes = new Map<string, Buffer>();

async function noisePng(width: number, height: number): Promise<Buffer> {
  return sharp(randomBytes(width * height), { raw: { width, height, channels: 1 } })
    .png()
    .toBuffer();
}

async function list(query: string, token = viewer): Promise<FrameList> {
  const r = await rig.request('GET', `/api/v1/frames${query}`, { token });
  expect(r.status, r.text).toBe(200);
  return r.json<FrameList>();
}

beforeAll(async () => {
  drop = mkdtempSync(path.join(os.tmpdir(), 'lg-api-frames-'));
  vault = mkdtempSync(path.join(os.tmpdir(), 'lg-api-frames-vault-'));
  rig = await startApiRig('', {
    inputsYaml: [
      `  camera: { type: frames, dropDir: ${drop}, stableFor: 100ms, rescanInterval: 100ms }`,
      `  vault: { type: frames, dropDir: ${vault}, stableFor: 100ms, rescanInterval: 100ms, class: confidential }`,
    ].join('\n'),
  });
  viewer = rig.tokenFor('viewer');
  for (const f of [big, small]) {
    const png = await noisePng(f.width, f.height);
    bytes.set(f.name, png);
    writeFileSync(path.join(drop, f.name), png);
    // one after the other, so that their order in the buffer is known
    await waitFor(
      `${f.name} in the frame list`,
      async () => (await list('?camera=camera')).frames.some((x) => x.build === 'B-7' && x.layer === Number(/_L(\d+)_/.exec(f.name)![1])),
      20_000,
    );
  }
  const png = await noisePng(secret.width, secret.height);
  bytes.set(secret.name, png);
  writeFileSync(path.join(vault, secret.name), png);
  await waitFor('the confidential frame in the list', async () => (await list('?camera=vault')).frames.length === 1, 20_000);
}, 60_000);
afterAll(async () => {
  await rig?.stop();
  if (drop) rmSync(drop, { recursive: true, force: true });
  if (vault) rmSync(vault, { recursive: true, force: true });
});

describe('frames', () => {
  it('lists the dropped frames newest first with build, layer, size and thumbnail', async () => {
    const { frames, truncated } = await list('?camera=camera');
    expect(truncated).toBe(false);
    expect(frames.map((f) => [f.build, f.layer, f.phase])).toEqual([
      ['B-7', 13, 'after-recoat'],
      ['B-7', 12, 'after-exposure'],
    ]);
    expect(frames[0]!.seq).toBeGreaterThan(frames[1]!.seq);
    expect(frames[1]).toMatchObject({
      camera: 'camera',
      signal: 'camera.powder_bed',
      contentType: 'image/png',
      class: 'sensitive',
      size: bytes.get(big.name)!.length,
      width: big.width,
      height: big.height,
    });
    expect(bytes.get(big.name)!.length).toBeGreaterThan(64 * 1024); // spooled: larger than the buffer's inline size
    for (const f of frames) expect(f.thumbnailSeq).toBeGreaterThan(f.seq);
    // filters
    expect((await list('?build=B-7&layer=12')).frames.map((f) => f.layer)).toEqual([12]);
    expect((await list('?build=B-8')).frames).toEqual([]);
    expect((await list('?camera=no-such-camera')).frames).toEqual([]);
    expect((await list('?camera=camera&limit=1')).frames.map((f) => f.layer)).toEqual([13]);
    // every camera, newest first; the newest per camera
    expect((await list('')).frames.map((f) => [f.camera, f.build, f.layer])).toEqual([
      ['vault', 'B-9', 2],
      ['camera', 'B-7', 13],
      ['camera', 'B-7', 12],
    ]);
    const latest = await list('/latest');
    expect(latest.frames.map((f) => [f.camera, f.layer]).sort()).toEqual([
      ['camera', 13],
      ['vault', 2],
    ]);
    expect((await list('/latest?camera=camera')).frames.map((f) => [f.camera, f.layer])).toEqual([['camera', 13]]);
  });

  it('serves each frame image exactly as dropped, and a thumbnail that decodes and is smaller', async () => {
    const { frames } = await list('?camera=camera');
    for (const [f, file] of [
      [frames.find((x) => x.layer === 12)!, big],
      [frames.find((x) => x.layer === 13)!, small],
    ] as const) {
      const img = await rig.request('GET', `/api/v1/frames/${f.seq}/image`, { token: viewer });
      expect(img.status, img.text).toBe(200);
      expect(img.headers['content-type']).toBe('image/png');
      expect(img.bytes.equals(bytes.get(file.name)!)).toBe(true);
      const th = await rig.request('GET', `/api/v1/frames/${f.seq}/thumbnail`, { token: viewer });
      expect(th.status, th.text).toBe(200);
      expect(th.headers['content-type']).toBe('image/png');
      const m = await sharp(th.bytes).metadata();
      expect(m.format).toBe('png');
      expect(Math.max(m.width, m.height)).toBeLessThanOrEqual(256);
      if (file === big) {
        expect(m.width).toBeLessThan(file.width);
        expect(th.bytes.length).toBeLessThan(img.bytes.length);
      }
      expect(m.width / m.height).toBeCloseTo(file.width / file.height, 1);
    }
  });

  it('a confidential frame is sealed in the spool and served opened', async () => {
    const [f] = (await list('?camera=vault')).frames;
    expect(f).toMatchObject({ class: 'confidential', build: 'B-9', layer: 2, size: bytes.get(secret.name)!.length });
    const img = await rig.request('GET', `/api/v1/frames/${f!.seq}/image`, { token: viewer });
    expect(img.status, img.text).toBe(200);
    expect(img.bytes.equals(bytes.get(secret.name)!)).toBe(true);
    const th = await rig.request('GET', `/api/v1/frames/${f!.seq}/thumbnail`, { token: viewer });
    expect(th.status, th.text).toBe(200);
    expect((await sharp(th.bytes).metadata()).width).toBeLessThan(secret.width);
    // at rest: no spooled file holds the plain image
    const spool = path.join(rig.dir, 'data', 'buffer', 'spool');
    const files = readdirSync(spool, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const e of files) expect(readFileSync(path.join(e.parentPath, e.name)).equals(bytes.get(secret.name)!)).toBe(false);
    // a token limited to sensitive does not see it
    const sensitive = rig.api.identity.createToken({
      label: 'sensitive-viewer',
      role: 'viewer',
      maxClass: 'sensitive',
      expiresMs: null,
      createdBy: 'test',
    }).token;
    expect((await list('', sensitive)).frames.map((x) => x.camera)).toEqual(['camera', 'camera']);
    expect((await rig.request('GET', `/api/v1/frames/${f!.seq}/image`, { token: sensitive })).status).toBe(404);
  });

  it('a token limited to public neither lists nor reads the sensitive frames', async () => {
    const pub = rig.api.identity.createToken({ label: 'public-viewer', role: 'viewer', maxClass: 'public', expiresMs: null, createdBy: 'test' }).token;
    const internal = rig.api.identity.createToken({ label: 'internal-viewer', role: 'viewer', maxClass: 'internal', expiresMs: null, createdBy: 'test' }).token;
    const all = (await list('')).frames;
    expect(all.length).toBe(3);
    for (const token of [pub, internal]) {
      expect((await list('', token)).frames).toEqual([]);
      expect((await list('/latest', token)).frames).toEqual([]);
      for (const f of all) {
        for (const part of ['image', 'thumbnail']) {
          const r = await rig.request('GET', `/api/v1/frames/${f.seq}/${part}`, { token });
          expect(r.status, `${part} of ${f.seq}`).toBe(404);
          expect(r.headers['content-type']).toMatch(/json/);
        }
      }
    }
  });

  it('answers 404 for a seq that is no frame and 400 for a malformed one', async () => {
    const { frames } = await list('');
    // a thumbnail's own seq is not a frame; a health record is not one either (seq 1); nor a seq never handed out
    for (const seq of [frames[0]!.thumbnailSeq!, 1, 999_999_999]) {
      expect((await rig.request('GET', `/api/v1/frames/${seq}/image`, { token: viewer })).status, String(seq)).toBe(404);
    }
    expect((await rig.request('GET', '/api/v1/frames/abc/image', { token: viewer })).status).toBe(400);
    expect((await rig.request('GET', '/api/v1/frames?limit=0', { token: viewer })).status).toBe(400);
    expect((await rig.request('GET', '/api/v1/frames?color=red', { token: viewer })).status).toBe(400);
  });
});
