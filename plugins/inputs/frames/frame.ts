/**
 * What the frames input knows about a frame besides its bytes, and why it may refuse one: the frame
 * types shared by the drop folder, the upload route and the inspection, the `FrameRejected` error,
 * and the hints read from a file name (by the configured pattern) or a JSON sidecar.
 *
 * Design constraints:
 * - A bad sidecar rejects its frame (`bad-sidecar`): a frame stored with a wrong layer or build is
 *   worse than one set aside for a person to look at. "Bad" includes a value out of the range every
 *   sink holds (`MAX_LAYER`, `MAX_TIME_NS`, `MAX_BUILD_LENGTH` of the plugin API): refused here, with
 *   its reason, rather than quarantined later by the pipeline after the file was released.
 * - What no check here catches (a layer out of range in the file name, a record the buffer refuses)
 *   the pipeline quarantines and names in the emit's result: the frame is then rejected as
 *   `FrameRecordQuarantined`, with the pipeline's reason, and set aside like any bad frame.
 * - The upload route's headers are the same hints and are checked by the same functions
 *   (`checkBuild`, `checkLayer`, `checkTimeMs`, `checkPhase`).
 */
import path from 'node:path';
import { MAX_BUILD_LENGTH, MAX_LAYER, MAX_TIME_NS, MalformedInputError } from '../../../gateway/plugin-api/index.js';
import type { DraftQuarantineReason } from '../../../gateway/plugin-api/index.js';

export type FramePhase = 'after-recoat' | 'after-exposure';
export type FrameFormat = 'png' | 'tiff' | 'jpeg' | 'raw';

/**
 * Why a frame was rejected; the counters are keyed by it. The pipeline's reasons
 * (`DraftQuarantineReason`) are those of a frame whose record it quarantined (`FrameRecordQuarantined`).
 */
export type RejectReason = 'too-large' | 'unknown-format' | 'corrupt' | 'bad-sidecar' | DraftQuarantineReason;

export class FrameRejected extends MalformedInputError {
  constructor(
    override readonly reason: RejectReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A frame whose own record the pipeline quarantined instead of storing it (the emit's result said
 * so): a bad frame like any other, except that the gateway's input quarantine already holds its
 * record, bytes and reason, so it is not quarantined there a second time.
 */
export class FrameRecordQuarantined extends FrameRejected {}

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

/** the latest source time a record holds, in ms (2262-04-11, `MAX_TIME_NS`) */
export const MAX_TIME_MS = Number(MAX_TIME_NS / 1_000_000n);
/** the longest phase name (a short word, kept as an attribute) */
export const MAX_PHASE_LENGTH = 64;
/** the widest or tallest raw frame (libvips refuses larger images) */
export const MAX_FRAME_SIDE = 10_000_000;

/**
 * A build id from a sidecar or header: a non-empty string of at most `MAX_BUILD_LENGTH` characters,
 * or a non-negative integer (kept as its decimal text); the reason why not otherwise.
 */
export function checkBuild(v: unknown): string | { problem: string } {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  if (typeof v === 'string' && v.length > 0 && v.length <= MAX_BUILD_LENGTH) return v;
  return { problem: `build must be a string of 1..${MAX_BUILD_LENGTH} characters or a non-negative integer, got ${shown(v)}` };
}

/** A layer number: an integer in 0..`MAX_LAYER` (the range every sink holds). */
export function checkLayer(v: unknown): number | { problem: string } {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_LAYER) return v;
  return { problem: `layer must be an integer in 0..${MAX_LAYER}, got ${shown(v)}` };
}

/** A source time in ms since the epoch: a finite number in 0..`MAX_TIME_MS` (1970 to 2262). */
export function checkTimeMs(v: unknown): number | { problem: string } {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= MAX_TIME_MS) return v;
  return { problem: `source time must be ms since the epoch in 0..${MAX_TIME_MS} (1970 to 2262), got ${shown(v)}` };
}

/** A phase name: a non-empty string of at most `MAX_PHASE_LENGTH` characters. */
export function checkPhase(v: unknown): string | { problem: string } {
  if (typeof v === 'string' && v.length > 0 && v.length <= MAX_PHASE_LENGTH) return v;
  return { problem: `phase must be a string of 1..${MAX_PHASE_LENGTH} characters, got ${shown(v)}` };
}

function shown(v: unknown): string {
  const text = typeof v === 'string' || typeof v === 'number' ? JSON.stringify(v) : v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
  return text.length > 60 ? `${text.slice(0, 60)}...` : text;
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
  const field = <T>(checked: T | { problem: string }, name: string): T => {
    if (typeof checked === 'object' && checked !== null && 'problem' in checked)
      throw new FrameRejected('bad-sidecar', `${where}: sidecar ${name}: ${checked.problem}`);
    return checked as T;
  };
  if (o.build !== undefined) out.build = field(checkBuild(o.build), 'build');
  if (o.layer !== undefined) out.layer = field(checkLayer(o.layer), 'layer');
  if (o.phase !== undefined) out.phase = field(checkPhase(o.phase), 'phase');
  if (o.timestampMs !== undefined) out.sourceTimeMs = field(checkTimeMs(o.timestampMs), 'timestampMs');
  if (o.width !== undefined || o.height !== undefined || o.depth !== undefined) {
    const w = o.width;
    const h = o.height;
    const d = o.depth ?? 8;
    const side = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= MAX_FRAME_SIDE;
    if (!side(w) || !side(h)) {
      throw new FrameRejected('bad-sidecar', `${where}: sidecar width and height must be integers in 1..${MAX_FRAME_SIDE}`);
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
