/**
 * The `frames` input: powder-bed camera images from a drop folder and/or an HTTP upload route.
 *
 * Design constraints:
 * - Only complete files are taken: temporary names (dot-files, `*.part`, `*.tmp`, `*~`) are never
 *   read, empty files are left alone, and a file is taken only once its size and mtime stayed
 *   unchanged for `stableFor` (a camera that writes in place and one that renames into place both work). fs.watch gives the low-latency
 *   path; a periodic listing is the safety net for missed events (network shares, overflow).
 * - The source file is released (moved to processed/ or deleted) only after `ctx.emit` resolved,
 *   i.e. after the buffer commit. When emit rejects the file stays and is retried on a later scan.
 * - Every image is decoded in full (not only its header) so that truncated or corrupt files are
 *   caught here; a rejected file is quarantined (gateway quarantine + moved to quarantine/ in the
 *   drop folder), counted per reason, and never stops the other files.
 * - The original bytes are the record's body, untouched (the buffer spools large bodies). The
 *   re-encode only replaces them with `keep: reencoded-only`, and only when it is smaller and
 *   decodes to the same pixels.
 * - Frames are `sensitive` by default: a powder-bed image shows the parts' geometry.
 * - Dedup by content hash over the last `dedupWindow` frames. The hashes of committed frames are
 *   appended to <dataDir>/inputs/<name>/recent-frames (one line each, compacted to the window when
 *   it grows past twice that), read back at start: a restart remembers them. The file is written
 *   after the commit and not fsynced; a lost tail only means a frame may be stored a second time.
 * - The upload route handles at most `upload.maxConcurrent` uploads at once; one more is answered
 *   503 with Retry-After at once (its body unread), so a burst cannot hold unbounded images in memory.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { watch as fsWatch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { appendFile, copyFile, mkdir, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import sharp from 'sharp';
import type { Metadata, Sharp, SharpOptions } from 'sharp';
import { MalformedInputError } from '../../../gateway/plugin-api/index.js';
import type { InputContext, InputDefinition, InputPlugin, PluginEnvironment, RecordDraft } from '../../../gateway/plugin-api/index.js';
import { framesConfigSchema } from './schema.js';
import type { FramesConfig } from './schema.js';

export const TYPE = 'frames';

export type FramePhase = 'after-recoat' | 'after-exposure';
export type FrameFormat = 'png' | 'tiff' | 'jpeg' | 'raw';

const CONTENT_TYPE: Record<FrameFormat | 'webp', string> = {
  png: 'image/png',
  tiff: 'image/tiff',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  raw: 'application/octet-stream',
};

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

export interface IngestResult {
  sha256: string;
  duplicate: boolean;
  width: number;
  height: number;
  depth: number;
  format: FrameFormat;
}

export interface FramesCounters {
  frames: number;
  bytes: number;
  thumbnails: number;
  reencoded: number;
  duplicates: number;
  uploads: number;
  /** uploads answered 503 because `upload.maxConcurrent` were being handled */
  uploadsRefused: number;
  /** files released after the commit (moved or deleted) */
  released: number;
  /** emits that failed (the file stays and is retried) */
  emitFailures: number;
  rejected: Record<RejectReason, number>;
}

const TEMP_NAME = /(^\.)|(\.part$)|(\.tmp$)|(~$)|(\.partial$)|(\.crdownload$)/i;

/** A temporary or hidden name a producer is still writing to. */
export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

