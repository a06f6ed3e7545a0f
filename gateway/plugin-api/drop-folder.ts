/**
 * The drop folder every file-based input shares (the frames input's camera folder, the files input's
 * job, CAD and CT folder): a producer writes files into a folder; each complete file is handed to the
 * input, then released (moved to processed/ or deleted) once the input says it is committed, or moved
 * to quarantine/ when the input rejects it. The input decides what a file means; this module decides
 * when a file may be read and what becomes of it.
 *
 * Design constraints:
 * - Only complete files are taken: temporary names (dot-files, `*.part`, `*.tmp`, `*~`) are never
 *   read, empty files are left alone, and a file is taken only once its size and mtime stayed
 *   unchanged for `stableFor` (a producer that writes in place and one that renames into place both
 *   work). fs.watch gives the low-latency path; a periodic listing is the safety net for missed
 *   events (network shares, overflow).
 * - The source file is released only after the input's handler resolved `true`, i.e. after the
 *   buffer commit. When it resolves `false` (the emit failed) the file stays and is retried on a
 *   later scan. When it throws a rejection (the input's `isRejection`), the file and its sidecar go
 *   to quarantine/ and the input's `reject` counts and reports it; it never stops the other files.
 * - At most `concurrency` files are handled at once.
 * - No file is ever followed through a symbolic link: the listing takes only regular files (lstat
 *   types), and every read opens with O_NOFOLLOW and checks the opened file is a regular one, so a
 *   link swapped in between listing and reading is refused too. A sidecar that is a link (say to
 *   /etc/shadow or the key file) rejects its file without a byte of the target being read, and the
 *   link itself is removed instead of moved to quarantine/, where a later reader would follow it.
 * - A file larger than `maxFileBytes` is refused before a byte of it is read.
 */
