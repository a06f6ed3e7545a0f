/**
 * The buffer's everyday behaviour: append/read/ack round trips, routing, spooled and deduplicated
 * blobs, stats, the loss ledger, reopening, the byte bound with both full policies, and max age.
 */
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { BufferFullError, InvalidRecordError } from '../plugin-api/errors.js';
import type { RecordInput } from '../plugin-api/record.js';
import { ROW_OVERHEAD_BYTES, openBuffer, seqOrigin, type BufferOptions, type RecordBuffer } from './index.js';
import { bodyFor, maxBytesFor, rec, sha256, tempDir } from './test-support/records.js';

const quiet = pino({ level: 'silent' });
const dirs: string[] = [];
const open: RecordBuffer[] = [];

function make(opts: Partial<BufferOptions> = {}, dir = tempDir()): { buf: RecordBuffer; dir: string; opts: BufferOptions } {
  dirs.push(dir);
  const full: BufferOptions = { dir, maxBytes: 10 * 1024 * 1024, sinks: ['kafka', 'minio'], inlineMaxBytes: 1024, ...opts };
  const buf = openBuffer(full, quiet);
  open.push(buf);
  return { buf, dir, opts: full };
}

function reopen(buf: RecordBuffer, opts: BufferOptions): RecordBuffer {
  buf.close();
  const again = openBuffer(opts, quiet);
  open.push(again);
  return again;
}

