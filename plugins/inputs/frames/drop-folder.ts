/**
 * The frames input's drop folder: a camera (or its PC) writes image files into a folder; each
 * complete file is ingested, then released (moved to processed/ or deleted).
 *
 * Design constraints:
 * - Only complete files are taken: temporary names (dot-files, `*.part`, `*.tmp`, `*~`) are never
 *   read, empty files are left alone, and a file is taken only once its size and mtime stayed
 *   unchanged for `stableFor` (a camera that writes in place and one that renames into place both
 *   work). fs.watch gives the low-latency path; a periodic listing is the safety net for missed
 *   events (network shares, overflow).
 * - The source file is released only after the ingest resolved, i.e. after the buffer commit. When
 *   the emit fails the file stays and is retried on a later scan. When the pipeline quarantined the
 *   frame's record (a layer out of range in the file name: the emit's result says so), the frame
 *   was not stored: the ingest rejects it and the file goes to quarantine/ like any bad frame.
 * - A rejected file is quarantined (gateway quarantine + moved to quarantine/ in the drop folder),
 *   counted per reason, and never stops the other files.
 * - At most `concurrency` files are handled at once.
 * - No file is ever followed through a symbolic link: the listing takes only regular files (lstat
 *   types), and every read opens with O_NOFOLLOW and checks the opened file is a regular one, so a
 *   link swapped in between listing and reading is refused too. A sidecar that is a link (say to
 *   /etc/shadow or the key file) rejects its frame without a byte of the target being read, and the
 *   link itself is removed instead of moved to quarantine/, where a later reader would follow it.
 */
import { constants as fsConstants, watch as fsWatch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { copyFile, lstat, mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { InputContext } from '../../../gateway/plugin-api/index.js';
import { FrameRejected, hintsFromName, parseSidecar, sidecarName } from './frame.js';
import type { FrameHints } from './frame.js';
import type { IngestResult } from './ingest.js';
import type { FramesConfig } from './schema.js';

const TEMP_NAME = /(^\.)|(\.part$)|(\.tmp$)|(~$)|(\.partial$)|(\.crdownload$)/i;

/** A temporary or hidden name a producer is still writing to. */
export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

interface Candidate {
  size: number;
  mtimeMs: number;
  /** when size/mtime were first seen at these values */
  since: number;
  /** do not look at it again before this time (after a failed emit) */
  retryAt?: number;
}

/** Thrown when a drop-folder entry is a symbolic link or not a regular file; nothing of it was read. */
class NotARegularFile extends Error {
  constructor(readonly file: string) {
    super(`${path.basename(file)} is a symbolic link or not a regular file; not followed, not read`);
  }
}

/**
 * Reads a regular file without following a symbolic link at its last path component: O_NOFOLLOW
 * makes the open itself fail (ELOOP) on a link, and O_NONBLOCK keeps a FIFO planted in the folder
 * from blocking the open; the fstat of the opened descriptor then refuses anything but a regular
 * file. `check` sees the size before a byte is read.
 */
async function readRegularFile(file: string, check?: (size: number) => void): Promise<{ bytes: Buffer; mtimeMs: number }> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new NotARegularFile(file);
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new NotARegularFile(file);
    check?.(st.size);
    return { bytes: await fh.readFile(), mtimeMs: st.mtimeMs };
  } finally {
    await fh.close();
  }
}

export class DropFolder {
  private ctx: InputContext | undefined;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private readonly candidates = new Map<string, Candidate>();
  /** names being processed right now */
  private readonly busy = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private scanning: Promise<void> | undefined;
  /** one-shot timer for the moment the next waiting file has been stable for `stableFor` */
  private stableTimer: NodeJS.Timeout | undefined;
  private rescanRequested = false;

  constructor(
    private readonly config: FramesConfig,
    private readonly pattern: RegExp,
    readonly processedDir: string,
    readonly quarantineDir: string,
    /** the shared ingest path (resolves undefined when the emit failed) */
    private readonly ingest: (bytes: Buffer, hints: FrameHints) => Promise<IngestResult | undefined>,
    /** counts and quarantines a rejected frame */
    private readonly reject: (err: FrameRejected, bytes: Buffer | undefined, where: string) => void,
    private readonly counters: { released: number },
  ) {}

