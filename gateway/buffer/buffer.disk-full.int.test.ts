/**
 * Issue 15, item 2: a buffer opened on a 100 % full filesystem (a real 10 MiB tmpfs mounted by the
 * test; it fails, never skips, when it cannot mount) opens and serves what it holds, instead of
 * failing the start (which systemd turned into a restart loop).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordInput } from '../plugin-api/record.js';
import { RESERVE_BYTES, RESERVE_FILE } from './disk-full.js';
import { openBuffer } from './index.js';
import type { RecordBuffer } from './types.js';

const log = pino({ level: process.env.LG_TEST_LOG ?? 'silent' });
let root: string;
let mnt: string;
const open: RecordBuffer[] = [];

beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'lg-buffull-'));
  mnt = path.join(root, 'fs');
  mkdirSync(mnt);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=10m', 'tmpfs', mnt], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`this test needs a size-limited filesystem: mount -t tmpfs at ${mnt} failed (run as root): ${(err as Error).message}`);
  }
});

afterAll(() => {
  for (const b of open) {
    try {
      b.close();
    } catch {
      /* unmount anyway */
    }
  }
  if (mnt) execFileSync('umount', [mnt], { stdio: 'pipe' });
  if (root) rmSync(root, { recursive: true, force: true });
});

function records(n: number, from: number): RecordInput[] {
  return Array.from({ length: n }, (_, i) => ({
    source: 'plc',
    signal: 'chamber.o2',
    kind: 'scalar' as const,
    class: 'internal' as const,
    contentType: 'application/json',
    body: Buffer.from(JSON.stringify({ v: from + i, pad: 'y'.repeat(500) })),
    receiveTimeNs: BigInt(Date.now()) * 1_000_000n,
    sourceTimeNs: BigInt(Date.now()) * 1_000_000n,
    routes: ['lake'],
  }));
}

/** fill the filesystem of `file` to the last block */
function fill(file: string): void {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (let size = chunk.length; size >= 512; ) {
      try {
        writeSync(fd, chunk, 0, size);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        size >>= 1;
      }
    }
  } finally {
    closeSync(fd);
  }
}

describe('buffer on a full filesystem', () => {
  it('opens on a 100 % full disk, serves its records and takes acks; appends and the reserve come back with space', () => {
    const dir = path.join(mnt, 'buffer');
    const opts = { dir, maxBytes: 1 << 30, sinks: ['lake'] };
    let buffer = openBuffer(opts, log);
    open.push(buffer);
    buffer.append(records(100, 0));
    // the reserve is set aside while there is room
    expect(statSync(path.join(dir, RESERVE_FILE)).size).toBe(RESERVE_BYTES);
    buffer.close();

    const filler = path.join(mnt, 'filler');
    fill(filler);
    buffer = openBuffer(opts, log);
    open.push(buffer);
    const got = buffer.read('lake', 1000);
    expect(got.map((r) => JSON.parse(r.body!.toString()).v)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    buffer.ack('lake', got[got.length - 1]!.seq);
    expect(buffer.cursor('lake')).toBe(got[got.length - 1]!.seq);
    // the released reserve is not taken back while the disk is still short of space
    expect(existsSync(path.join(dir, RESERVE_FILE))).toBe(false);

    unlinkSync(filler);
    buffer.append(records(10, 100));
    expect(buffer.read('lake', 1000).map((r) => JSON.parse(r.body!.toString()).v)).toEqual(Array.from({ length: 10 }, (_, i) => 100 + i));
    expect(buffer.check().ok).toBe(true);
    buffer.close();
    // reopened with room: the cursor held, and the reserve is there again for the next full disk
    buffer = openBuffer(opts, log);
    open.push(buffer);
    expect(buffer.cursor('lake')).toBe(got[got.length - 1]!.seq);
    expect(statSync(path.join(dir, RESERVE_FILE)).size).toBe(RESERVE_BYTES);
    buffer.close();
  });
});
