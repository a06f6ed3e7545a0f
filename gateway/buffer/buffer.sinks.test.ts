/**
 * Sinks changed while the buffer runs (`configureSinks`, for a configuration applied live): the
 * result is what opening the buffer with the new sinks gives. A new sink receives what is routed to
 * it from then on; a removed one keeps its cursor, stops holding records back, and resumes where it
 * was when it comes back. With `holdUnlistedSinks` a removed sink keeps holding back what it has not
 * received, across restarts, until an admin drops it (`dropSink`), which writes it to the loss ledger.
 */
import { rmSync } from 'node:fs';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { BufferSinkListedError, UnknownSinkError } from '../plugin-api/errors.js';
import { MAX_SINKS, openBuffer, type BufferOptions, type RecordBuffer } from './index.js';
import { BufferReader } from './reader.js';
import { maxBytesFor, rec, tempDir } from './test-support/records.js';

const quiet = pino({ level: 'silent' });
const dirs: string[] = [];
const open: { close(): void }[] = [];

afterEach(() => {
  for (const b of open.splice(0)) b.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function make(opts: Partial<BufferOptions> = {}): { buf: RecordBuffer; opts: BufferOptions } {
  const dir = tempDir();
  dirs.push(dir);
  const full: BufferOptions = { dir, maxBytes: 64 << 20, sinks: ['kafka'], ...opts };
  const buf = openBuffer(full, quiet);
  open.push(buf);
  return { buf, opts: full };
}

const seqs = (rs: { seq: number }[]) => rs.map((r) => r.seq);

describe('configureSinks', () => {
  it('a sink added live receives what is routed to it from then on, as a reopen with it would; the delivery thread sees it', () => {
    const { buf, opts } = make();
    buf.append([1, 2, 3].map((n) => rec({ n, routes: ['kafka'] })));
    expect(() => buf.append([rec({ n: 4, routes: ['redis'] })])).toThrow(UnknownSinkError);
    buf.configureSinks(['kafka', 'redis']);
    buf.append([4, 5].map((n) => rec({ n, routes: ['kafka', 'redis'] })));
    expect(seqs(buf.read('redis', 10))).toEqual([4, 5]);
    expect(buf.cursor('redis')).toBe(0);
    expect(buf.lag('redis').records).toBe(2);
    expect(buf.stats().sinks.map((s) => s.sink)).toEqual(['kafka', 'redis']);
    // the delivery thread's read connection finds the new sink
    const reader = new BufferReader(opts.dir);
    open.push(reader);
    expect(seqs(reader.read('redis', 0, 10).records)).toEqual([4, 5]);
    buf.ack('redis', 4);
    const before = buf.stats();
    buf.close();
    const again = openBuffer({ ...opts, sinks: ['kafka', 'redis'] }, quiet);
    open.push(again);
    expect(again.stats()).toEqual(before);
  });

  it('a sink removed live stops holding records back: delivered-first eviction takes them with no loss, where it would have lost them before', () => {
    const run = (removeOld: boolean) => {
      // 20 records of 100 B (164 accounted) fill the records' 3280 bytes
      const { buf } = make({ sinks: ['kafka', 'old'], maxBytes: maxBytesFor(3280) });
      for (let n = 1; n <= 20; n++) buf.append([rec({ n, size: 100, routes: ['kafka', 'old'] })]);
      buf.ack('kafka', 20);
      if (removeOld) buf.configureSinks(['kafka']);
      for (let n = 21; n <= 30; n++) buf.append([rec({ n, size: 100, routes: ['kafka'] })]);
      return buf;
    };
    const kept = run(false);
    expect(kept.losses().reduce((n, l) => n + l.records, 0)).toBe(10);
    const removed = run(true);
    expect(removed.losses()).toEqual([]);
    expect(removed.stats().evictions).toEqual([]);
    expect(removed.stats().sinks.map((s) => s.sink)).toEqual(['kafka']);
    expect(() => removed.append([rec({ n: 31, routes: ['old'] })])).toThrow(UnknownSinkError);
  });

  it('a removed sink that comes back resumes at its cursor, with its lag', () => {
    const { buf } = make({ sinks: ['kafka', 'lake'] });
    buf.append([1, 2, 3, 4].map((n) => rec({ n, routes: ['kafka', 'lake'] })));
    buf.ack('lake', 2);
    buf.configureSinks(['kafka']);
    expect(() => buf.read('lake', 10)).toThrow(UnknownSinkError);
    buf.append([rec({ n: 5, routes: ['kafka'] })]);
    buf.configureSinks(['kafka', 'lake']);
    expect(buf.cursor('lake')).toBe(2);
    expect(seqs(buf.read('lake', 10))).toEqual([3, 4]);
    expect(buf.lag('lake').records).toBe(2);
  });

  it('refuses more sink names than a buffer holds, and a name twice, changing nothing', () => {
    const { buf } = make();
    const before = buf.stats();
    expect(() => buf.configureSinks(Array.from({ length: MAX_SINKS + 1 }, (_, i) => `s${i}`))).toThrow(/at most 30 sink names/);
    expect(() => buf.configureSinks(['kafka', 'kafka'])).toThrow(/listed twice/);
    expect(buf.stats()).toEqual(before);
    buf.append([rec({ n: 1, routes: ['kafka'] })]);
    expect(seqs(buf.read('kafka', 10))).toEqual([1]);
  });
});

describe('holdUnlistedSinks and dropSink', () => {
  it('a sink removed live keeps holding its undelivered records through delivered-first eviction and a reopen, until it is dropped', () => {
    // 20 records of 100 B (164 accounted) fill the records' 3280 bytes
    const { buf, opts } = make({ sinks: ['kafka', 'old'], maxBytes: maxBytesFor(3280), holdUnlistedSinks: true });
    for (let n = 1; n <= 10; n++) buf.append([rec({ n, size: 100, routes: ['kafka', 'old'] })]);
    for (let n = 11; n <= 20; n++) buf.append([rec({ n, size: 100, routes: ['kafka'] })]);
    buf.ack('kafka', 20);
    buf.configureSinks(['kafka']);
    // pressure: delivered-first eviction takes 11..20 (delivered) and leaves 1..10 (held for "old")
    for (let n = 21; n <= 30; n++) buf.append([rec({ n, size: 100, routes: ['kafka'] })]);
    expect(buf.losses()).toEqual([]);
    expect(buf.stats().oldestSeq).toBe(1);
    expect(buf.stats().records).toBe(20);
    expect(buf.stats().sinks.map((s) => s.sink)).toEqual(['kafka']);
    expect(buf.knownSinks()).toEqual([
      { name: 'kafka', listed: true, held: true, cursor: 20, lagRecords: 10, lagBytes: 1000 },
      { name: 'old', listed: false, held: true, cursor: 0, lagRecords: 10, lagBytes: 1000 },
    ]);
    buf.ack('kafka', 30);
    buf.close();

    // reopened without "old" in its sinks: still held, with its cursor and lag
    const again = openBuffer({ ...opts, sinks: ['kafka'] }, quiet);
    open.push(again);
    expect(again.knownSinks()).toEqual([
      { name: 'kafka', listed: true, held: true, cursor: 30, lagRecords: 0, lagBytes: 0 },
      { name: 'old', listed: false, held: true, cursor: 0, lagRecords: 10, lagBytes: 1000 },
    ]);
    for (let n = 31; n <= 40; n++) again.append([rec({ n, size: 100, routes: ['kafka'] })]);
    expect(again.losses()).toEqual([]);
    expect(again.stats().oldestSeq).toBe(1);

    // dropped: its backlog goes to the ledger, its records become delivered and are evicted first
    expect(again.dropSink('old')).toEqual({ records: 10, bytes: 1000 });
    expect(again.losses()).toEqual([
      expect.objectContaining({
        reason: 'sink-dropped',
        source: 'opcua',
        signal: 'chamber.o2',
        class: 'internal',
        firstSeq: 1,
        lastSeq: 10,
        records: 10,
        bytes: 1000,
        sinks: ['old'],
      }),
    ]);
    expect(again.knownSinks()[1]).toEqual({ name: 'old', listed: false, held: false, cursor: 40, lagRecords: 0, lagBytes: 0 });
    expect(again.stats().evictions).toEqual([]);
    again.append([rec({ n: 41, size: 100, routes: ['kafka'] })]);
    expect(again.stats().oldestSeq).toBe(2);
    expect(again.losses()).toHaveLength(1);
    again.close();

    // after a restart the dropped sink is held again, with nothing to hold back
    const third = openBuffer({ ...opts, sinks: ['kafka'] }, quiet);
    open.push(third);
    expect(third.knownSinks()[1]).toEqual({ name: 'old', listed: false, held: true, cursor: 40, lagRecords: 0, lagBytes: 0 });
  });

  it('a held sink that is no longer listed still takes a record routed to it (an emit routed before the new policy), until it is dropped', () => {
    const { buf } = make({ sinks: ['kafka', 'redis'], holdUnlistedSinks: true });
    buf.configureSinks(['kafka']);
    buf.append([rec({ n: 1, routes: ['kafka', 'redis'] })]);
    expect(buf.knownSinks().find((k) => k.name === 'redis')).toMatchObject({ listed: false, held: true, lagRecords: 1 });
    expect(buf.dropSink('redis').records).toBe(1);
    // dropped: no longer held, so a record routed to it is refused as before
    expect(() => buf.append([rec({ n: 2, routes: ['redis'] })])).toThrow(UnknownSinkError);
  });

  it('forgetSink frees the name and the slot of a sink nothing was routed to (an output whose apply failed), and refuses any other', () => {
    const { buf } = make({ sinks: ['kafka'], holdUnlistedSinks: true });
    buf.append([rec({ n: 1, routes: ['kafka'] })]);
    buf.configureSinks(['kafka', 'added']);
    expect(() => buf.forgetSink('added')).toThrow(BufferSinkListedError);
    buf.configureSinks(['kafka']);
    buf.forgetSink('added');
    expect(buf.knownSinks().map((k) => k.name)).toEqual(['kafka']);
    expect(() => buf.forgetSink('added')).toThrow(UnknownSinkError);
    // slots: a buffer holds MAX_SINKS names; forgotten ones do not count
    for (let i = 0; i < MAX_SINKS; i++) {
      buf.configureSinks(['kafka', `try${i}`]);
      buf.configureSinks(['kafka']);
      buf.forgetSink(`try${i}`);
    }
    buf.configureSinks(['kafka', 'redis']);
    buf.append([rec({ n: 2, routes: ['kafka', 'redis'] })]);
    expect(buf.read('redis', 10).map((r) => r.seq)).toEqual([2]);
    // one records were routed to is dropped, not forgotten
    buf.configureSinks(['kafka']);
    expect(() => buf.forgetSink('redis')).toThrow(RangeError);
  });

  it('dropSink refuses a listed sink and an unknown name, changing nothing', () => {
    const { buf } = make({ sinks: ['kafka', 'old'], holdUnlistedSinks: true });
    buf.append([1, 2].map((n) => rec({ n, routes: ['kafka', 'old'] })));
    const listed = (() => {
      try {
        buf.dropSink('kafka');
      } catch (e) {
        return e;
      }
    })();
    expect(listed).toBeInstanceOf(BufferSinkListedError);
    expect((listed as { code?: string }).code).toBe('LG_BUFFER_SINK_LISTED');
    expect(() => buf.dropSink('nope')).toThrow(UnknownSinkError);
    buf.configureSinks(['kafka']);
    expect(() => buf.dropSink('nope')).toThrow(UnknownSinkError);
    expect(buf.losses()).toEqual([]);
    expect(buf.knownSinks().map((s) => [s.name, s.listed, s.held, s.lagRecords])).toEqual([
      ['kafka', true, true, 2],
      ['old', false, true, 2],
    ]);
  });

  it('dropSink ledgers what the sink had not received per source and class; other sinks still receive those records', () => {
    const { buf } = make({ sinks: ['kafka', 'old'], holdUnlistedSinks: true });
    const both = ['kafka', 'old'];
    buf.append([rec({ n: 1, size: 10, routes: both })]);
    buf.append([rec({ n: 2, size: 20, routes: both })]);
    buf.append([rec({ n: 3, size: 30, routes: both, source: 'mqtt', signal: 'door', class: 'confidential' })]);
    buf.append([rec({ n: 4, size: 40, routes: both, signal: 'chamber.temp' })]);
    buf.append([rec({ n: 5, size: 50, routes: ['kafka'] })]);
    buf.ack('old', 1);
    buf.configureSinks(['kafka']);
    expect(buf.dropSink('old')).toEqual({ records: 3, bytes: 90 });
    const losses = buf.losses().map(({ id: _id, atNs: _at, ...l }) => l);
    expect(losses).toHaveLength(2);
    expect(losses).toEqual(
      expect.arrayContaining([
        { source: 'opcua', signal: '*', class: 'internal', firstSeq: 2, lastSeq: 4, records: 2, bytes: 60, reason: 'sink-dropped', sinks: ['old'] },
        { source: 'mqtt', signal: 'door', class: 'confidential', firstSeq: 3, lastSeq: 3, records: 1, bytes: 30, reason: 'sink-dropped', sinks: ['old'] },
      ]),
    );
    expect(buf.stats().evictions).toEqual([]);
    expect(buf.stats().records).toBe(5);
    expect(seqs(buf.read('kafka', 10))).toEqual([1, 2, 3, 4, 5]);
    expect(buf.knownSinks()[1]).toEqual({ name: 'old', listed: false, held: false, cursor: 5, lagRecords: 0, lagBytes: 0 });
    // a dropped sink that comes back resumes after the drop
    buf.configureSinks(['kafka', 'old']);
    expect(buf.read('old', 10)).toEqual([]);
    buf.append([rec({ n: 6, routes: both })]);
    expect(seqs(buf.read('old', 10))).toEqual([6]);
    // removed again, it holds its new backlog again
    buf.configureSinks(['kafka']);
    expect(buf.knownSinks()[1]).toMatchObject({ listed: false, held: true, lagRecords: 1 });
  });

  it('without holdUnlistedSinks a removed sink is known but not held, and can still be dropped', () => {
    const { buf } = make({ sinks: ['kafka', 'old'] });
    buf.append([1, 2].map((n) => rec({ n, size: 10, routes: ['kafka', 'old'] })));
    buf.configureSinks(['kafka']);
    expect(buf.knownSinks()).toEqual([
      { name: 'kafka', listed: true, held: true, cursor: 0, lagRecords: 2, lagBytes: 20 },
      { name: 'old', listed: false, held: false, cursor: 0, lagRecords: 2, lagBytes: 20 },
    ]);
    expect(buf.dropSink('old')).toEqual({ records: 2, bytes: 20 });
    expect(buf.losses().map((l) => [l.reason, l.records, l.sinks])).toEqual([['sink-dropped', 2, ['old']]]);
    expect(buf.knownSinks()[1]).toMatchObject({ held: false, cursor: 2, lagRecords: 0 });
  });
});
