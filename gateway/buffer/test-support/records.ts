/**
 * Record factories shared by the buffer's tests, its crash writer and its benchmark. Bodies are
 * derived from a number, so any copy can be checked against what was written.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RecordInput, SensitivityClass } from '../../plugin-api/record.js';
import { OVERHEAD_FRACTION, bufferFootprint } from '../footprint.js';

export function tempDir(prefix = 'lg-buffer-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** `size` bytes determined by `n`: a cheap xorshift stream seeded with n. */
export function bodyFor(n: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = (n * 2654435761 + 1) >>> 0 || 1;
  let i = 0;
  for (; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b.writeUInt32LE(x, i);
  }
  for (; i < size; i++) b[i] = (n + i) & 0xff;
  return b;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export interface RecordSpec {
  n?: number;
  size?: number;
  routes?: string[];
  source?: string;
  signal?: string;
  class?: SensitivityClass;
  receiveTimeNs?: bigint;
  body?: Buffer;
}

/** A record whose body is bodyFor(n, size) and whose attributes carry n and the size. */
export function rec(spec: RecordSpec = {}): RecordInput {
  const n = spec.n ?? 0;
  const size = spec.size ?? 32;
  return {
    source: spec.source ?? 'opcua',
    signal: spec.signal ?? 'chamber.o2',
    kind: 'samples',
    receiveTimeNs: spec.receiveTimeNs ?? BigInt(Date.now()) * 1_000_000n,
    class: spec.class ?? 'internal',
    contentType: 'application/octet-stream',
    body: spec.body ?? bodyFor(n, size),
    routes: spec.routes ?? ['kafka'],
    attributes: { n: String(n), size: String(size) },
  };
}

// ---- the crash writer's records (see crash-writer.ts) ----

export const CRASH_INLINE_MAX = 2048;

/** size of record n: small, sometimes spooled; spooled ones of n % 15 === 10 repeat content */
export function crashRecordSize(n: number): number {
  return n % 5 === 0 ? 4096 + (n % 7) * 1024 : 16 + (n % 200);
}

export function crashBodyKey(n: number): number {
  return n % 15 === 10 ? 10 : n;
}

/**
 * The `maxBytes` whose records' share is exactly `recordBytes` (gateway/buffer/footprint.ts): for
 * tests that count what fits.
 */
export function maxBytesFor(recordBytes: number): number {
  let m = Math.ceil((recordBytes * OVERHEAD_FRACTION) / (OVERHEAD_FRACTION - 1));
  while (bufferFootprint(m).recordBytes > recordBytes) m--;
  while (bufferFootprint(m).recordBytes < recordBytes) m++;
  return m;
}
