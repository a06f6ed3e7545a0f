/**
 * What the frames input knows about a frame besides its bytes, and why it may refuse one: the frame
 * types shared by the drop folder, the upload route and the inspection, the `FrameRejected` error,
 * and the hints read from a file name (by the configured pattern) or a JSON sidecar.
 *
 * Design constraints:
 * - A bad sidecar rejects its frame (`bad-sidecar`): a frame stored with a wrong layer or build is
 *   worse than one set aside for a person to look at.
 */
import path from 'node:path';
import { MalformedInputError } from '../../../gateway/plugin-api/index.js';

export type FramePhase = 'after-recoat' | 'after-exposure';
export type FrameFormat = 'png' | 'tiff' | 'jpeg' | 'raw';

/** Why a frame was rejected; the counters are keyed by it. */
export type RejectReason = 'too-large' | 'unknown-format' | 'corrupt' | 'bad-sidecar';

export class FrameRejected extends MalformedInputError {
  constructor(
    override readonly reason: RejectReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What is known about a frame besides its bytes (from the file name, a sidecar or upload headers). */
export interface FrameHints {
  fileName: string;
  build?: string;
  layer?: number;
  phase?: string;
  sourceTimeMs?: number;
  /** raw frames only: the pixel layout */
  raw?: { width: number; height: number; depth: 8 | 16 };
}

/** A frame's size, depth and format (what the dedup memory keeps per hash). */
export interface FrameShape {
  width: number;
  height: number;
  depth: number;
  format: FrameFormat;
}

/** Build / layer / phase from a file name by the configured pattern; absent groups stay undefined. */
export function hintsFromName(fileName: string, pattern: RegExp): Omit<FrameHints, 'fileName'> {
  const g = pattern.exec(fileName)?.groups;
  if (!g) return {};
  const out: Omit<FrameHints, 'fileName'> = {};
  if (g.build) out.build = g.build;
  if (g.layer !== undefined && /^\d+$/.test(g.layer)) out.layer = Number(g.layer);
  if (g.phase) out.phase = g.phase;
  return out;
}

/** Parse a sidecar (`<name>.json`): build, layer, phase, timestampMs, and for raw frames width/height/depth. */
export function parseSidecar(text: string, where: string): Omit<FrameHints, 'fileName'> {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (err) {
    throw new FrameRejected('bad-sidecar', `${where}: sidecar is not JSON (${(err as Error).message})`);
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new FrameRejected('bad-sidecar', `${where}: sidecar must be a JSON object`);
  const o = j as Record<string, unknown>;
  const out: Omit<FrameHints, 'fileName'> = {};
  if (o.build !== undefined) out.build = String(o.build);
  if (o.layer !== undefined) {
    if (!Number.isInteger(o.layer) || (o.layer as number) < 0)
      throw new FrameRejected('bad-sidecar', `${where}: sidecar layer must be a non-negative integer, got ${JSON.stringify(o.layer)}`);
    out.layer = o.layer as number;
  }
  if (o.phase !== undefined) out.phase = String(o.phase);
  if (o.timestampMs !== undefined) {
    if (typeof o.timestampMs !== 'number' || !Number.isFinite(o.timestampMs))
      throw new FrameRejected('bad-sidecar', `${where}: sidecar timestampMs must be a number`);
    out.sourceTimeMs = o.timestampMs;
  }
  if (o.width !== undefined || o.height !== undefined || o.depth !== undefined) {
    const w = o.width;
    const h = o.height;
    const d = o.depth ?? 8;
    if (!Number.isInteger(w) || !Number.isInteger(h) || (w as number) < 1 || (h as number) < 1) {
      throw new FrameRejected('bad-sidecar', `${where}: sidecar width and height must be positive integers`);
    }
    if (d !== 8 && d !== 16) throw new FrameRejected('bad-sidecar', `${where}: sidecar depth must be 8 or 16, got ${JSON.stringify(d)}`);
    out.raw = { width: w as number, height: h as number, depth: d };
  }
  return out;
}

function stem(name: string): string {
  return name.slice(0, name.length - path.extname(name).length);
}

/** `X.png` -> `X.json`; `X.raw` -> `X.json` */
export function sidecarName(name: string): string {
  return `${stem(name)}.json`;
}
