/**
 * A sink far behind a large backlog: what a forwarder holds in memory is bounded by one batch plus
 * the read-ahead, never by the backlog. Counted, not measured (RSS is neither deterministic nor
 * specific): a decorator of the real buffer records, at every read, how far past the sink's cursor
 * the forwarder has read. Every record the forwarder can hold lies in that window (the cursor moves
 * only after an ack, and nothing is read past the window's end), so its largest size bounds the
 * records held at any time. The sink holds each batch for a few ms, like one far behind.
 *
 * An integration test only for its length: 500,000 records on disk, no server.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/wait.js';
import { openBuffer } from '../buffer/index.js';
import type { RecordBuffer } from '../buffer/types.js';
import type { OutputPlugin } from '../plugin-api/contract.js';
import { CONTENT_TYPES } from '../plugin-api/record.js';
import type { RecordInput, StoredRecord } from '../plugin-api/record.js';
import { readAheadLimits } from './batch-reader.js';
import { Forwarder } from './forwarder.js';

const silent = pino({ level: 'silent' });
const BACKLOG = 500_000;
const SINK = 'far-behind';
let dir: string;
let buffer: RecordBuffer | undefined;
let forwarder: Forwarder | undefined;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lg-backlog-'));
});
afterEach(async () => {
  await forwarder?.stop();
  buffer?.close();
  forwarder = undefined;
  buffer = undefined;
  await fs.rm(dir, { recursive: true, force: true });
});

interface ReadCounts {
  /** records every read returned, in total */
  returned: number;
  /** the most records between the cursor and the furthest record read, at any read */
  maxWindow: number;
  /** the largest `limit` a read asked for */
  maxLimit: number;
}

/** The buffer, with its reads counted (see the module header); everything else passes through. */
function countingReads(inner: RecordBuffer, counts: ReadCounts): RecordBuffer {
  let furthest = 0;
  const read = (sink: string, limit: number, maxBytes?: number, afterSeq?: number): StoredRecord[] => {
    const rows = inner.read(sink, limit, maxBytes, afterSeq);
    counts.returned += rows.length;
    counts.maxLimit = Math.max(counts.maxLimit, limit);
    if (rows.length > 0) furthest = Math.max(furthest, rows[rows.length - 1]!.seq);
    // every record is routed to the sink, so seqs after the cursor are contiguous: the window in records
    counts.maxWindow = Math.max(counts.maxWindow, furthest - inner.cursor(sink));
    return rows;
  };
  return new Proxy(inner, {
    get(target, key) {
      if (key === 'read') return read;
      const v = Reflect.get(target, key) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** A sink that takes each batch after `holdMs` (far behind), remembering the largest batch. */
function slowSink(holdMs: number): OutputPlugin & { delivered: number; largestBatch: number } {
  return {
    type: 'slow',
    delivered: 0,
    largestBatch: 0,
    async start() {},
    async stop() {},
    async send(batch: StoredRecord[]) {
      this.largestBatch = Math.max(this.largestBatch, batch.length);
      await new Promise((r) => setTimeout(r, holdMs));
      this.delivered += batch.length;
    },
  };
}

async function fillBacklog(b: RecordBuffer): Promise<void> {
  const chunk = 20_000;
  for (let n = 0; n < BACKLOG; n += chunk) {
    const records: RecordInput[] = Array.from({ length: chunk }, (_, i) => ({
      source: 'opcua',
      signal: `w1.opcua.v${(n + i) % 5000}`,
      kind: 'scalar' as const,
      class: 'internal' as const,
      routes: [SINK],
      contentType: CONTENT_TYPES.scalar,
      receiveTimeNs: 1_764_000_000_000_000_000n + BigInt(n + i),
      body: Buffer.from(`{"v":${n + i}}`),
    }));
    b.append(records);
  }
}

describe('a sink far behind a 500,000-record backlog', () => {
  it.each([
    { what: 'batches of 500 (the default)', batchSize: 500 },
    { what: 'batches of 100,000 (a file per batch, larger than the read-ahead caps)', batchSize: 100_000 },
  ])(
    'with $what, the forwarder holds at most one batch plus the read-ahead, and reads each record once',
    async ({ batchSize }) => {
      buffer = await openBuffer({ dir: path.join(dir, 'buffer'), maxBytes: 1024 * 1024 * 1024, sinks: [SINK], synchronous: 'NORMAL' }, silent);
      await fillBacklog(buffer);
      expect(buffer.lag(SINK).records).toBe(BACKLOG);

      const counts: ReadCounts = { returned: 0, maxWindow: 0, maxLimit: 0 };
      const sink = slowSink(batchSize >= 100_000 ? 50 : 2);
      const batchBytes = 8 * 1024 * 1024;
      forwarder = new Forwarder({ buffer: countingReads(buffer, counts), output: sink, name: SINK, log: silent, batchSize, batchBytes });
      forwarder.start();
      await waitFor('the backlog delivered', () => sink.delivered === BACKLOG, 120_000);

      expect(sink.largestBatch).toBe(batchSize);
      // the batch in flight plus a read-ahead of at most four batches and at most 20,000 records
      expect(counts.maxWindow).toBeLessThanOrEqual(batchSize + Math.min(4 * batchSize, 20_000));
      // ... and the read-ahead did run (the sink was slow enough for it)
      expect(counts.maxWindow).toBeGreaterThan(batchSize);
      expect(counts.maxLimit).toBeLessThanOrEqual(Math.max(batchSize, readAheadLimits(batchSize, batchBytes).records));
      // lazy and without re-reading: every record came out of the buffer once
      expect(counts.returned).toBe(BACKLOG);
      expect(buffer.lag(SINK).records).toBe(0);
    },
    180_000,
  );
});