function depthBits(depth: string | undefined): number {
  switch (depth) {
    case 'uchar':
    case 'char':
      return 8;
    case 'ushort':
    case 'short':
      return 16;
    case 'uint':
    case 'int':
    case 'float':
      return 32;
    case 'double':
      return 64;
    default:
      return 8;
  }
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
    if (!Number.isInteger(o.layer) || (o.layer as number) < 0) throw new FrameRejected('bad-sidecar', `${where}: sidecar layer must be a non-negative integer, got ${JSON.stringify(o.layer)}`);
    out.layer = o.layer as number;
  }
  if (o.phase !== undefined) out.phase = String(o.phase);
  if (o.timestampMs !== undefined) {
    if (typeof o.timestampMs !== 'number' || !Number.isFinite(o.timestampMs)) throw new FrameRejected('bad-sidecar', `${where}: sidecar timestampMs must be a number`);
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

/**
 * Decode a frame fully and make its thumbnail: throws `FrameRejected` for unknown formats and for
 * truncated or corrupt images. Pure (no I/O): shared by the drop folder, the upload route and the benchmark.
 */
export async function inspectFrame(
  bytes: Buffer,
  hints: FrameHints,
  opts: { thumbnailSize: number | null },
): Promise<{ format: FrameFormat; width: number; height: number; depth: number; thumbnail?: Buffer }> {
  const where = hints.fileName;
  if (hints.raw) {
    const { width, height, depth } = hints.raw;
    const expected = width * height * (depth / 8);
    if (bytes.length !== expected) {
      throw new FrameRejected('corrupt', `${where}: raw frame has ${bytes.length} bytes, the sidecar's ${width}x${height}x${depth}-bit needs ${expected}`);
    }
    let thumbnail: Buffer | undefined;
    try {
      thumbnail =
        opts.thumbnailSize === null
          ? undefined
          : await sharp(bytes, rawInput(hints.raw))
              .resize(opts.thumbnailSize, opts.thumbnailSize, { fit: 'inside', withoutEnlargement: true })
              .toColourspace('b-w')
              .png()
              .toBuffer();
    } catch (err) {
      throw new FrameRejected('corrupt', `${where}: raw frame does not decode as ${width}x${height}x${depth}-bit (${(err as Error).message.split('\n')[0]})`, { cause: err });
    }
    return { format: 'raw', width, height, depth, ...(thumbnail ? { thumbnail } : {}) };
  }
  let meta: Metadata;
  try {
    meta = await sharp(bytes).metadata();
  } catch (err) {
    throw new FrameRejected('unknown-format', `${where}: not a PNG, TIFF or JPEG image (${(err as Error).message})`, { cause: err });
  }
  const format = (meta.format as string) === 'jpg' ? 'jpeg' : (meta.format as string);
  if (format !== 'png' && format !== 'tiff' && format !== 'jpeg') {
    throw new FrameRejected('unknown-format', `${where}: format ${String(meta.format)} is not accepted (PNG, TIFF, JPEG, or raw with a sidecar)`);
  }
  if (!meta.width || !meta.height) throw new FrameRejected('corrupt', `${where}: the image header gives no size`);
  // a full decode: the header of a half-written file is intact, its pixel data is not
  let thumbnail: Buffer | undefined;
  try {
    if (opts.thumbnailSize === null) {
      await sharp(bytes, { failOn: 'warning' }).raw().toBuffer();
    } else {
      thumbnail = await sharp(bytes, { failOn: 'warning' })
        .resize(opts.thumbnailSize, opts.thumbnailSize, { fit: 'inside', withoutEnlargement: true, fastShrinkOnLoad: false })
        .toColourspace('b-w')
        .png()
        .toBuffer();
    }
  } catch (err) {
    throw new FrameRejected('corrupt', `${where}: truncated or corrupt ${format} image (${(err as Error).message.split('\n')[0]})`, { cause: err });
  }
  return { format, width: meta.width, height: meta.height, depth: depthBits(meta.depth), ...(thumbnail ? { thumbnail } : {}) };
}

/** sharp's typings leave out `raw.depth` for input, but libvips honours it (16-bit raw input). */
function rawInput(raw: NonNullable<FrameHints['raw']>): SharpOptions {
  return { raw: { width: raw.width, height: raw.height, channels: 1, ...(raw.depth === 16 ? { depth: 'ushort' as const } : {}) } };
}

/** The first channel's samples, widened to 16 bit (for the pixel-identity check of a re-encode). */
function firstChannel(img: Sharp): Promise<Buffer> {
  return img.extractChannel(0).raw({ depth: 'ushort' }).toBuffer();
}

/** A losslessly re-encoded copy, or undefined when it is not smaller or not pixel-identical. */
async function losslessReencode(bytes: Buffer, format: FrameFormat, depth: number, target: 'png' | 'webp', raw?: FrameHints['raw']): Promise<{ bytes: Buffer; format: 'png' | 'webp' } | undefined> {
  // JPEG is lossy already: a lossless copy of its decoded pixels is larger, and not the original
  if (format === 'jpeg') return undefined;
  // WebP holds 8 bits per channel: a 16-bit frame can only go to PNG
  const to = target === 'webp' && depth > 8 ? 'png' : target;
  const src = () => (raw ? sharp(bytes, rawInput(raw)) : sharp(bytes));
  const img = depth > 8 ? src().toColourspace('grey16') : src();
  const out = to === 'png' ? await img.png({ compressionLevel: 9, adaptiveFiltering: true }).toBuffer() : await img.webp({ lossless: true, effort: 4 }).toBuffer();
  if (out.length >= bytes.length) return undefined;
  const [a, b] = await Promise.all([firstChannel(src()), firstChannel(sharp(out))]);
  return a.equals(b) ? { bytes: out, format: to } : undefined;
}

/** Remembers the last `capacity` hashes (insertion order). */
class RecentHashes {
  private readonly map = new Map<string, FrameShape>();
  constructor(private readonly capacity: number) {}
  get(h: string): FrameShape | undefined {
    return this.map.get(h);
  }
  add(h: string, shape: FrameShape): void {
    if (this.capacity === 0) return;
    this.map.delete(h);
    this.map.set(h, shape);
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as string);
  }
  delete(h: string): void {
    this.map.delete(h);
  }
  entries(): IterableIterator<[string, FrameShape]> {
    return this.map.entries();
  }
}

