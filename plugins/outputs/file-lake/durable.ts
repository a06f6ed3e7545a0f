/**
 * Durable file publication for the file lake: a file is written under `<lake>/.tmp/`, fsynced, and
 * moved into place with link(2), then its folder is fsynced by the caller.
 *
 * Design constraints:
 * - Durable before ack: a published file and its folder entry survive a crash once `send` resolves.
 * - link(2) is atomic and never replaces an existing file, so a reader sees whole files only and a
 *   crash leaves at most temp files (removed at start, `resetTmp`).
 * - Redelivery never corrupts: an existing file with the same bytes is kept (the copy dropped); one
 *   with other bytes gets the new file beside it as `<base>-dupN.<ext>`, never over it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** How many files of one batch are written at once (libuv's thread pool has 4 threads by default). */
export const WRITE_CONCURRENCY = 4;

export async function eachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export async function fsyncPath(p: string): Promise<void> {
  const fh = await fs.open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The counters publication keeps (part of the lake's stats). */
export interface PublishCounters {
  files: number;
  bytes: number;
  duplicateFilesSkipped: number;
}

export class DurableFiles {
  constructor(
    private readonly tmpDir: string,
    private readonly counters: PublishCounters,
    private readonly log: () => Logger | undefined,
  ) {}

  /** Start with an empty temp folder: temp files of a crashed run hold nothing acknowledged (send had not resolved). */
  async resetTmp(): Promise<void> {
    await fs.rm(this.tmpDir, { recursive: true, force: true });
    await fs.mkdir(this.tmpDir, { recursive: true });
  }

  /** mkdir -p, then fsync the parent of every folder it created so the new entries are durable. */
  async ensureDir(dir: string): Promise<void> {
    const first = await fs.mkdir(dir, { recursive: true });
    if (!first) return;
    let p = dir;
    while (p.length >= first.length) {
      await fsyncPath(path.dirname(p));
      p = path.dirname(p);
    }
  }

  tmpName(): string {
    return path.join(this.tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}.tmp`);
  }

  async writeTmp(bytes: Uint8Array): Promise<string> {
    const tmp = this.tmpName();
    const fh = await fs.open(tmp, 'wx');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return tmp;
  }

  /**
   * Move a fsynced temp file to `<dir>/<base>.<ext>` without ever replacing a file: link(2) fails
   * with EEXIST instead. An existing file with the same bytes means a redelivery (keep it); one with
   * other bytes gets the new file beside it as `<base>-dupN.<ext>`. Returns the file name used and
   * whether it was already there.
   */
  async publish(tmp: string, dir: string, base: string, ext: string, sha256: string, size: number): Promise<{ name: string; duplicate: boolean }> {
    try {
      for (let n = 0; ; n++) {
        const name = n === 0 ? `${base}.${ext}` : `${base}-dup${n}.${ext}`;
        const target = path.join(dir, name);
        try {
          await fs.link(tmp, target);
          this.counters.files++;
          this.counters.bytes += size;
          return { name, duplicate: false };
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          const existing = await fs.stat(target);
          if (existing.size === size && (await sha256File(target)) === sha256) {
            this.counters.duplicateFilesSkipped++;
            this.log()?.debug({ file: target }, 'identical file already in the lake (redelivery); kept it');
            return { name, duplicate: true };
          }
        }
      }
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }
}
