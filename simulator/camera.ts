/**
 * The powder-bed camera: per layer one image after recoating and one after exposure, synthetic
 * grayscale rendered from a raw pixel buffer and encoded to PNG with sharp (8-bit, or 16-bit
 * grey16). What it shows: powder texture with recoating ripples and oblique-light vignetting; after
 * exposure, the melted cross-sections of the parts at that layer's height with a stripe pattern
 * that rotates 67° per layer (so the images reveal part geometry); defects on demand.
 *
 * Rendering is a pure function of (seed, layer, kind, defects): the pixel noise comes from a
 * mulberry32 stream seeded by (seed, layer, kind), and the PNG encoder runs with pinned settings,
 * so the same seed gives byte-identical files.
 */
import sharp from 'sharp';
import type { SimConfig } from './config.js';
import type { Switchboard } from './faults.js';
import { layerZmm, partContains, type Part } from './parts.js';
import { hash01, hash32, Mulberry32 } from './prng.js';

export type FrameKind = 'after-recoat' | 'after-exposure';

export interface CameraFrame {
  build: string;
  layer: number;
  kind: FrameKind;
  /** source time of the exposure, ms since the epoch */
  timestampMs: number;
  width: number;
  height: number;
  bitDepth: 8 | 16;
  fileName: string;
  png: Buffer;
}

/** PNG settings pinned so that the same pixels always give the same bytes */
const PNG_OPTIONS = { compressionLevel: 6, adaptiveFiltering: false, palette: false, effort: 7 } as const;

export function frameFileName(build: string, layer: number, kind: FrameKind): string {
  return `${build}_L${String(layer).padStart(5, '0')}_${kind}.png`;
}

