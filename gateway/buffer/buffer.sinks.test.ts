/**
 * Sinks changed while the buffer runs (`configureSinks`, for a configuration applied live): the
 * result is what opening the buffer with the new sinks gives. A new sink receives what is routed to
 * it from then on; a removed one keeps its cursor, stops holding records back, and resumes where it
 * was when it comes back.
 */
import { rmSync } from 'node:fs';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { UnknownSinkError } from '../plugin-api/errors.js';
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
