/**
 * The second reader (./reader.ts) beside the buffer's owner, as the delivery thread uses it: the same
 * records as the owner's own read (streams, routes, extras, spooled and inline bodies, cursors inside
 * a row), rows the owner commits after the reader opened, no writes through it, and the owner's lock
 * still keeping a second owner out.
 */
import { rmSync } from 'node:fs';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type BufferOptions, type RecordBuffer, openBuffer } from './index.js';
import { BufferReader } from './reader.js';
import { rec, tempDir } from './test-support/records.js';

const quiet = pino({ level: 'silent' });
const dirs: string[] = [];
const closers: { close(): void }[] = [];

function owner(): { buf: RecordBuffer; opts: BufferOptions } {
  const dir = tempDir();
  dirs.push(dir);
  const opts: BufferOptions = { dir, maxBytes: 64 * 1024 * 1024, sinks: ['kafka', 'lake'], inlineMaxBytes: 1024 };
  const buf = openBuffer(opts, quiet);
  closers.push(buf);
  return { buf, opts };
}

function reader(dir: string): BufferReader {
  const r = new BufferReader(dir);
  closers.unshift(r);
  return r;
}

afterEach(() => {
  for (const c of closers.splice(0)) c.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** a record as a sink sees it, bodies as bytes (a view and a copy compare equal) */
const plain = (r: object) => JSON.parse(JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v?.type === 'Buffer' ? v.data.join(',') : v)));

describe('a reader on a second connection', () => {
  it('reads exactly what the owner reads, from any cursor, for each sink', () => {
    const { buf, opts } = owner();
    buf.append(
      Array.from({ length: 700 }, (_, n) =>
        rec({
          n,
          size: n % 9 === 0 ? 3000 : 40,
          signal: `s${n % 13}`,
          routes: n % 3 === 0 ? ['lake'] : ['kafka', 'lake'],
          class: n % 5 === 0 ? 'sensitive' : 'internal',
        }),
      ),
    );
    const r = reader(opts.dir);
    for (const sink of ['kafka', 'lake']) {
      for (const from of [0, 1, 255, 256, 257, 600]) {
        const mine = r.read(sink, from, 10_000);
        const theirs = buf.read(sink, 10_000, undefined, from);
        expect(mine.records.length).toBeGreaterThan(0);
        expect(mine.records.map(plain)).toEqual(theirs.map(plain));
      }
      // limits by count and bytes, as the owner's
      expect(r.read(sink, 0, 17).records.map(plain)).toEqual(buf.read(sink, 17).map(plain));
      expect(r.read(sink, 0, 10_000, 20_000).records.map(plain)).toEqual(buf.read(sink, 10_000, 20_000).map(plain));
    }
  });

  it('sees rows, streams and sinks the owner commits after it opened, and the spooled bodies', async () => {
    const { buf, opts } = owner();
    buf.append([rec({ n: 1, signal: 'first' })]);
    const r = reader(opts.dir);
    expect(r.read('kafka', 0, 100).records.map((x) => x.signal)).toEqual(['first']);
    buf.append([rec({ n: 2, signal: 'later' }), rec({ n: 3, signal: 'big', size: 5000 })]);
    const got = r.read('kafka', 1, 100).records;
    expect(got.map((x) => [x.seq, x.signal])).toEqual([
      [2, 'later'],
      [3, 'big'],
    ]);
    expect(got[1]!.blob).toBeDefined();
    expect(await r.readBlob(got[1]!.blob!)).toEqual(await buf.readBlob(got[1]!.blob!));
    expect(r.blobPath(got[1]!.blob!)).toBe(buf.blobPath(got[1]!.blob!));
  });

  it('rows the owner evicted are simply not read', () => {
    const { buf, opts } = owner();
    const r = reader(opts.dir);
    buf.append(Array.from({ length: 10 }, (_, n) => rec({ n, routes: ['kafka'] })));
    buf.ack('kafka', 10);
    expect(r.read('kafka', 10, 100).records).toEqual([]);
    expect(r.read('lake', 0, 100)).toEqual({ records: [], sawRow: false });
  });

  it('cannot write the buffer, and the owner lock keeps a second owner out while it reads', () => {
    const { buf, opts } = owner();
    buf.append([rec({ n: 1 })]);
    const r = reader(opts.dir);
    const db = (r as unknown as { db: { exec(sql: string): void } }).db;
    expect(() => db.exec('DELETE FROM record_rows')).toThrow(/readonly|read-only|query_only/i);
    expect(() => openBuffer(opts, quiet)).toThrow(/locked|busy/i);
    expect(r.read('kafka', 0, 10).records).toHaveLength(1);
    expect(buf.read('kafka', 10)).toHaveLength(1);
  });
});