  async start(ctx: InputContext): Promise<void> {
    this.ctx = ctx;
    this.stopped = false;
    await mkdir(this.config.dropDir, { recursive: true });
    try {
      this.watcher = fsWatch(this.config.dropDir, { persistent: false }, (_event, name) => {
        if (name && !isTempName(String(name))) this.requestScan();
      });
      this.watcher.on('error', (err) =>
        ctx.log.warn({ err, dir: this.config.dropDir }, 'frames: watching the drop folder failed; relying on the periodic rescan'),
      );
    } catch (err) {
      ctx.log.warn({ err, dir: this.config.dropDir }, 'frames: cannot watch the drop folder; relying on the periodic rescan');
    }
  }

  /** Begin the periodic listing and list once now (after the dedup memory is loaded). */
  startScanning(): void {
    this.timer = setInterval(() => this.requestScan(), this.config.rescanInterval);
    this.timer.unref();
    this.requestScan();
  }

  /** Stop watching and listing (takes no new file); `settled` waits for the files in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    this.watcher = undefined;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.stableTimer) clearTimeout(this.stableTimer);
    this.stableTimer = undefined;
    await this.scanning;
  }

  /** Resolves once no file is being handled. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private requestScan(): void {
    if (this.stopped) return;
    if (this.scanning !== undefined) {
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
      let st: Awaited<ReturnType<typeof lstat>>;
      try {
        st = await lstat(path.join(this.config.dropDir, e.name));
      } catch {
        continue; // gone meanwhile
      }
      if (!st.isFile()) continue; // replaced by a link (or anything else) since the listing
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
      this.stableTimer = setTimeout(
        () => {
          this.stableTimer = undefined;
          this.requestScan();
        },
        Math.max(5, nextStableAt - Date.now() + 1),
      );
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
    /** the sidecar is a link or not a regular file: removed, never moved or read */
    let sidecarRefused = false;
    try {
      const image = await readRegularFile(file, (size) => {
        if (size > this.config.maxFileBytes) {
          throw new FrameRejected('too-large', `${name}: ${size} bytes is more than maxFileBytes (${this.config.maxFileBytes})`);
        }
      });
      bytes = image.bytes;
      const st = { mtimeMs: image.mtimeMs };
      let sidecarHints: Omit<FrameHints, 'fileName'> = {};
      let hasSidecar = false;
      try {
        const text = (await readRegularFile(sidecar)).bytes.toString('utf8');
        hasSidecar = true;
        sidecarHints = parseSidecar(text, sidecarName(name));
      } catch (err) {
        if (err instanceof FrameRejected) throw err;
        if (err instanceof NotARegularFile) {
          sidecarRefused = true;
          throw new FrameRejected('bad-sidecar', `${name}: its sidecar ${err.message}`);
        }
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
      if (err instanceof NotARegularFile) {
        // the image was swapped for a link after the listing: not ours to read, move or count
        this.candidates.delete(name);
        return;
      }
      if (!(err instanceof FrameRejected)) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // taken away by someone else
        ctx.log.warn({ err, file: name }, 'frames: could not read a file; will retry');
        const c = this.candidates.get(name);
        if (c) c.retryAt = Date.now() + this.config.rescanInterval;
        return;
      }
      // out of the drop folder first, then counted: a counted rejection is one already set aside
      await this.moveAside(file, this.quarantineDir, name).catch((e: unknown) =>
        ctx.log.error({ err: e, file: name }, 'frames: could not move a rejected file to quarantine/'),
      );
      if (sidecarRefused) {
        // unlink removes the link itself, never its target
        await unlinkIfNotRegular(sidecar).catch((e: unknown) =>
          ctx.log.error({ err: e, file: sidecarName(name) }, 'frames: could not remove a sidecar that is a link'),
        );
      } else {
        await this.moveAside(sidecar, this.quarantineDir, sidecarName(name)).catch(() => undefined);
      }
      this.candidates.delete(name);
      this.reject(err, bytes, name);
    }
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
        await lstat(to);
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
}

/** Removes a drop-folder entry that is a link or another non-regular entry (never a directory's content). */
async function unlinkIfNotRegular(file: string): Promise<void> {
  const st = await lstat(file);
  if (!st.isFile() && !st.isDirectory()) await unlink(file);
}