const FRAME_FORMATS = new Set<string>(['png', 'tiff', 'jpeg', 'raw'] satisfies FrameFormat[]);

/** One line of the dedup file: `<sha256> <width> <height> <depth> <format>`. */
function dedupLine(sha256: string, f: FrameShape): string {
  return `${sha256} ${f.width} ${f.height} ${f.depth} ${f.format}\n`;
}

function parseDedupLine(line: string): [string, FrameShape] | undefined {
  const m = /^([0-9a-f]{64}) (\d+) (\d+) (\d+) ([a-z]+)$/.exec(line);
  if (!m || !FRAME_FORMATS.has(m[5]!)) return undefined;
  return [m[1]!, { width: Number(m[2]), height: Number(m[3]), depth: Number(m[4]) as FrameShape['depth'], format: m[5] as FrameShape['format'] }];
}

type FrameShape = Pick<IngestResult, 'width' | 'height' | 'depth' | 'format'>;

interface Candidate {
  size: number;
  mtimeMs: number;
  /** when size/mtime were first seen at these values */
  since: number;
  /** do not look at it again before this time (after a failed emit) */
  retryAt?: number;
}

export class FramesInput implements InputPlugin {
  readonly type = TYPE;
  readonly counters: FramesCounters = {
    frames: 0, bytes: 0, thumbnails: 0, reencoded: 0, duplicates: 0, uploads: 0, uploadsRefused: 0, released: 0, emitFailures: 0,
    rejected: { 'too-large': 0, 'unknown-format': 0, corrupt: 0, 'bad-sidecar': 0 },
  };
  private ctx: InputContext | undefined;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private server: http.Server | undefined;
  private stopped = true;
  private readonly candidates = new Map<string, Candidate>();
  /** names being processed right now */
  private readonly busy = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly recent: RecentHashes;
  private readonly pattern: RegExp;
  private scanning: Promise<void> | undefined;
  /** one-shot timer for the moment the next waiting file has been stable for `stableFor` */
  private stableTimer: NodeJS.Timeout | undefined;
  private rescanRequested = false;
  /** the dedup file (see the module header); undefined without a data folder or with dedupWindow 0 */
  private dedupFile: string | undefined;
  private dedupLines = 0;
  private dedupWrites: Promise<void> = Promise.resolve();
  private uploadsActive = 0;
  readonly processedDir: string;
  readonly quarantineDir: string;

