/**
 * Model-based property tests (fast-check `fc.commands`): random interleavings of appends (sizes
 * from empty to spooled, duplicate blob content, random routes and classes), read + ack per sink,
 * and close + reopen, under eviction pressure from a small byte bound, with one class (confidential)
 * on the block policy, so refused batches and their rollback are exercised too. After every command:
 * - read returns, for that sink, exactly records routed to it with seq > cursor, ascending, with the
 *   content that was appended; cursors never go backwards;
 * - the stored bytes never exceed the bound by more than one batch;
 * - seqs are strictly increasing across batches and restarts.
 * At the end every sink is drained, and every record is either delivered to each sink it was
 * routed to, or counted as lost: the loss ledger and the eviction totals add up exactly, per
 * source and class, in records and bytes.
 */
import { rmSync } from 'node:fs';
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { SENSITIVITY_CLASSES, type SensitivityClass, type StoredRecord } from '../plugin-api/record.js';
import { BufferFullError } from '../plugin-api/errors.js';
import { ROW_OVERHEAD_BYTES, openBuffer, type BufferOptions, type RecordBuffer } from './index.js';
import { bodyFor, rec, sha256, tempDir } from './test-support/records.js';

const SINKS = ['kafka', 'minio', 'redis'] as const;
const INLINE_MAX = 512;
const MAX_BYTES = 8 * 1024;
const SOURCES = ['opcua', 'mqtt'] as const;

interface ModelRecord {
  seq: number;
  source: string;
  class: SensitivityClass;
  routes: string[];
  size: number;
  sha: string;
  inline: boolean;
}

interface Model {
  records: Map<number, ModelRecord>;
  /** per sink: seqs read and acknowledged (delivered) */
  delivered: Map<string, Set<number>>;
  cursors: Map<string, number>;
  lastSeq: number;
  /** accounted bytes of the last appended batch: the stored size may exceed the bound by this much */
  lastBatchBytes: number;
}

interface Real {
  buf: RecordBuffer;
  opts: BufferOptions;
}

function check(model: Model, real: Real): void {
  const st = real.buf.stats();
  expect(st.bytes).toBeLessThanOrEqual(MAX_BYTES + model.lastBatchBytes);
  for (const s of st.sinks) expect(s.cursor).toBe(model.cursors.get(s.sink));
  expect(st.missingBlobs).toBe(0);
}

function verifyRead(model: Model, sink: string, got: StoredRecord[], cursor: number): void {
  let prev = cursor;
  for (const r of got) {
    expect(r.seq).toBeGreaterThan(prev);
    prev = r.seq;
    const m = model.records.get(r.seq);
    expect(m, `seq ${r.seq} was never appended`).toBeDefined();
    expect(m!.routes).toContain(sink);
    expect(r.routes.slice().sort()).toEqual(m!.routes.slice().sort());
    if (m!.inline) {
      expect(r.body && sha256(r.body)).toBe(m!.sha);
    } else {
      expect(r.blob).toEqual({ sha256: m!.sha, size: m!.size });
    }
  }
}

interface BatchSpec {
  items: { size: number; contentKey: number; routes: string[]; source: string; class: SensitivityClass }[];
}

