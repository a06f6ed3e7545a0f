/**
 * A size-limited filesystem for disk-full tests: a tmpfs mounted by the test in a temp folder (the
 * tests run as root; a failed mount is an error naming why, never a skip), and a filler that writes
 * until the filesystem refuses.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';

export interface Tmpfs {
  /** the temp folder holding the mount point (and anything a test keeps off the small filesystem) */
  root: string;
  /** the mount point */
  mnt: string;
}

/** Mount a tmpfs of `size` (mount's notation, e.g. `20m`) in a new temp folder named by `prefix`. */
export function mountTmpfs(prefix: string, size: string): Tmpfs {
  const root = mkdtempSync(path.join(os.tmpdir(), prefix));
  const mnt = path.join(root, 'fs');
  mkdirSync(mnt);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`this test needs a size-limited filesystem: mount -t tmpfs at ${mnt} failed (run as root): ${(err as Error).message}`);
  }
  return { root, mnt };
}

/** Unmount and remove it (whatever still holds files on it must be closed first). */
export function unmountTmpfs(fs: Tmpfs | undefined): void {
  if (!fs) return;
  execFileSync('umount', [fs.mnt], { stdio: 'pipe' });
  rmSync(fs.root, { recursive: true, force: true });
}

/** Write to `fd` until the filesystem refuses (ENOSPC), in halving chunks down to 512 bytes: to the last block. */
export function fillToEnospc(fd: number): void {
  const chunk = Buffer.alloc(64 * 1024, 1);
  for (let size = chunk.length; size >= 512; ) {
    try {
      writeSync(fd, chunk, 0, size);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      size >>= 1;
    }
  }
}

/** A test file's tmpfs: its paths, and what to close before it is unmounted. */
export interface FileTmpfs {
  readonly root: string;
  readonly mnt: string;
  /** run before the unmount, newest first, also when a test failed half-way (an open database keeps the mount busy) */
  onUnmount(fn: () => unknown): void;
}

/** A tmpfs mounted before the test file's tests and unmounted after them (see `FileTmpfs`). */
export function tmpfsForFile(prefix: string, size: string): FileTmpfs {
  let fs: Tmpfs | undefined;
  const cleanups: (() => unknown)[] = [];
  beforeAll(() => {
    fs = mountTmpfs(prefix, size);
  });
  afterAll(async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        /* the unmount below still runs */
      }
    }
    unmountTmpfs(fs);
  });
  return {
    get root() {
      return fs!.root;
    },
    get mnt() {
      return fs!.mnt;
    },
    onUnmount: (fn) => void cleanups.push(fn),
  };
}