/** Render one frame's pixels as intensities in [0, 1]. */
export function renderIntensity(cfg: SimConfig, parts: Part[], layer: number, kind: FrameKind, defects: Switchboard): Float32Array {
  const { width: W, height: H, plateMm } = cfg.camera;
  const img = new Float32Array(W * H);
  const mmPerPxX = plateMm / W;
  const mmPerPxY = plateMm / H;
  const z = layerZmm(cfg, layer);
  const rng = new Mulberry32(hash32(cfg.seed, layer, kind === 'after-recoat' ? 1 : 2));

  // which part each pixel belongs to in this layer (0 = powder), computed over each part's bounding box
  const mask = new Uint8Array(W * H);
  const maskPrev = new Uint8Array(W * H);
  const zPrev = layerZmm(cfg, layer - 1);
  for (const p of parts) {
    const x0 = Math.max(0, Math.floor((p.cx - p.half) / mmPerPxX) - 1);
    const x1 = Math.min(W - 1, Math.ceil((p.cx + p.half) / mmPerPxX) + 1);
    const y0 = Math.max(0, Math.floor((p.cy - p.half) / mmPerPxY) - 1);
    const y1 = Math.min(H - 1, Math.ceil((p.cy + p.half) / mmPerPxY) + 1);
    for (let iy = y0; iy <= y1; iy++) {
      const y = (iy + 0.5) * mmPerPxY;
      for (let ix = x0; ix <= x1; ix++) {
        const x = (ix + 0.5) * mmPerPxX;
        if (partContains(p, x, y, z)) mask[iy * W + ix] = p.index + 1;
        if (layer > 1 && partContains(p, x, y, zPrev)) maskPrev[iy * W + ix] = p.index + 1;
      }
    }
  }

  const theta = ((layer * 67) % 180) * (Math.PI / 180);
  const ct = Math.cos(theta);
  const st = Math.sin(theta);
  const stripeMm = 5;
  const shortFeed = defects.isOn('short-feed') ? defects.num('short-feed', 'fraction') : 0;
  const feedLimitMm = plateMm * (1 - shortFeed);
  for (let iy = 0; iy < H; iy++) {
    const y = (iy + 0.5) * mmPerPxY;
    const vy = (y / plateMm - 0.5) * 2;
    for (let ix = 0; ix < W; ix++) {
      const x = (ix + 0.5) * mmPerPxX;
      const vx = (x / plateMm - 0.5) * 2;
      const vignette = 1 - 0.12 * (vx * vx + vy * vy);
      const noise = rng.next() + rng.next() - 1; // triangular, [-1, 1]
      const i = iy * W + ix;
      let v: number;
      const melted = kind === 'after-exposure' ? mask[i] : 0;
      const uncovered = kind === 'after-recoat' && x > feedLimitMm;
      if (melted) {
        const s = x * ct + y * st;
        const stripe = Math.sin((2 * Math.PI * s) / stripeMm) > 0 ? 0.035 : -0.035;
        v = 0.74 + stripe + 0.05 * noise;
      } else if (uncovered) {
        // short feed: the previous layer shows through (its melted parts bright, sintered powder dark)
        v = maskPrev[i] ? 0.7 + 0.05 * noise : 0.3 + 0.05 * noise;
      } else {
        const ripple = 0.012 * Math.sin((2 * Math.PI * x) / 2.7 + layer * 0.9);
        const covered = kind === 'after-recoat' && maskPrev[i] ? 0.025 : 0; // parts just below a thin powder layer
        v = 0.46 + ripple + covered + 0.07 * noise;
      }
      img[i] = v * vignette;
    }
  }

  if (kind === 'after-recoat' && defects.isOn('recoater-streak')) {
    const yMm = defects.num('recoater-streak', 'yMm');
    const half = defects.num('recoater-streak', 'widthMm') / 2;
    const r0 = Math.max(0, Math.floor((yMm - half) / mmPerPxY));
    const r1 = Math.min(H - 1, Math.ceil((yMm + half) / mmPerPxY));
    for (let iy = r0; iy <= r1; iy++)
      for (let ix = 0; ix < Math.min(W, Math.floor(feedLimitMm / mmPerPxX)); ix++) img[iy * W + ix] = (img[iy * W + ix] as number) * 0.55;
  }
  if (kind === 'after-recoat' && defects.isOn('warped-part')) {
    const idx = defects.num('warped-part', 'part');
    const part = parts[idx];
    if (part) {
      // the curled edge of the part below sticks out of the powder: a bright rim along its outline
      const id = idx + 1;
      const r = Math.max(1, Math.round(0.6 / mmPerPxX));
      for (let iy = r; iy < H - r; iy++)
        for (let ix = r; ix < W - r; ix++) {
          const i = iy * W + ix;
          if (maskPrev[i] !== id) continue;
          if (maskPrev[i - r] !== id || maskPrev[i + r] !== id || maskPrev[i - r * W] !== id || maskPrev[i + r * W] !== id) img[i] = 0.95;
        }
    }
  }
  if (kind === 'after-exposure' && defects.isOn('spatter')) {
    const count = defects.num('spatter', 'count');
    const exposed = parts.filter((p) => z <= p.heightMm);
    for (let s = 0; s < count && exposed.length > 0; s++) {
      const p = exposed[hash32(cfg.seed, layer, s, 11) % exposed.length] as Part;
      const ang = hash01(cfg.seed, layer, s, 12) * 2 * Math.PI;
      const dist = p.half + hash01(cfg.seed, layer, s, 13) * 20;
      const ix = Math.floor((p.cx + Math.cos(ang) * dist) / mmPerPxX);
      const iy = Math.floor((p.cy + Math.sin(ang) * dist) / mmPerPxY);
      for (let dy = 0; dy < 2; dy++)
        for (let dx = 0; dx < 2; dx++) {
          const xx = ix + dx;
          const yy = iy + dy;
          if (xx >= 0 && xx < W && yy >= 0 && yy < H) img[yy * W + xx] = 0.97;
        }
    }
  }
  return img;
}

/** Quantise to 8 or 16 bit and encode as PNG. */
export async function encodeFrame(intensity: Float32Array, width: number, height: number, bitDepth: 8 | 16): Promise<Buffer> {
  if (bitDepth === 8) {
    const raw = Buffer.alloc(width * height);
    for (let i = 0; i < raw.length; i++) raw[i] = Math.max(0, Math.min(255, Math.round((intensity[i] as number) * 255)));
    return sharp(raw, { raw: { width, height, channels: 1 } })
      .toColourspace('b-w')
      .png(PNG_OPTIONS)
      .toBuffer();
  }
  const raw = new Uint16Array(width * height);
  for (let i = 0; i < raw.length; i++) raw[i] = Math.max(0, Math.min(65535, Math.round((intensity[i] as number) * 65535)));
  return sharp(raw, { raw: { width, height, channels: 1 } })
    .toColourspace('grey16')
    .png(PNG_OPTIONS)
    .toBuffer();
}

export async function renderFrame(
  cfg: SimConfig,
  parts: Part[],
  layer: number,
  kind: FrameKind,
  defects: Switchboard,
  timestampMs: number,
): Promise<CameraFrame> {
  const { width, height, bitDepth } = cfg.camera;
  const png = await encodeFrame(renderIntensity(cfg, parts, layer, kind, defects), width, height, bitDepth);
  return { build: cfg.job.id, layer, kind, timestampMs, width, height, bitDepth, fileName: frameFileName(cfg.job.id, layer, kind), png };
}