class AppendCommand implements fc.Command<Model, Real> {
  constructor(readonly spec: BatchSpec) {}
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    const batch = this.spec.items.map((it, i) =>
      rec({ n: it.contentKey, body: bodyFor(it.contentKey, it.size), routes: it.routes, source: it.source, class: it.class, signal: `sig${i % 2}` }),
    );
    const lossesBefore = real.buf.losses(100_000);
    const newestBefore = real.buf.stats().newestSeq;
    let result: ReturnType<typeof real.buf.append>;
    try {
      result = real.buf.append(batch);
    } catch (e) {
      // confidential has the block policy: the batch is refused whole, and nothing undelivered
      // was dropped for it (delivered records may have been evicted to try to make room)
      expect(e).toBeInstanceOf(BufferFullError);
      expect(real.buf.losses(100_000)).toEqual(lossesBefore);
      // nothing of the batch was stored (the newest may be gone: delivered records are evictable)
      expect(real.buf.stats().newestSeq ?? 0).toBeLessThanOrEqual(newestBefore ?? 0);
      check(model, real);
      return;
    }
    const { firstSeq, lastSeq } = result;
    expect(firstSeq).toBeGreaterThan(model.lastSeq);
    expect(lastSeq - firstSeq + 1).toBe(batch.length);
    model.lastSeq = lastSeq;
    let batchBytes = 0;
    batch.forEach((r, i) => {
      const it = this.spec.items[i]!;
      const inline = it.size <= INLINE_MAX;
      batchBytes += ROW_OVERHEAD_BYTES + it.size;
      model.records.set(firstSeq + i, {
        seq: firstSeq + i,
        source: it.source,
        class: it.class,
        routes: it.routes,
        size: it.size,
        sha: sha256(r.body),
        inline,
      });
    });
    model.lastBatchBytes = batchBytes;
    check(model, real);
  }
  toString(): string {
    return `append(${this.spec.items.map((i) => `${i.size}B#${i.contentKey} ${i.source}/${i.class}->${i.routes.join('+') || '-'}`).join(', ')})`;
  }
}

class ReadAckCommand implements fc.Command<Model, Real> {
  constructor(
    readonly sink: string,
    readonly limit: number,
    readonly ackFraction: number,
  ) {}
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    const cursor = real.buf.cursor(this.sink);
    expect(cursor).toBe(model.cursors.get(this.sink));
    const got = real.buf.read(this.sink, this.limit);
    expect(got.length).toBeLessThanOrEqual(this.limit);
    verifyRead(model, this.sink, got, cursor);
    const upto = Math.floor(got.length * this.ackFraction);
    if (upto > 0) {
      const ackSeq = got[upto - 1]!.seq;
      real.buf.ack(this.sink, ackSeq);
      for (let i = 0; i < upto; i++) model.delivered.get(this.sink)!.add(got[i]!.seq);
      model.cursors.set(this.sink, ackSeq);
      // a lower ack afterwards changes nothing
      real.buf.ack(this.sink, cursor);
    }
    expect(real.buf.cursor(this.sink)).toBe(model.cursors.get(this.sink));
    check(model, real);
  }
  toString(): string {
    return `readAck(${this.sink}, ${this.limit}, ${this.ackFraction})`;
  }
}

class ReopenCommand implements fc.Command<Model, Real> {
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    const before = real.buf.stats();
    real.buf.close();
    real.buf = openBuffer(real.opts, pino({ level: 'silent' }));
    const after = real.buf.stats();
    expect(JSON.stringify(after, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).toBe(
      JSON.stringify(before, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v)),
    );
    check(model, real);
  }
  toString(): string {
    return 'reopen';
  }
}

const itemArb = fc.record({
  size: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 400 }) },
    { weight: 2, arbitrary: fc.integer({ min: INLINE_MAX + 1, max: 3000 }) },
    // a few exact sizes so spooled content repeats (deduplicated blobs)
    { weight: 1, arbitrary: fc.constantFrom(600, 1500) },
  ),
  contentKey: fc.integer({ min: 0, max: 6 }),
  routes: fc.subarray([...SINKS]),
  source: fc.constantFrom(...SOURCES),
  class: fc.constantFrom(...SENSITIVITY_CLASSES),
});

const commands = [
  fc.array(itemArb, { minLength: 1, maxLength: 6 }).map((items) => new AppendCommand({ items })),
  fc.tuple(fc.constantFrom(...SINKS), fc.integer({ min: 1, max: 8 }), fc.constantFrom(0, 0.5, 1)).map(([s, l, f]) => new ReadAckCommand(s, l, f)),
  fc.constant(new ReopenCommand()),
];

