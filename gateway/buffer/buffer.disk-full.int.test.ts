import { closeSync, existsSync, openSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordInput } from '../plugin-api/record.js';
import { RESERVE_FILE } from './disk-full.js';
import { RESERVE_MAX_BYTES } from './footprint.js';
import { openBuffer } from './index.js';
import type { RecordBuffer } from './types.js';
import { type Tmpfs, fillToEnospc, mountTmpfs, unmountTmpfs } from '../../test/support/tmpfs.js';

const log = pino({ level: process.env.LG_TEST_LOG ?? 'silent' });
let tmpfs: Tmpfs | undefined;
const open: RecordBuffer[] = [];

beforeAll(() => {
  tmpfs = mountTmpfs('lg-buffull-', '10m');
});

afterAll(() => {
  for (const b of open) {
    try {
      b.close();
    } catch {
      /* unmount anyway */
    }
  }
  unmountTmpfs(tmpfs);
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
  try {
    fillToEnospc(fd);
  } finally {
    closeSync(fd);
  }
}

describe('buffer on a full filesystem', () => {
  it('opens on a 100 % full disk, serves its records and takes acks; appends and the reserve come back with space', () => {
    const dir = path.join(tmpfs!.mnt, 'buffer');
    const opts = { dir, maxBytes: 1 << 30, sinks: ['lake'] };
    let buffer = openBuffer(opts, log);
    open.push(buffer);
    buffer.append(records(100, 0));
    // the reserve is set aside while there is room
    expect(statSync(path.join(dir, RESERVE_FILE)).size).toBe(RESERVE_MAX_BYTES);
    buffer.close();

    const filler = path.join(tmpfs!.mnt, 'filler');
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
    expect(statSync(path.join(dir, RESERVE_FILE)).size).toBe(RESERVE_MAX_BYTES);
    buffer.close();
  });
});
