/**
 * The content-addressed blob spool: bodies too large to sit in a SQLite row.
 *
 * Layout: `spool/ab/cdef…` where `abcdef…` is the lowercase hex SHA-256 of the bytes (2 + 62 hex
 * characters), and `spool/tmp/` for files being written. All 256 fan-out folders are created (and the
 * spool folder fsynced) once at startup, so a write never has to create and sync a folder.
 *
 * Design constraints:
 * - A file under its final name is always complete: bytes go to `spool/tmp/`, are fsynced, renamed
 *   into place, and the fan-out folder is fsynced so the rename itself survives power loss. The
 *   buffer commits the row that refers to a blob only after `write` returned.
 * - The spool keeps no index of its own: the buffer's `blobs` table (hash, size, reference count) is
 *   the truth, and `scan` lets the buffer reconcile the two at startup.
 * - Everything is synchronous, like better-sqlite3: the buffer's append path is one synchronous call.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

const HEX = /^[0-9a-f]+$/;

export interface SpoolFile {
  sha256: string;
  size: number;
}

export interface SpoolScan {
  files: SpoolFile[];
  /** temp files and files whose name is not a SHA-256, removed during the scan */
  strayRemoved: number;
}

export class Spool {
  readonly dir: string;
  private readonly tmpDir: string;
  private tmpCounter = 0;

  constructor(dir: string) {
    this.dir = dir;
    this.tmpDir = path.join(dir, 'tmp');
  }

  /** Create spool/, spool/tmp/ and the 256 fan-out folders; fsync what was created. */
  init(): void {
    mkdirSync(this.tmpDir, { recursive: true });
    let created = false;
    for (let i = 0; i < 256; i++) {
      const sub = path.join(this.dir, i.toString(16).padStart(2, '0'));
      try {
        mkdirSync(sub);
        created = true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    if (created) fsyncDir(this.dir);
    fsyncDir(path.dirname(this.dir));
  }

  pathOf(sha256: string): string {
    return path.join(this.dir, sha256.slice(0, 2), sha256.slice(2));
  }

  /** Durably store `bytes` under their hash: temp file, fsync, rename, fsync the folder. */
  write(sha256: string, bytes: Uint8Array): void {
    this.writeAll(new Map([[sha256, bytes]]));
  }

  /**
   * Durably store several blobs. All temp files are written before the first fsync, so the kernel
   * can write them back together; then each is fsynced, renamed, and each touched folder fsynced once.
   */
  writeAll(blobs: Map<string, Uint8Array>): void {
    const pending: { fd: number; tmp: string; sha256: string }[] = [];
    try {
      for (const [sha256, bytes] of blobs) {
        const tmp = path.join(this.tmpDir, `${process.pid}-${++this.tmpCounter}.tmp`);
        const fd = openSync(tmp, 'w');
        pending.push({ fd, tmp, sha256 });
        let off = 0;
        while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      }
      for (const p of pending) fsyncSync(p.fd);
    } finally {
      for (const p of pending) closeSync(p.fd);
    }
    const dirs = new Set<string>();
    for (const p of pending) {
      const final = this.pathOf(p.sha256);
      renameSync(p.tmp, final);
      dirs.add(path.dirname(final));
    }
    for (const d of dirs) fsyncDir(d);
  }

  /** Remove a blob file; a file that is already gone is fine (a crash may have beaten us to it). */
  remove(sha256: string): void {
    try {
      unlinkSync(this.pathOf(sha256));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }

  /** Size of the stored file, or null when it does not exist. */
  sizeOf(sha256: string): number | null {
    try {
      return statSync(this.pathOf(sha256)).size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  /**
   * Whether the stored file is exactly the blob: `size` bytes hashing to `sha256`. Streams the file
   * through the hash in 1 MiB chunks, so a large frame is checked without being held in memory.
   */
  async verify(sha256: string, size: number): Promise<'ok' | 'missing' | 'damaged'> {
    const hash = createHash('sha256');
    let n = 0;
    try {
      for await (const chunk of createReadStream(this.pathOf(sha256), { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
        n += chunk.length;
        hash.update(chunk);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
      throw e;
    }
    return n === size && hash.digest('hex') === sha256 ? 'ok' : 'damaged';
  }

  read(sha256: string): Promise<Buffer> {
    return readFile(this.pathOf(sha256));
  }

  /** List every blob file and nothing else, removing nothing (for a quarantined spool). */
  list(): SpoolFile[] {
    const files: SpoolFile[] = [];
    for (const sub of readdirSync(this.dir, { withFileTypes: true })) {
      if (!sub.isDirectory() || sub.name.length !== 2 || !HEX.test(sub.name)) continue;
      const subPath = path.join(this.dir, sub.name);
      for (const ent of readdirSync(subPath, { withFileTypes: true })) {
        if (ent.isFile() && ent.name.length === 62 && HEX.test(ent.name))
          files.push({ sha256: sub.name + ent.name, size: statSync(path.join(subPath, ent.name)).size });
      }
    }
    return files;
  }

  /** List every blob file; remove temp files and anything that is not named like a blob. */
  scan(): SpoolScan {
    const files: SpoolFile[] = [];
    let strayRemoved = 0;
    for (const name of readdirSync(this.tmpDir)) {
      unlinkSync(path.join(this.tmpDir, name));
      strayRemoved++;
    }
    for (const sub of readdirSync(this.dir, { withFileTypes: true })) {
      if (sub.name === 'tmp') continue;
      const subPath = path.join(this.dir, sub.name);
      if (!sub.isDirectory() || sub.name.length !== 2 || !HEX.test(sub.name)) continue;
      for (const ent of readdirSync(subPath, { withFileTypes: true })) {
        const full = path.join(subPath, ent.name);
        if (!ent.isFile() || ent.name.length !== 62 || !HEX.test(ent.name)) {
          if (ent.isFile()) {
            unlinkSync(full);
            strayRemoved++;
          }
          continue;
        }
        files.push({ sha256: sub.name + ent.name, size: statSync(full).size });
      }
    }
    return { files, strayRemoved };
  }
}

/** The spool's content address of `bytes`: lowercase hex SHA-256. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
