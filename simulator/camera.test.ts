/**
 * The powder-bed camera: images decode with the stated size and bit depth, show the parts' cross
 * sections after exposure, change where a defect is switched on, are byte-identical for the same
 * seed, and reach the drop folder (temp name, then rename) or an upload endpoint; the image faults
 * leave files a decoder rejects.
 */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { renderFrame, renderIntensity, type FrameKind } from './camera.js';
import { makeConfig, type SimConfig } from './config.js';
import { SimCore } from './core.js';
import { FrameSink } from './transports/frames.js';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function cfgOf(seed = 3, bitDepth: 8 | 16 = 8, size = 256): SimConfig {
  return makeConfig({ seed, job: { totalLayers: 200, partCount: 6 }, camera: { width: size, height: size, bitDepth } });
}

async function frame(cfg: SimConfig, layer: number, kind: FrameKind, setup?: (core: SimCore) => void) {
  const core = new SimCore(cfg);
  setup?.(core);
  return renderFrame(cfg, core.parts, layer, kind, core.defects, cfg.startTimeMs);
}

async function pixels(png: Buffer): Promise<Uint8Array> {
  const { data } = await sharp(png).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
  return new Uint8Array(data);
}

/** mean of a rectangle given in mm on the plate */
function meanMm(px: Uint8Array, cfg: SimConfig, x0: number, y0: number, x1: number, y1: number): number {
  const s = cfg.camera.width / cfg.camera.plateMm;
  let sum = 0;
  let n = 0;
  for (let y = Math.floor(y0 * s); y < Math.floor(y1 * s); y++)
    for (let x = Math.floor(x0 * s); x < Math.floor(x1 * s); x++) {
      sum += px[y * cfg.camera.width + x] as number;
      n++;
    }
  return sum / n;
}

describe('powder-bed camera', () => {
  it('8-bit: a grayscale PNG of the stated size', async () => {
    const cfg = cfgOf(3, 8, 256);
    const f = await frame(cfg, 10, 'after-exposure');
    const m = await sharp(f.png).metadata();
    expect([m.format, m.width, m.height, m.channels, m.depth]).toEqual(['png', 256, 256, 1, 'uchar']);
    expect(f.fileName).toBe('B-0001_L00010_after-exposure.png');
  });

  it('16-bit: grey16 PNG with values using the 16-bit range', async () => {
    const cfg = cfgOf(3, 16, 128);
    const f = await frame(cfg, 10, 'after-exposure');
    const m = await sharp(f.png).metadata();
    expect([m.format, m.width, m.height, m.channels, m.depth]).toEqual(['png', 128, 128, 1, 'ushort']);
    const { data } = await sharp(f.png).extractChannel(0).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
    const u16 = new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
    expect(Math.max(...u16)).toBeGreaterThan(40_000);
    expect(new Set(u16).size).toBeGreaterThan(1000); // not an 8-bit image widened
  });

  it('after exposure the melted cross sections show; after recoating they are covered with powder', async () => {
    const cfg = cfgOf(3, 8, 256);
    const part = new SimCore(cfg).parts[1]!; // a cube
    const exposed = await pixels((await frame(cfg, 10, 'after-exposure')).png);
    const recoated = await pixels((await frame(cfg, 10, 'after-recoat')).png);
    const h = part.half * 0.6;
    const inside = meanMm(exposed, cfg, part.cx - h, part.cy - h, part.cx + h, part.cy + h);
    // powder right beside the part (same illumination)
    const beside = (px: Uint8Array) => meanMm(px, cfg, part.cx + part.half + 2, part.cy - h, part.cx + part.half + 8, part.cy + h);
    const powder = beside(exposed);
    expect(inside - powder).toBeGreaterThan(40);
    const insideCovered = meanMm(recoated, cfg, part.cx - h, part.cy - h, part.cx + h, part.cy + h);
    expect(Math.abs(insideCovered - beside(recoated))).toBeLessThan(15);
  });

  it('the same seed gives byte-identical images; another seed gives other bytes', async () => {
    const a = await frame(cfgOf(5), 20, 'after-exposure');
    const b = await frame(cfgOf(5), 20, 'after-exposure');
    const c = await frame(cfgOf(6), 20, 'after-exposure');
    expect(b.png.equals(a.png)).toBe(true);
    expect(c.png.equals(a.png)).toBe(false);
    const a16 = await frame(cfgOf(5, 16, 96), 20, 'after-recoat');
    const b16 = await frame(cfgOf(5, 16, 96), 20, 'after-recoat');
    expect(b16.png.equals(a16.png)).toBe(true);
  });

  it('each defect changes the pixels where it should', async () => {
    const cfg = cfgOf(3, 8, 256);
    const plain = (_kind: FrameKind) => new SimCore(cfg).defects;
    const parts = new SimCore(cfg).parts;
    const diffRows = (a: Float32Array, b: Float32Array) => {
      const rows = new Set<number>();
      const cols = new Set<number>();
      for (let i = 0; i < a.length; i++)
        if (a[i] !== b[i]) {
          rows.add(Math.floor(i / 256));
          cols.add(i % 256);
        }
      return { rows, cols };
    };
    const base = renderIntensity(cfg, parts, 10, 'after-recoat', plain('after-recoat'));
    const withDefect = (name: string, params: Record<string, unknown>, kind: FrameKind) => {
      const core = new SimCore(cfg);
      core.defects.set(name, true, params);
      return renderIntensity(cfg, parts, 10, kind, core.defects);
    };
    // a streak across the plate at y = 100 mm, 2 mm wide: only rows near 100 mm change, all darker
    const streak = withDefect('recoater-streak', { yMm: 100, widthMm: 2 }, 'after-recoat');
    const d = diffRows(base, streak);
    const rowMm = [...d.rows].map((r) => (r + 0.5) * (250 / 256));
    // within the streak's 2 mm plus the pixel pitch (~1 mm at 256 px)
    expect(Math.min(...rowMm)).toBeGreaterThan(98 - 1);
    expect(Math.max(...rowMm)).toBeLessThan(102 + 1);
    expect(d.cols.size).toBe(256);
    // short feed: the far 30 % of the plate along the recoater travel changes
    const short = diffRows(base, withDefect('short-feed', { fraction: 0.3 }, 'after-recoat'));
    expect(Math.min(...short.cols)).toBeGreaterThanOrEqual(Math.floor(256 * 0.7) - 1);
    // warped part: bright pixels appear on part 1's outline
    const warped = withDefect('warped-part', { part: 1 }, 'after-recoat');
    const p = parts[1]!;
    const mmPerPx = 250 / 256;
    const rim: [number, number][] = [];
    for (let i = 0; i < warped.length; i++) if (warped[i] !== base[i]) rim.push([((i % 256) + 0.5) * mmPerPx, (Math.floor(i / 256) + 0.5) * mmPerPx]);
    expect(rim.length).toBeGreaterThan(80); // the outline of a ~40 mm part at ~1 mm per pixel
    for (const [x, y] of rim) {
      expect(Math.abs(x - p.cx)).toBeLessThanOrEqual(p.half + 1);
      expect(Math.abs(y - p.cy)).toBeLessThanOrEqual(p.half + 1);
      // on the outline, not inside: within 2 mm of an edge of the square
      expect(Math.min(p.half - Math.abs(x - p.cx), p.half - Math.abs(y - p.cy))).toBeLessThan(2);
    }
    // spatter: bright specks around the parts after exposure
    const exposedBase = renderIntensity(cfg, parts, 10, 'after-exposure', plain('after-exposure'));
    const spatter = withDefect('spatter', { count: 300 }, 'after-exposure');
    let bright = 0;
    for (let i = 0; i < spatter.length; i++) if (spatter[i] !== exposedBase[i] && (spatter[i] as number) > 0.9) bright++;
    expect(bright).toBeGreaterThan(100);
  });
});

