/**
 * `buffer.maxBytes` bounds what the buffer folder takes on disk, as `du` counts it (allocated
 * blocks): rows, spool, the WAL, the WAL index, the reserve and the lock file together, not the
 * records alone (./footprint.ts). The buffer is filled far past its bound while a sink reads behind
 * through a second connection (as the delivery thread does) and acks, so that eviction frees pages
 * and checkpoints run against a reader.
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { bufferFootprint, openBuffer, ROW_OVERHEAD_BYTES, type RecordBuffer } from './index.js';
import { BufferReader } from './reader.js';
import { rec, tempDir } from './test-support/records.js';

const quiet = pino({ level: 'silent' });
const dirs: string[] = [];
const open: { close(): void }[] = [];

afterEach(() => {
  for (const b of open.splice(0)) b.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** allocated bytes of every file under `dir`, as `du` counts them */
function diskUse(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += statSync(path.join(e.parentPath, e.name)).blocks * 512;
  }
  return total;
}

interface Shape {
  name: string;
  bodyBytes: number;
  /** a spooled blob every this many batches */
  blobEvery: number;
}

const SHAPES: Shape[] = [
  { name: 'W1-like scalars (60-byte bodies)', bodyBytes: 60, blobEvery: 0 },
  { name: 'tiny bodies (4 bytes): the row overhead dominates', bodyBytes: 4, blobEvery: 0 },
  { name: 'scalars with a 200 kB frame every 20 batches', bodyBytes: 60, blobEvery: 20 },
];

describe('buffer.maxBytes bounds the folder on disk', () => {
  for (const shape of SHAPES) {
    it(`${shape.name}: du of the folder never exceeds maxBytes plus one batch, while a sink lags and reads`, () => {
      const maxBytes = 16 * 1024 * 1024;
      const dir = tempDir();
      dirs.push(dir);
      const buf: RecordBuffer = openBuffer({ dir, maxBytes, sinks: ['kafka'], inlineMaxBytes: 64 * 1024 }, quiet);
      open.push(buf);
      const reader = new BufferReader(dir);
      open.push(reader);
      const footprint = bufferFootprint(maxBytes);
      let n = 0;
      let peak = 0;
      let cursor = 0;
      // twice the bound passes through
      const batches = Math.ceil((2 * maxBytes) / (500 * (shape.bodyBytes + ROW_OVERHEAD_BYTES)));
      for (let b = 0; b < batches; b++) {
        const batch = Array.from({ length: 500 }, () => rec({ n: n++, size: shape.bodyBytes, signal: `s${n % 5000}` }));
        if (shape.blobEvery > 0 && b % shape.blobEvery === 0) batch.push(rec({ n: n++, size: 200_000 }));
        const batchBytes = batch.reduce((s, r) => s + r.body!.length + ROW_OVERHEAD_BYTES, 0);
        buf.append(batch);
        // the sink reads 2,000 records on its own connection and acks them, staying ~20,000 behind
        const { records } = reader.read('kafka', cursor, 2000);
        if (records.length > 0 && n - records[records.length - 1]!.seq > 20_000) {
          cursor = records[records.length - 1]!.seq;
          buf.ack('kafka', cursor);
        }
        const use = diskUse(dir);
        peak = Math.max(peak, use);
        expect(use, `after batch ${b}`).toBeLessThanOrEqual(maxBytes + batchBytes);
      }
      const stats = buf.stats();
      // it was full, so the bound was what held it: the records took their share and no more
      expect(stats.recordBytesLimit).toBe(footprint.recordBytes);
      expect(stats.bytes).toBeGreaterThan(0.9 * footprint.recordBytes);
      expect(stats.bytes).toBeLessThanOrEqual(footprint.recordBytes);
      expect(peak).toBeGreaterThan(0.8 * maxBytes);
    });
  }

  it('divides maxBytes: 1/8 (at most 64 MiB) for the WAL, the WAL index, the lock and the reserve, the rest for records', () => {
    expect(bufferFootprint(1024 ** 3)).toMatchObject({ recordBytes: 1024 ** 3 - 64 * 1024 ** 2, reserveBytes: 1 << 20, walAutocheckpointPages: 1000 });
    expect(bufferFootprint(8 * 1024 ** 3).overheadBytes).toBe(64 * 1024 ** 2);
    const small = bufferFootprint(16 * 1024 ** 2);
    expect(small).toMatchObject({ recordBytes: 14 * 1024 ** 2, overheadBytes: 2 * 1024 ** 2, reserveBytes: 512 * 1024 });
    expect(small.walBytes + small.reserveBytes + 128 * 1024).toBe(small.overheadBytes);
    // the checkpoint runs at half the WAL's share, so a reader's snapshot has the other half
    expect(small.walAutocheckpointPages * 4120).toBeLessThanOrEqual(small.walBytes / 2);
  });
});