import { constants as fsConstants, watch as fsWatch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { copyFile, lstat, mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { InputContext } from './contract.js';

const TEMP_NAME = /(^\.)|(\.part$)|(\.tmp$)|(~$)|(\.partial$)|(\.crdownload$)/i;

/** A temporary or hidden name a producer is still writing to. */
export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

/** The drop folder's settings (the same keys in every input's config that has one). */
export interface DropFolderSettings {
  dropDir: string;
  release: 'move' | 'delete';
  stableFor: number;
  rescanInterval: number;
  maxFileBytes: number;
  concurrency: number;
}

/** A complete file taken from the drop folder, as the input's handler gets it. */
export interface DropFile {
  name: string;
  bytes: Buffer;
  mtimeMs: number;
  /** the sidecar's bytes (`sidecarName(name)`), undefined when there is none */
  sidecar?: Buffer;
}

/** What a drop folder asks of the input it serves. */
export interface DropFolderHooks<E extends Error> {
  /** for log lines (`frames: ...`) */
  label: string;
  /** the name of a file's sidecar, moved and released with it */
  sidecarName(name: string): string;
  /** a name that is not a file of its own (a sidecar): never handed over, travels with its file */
  isCompanion(name: string): boolean;
  /** whether a stable file can be read yet, given the names in the folder (e.g. it needs its sidecar) */
  ready?(name: string, names: ReadonlySet<string>): boolean;
  /** the input's own rejections: these quarantine the file; anything else is retried */
  isRejection(err: unknown): err is E;
  /** the rejection of a file larger than `maxFileBytes` (nothing of it was read) */
  tooLarge(name: string, size: number): E;
  /** the rejection of a file whose sidecar is a link or not a regular file (`problem` says which) */
  badSidecar(name: string, problem: string): E;
  /** handle one file: true = committed (release it), false = not stored, retry later; throws E to reject */
  handle(file: DropFile): Promise<boolean>;
  /** count and report a rejected file (after it was moved to quarantine/) */
  reject(err: E, bytes: Buffer | undefined, where: string): void;
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

export class DropFolder<E extends Error> {
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
    private readonly config: DropFolderSettings,
    readonly processedDir: string,
    readonly quarantineDir: string,
    private readonly hooks: DropFolderHooks<E>,
    private readonly counters: { released: number },
  ) {}

  async start(ctx: InputContext): Promise<void> {
    this.ctx = ctx;
    this.stopped = false;
    await mkdir(this.config.dropDir, { recursive: true });
    const label = this.hooks.label;
    try {
      this.watcher = fsWatch(this.config.dropDir, { persistent: false }, (_event, name) => {
        if (name && !isTempName(String(name))) this.requestScan();
      });
      this.watcher.on('error', (err) =>
        ctx.log.warn({ err, dir: this.config.dropDir }, `${label}: watching the drop folder failed; relying on the periodic rescan`),
      );
    } catch (err) {
      ctx.log.warn({ err, dir: this.config.dropDir }, `${label}: cannot watch the drop folder; relying on the periodic rescan`);
    }
  }

  /** Begin the periodic listing and list once now (after the input's own state is loaded). */
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
      .catch((err: unknown) => this.ctx?.log.warn({ err, dir: this.config.dropDir }, `${this.hooks.label}: listing the drop folder failed`))
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
      // a sidecar belongs to its file and travels with it; a lone one waits for its file
      if (this.hooks.isCompanion(e.name)) continue;
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
      // an empty file is one being created (opened, not yet written): never a complete file yet
      if (c.size === 0) continue;
      if (c.retryAt !== undefined && now < c.retryAt) continue;
      if (now - c.since < this.config.stableFor) {
        nextStableAt = Math.min(nextStableAt, c.since + this.config.stableFor);
        continue;
      }
      if (this.hooks.ready && !this.hooks.ready(e.name, names)) continue;
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
      .catch((err: unknown) => this.ctx?.log.error({ err, file: name }, `${this.hooks.label}: unexpected failure handling a file`))
      .finally(() => {
        this.busy.delete(name);
        this.inFlight.delete(p);
        this.requestScan();
      });
    this.inFlight.add(p);
  }

  private retryLater(name: string): void {
    const c = this.candidates.get(name);
    if (c) c.retryAt = Date.now() + this.config.rescanInterval;
  }

  private async processFile(name: string): Promise<void> {
    const ctx = this.ctx!;
    const { hooks } = this;
    const file = path.join(this.config.dropDir, name);
    const sidecarFileName = hooks.sidecarName(name);
    const sidecar = path.join(this.config.dropDir, sidecarFileName);
    let bytes: Buffer | undefined;
    /** the sidecar is a link or not a regular file: removed, never moved or read */
    let sidecarRefused = false;
    try {
      const read = await readRegularFile(file, (size) => {
        if (size > this.config.maxFileBytes) throw hooks.tooLarge(name, size);
      });
      bytes = read.bytes;
      let sidecarBytes: Buffer | undefined;
      try {
        sidecarBytes = (await readRegularFile(sidecar)).bytes;
      } catch (err) {
        if (err instanceof NotARegularFile) {
          sidecarRefused = true;
          throw hooks.badSidecar(name, `its sidecar ${err.message}`);
        }
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      const stored = await hooks.handle({ name, bytes, mtimeMs: read.mtimeMs, ...(sidecarBytes ? { sidecar: sidecarBytes } : {}) });
      if (!stored) {
        // emit failed: leave the file where it is and look again later
        this.retryLater(name);
        return;
      }
      await this.release(file, sidecarBytes ? sidecar : undefined, name);
    } catch (err) {
      if (err instanceof NotARegularFile) {
        // the file was swapped for a link after the listing: not ours to read, move or count
        this.candidates.delete(name);
        return;
      }
      if (!hooks.isRejection(err)) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // taken away by someone else
        ctx.log.warn({ err, file: name }, `${hooks.label}: could not read a file; will retry`);
        this.retryLater(name);
        return;
      }
      // out of the drop folder first, then counted: a counted rejection is one already set aside
      await this.moveAside(file, this.quarantineDir, name).catch((e: unknown) =>
        ctx.log.error({ err: e, file: name }, `${hooks.label}: could not move a rejected file to quarantine/`),
      );
      if (sidecarRefused) {
        // unlink removes the link itself, never its target
        await unlinkIfNotRegular(sidecar).catch((e: unknown) =>
          ctx.log.error({ err: e, file: sidecarFileName }, `${hooks.label}: could not remove a sidecar that is a link`),
        );
      } else {
        await this.moveAside(sidecar, this.quarantineDir, sidecarFileName).catch(() => undefined);
      }
      this.candidates.delete(name);
      hooks.reject(err, bytes, name);
    }
  }

  private async release(file: string, sidecar: string | undefined, name: string): Promise<void> {
    if (this.config.release === 'delete') {
      await unlink(file);
      if (sidecar) await unlink(sidecar).catch(() => undefined);
    } else {
      await this.moveAside(file, this.processedDir, name);
      if (sidecar) await this.moveAside(sidecar, this.processedDir, this.hooks.sidecarName(name)).catch(() => undefined);
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