function drainAndAccount(model: Model, real: Real): void {
  for (const sink of SINKS) {
    for (;;) {
      const got = real.buf.read(sink, 100);
      if (got.length === 0) break;
      verifyRead(model, sink, got, real.buf.cursor(sink));
      for (const r of got) model.delivered.get(sink)!.add(r.seq);
      real.buf.ack(sink, got[got.length - 1]!.seq);
    }
  }
  // a record is lost when some sink it was routed to never got it
  const lost = new Map<string, { records: number; bytes: number }>();
  let lostTotal = 0;
  for (const m of model.records.values()) {
    if (m.routes.every((s) => model.delivered.get(s)!.has(m.seq))) continue;
    lostTotal++;
    const key = `${m.source}/${m.class}`;
    const e = lost.get(key) ?? { records: 0, bytes: 0 };
    e.records++;
    e.bytes += m.size;
    lost.set(key, e);
  }
  const ledger = real.buf.losses(100_000);
  for (const l of ledger) expect(l.reason).toBe('buffer-full');
  expect(ledger.reduce((a, l) => a + l.records, 0)).toBe(lostTotal);
  const fromLedger = new Map<string, { records: number; bytes: number }>();
  for (const l of ledger) {
    const key = `${l.source}/${l.class}`;
    const e = fromLedger.get(key) ?? { records: 0, bytes: 0 };
    e.records += l.records;
    e.bytes += l.bytes;
    fromLedger.set(key, e);
    // the sinks named are ones that were routed and had not received a record of the run
    expect(l.sinks.length).toBeGreaterThan(0);
  }
  expect(Object.fromEntries(fromLedger)).toEqual(Object.fromEntries(lost));
  const totals = Object.fromEntries(real.buf.stats().evictions.map((e) => [`${e.source}/${e.class}`, { records: e.records, bytes: e.bytes }]));
  expect(totals).toEqual(Object.fromEntries(lost));
  // every record lost to a sink lies inside a ledger entry of its source and class naming that sink
  for (const m of model.records.values()) {
    const missed = m.routes.filter((s) => !model.delivered.get(s)!.has(m.seq));
    if (missed.length === 0) continue;
    const entry = ledger.find((l) => l.source === m.source && l.class === m.class && l.firstSeq <= m.seq && m.seq <= l.lastSeq);
    expect(entry, `lost seq ${m.seq} has no ledger entry`).toBeDefined();
  }
  // after draining nothing is owed to anyone
  for (const s of real.buf.stats().sinks) expect([s.sink, s.lagRecords, s.lagBytes]).toEqual([s.sink, 0, 0]);
}

describe('buffer invariants under random interleavings', () => {
  it('delivers or counts every record; cursors, bound and seqs hold across restarts', () => {
    fc.assert(
      fc.property(fc.commands(commands, { maxCommands: 40 }), (cmds) => {
        const dir = tempDir('lg-buffer-prop-');
        const opts: BufferOptions = {
          dir,
          maxBytes: MAX_BYTES,
          sinks: [...SINKS],
          inlineMaxBytes: INLINE_MAX,
          synchronous: 'NORMAL',
          fullPolicy: { confidential: 'block' },
        };
        const real: Real = { buf: openBuffer(opts, pino({ level: 'silent' })), opts };
        const model: Model = {
          records: new Map(),
          delivered: new Map(SINKS.map((s) => [s, new Set<number>()])),
          cursors: new Map(SINKS.map((s) => [s, 0])),
          lastSeq: 0,
          lastBatchBytes: 0,
        };
        try {
          fc.modelRun(() => ({ model, real }), cmds);
          drainAndAccount(model, real);
        } finally {
          real.buf.close();
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      // no shrinking: every run opens real files with fsyncs, and shrinking a long history takes minutes;
      // the failing command list and its seed are reported as they are
      { numRuns: 100, endOnFailure: true },
    );
  });
});