afterEach(() => {
  for (const b of open.splice(0)) b.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function seqs(records: { seq: number }[]): number[] {
  return records.map((r) => r.seq);
}

describe('append, read, ack', () => {
  it('returns every field as appended, in seq order, and advances only on ack', () => {
    const { buf } = make();
    const input: RecordInput = {
      source: 'opcua-m1',
      signal: 'laser.power',
      kind: 'scalar',
      sourceTimeNs: 1_732_000_000_123_456_789n,
      receiveTimeNs: 1_732_000_000_987_654_321n,
      class: 'sensitive',
      contentType: 'application/vnd.layergate.scalar+json',
      body: Buffer.from('{"v":312.5,"unit":"W"}'),
      build: 'job-42',
      layer: 1234,
      attributes: { channel: 'A' },
      routes: ['kafka', 'minio'],
    };
    const r1 = buf.append([input, rec({ n: 2 })]);
    const r2 = buf.append([rec({ n: 3 })]);
    expect(r1).toEqual({ firstSeq: 1, lastSeq: 2 });
    expect(r2).toEqual({ firstSeq: 3, lastSeq: 3 });

    const got = buf.read('kafka', 10);
    expect(seqs(got)).toEqual([1, 2, 3]);
    const { body, ...rest } = input;
    expect(got[0]).toEqual({ ...rest, seq: 1, body });
    // ns timestamps keep all 19 digits
    expect(got[0]!.sourceTimeNs).toBe(1_732_000_000_123_456_789n);
    expect(got[1]!.body).toEqual(bodyFor(2, 32));

    // reading does not advance; ack does; a lower ack is a no-op
    expect(seqs(buf.read('kafka', 2))).toEqual([1, 2]);
    buf.ack('kafka', 2);
    expect(buf.cursor('kafka')).toBe(2);
    buf.ack('kafka', 1);
    expect(buf.cursor('kafka')).toBe(2);
    expect(seqs(buf.read('kafka', 10))).toEqual([3]);
    // the other sink has its own cursor
    expect(seqs(buf.read('minio', 10))).toEqual([1]);
    expect(buf.cursor('minio')).toBe(0);
  });

  it('build, layer and attributes: records sharing one attributes object, or changing it between appends, each keep their own', () => {
    const { buf } = make();
    // inputs share one attributes object between the values of a publish; the buffer writes its JSON once
    const shared = { status: 'Good', server_time_ns: '1732000000000000001' };
    const at = (n: number, attributes: Record<string, string> | undefined, layer: number | undefined): RecordInput => ({
      ...rec({ n }),
      attributes,
      build: 'job-7',
      layer,
    });
    buf.append([at(1, shared, 3), at(2, shared, 3), at(3, shared, 4), at(4, { status: 'Bad' }, 4), at(5, shared, 4), at(6, undefined, 4)]);
    // an input that changes its object between appends must not get the previous append's JSON
    shared.status = 'Uncertain';
    buf.append([at(7, shared, 4), at(8, {}, undefined)]);
    const got = buf.read('kafka', 10).map((r) => [r.seq, r.layer, r.attributes?.status, r.build]);
    expect(got).toEqual([
      [1, 3, 'Good', 'job-7'],
      [2, 3, 'Good', 'job-7'],
      [3, 4, 'Good', 'job-7'],
      [4, 4, 'Bad', 'job-7'],
      [5, 4, 'Good', 'job-7'],
      [6, 4, undefined, 'job-7'],
      [7, 4, 'Uncertain', 'job-7'],
      [8, undefined, undefined, 'job-7'],
    ]);
    // records read with the same attributes share one object: frozen, so no consumer changes another's
    const [r1, r2] = buf.read('kafka', 2);
    expect(Object.isFrozen(r1!.attributes)).toBe(true);
    expect(r2!.attributes).toEqual({ status: 'Good', server_time_ns: '1732000000000000001' });
  });

  it('reads lazily: limit and maxBytes cut the batch, but one oversized record still comes through', () => {
    const { buf } = make();
    buf.append(Array.from({ length: 10 }, (_, i) => rec({ n: i, size: 100 })));
    expect(seqs(buf.read('kafka', 3))).toEqual([1, 2, 3]);
    expect(seqs(buf.read('kafka', 10, 250))).toEqual([1, 2]);
    expect(seqs(buf.read('kafka', 10, 10))).toEqual([1]);
  });

  it('reads ahead after a seq without moving or skipping the cursor: a retry still gets the batch in flight', () => {
    const { buf } = make({ sinks: ['kafka', 'minio'] });
    buf.append([1, 2, 3, 4].map((n) => rec({ n, routes: ['kafka'] })));
    buf.append([5, 6].map((n) => rec({ n, routes: ['minio'] })));
    expect(seqs(buf.read('kafka', 10, undefined, 2))).toEqual([3, 4]);
    // nothing for kafka after seq 4: that empty read-ahead must not hide 1..4 from the next read at the cursor
    expect(buf.read('kafka', 10, undefined, 4)).toEqual([]);
    expect(seqs(buf.read('kafka', 10))).toEqual([1, 2, 3, 4]);
    buf.ack('kafka', 2);
    expect(seqs(buf.read('kafka', 10, undefined, 1))).toEqual([3, 4]); // never behind the cursor
  });

  it('routes: each sink sees only records routed to it; unrouted records are stored but read by none', () => {
    const { buf } = make({ sinks: ['kafka', 'minio', 'redis'] });
    buf.append([
      rec({ n: 1, routes: ['kafka'] }),
      rec({ n: 2, routes: ['minio'] }),
      rec({ n: 3, routes: [] }),
      rec({ n: 4, routes: ['kafka', 'minio'] }),
      rec({ n: 5, routes: ['redis', 'kafka'] }),
    ]);
    expect(seqs(buf.read('kafka', 10))).toEqual([1, 4, 5]);
    expect(seqs(buf.read('minio', 10))).toEqual([2, 4]);
    expect(seqs(buf.read('redis', 10))).toEqual([5]);
    expect(buf.read('kafka', 10)[2]!.routes).toEqual(['kafka', 'redis']);
    expect(buf.stats().records).toBe(5);
  });

  it("emits 'append' after the commit", () => {
    const { buf } = make();
    const seen: number[] = [];
    buf.on('append', () => seen.push(buf.stats().newestSeq ?? -1));
    buf.append([rec({ n: 1 }), rec({ n: 2 })]);
    expect(seen).toEqual([2]);
  });

  it('rejects malformed records with a named error and stores nothing of the batch', () => {
    const { buf } = make();
    const bad = { ...rec({ n: 2 }), class: 'secret' } as unknown as RecordInput;
    expect(() => buf.append([rec({ n: 1 }), bad])).toThrow(InvalidRecordError);
    expect(() => buf.append([rec({ n: 1 }), bad])).toThrow(/record 1 of the batch \(source "opcua", signal "chamber.o2"\): class "secret"/);
    expect(buf.stats().records).toBe(0);
    expect(buf.append([rec({ n: 3 })]).firstSeq).toBe(1);
  });
});

describe('spooled blobs', () => {
  it('spools bodies over the inline limit, returns refs, and stores identical content once', async () => {
    const { buf } = make({ inlineMaxBytes: 1024 });
    const big = bodyFor(7, 5000);
    buf.append([rec({ n: 1, body: big }), rec({ n: 2, size: 1024 }), rec({ n: 3, body: Buffer.from(big) })]);
    const got = buf.read('kafka', 10);
    expect(got[0]!.body).toBeUndefined();
    expect(got[0]!.blob).toEqual({ sha256: sha256(big), size: 5000 });
    expect(got[1]!.body?.length).toBe(1024); // exactly the limit stays inline
    expect(got[2]!.blob).toEqual(got[0]!.blob);
    expect(await buf.readBlob(got[0]!.blob!)).toEqual(big);
    const file = buf.blobPath(got[0]!.blob!);
    expect(file).toMatch(new RegExp(`spool/${sha256(big).slice(0, 2)}/${sha256(big).slice(2)}$`));
    expect(existsSync(file)).toBe(true);

    const st = buf.stats();
    expect(st.spoolBlobs).toBe(1);
    expect(st.spoolBytes).toBe(5000);
    // blob counted once, inline body once, a row overhead per record
    expect(st.bytes).toBe(5000 + 1024 + 3 * ROW_OVERHEAD_BYTES);
    expect(st.sinks.find((s) => s.sink === 'kafka')).toEqual({ sink: 'kafka', cursor: 0, lagRecords: 3, lagBytes: 5000 + 1024 + 5000 });
  });

  it('keeps a shared blob until its last record is evicted, then removes the file', () => {
    const big = bodyFor(9, 3000);
    // exactly full after two records sharing one blob and three inline fillers
    const recordBytes = 3000 + 2 * ROW_OVERHEAD_BYTES + 3 * (1000 + ROW_OVERHEAD_BYTES);
    const { buf } = make({ inlineMaxBytes: 1024, maxBytes: maxBytesFor(recordBytes) });
    buf.append([rec({ n: 1, body: big, routes: [] })]);
    buf.append([rec({ n: 2, body: Buffer.from(big), routes: [] })]);
    const file = buf.blobPath({ sha256: sha256(big), size: 3000 });
    expect(buf.stats().spoolBlobs).toBe(1);
    for (let n = 3; n <= 5; n++) buf.append([rec({ n, size: 1000, routes: [] })]);
    expect(buf.stats()).toMatchObject({ records: 5, bytes: recordBytes, recordBytesLimit: recordBytes });
    // an empty body needs one row overhead: evicting seq 1 is enough, and seq 2 still holds the blob
    buf.append([rec({ n: 6, size: 0, routes: [] })]);
    expect(buf.stats()).toMatchObject({ oldestSeq: 2, spoolBlobs: 1 });
    expect(existsSync(file)).toBe(true);
    buf.append([rec({ n: 7, size: 0, routes: [] })]);
    expect(buf.stats()).toMatchObject({ oldestSeq: 3, spoolBlobs: 0, spoolBytes: 0 });
    expect(existsSync(file)).toBe(false);
    // unrouted records count as delivered: nothing in the loss ledger
    expect(buf.losses()).toEqual([]);
  });
});

describe('reopen', () => {
  it('keeps records, cursors, blobs, stats and the ledger, and continues the seq', async () => {
    const { buf, opts } = make({ maxBytes: 4000, inlineMaxBytes: 512 });
    const big = bodyFor(1, 900);
    buf.append([rec({ n: 1, body: big })]);
    for (let i = 2; i <= 40; i++) buf.append([rec({ n: i, size: 100 })]);
    buf.ack('kafka', 20);
    const before = buf.stats();
    const lossesBefore = buf.losses(1000);
    expect(lossesBefore.length).toBeGreaterThan(0);
    const again = reopen(buf, opts);
    const after = again.stats();
    expect(after).toEqual(before);
    expect(again.losses(1000)).toEqual(lossesBefore);
    expect(again.cursor('kafka')).toBe(20);
    expect(again.append([rec({ n: 41 })]).firstSeq).toBe(41);
    const read = again.read('kafka', 100);
    expect(read[0]!.seq).toBeGreaterThan(20);
    for (const r of read) expect(r.body).toEqual(bodyFor(Number(r.attributes!.n), Number(r.attributes!.size)));
  });

  it('seqs are never reused, even after every record was evicted', () => {
    const { buf, opts } = make({ maxBytes: 500 });
    for (let i = 1; i <= 20; i++) buf.append([rec({ n: i, size: 100, routes: [] })]);
    const again = reopen(buf, opts);
    expect(again.append([rec({ n: 21 })]).firstSeq).toBe(21);
  });

  it('a new buffer starts at firstSeq, an existing one goes on from its own; one made again in a wiped folder from seqOrigin() repeats no seq', () => {
    const origin = seqOrigin(Date.parse('2026-12-04T12:00:00Z'));
    expect(origin).toBe(1_796_385_600_000_000);
    const { buf, dir, opts } = make({ firstSeq: origin, sinks: ['kafka'] });
    expect(buf.append([rec({ n: 1, routes: ['kafka'] }), rec({ n: 2, routes: ['kafka'] })])).toEqual({ firstSeq: origin, lastSeq: origin + 1 });
    expect(seqs(buf.read('kafka', 10))).toEqual([origin, origin + 1]);
    // reopened with another firstSeq: the buffer's own seqs go on
    const again = reopen(buf, { ...opts, firstSeq: 5 });
    expect(again.append([rec({ n: 3, routes: ['kafka'] })]).firstSeq).toBe(origin + 2);
    // the folder wiped (database, seq mark, spool), the gateway started a second later
    again.close();
    rmSync(dir, { recursive: true, force: true });
    const wiped = reopen(again, { ...opts, firstSeq: seqOrigin(Date.parse('2026-12-04T12:00:01Z')) });
    expect(wiped.append([rec({ n: 4, routes: ['kafka'] })]).firstSeq).toBe(origin + 1_000_000);
    expect(() => make({ firstSeq: 0 })).toThrow(/buffer.firstSeq/);
  });

  it('a database lost with its seq mark left goes on above the mark, not at a new firstSeq', () => {
    const { buf, dir, opts } = make({ firstSeq: 5000, sinks: ['kafka'] });
    expect(buf.append([rec({ n: 1, routes: ['kafka'] }), rec({ n: 2, routes: ['kafka'] })]).lastSeq).toBe(5001);
    buf.close();
    for (const f of ['buffer.sqlite', 'buffer.sqlite-wal', 'buffer.sqlite-shm']) rmSync(path.join(dir, f), { force: true });
    const again = reopen(buf, { ...opts, firstSeq: 9_000_000 });
    expect(again.append([rec({ n: 3, routes: ['kafka'] })]).firstSeq).toBe(5002);
  });

  it('a sink added later starts at 0 and receives only records routed to it after it was added', () => {
    const { buf, opts } = make({ sinks: ['kafka'] });
    buf.append([rec({ n: 1, routes: ['kafka'] })]);
    const again = reopen(buf, { ...opts, sinks: ['kafka', 'redis'] });
    expect(again.cursor('redis')).toBe(0);
    expect(again.read('redis', 10)).toEqual([]);
    again.append([rec({ n: 2, routes: ['kafka', 'redis'] })]);
    expect(seqs(again.read('redis', 10))).toEqual([2]);
  });

  it('a sink removed from the configuration no longer holds records back', () => {
    const { buf, opts } = make({ sinks: ['kafka', 'redis'], maxBytes: 2000 });
    for (let i = 1; i <= 10; i++) buf.append([rec({ n: i, size: 100, routes: ['kafka', 'redis'] })]);
    buf.ack('kafka', 10);
    const again = reopen(buf, { ...opts, sinks: ['kafka'] });
    for (let i = 11; i <= 20; i++) again.append([rec({ n: i, size: 100, routes: ['kafka'] })]);
    // records 1..10 were delivered to every configured sink: evicted without a loss
    expect(again.losses()).toEqual([]);
    expect(again.stats().oldestSeq).toBeGreaterThan(1);
  });
});

describe('bound and full policies', () => {
  it('drop-oldest: evicts delivered records first, then the oldest undelivered, counted per source and class', () => {
    const { buf } = make({ maxBytes: maxBytesFor(2000), sinks: ['kafka'] });
    const size = 100; // 164 accounted bytes per record: 12 fit in the records' 2000
    for (let i = 1; i <= 12; i++) buf.append([rec({ n: i, size, source: i % 2 ? 'odd' : 'even' })]);
    expect(buf.stats().records).toBe(12);
    buf.ack('kafka', 4);
    let spaces = 0;
    buf.on('space', () => spaces++);
    // three more: the three oldest delivered records make room, no loss
    for (let i = 13; i <= 15; i++) buf.append([rec({ n: i, size, source: i % 2 ? 'odd' : 'even' })]);
    expect(buf.losses()).toEqual([]);
    expect(buf.stats().oldestSeq).toBe(4);
    expect(spaces).toBe(3);
    // a batch of 4: seq 4 (delivered) goes first, then undelivered 5, 6, 7
    buf.append([13, 14, 15, 16].map((n) => rec({ n: 100 + n, size, source: 'batch' })));
    const st = buf.stats();
    expect(st.oldestSeq).toBe(8);
    expect(st.bytes).toBeLessThanOrEqual(2000);
    const losses = buf.losses();
    expect(losses.map((l) => [l.source, l.signal, l.firstSeq, l.lastSeq, l.records, l.bytes, l.reason, l.sinks, l.class]).sort()).toEqual([
      ['even', 'chamber.o2', 6, 6, 1, 100, 'buffer-full', ['kafka'], 'internal'],
      ['odd', 'chamber.o2', 5, 7, 2, 200, 'buffer-full', ['kafka'], 'internal'],
    ]);
    expect(st.evictions.sort((a, b) => a.source.localeCompare(b.source))).toEqual([
      { source: 'even', class: 'internal', records: 1, bytes: 100 },
      { source: 'odd', class: 'internal', records: 2, bytes: 200 },
    ]);
    // lag follows: 15 + 4 appended, 4 acked, 3 lost
    expect(st.sinks[0]!.lagRecords).toBe(19 - 4 - 3);
  });

  it('never exceeds the bound by more than one batch, and accepts an oversized batch into an empty buffer', () => {
    const { buf } = make({ maxBytes: 1000 });
    for (let i = 0; i < 30; i++) {
      const batch = Array.from({ length: 1 + (i % 4) }, (_, j) => rec({ n: i * 10 + j, size: 50 + 37 * ((i + j) % 5) }));
      buf.append(batch);
      expect(buf.stats().bytes).toBeLessThanOrEqual(1000);
    }
    buf.append([rec({ n: 999, size: 3000 })]);
    expect(buf.stats().records).toBe(1);
    expect(buf.stats().bytes).toBe(3000 + ROW_OVERHEAD_BYTES);
  });

  it('block: refuses the batch with BufferFullError, stores and drops nothing, and signals space after an ack', () => {
    // six records of 164 accounted bytes fill the records' 1000
    const { buf } = make({ maxBytes: maxBytesFor(1000), sinks: ['kafka'], fullPolicy: { confidential: 'block' } });
    for (let i = 1; i <= 6; i++) buf.append([rec({ n: i, size: 100, class: 'confidential' })]);
    const before = buf.stats();
    let appends = 0;
    let spaces = 0;
    buf.on('append', () => appends++);
    buf.on('space', () => spaces++);
    expect(() => buf.append([rec({ n: 7, size: 100, class: 'confidential' })])).toThrow(BufferFullError);
    expect(buf.stats()).toEqual(before);
    expect(appends).toBe(0);
    expect(buf.losses()).toEqual([]);
    // a drop-oldest class does not push block-class records out either
    expect(() => buf.append([rec({ n: 8, size: 100, class: 'internal' })])).toThrow(BufferFullError);
    expect(buf.stats()).toEqual(before);
    expect(buf.losses()).toEqual([]);

    buf.ack('kafka', 2);
    expect(spaces).toBe(1);
    expect(buf.append([rec({ n: 9, size: 100, class: 'confidential' })]).firstSeq).toBe(7);
    expect(buf.losses()).toEqual([]);
  });

  it('drop-oldest batches evict only records of drop-oldest classes', () => {
    const { buf } = make({ maxBytes: maxBytesFor(1000), sinks: ['kafka'], fullPolicy: { confidential: 'block' } });
    buf.append([rec({ n: 1, size: 100, class: 'confidential' })]);
    for (let i = 2; i <= 6; i++) buf.append([rec({ n: i, size: 100, class: 'internal' })]);
    buf.append([rec({ n: 7, size: 100, class: 'internal' })]);
    expect(seqs(buf.read('kafka', 10))).toEqual([1, 3, 4, 5, 6, 7]);
    expect(buf.losses().map((l) => [l.firstSeq, l.class])).toEqual([[2, 'internal']]);
  });
});

describe('max age', () => {
  it('evicts records older than maxAgeMs; undelivered ones go to the ledger as max-age', () => {
    const { buf } = make({ maxAgeMs: 60_000, sinks: ['kafka'] });
    const old = BigInt(Date.now() - 3_600_000) * 1_000_000n;
    buf.append([...[1, 2, 3].map((n) => rec({ n, receiveTimeNs: old })), rec({ n: 4, receiveTimeNs: old, routes: [] })]);
    buf.ack('kafka', 1);
    expect(buf.stats().records).toBe(4);
    buf.append([rec({ n: 5 })]);
    expect(seqs(buf.read('kafka', 10))).toEqual([5]);
    expect(buf.stats().records).toBe(1);
    const losses = buf.losses();
    expect(losses).toHaveLength(1);
    expect(losses[0]).toMatchObject({ reason: 'max-age', firstSeq: 2, lastSeq: 3, records: 2, sinks: ['kafka'] });
    expect(buf.stats().evictions).toEqual([{ source: 'opcua', class: 'internal', records: 2, bytes: 64 }]);
  });
});

describe('loss ledger', () => {
  it('lists the newest entries first and honours the limit', () => {
    const { buf } = make({ maxBytes: 600, sinks: ['kafka'] });
    for (let i = 1; i <= 12; i++) buf.append([rec({ n: i, size: 100, signal: `s${i}` })]);
    const all = buf.losses(100);
    expect(all.length).toBeGreaterThan(3);
    expect(all.map((l) => l.id)).toEqual([...all.map((l) => l.id)].sort((a, b) => b - a));
    expect(buf.losses(2)).toEqual(all.slice(0, 2));
    // every entry is one record here (each signal differs) and the seqs cover the oldest ones
    expect(all.map((l) => l.firstSeq).sort((a, b) => a - b)).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
  });
});