describe('frame delivery', () => {
  it('writes to the drop folder under a temp name, then renames; the file decodes and its mtime is the capture time', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'lg-sim-frames-'));
    dirs.push(dir);
    const cfg = cfgOf(3, 8, 128);
    const core = new SimCore(cfg);
    const sink = new FrameSink({ dropDir: dir }, core.faults, cfg.seed, log);
    const f = await renderFrame(cfg, core.parts, 4, 'after-recoat', core.defects, cfg.startTimeMs);
    await sink.deliver(f);
    expect(await readdir(dir)).toEqual([f.fileName]); // no .part left behind
    const bytes = await readFile(path.join(dir, f.fileName));
    expect(bytes.equals(f.png)).toBe(true);
    expect((await sharp(bytes).metadata()).width).toBe(128);
    expect((await stat(path.join(dir, f.fileName))).mtimeMs).toBe(cfg.startTimeMs);
  });

  it('corrupt-image and half-written-image leave files that fail to decode', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'lg-sim-frames-'));
    dirs.push(dir);
    const cfg = cfgOf(3, 8, 256);
    const core = new SimCore(cfg);
    const sink = new FrameSink({ dropDir: dir }, core.faults, cfg.seed, log);
    core.faults.set('corrupt-image', true);
    const a = await renderFrame(cfg, core.parts, 1, 'after-exposure', core.defects, 0);
    await sink.deliver(a);
    core.faults.set('corrupt-image', false);
    core.faults.set('half-written-image', true);
    const b = await renderFrame(cfg, core.parts, 2, 'after-exposure', core.defects, 0);
    await sink.deliver(b);
    const corrupt = await readFile(path.join(dir, a.fileName));
    const half = await readFile(path.join(dir, b.fileName));
    expect(corrupt.length).toBe(a.png.length);
    expect(corrupt.subarray(0, 8).equals(a.png.subarray(0, 8))).toBe(true); // still says PNG
    expect(corrupt.equals(a.png)).toBe(false);
    expect(half.length).toBe(Math.floor(b.png.length / 2));
    await expect(sharp(corrupt).raw().toBuffer()).rejects.toThrow();
    await expect(sharp(half).raw().toBuffer()).rejects.toThrow();
  });

  it('pushes frames to an upload endpoint with build, layer and kind headers', async () => {
    const received: { headers: http.IncomingHttpHeaders; body: Buffer }[] = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(201).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const cfg = cfgOf(3, 8, 64);
      const core = new SimCore(cfg);
      const sink = new FrameSink({ uploadUrl: `http://127.0.0.1:${port}/frames` }, core.faults, cfg.seed, log);
      const f = await renderFrame(cfg, core.parts, 7, 'after-exposure', core.defects, cfg.startTimeMs + 1234);
      await sink.deliver(f);
      expect(sink.uploaded).toBe(1);
      expect(received).toHaveLength(1);
      expect(received[0]!.body.equals(f.png)).toBe(true);
      expect(received[0]!.headers).toMatchObject({
        'content-type': 'image/png',
        'x-layergate-build': 'B-0001',
        'x-layergate-layer': '7',
        'x-layergate-kind': 'after-exposure',
        'x-layergate-source-time-ms': String(cfg.startTimeMs + 1234),
      });
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