  constructor(
    private readonly config: FramesConfig,
    private readonly env?: PluginEnvironment,
  ) {
    this.recent = new RecentHashes(config.dedupWindow);
    this.pattern = new RegExp(config.fileNamePattern);
    this.processedDir = path.resolve(config.processedDir ?? path.join(config.dropDir, 'processed'));
    this.quarantineDir = path.resolve(config.quarantineDir ?? path.join(config.dropDir, 'quarantine'));
  }

  /** Uploads being handled right now (at most `upload.maxConcurrent`). */
  get uploadsInProgress(): number {
    return this.uploadsActive;
  }

  /** The upload route's base URL once started (undefined without `upload`). */
  get uploadUrl(): string | undefined {
    const a = this.server?.address() as AddressInfo | null | undefined;
    if (!a) return undefined;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}/frames`;
  }

  async start(ctx: InputContext): Promise<void> {
    this.ctx = ctx;
    this.stopped = false;
    await mkdir(this.config.dropDir, { recursive: true });
    try {
      this.watcher = fsWatch(this.config.dropDir, { persistent: false }, (_event, name) => {
        if (name && !isTempName(String(name))) this.requestScan();
      });
      this.watcher.on('error', (err) => ctx.log.warn({ err, dir: this.config.dropDir }, 'frames: watching the drop folder failed; relying on the periodic rescan'));
    } catch (err) {
      ctx.log.warn({ err, dir: this.config.dropDir }, 'frames: cannot watch the drop folder; relying on the periodic rescan');
    }
    await this.loadRecent(ctx);
    this.timer = setInterval(() => this.requestScan(), this.config.rescanInterval);
    this.timer.unref();
    if (this.config.upload) await this.startUpload(ctx, this.config.upload);
    this.requestScan();
    ctx.log.info({ dropDir: path.resolve(this.config.dropDir), upload: this.uploadUrl }, 'frames input started');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    this.watcher = undefined;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.stableTimer) clearTimeout(this.stableTimer);
    this.stableTimer = undefined;
    await this.scanning;
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeIdleConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    await this.dedupWrites;
  }

  // ---- dedup memory across restarts ------------------------------------------------------------

  private async loadRecent(ctx: InputContext): Promise<void> {
    if (!this.env || this.config.dedupWindow === 0) return;
    const file = path.join(this.env.dataDir, 'inputs', ctx.name, 'recent-frames');
    this.dedupFile = file;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') ctx.log.warn({ err, file }, 'frames: cannot read the dedup memory; starting without it');
      return;
    }
    let bad = 0;
    const lines = text.split('\n').filter(Boolean);
    for (const line of lines) {
      const e = parseDedupLine(line);
      if (e) this.recent.add(e[0], e[1]);
      else bad++;
    }
    // a torn last line after a crash is expected; more than that is worth a word
    if (bad > 1) ctx.log.warn({ file, bad }, 'frames: unreadable lines in the dedup memory were skipped');
    this.dedupLines = lines.length;
    if (this.dedupLines > 2 * this.config.dedupWindow || bad > 0) await this.compactRecent(ctx);
  }

  /** Remember a committed frame's hash on disk (in the background, in order). */
  private persistRecent(sha256: string, shape: FrameShape): void {
    const file = this.dedupFile;
    if (!file) return;
    const ctx = this.ctx!;
    this.dedupWrites = this.dedupWrites.then(async () => {
      try {
        await mkdir(path.dirname(file), { recursive: true });
        await appendFile(file, dedupLine(sha256, shape));
        if (++this.dedupLines > 2 * this.config.dedupWindow) await this.compactRecent(ctx);
      } catch (err) {
        ctx.log.warn({ err, file }, 'frames: could not write the dedup memory; a restart may store a repeated frame again');
      }
    });
  }

  /** Rewrite the dedup file with the window's hashes only (temp file + rename). */
  private async compactRecent(ctx: InputContext): Promise<void> {
    const file = this.dedupFile!;
    let text = '';
    let n = 0;
    for (const [h, shape] of this.recent.entries()) {
      text += dedupLine(h, shape);
      n++;
    }
    try {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(`${file}.tmp`, text);
      await rename(`${file}.tmp`, file);
      this.dedupLines = n;
    } catch (err) {
      ctx.log.warn({ err, file }, 'frames: could not compact the dedup memory');
    }
  }

  // ---- drop folder -----------------------------------------------------------------------------

  private requestScan(): void {
    if (this.stopped) return;
    if (this.scanning) {
      this.rescanRequested = true;
      return;
    }
    this.scanning = this.scan()
      .catch((err: unknown) => this.ctx?.log.warn({ err, dir: this.config.dropDir }, 'frames: listing the drop folder failed'))
      .finally(() => {
        this.scanning = undefined;
        if (this.rescanRequested) {
          this.rescanRequested = false;
          // a short pause so that a burst of events becomes one listing
          setTimeout(() => this.requestScan(), 5).unref();
        }
      });
  }

  private async scan(): Promise<void> {
    const entries = await readdir(this.config.dropDir, { withFileTypes: true });
    const seen = new Set<string>();
    const names = new Set(entries.map((e) => e.name));
    let nextStableAt = Infinity;
    for (const e of entries) {
      if (this.stopped) return;
      if (!e.isFile() || isTempName(e.name)) continue;
      const ext = path.extname(e.name).toLowerCase();
      // a sidecar belongs to its frame and travels with it; a lone one waits for its frame
      if (ext === '.json') continue;
      seen.add(e.name);
      if (this.busy.has(e.name)) continue;
      let st;
      try {
        st = await stat(path.join(this.config.dropDir, e.name));
      } catch {
        continue; // gone meanwhile
      }
      const now = Date.now();
      const prev = this.candidates.get(e.name);
      if (!prev || prev.size !== st.size || prev.mtimeMs !== st.mtimeMs) {
        this.candidates.set(e.name, { size: st.size, mtimeMs: st.mtimeMs, since: now });
      }
      const c = this.candidates.get(e.name)!;
      // an empty file is one being created (opened, not yet written): never a frame yet
      if (c.size === 0) continue;
      if (c.retryAt !== undefined && now < c.retryAt) continue;
      if (now - c.since < this.config.stableFor) {
        nextStableAt = Math.min(nextStableAt, c.since + this.config.stableFor);
        continue;
      }
      // raw frames need their sidecar before they can be read
      if (ext === '.raw' && !names.has(sidecarName(e.name))) continue;
      // at capacity: the next finished file triggers the next listing
      if (this.busy.size >= this.config.concurrency) break;
      this.launch(e.name);
    }
    for (const name of [...this.candidates.keys()]) if (!seen.has(name) && !this.busy.has(name)) this.candidates.delete(name);
    // look again when the first waiting file will have held still long enough (no event will say so)
    if (nextStableAt !== Infinity && !this.stableTimer && !this.stopped) {
      this.stableTimer = setTimeout(() => {
        this.stableTimer = undefined;
        this.requestScan();
      }, Math.max(5, nextStableAt - Date.now() + 1));
      this.stableTimer.unref();
    }
  }

  private launch(name: string): void {
    if (this.stopped) return;
    this.busy.add(name);
    const p = this.processFile(name)
      .catch((err: unknown) => this.ctx?.log.error({ err, file: name }, 'frames: unexpected failure handling a file'))
      .finally(() => {
        this.busy.delete(name);
        this.inFlight.delete(p);
        this.requestScan();
      });
    this.inFlight.add(p);
  }

  private async processFile(name: string): Promise<void> {
    const ctx = this.ctx!;
    const file = path.join(this.config.dropDir, name);
    const sidecar = path.join(this.config.dropDir, sidecarName(name));
    let bytes: Buffer | undefined;
    try {
      const st = await stat(file);
      if (st.size > this.config.maxFileBytes) {
        throw new FrameRejected('too-large', `${name}: ${st.size} bytes is more than maxFileBytes (${this.config.maxFileBytes})`);
      }
      bytes = await readFile(file);
      let sidecarHints: Omit<FrameHints, 'fileName'> = {};
      let hasSidecar = false;
      try {
        const text = await readFile(sidecar, 'utf8');
        hasSidecar = true;
        sidecarHints = parseSidecar(text, sidecarName(name));
      } catch (err) {
        if (err instanceof FrameRejected) throw err;
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      if (path.extname(name).toLowerCase() === '.raw' && !sidecarHints.raw) {
        throw new FrameRejected('bad-sidecar', `${name}: a raw frame needs a sidecar ${sidecarName(name)} with width, height and depth`);
      }
      const hints: FrameHints = { fileName: name, sourceTimeMs: st.mtimeMs, ...hintsFromName(name, this.pattern), ...sidecarHints };
      const result = await this.ingest(bytes, hints);
      if (result === undefined) {
        // emit failed: leave the file where it is and look again later
        const c = this.candidates.get(name);
        if (c) c.retryAt = Date.now() + this.config.rescanInterval;
        return;
      }
      await this.release(file, hasSidecar ? sidecar : undefined, name);
    } catch (err) {
      if (!(err instanceof FrameRejected)) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // taken away by someone else
        ctx.log.warn({ err, file: name }, 'frames: could not read a file; will retry');
        const c = this.candidates.get(name);
        if (c) c.retryAt = Date.now() + this.config.rescanInterval;
        return;
      }
      // out of the drop folder first, then counted: a counted rejection is one already set aside
      await this.moveAside(file, this.quarantineDir, name).catch((e: unknown) => ctx.log.error({ err: e, file: name }, 'frames: could not move a rejected file to quarantine/'));
      await this.moveAside(sidecar, this.quarantineDir, sidecarName(name)).catch(() => undefined);
      this.candidates.delete(name);
      this.reject(err, bytes, name);
    }
  }

  private reject(err: FrameRejected, bytes: Buffer | undefined, where: string): void {
    this.counters.rejected[err.reason]++;
    this.ctx?.quarantine(where, err, bytes?.subarray(0, this.config.quarantineRawMaxBytes));
  }

  private async release(file: string, sidecar: string | undefined, name: string): Promise<void> {
    if (this.config.release === 'delete') {
      await unlink(file);
      if (sidecar) await unlink(sidecar).catch(() => undefined);
    } else {
      await this.moveAside(file, this.processedDir, name);
      if (sidecar) await this.moveAside(sidecar, this.processedDir, sidecarName(name)).catch(() => undefined);
    }
    this.counters.released++;
    this.candidates.delete(name);
  }

  /** Move a file into `dir`, never overwriting: a name already there gets a numbered suffix. */
  private async moveAside(from: string, dir: string, name: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    const ext = path.extname(name);
    const base = name.slice(0, name.length - ext.length);
    for (let i = 0; ; i++) {
      const to = path.join(dir, i === 0 ? name : `${base}.${i}${ext}`);
      try {
        await stat(to);
        continue;
      } catch {
        /* free */
      }
      try {
        await rename(from, to);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
        await copyFile(from, to);
        await unlink(from);
      }
      return;
    }
  }

  // ---- the shared path: decode, dedup, emit ------------------------------------------------------

  /**
   * Validate, dedup and emit one frame. Resolves after the commit with what was stored; resolves
   * undefined when the emit failed (nothing stored, the caller must not release); throws
   * `FrameRejected` for bad input (the caller quarantines).
   */
  async ingest(bytes: Buffer, hints: FrameHints): Promise<IngestResult | undefined> {
    const ctx = this.ctx!;
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    // same bytes as a frame already validated and stored: no second decode, no second record
    const seen = this.recent.get(sha256);
    if (seen) {
      this.counters.duplicates++;
      ctx.log.info({ file: hints.fileName, sha256 }, 'frames: duplicate of a recent frame; released without storing it again');
      return { sha256, ...seen, duplicate: true };
    }
    const thumbSize = this.config.thumbnail.enabled ? this.config.thumbnail.size : null;
    const info = await inspectFrame(bytes, hints, { thumbnailSize: thumbSize });
    const base = { sha256, width: info.width, height: info.height, depth: info.depth, format: info.format };
    // claimed before the emit, so that a copy arriving meanwhile is not stored twice
    this.recent.add(sha256, { width: info.width, height: info.height, depth: info.depth, format: info.format });

    const attributes: Record<string, string> = {
      width: String(info.width),
      height: String(info.height),
      depth: String(info.depth),
      format: info.format,
      sha256,
      file_name: hints.fileName,
      size: String(bytes.length),
      ...(hints.phase ? { phase: hints.phase } : {}),
    };
    const common: Omit<RecordDraft, 'signal' | 'contentType' | 'body'> = {
      kind: 'frame',
      class: 'sensitive',
      ...(hints.sourceTimeMs !== undefined ? { sourceTimeNs: BigInt(Math.round(hints.sourceTimeMs)) * 1_000_000n } : {}),
      ...(hints.build !== undefined ? { build: hints.build } : {}),
      ...(hints.layer !== undefined ? { layer: hints.layer } : {}),
    };
    let body = bytes;
    let contentType = CONTENT_TYPE[info.format];
    const drafts: RecordDraft[] = [];
    if (this.config.reencode !== 'off') {
      const re = await losslessReencode(bytes, info.format, info.depth, this.config.reencode, hints.raw).catch((err: unknown) => {
        ctx.log.warn({ err, file: hints.fileName }, 'frames: lossless re-encode failed; keeping the original only');
        return undefined;
      });
      if (re) {
        this.counters.reencoded++;
        const reAttrs = { ...attributes, format: re.format, size: String(re.bytes.length), original_format: info.format, original_sha256: sha256, original_size: String(bytes.length) };
        if (this.config.keep === 'reencoded-only') {
          body = re.bytes;
          contentType = CONTENT_TYPE[re.format];
          Object.assign(attributes, reAttrs, { sha256: createHash('sha256').update(re.bytes).digest('hex') });
        } else {
          drafts.push({ ...common, signal: `${this.config.signal}.reencoded`, contentType: CONTENT_TYPE[re.format], body: re.bytes, attributes: { ...reAttrs, sha256: createHash('sha256').update(re.bytes).digest('hex'), reencoded_of: sha256 } });
        }
      }
    }
    drafts.unshift({ ...common, signal: this.config.signal, contentType, body, attributes });
    if (info.thumbnail) {
      const tm = await sharp(info.thumbnail).metadata();
      drafts.push({
        ...common,
        signal: `${this.config.signal}.thumbnail`,
        contentType: 'image/png',
        body: info.thumbnail,
        attributes: { thumbnail_of: sha256, width: String(tm.width), height: String(tm.height), depth: '8', format: 'png', file_name: hints.fileName, ...(hints.phase ? { phase: hints.phase } : {}) },
      });
    }
    try {
      await ctx.emit(drafts);
    } catch (err) {
      this.recent.delete(sha256);
      this.counters.emitFailures++;
      ctx.log.warn({ err, file: hints.fileName }, 'frames: the buffer did not take the frame; it is kept for a retry');
      return undefined;
    }
    this.counters.frames++;
    this.counters.bytes += body.length;
    if (info.thumbnail) this.counters.thumbnails++;
    this.persistRecent(sha256, { width: info.width, height: info.height, depth: info.depth, format: info.format });
    return { ...base, duplicate: false };
  }

  // ---- upload route ------------------------------------------------------------------------------

  private async startUpload(ctx: InputContext, cfg: NonNullable<FramesConfig['upload']>): Promise<void> {
    const token = Buffer.from(cfg.token);
    const server = http.createServer((req, res) => {
      const p = this.handleUpload(req, res, token).catch((err: unknown) => {
        ctx.log.error({ err }, 'frames: upload handler failed');
        if (!res.headersSent) reply(res, 500, { error: 'internal error' });
      });
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p));
    });
    server.requestTimeout = 120_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(cfg.port, cfg.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  private async handleUpload(req: http.IncomingMessage, res: http.ServerResponse, token: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/frames') return reply(res, 404, { error: `no route ${url.pathname}; POST /frames` });
    if (req.method !== 'POST') return reply(res, 405, { error: 'use POST /frames' });
    const auth = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const given = Buffer.from(auth ?? '');
    if (!auth || given.length !== token.length || !timingSafeEqual(given, token)) {
      req.resume();
      return reply(res, 401, { error: 'missing or wrong bearer token' });
    }
    if (this.stopped) return reply(res, 503, { error: 'the gateway is stopping' });
    const limit = this.config.upload!.maxConcurrent;
    if (this.uploadsActive >= limit) {
      this.counters.uploadsRefused++;
      req.resume();
      res.setHeader('retry-after', '1');
      return reply(res, 503, { error: `${limit} uploads are being handled (upload.maxConcurrent); retry later` });
    }
    this.uploadsActive++;
    try {
      await this.handleAcceptedUpload(req, res, url);
    } finally {
      this.uploadsActive--;
    }
  }

  private async handleAcceptedUpload(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const h = (k: string): string | undefined => {
      const v = req.headers[k];
      return typeof v === 'string' && v.length > 0 ? v : undefined;
    };
    const fileName = path.basename(h('x-layergate-file-name') ?? url.searchParams.get('name') ?? `upload-${Date.now()}`);
    const tooLarge = (what: string): void => {
      const err = new FrameRejected('too-large', `${fileName}: ${what} is more than maxFileBytes (${this.config.maxFileBytes})`);
      this.reject(err, undefined, fileName);
      reply(res, 413, { error: err.message, reason: err.reason, code: err.code });
    };
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > this.config.maxFileBytes) {
      req.resume();
      return tooLarge(`a body of ${declared} bytes`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > this.config.maxFileBytes) {
        tooLarge('the body');
        req.destroy();
        return;
      }
      chunks.push(c as Buffer);
    }
    const bytes = Buffer.concat(chunks);
    const hints: FrameHints = { fileName, ...hintsFromName(fileName, this.pattern) };
    const build = h('x-layergate-build');
    const layer = h('x-layergate-layer');
    const phase = h('x-layergate-kind') ?? h('x-layergate-phase');
    const time = h('x-layergate-source-time-ms');
    if (build) hints.build = build;
    if (layer !== undefined) {
      if (!/^\d+$/.test(layer)) return reply(res, 400, { error: `x-layergate-layer must be a non-negative integer, got ${JSON.stringify(layer)}` });
      hints.layer = Number(layer);
    }
    if (phase) hints.phase = phase;
    if (time !== undefined && Number.isFinite(Number(time))) hints.sourceTimeMs = Number(time);
    hints.sourceTimeMs ??= Date.now();
    try {
      const r = await this.ingest(bytes, hints);
      if (!r) return reply(res, 503, { error: 'the buffer did not take the frame; retry later' });
      this.counters.uploads++;
      return reply(res, r.duplicate ? 200 : 201, r);
    } catch (err) {
      if (err instanceof FrameRejected) {
        this.reject(err, bytes, fileName);
        return reply(res, err.reason === 'too-large' ? 413 : 400, { error: err.message, reason: err.reason, code: err.code });
      }
      throw err;
    }
  }
}

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function stem(name: string): string {
  return name.slice(0, name.length - path.extname(name).length);
}

/** `X.png` -> `X.json`; `X.raw` -> `X.json` */
export function sidecarName(name: string): string {
  return `${stem(name)}.json`;
}

export const definition: InputDefinition<FramesConfig> = {
  type: TYPE,
  configSchema: framesConfigSchema,
  create: (config: FramesConfig, env: PluginEnvironment) => new FramesInput(config, env),
};
