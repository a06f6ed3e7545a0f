/**
 * The read by seq whatever the sinks (./range-read.ts), as the gRPC API's streams and queries use it
 * beside the buffer's owner: every record after a seq in order, across packed rows and spooled bodies;
 * evicted seqs told as gaps before what follows them; records above a class never handed out; and
 * bounded calls that say where the next one goes on.
 */
import { rmSync } from 'node:fs';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type BufferOptions, type RecordBuffer, openBuffer } from './index.js';
import { RangeReader } from './range-read.js';
import { bodyFor, rec, tempDir } from './test-support/records.js';

const quiet = pino({ level: 'silent' });
const dirs: string[] = [];
const closers: { close(): void }[] = [];

function owner(extra: Partial<BufferOptions> = {}): { buf: RecordBuffer; dir: string } {
  const dir = tempDir();
  dirs.push(dir);
  const buf = openBuffer({ dir, maxBytes: 64 * 1024 * 1024, sinks: ['kafka', 'lake'], inlineMaxBytes: 1024, ...extra }, quiet);
  closers.push(buf);
  return { buf, dir };
}

function reader(dir: string): RangeReader {
  const r = new RangeReader(dir);
  closers.unshift(r);
  return r;
}

afterEach(() => {
  for (const c of closers.splice(0)) c.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const ALL = { maxClass: 3 };

describe('a read by seq', () => {
  it('hands out every record after a seq in order, whatever its sinks, inline and spooled bodies alike, page after page', () => {
    const { buf, dir } = owner();
    buf.append(
      Array.from({ length: 700 }, (_, n) => rec({ n: n + 1, size: n % 50 === 0 ? 5000 : 40, routes: n % 3 === 0 ? [] : n % 3 === 1 ? ['kafka'] : ['lake'] })),
    );
    const r = reader(dir);
    expect(r.headSeq()).toBe(700);
    const seen: number[] = [];
    let from = 0;
    for (let pages = 0; from < 700 && pages < 100; pages++) {
      const page = r.read(from, ALL, 64, 1024 * 1024);
      expect(page.gaps).toEqual([]);
      expect(page.records.length).toBeLessThanOrEqual(64);
      for (const x of page.records) {
        seen.push(x.seq);
        // the spooled ones come as their blob reference, the others with their bytes
        if (x.blob) expect(x.blob.size).toBe(5000);
        else expect(x.body?.equals(bodyFor(x.seq, 40))).toBe(true);
      }
      from = page.lastSeq;
    }
    expect(seen).toEqual(Array.from({ length: 700 }, (_, i) => i + 1));
    // a spooled body read by its seq
    const spooled = r.record(51)!;
    expect(spooled.blob).toBeDefined();
    return r.readBlob(spooled.blob!).then((b) => expect(b.equals(bodyFor(51, 5000))).toBe(true));
  });

  it('tells evicted seqs as a gap before the records that follow them, once', () => {
    const old = BigInt(Date.now() - 3_600_000) * 1_000_000n;
    const { buf, dir } = owner({ maxAgeMs: 60_000 });
    buf.append(Array.from({ length: 10 }, (_, n) => rec({ n: n + 1, receiveTimeNs: old, routes: ['lake'] })));
    const r = reader(dir);
    const before = r.read(0, ALL, 100, 1024 * 1024);
    expect(before.records.map((x) => x.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // the next append evicts 1..10 by age
    buf.append([rec({ n: 11 }), rec({ n: 12 })]);
    const after = r.read(4, ALL, 100, 1024 * 1024);
    expect(after.gaps).toEqual([{ from: 5, to: 10 }]);
    expect(after.records.map((x) => x.seq)).toEqual([11, 12]);
    expect(after.lastSeq).toBe(12);
    // a reader already past the hole sees none
    expect(r.read(10, ALL, 100, 1024 * 1024).gaps).toEqual([]);
  });

  it('seqs below the buffer’s origin were never records: a read from 0 tells no gap there, an eviction after it is a gap from the origin', () => {
    const old = BigInt(Date.now() - 3_600_000) * 1_000_000n;
    const origin = 1_796_385_600_000_000;
    const { buf, dir } = owner({ firstSeq: origin, maxAgeMs: 60_000 });
    buf.append(Array.from({ length: 5 }, (_, n) => rec({ n: n + 1, receiveTimeNs: old, routes: ['lake'] })));
    const r = reader(dir);
    expect(r.headSeq()).toBe(origin + 4);
    const all = r.read(0, ALL, 100, 1024 * 1024);
    expect(all.gaps).toEqual([]);
    expect(all.records.map((x) => x.seq)).toEqual([origin, origin + 1, origin + 2, origin + 3, origin + 4]);
    // the next append evicts the first five by age: what a reader from 0 missed starts at the origin
    buf.append([rec({ n: 6 })]);
    const after = r.read(0, ALL, 100, 1024 * 1024);
    expect(after.gaps).toEqual([{ from: origin, to: origin + 4 }]);
    expect(after.records.map((x) => x.seq)).toEqual([origin + 5]);
  });

  it('never hands out a record above the class limit, and goes on past them (lastSeq covers what it skipped)', () => {
    const { buf, dir } = owner();
    buf.append(Array.from({ length: 300 }, (_, n) => rec({ n: n + 1, class: n % 4 === 3 ? 'confidential' : n % 4 === 2 ? 'sensitive' : 'internal' })));
    const r = reader(dir);
    const internal = r.read(0, { maxClass: 1 }, 10_000, 64 * 1024 * 1024);
    expect(internal.records.length).toBe(150);
    expect(internal.records.every((x) => x.class === 'internal')).toBe(true);
    expect(internal.gaps).toEqual([]);
    expect(internal.lastSeq).toBe(300);
    const sensitive = r.read(0, { maxClass: 2 }, 10_000, 64 * 1024 * 1024);
    expect(sensitive.records.length).toBe(225);
  });

  it('a filter and a seq and time range select; a call stops at its limit and the next goes on from lastSeq with nothing lost or repeated', () => {
    const { buf, dir } = owner();
    const t0 = 1_800_000_000_000_000_000n;
    buf.append(Array.from({ length: 1000 }, (_, n) => rec({ n: n + 1, signal: `s${n % 10}`, receiveTimeNs: t0 + BigInt(n) * 1_000_000n })));
    const r = reader(dir);
    const s3: number[] = [];
    let from = 0;
    for (;;) {
      const page = r.read(from, { ...ALL, accept: (x) => x.signal === 's3', toSeq: 900 }, 7, 1024 * 1024);
      s3.push(...page.records.map((x) => x.seq));
      if (page.lastSeq === from || page.lastSeq >= 900) break;
      from = page.lastSeq;
    }
    expect(s3).toEqual(Array.from({ length: 90 }, (_, i) => 4 + i * 10));
    const window = r.read(0, { ...ALL, fromNs: t0 + 100_000_000n, toNs: t0 + 109_000_000n }, 1000, 1024 * 1024);
    expect(window.records.map((x) => x.seq)).toEqual(Array.from({ length: 10 }, (_, i) => 101 + i));
  });
});
