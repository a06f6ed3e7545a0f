/**
 * Packed rows (./rows.ts) as a sink and an operator see them: cursors that stop inside a row, lags and
 * evictions that cut a row, batches that mix routes, classes and spooled bodies, and a buffer of the
 * previous layout (one row per record) converted at open with nothing lost.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { RECORD_KINDS, SENSITIVITY_CLASSES, type RecordInput } from '../plugin-api/record.js';
import { ROW_OVERHEAD_BYTES, openBuffer, type BufferOptions, type RecordBuffer } from './index.js';
import { ROW_MAX_RECORDS } from './rows.js';
import { bodyFor, rec, sha256, tempDir } from './test-support/records.js';

const quiet = pino({ level: 'silent' });
const dirs: string[] = [];
const open: RecordBuffer[] = [];

function make(opts: Partial<BufferOptions> = {}): { buf: RecordBuffer; opts: BufferOptions } {
  const dir = tempDir();
  dirs.push(dir);
  const full: BufferOptions = { dir, maxBytes: 64 * 1024 * 1024, sinks: ['kafka', 'minio'], inlineMaxBytes: 1024, ...opts };
  const buf = openBuffer(full, quiet);
  open.push(buf);
  return { buf, opts: full };
}

afterEach(() => {
  for (const b of open.splice(0)) b.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** `count` records numbered from `from`, with distinct signals, sizes and bodies */
function batch(from: number, count: number, spec: (n: number) => Partial<Parameters<typeof rec>[0]> = () => ({})): RecordInput[] {
  return Array.from({ length: count }, (_, i) => rec({ n: from + i, size: (from + i) % 50, signal: `v${(from + i) % 7}`, ...spec(from + i) }));
}

function readAll(buf: RecordBuffer, sink: string, limit = 100_000) {
  return buf.read(sink, limit);
}

describe('a cursor inside a row', () => {
  it('reads continue from the record after the cursor, and lag counts only what is left', () => {
    const { buf } = make();
    const input = batch(0, 3 * ROW_MAX_RECORDS + 10);
    buf.append(input);
    const total = input.length;
    const bytesOf = (from: number, to: number) => input.slice(from, to).reduce((a, r) => a + r.body.length, 0);

    // read a part that ends inside the first row, ack it
    const first = buf.read('kafka', 100);
    expect(first.map((r) => r.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    buf.ack('kafka', 100);
    expect(buf.lag('kafka')).toEqual({ records: total - 100, bytes: bytesOf(100, total) });

    // the next read starts inside that row and crosses into the next ones
    const second = buf.read('kafka', 400);
    expect(second[0]!.seq).toBe(101);
    expect(second.at(-1)!.seq).toBe(500);
    for (const r of second) expect(Buffer.compare(r.body!, input[r.seq - 1]!.body)).toBe(0);
    // an ack inside a later row after one inside an earlier one: both edge rows are cut
    buf.ack('kafka', 300);
    expect(buf.lag('kafka')).toEqual({ records: total - 300, bytes: bytesOf(300, total) });
    buf.ack('kafka', 301);
    expect(buf.lag('kafka')).toEqual({ records: total - 301, bytes: bytesOf(301, total) });
    buf.ack('kafka', total);
    expect(buf.lag('kafka')).toEqual({ records: 0, bytes: 0 });
    expect(buf.read('kafka', 10)).toEqual([]);
  });

  it('afterSeq inside a row reads ahead from there, without moving the cursor', () => {
    const { buf } = make();
    buf.append(batch(0, 50));
    const ahead = buf.read('kafka', 10, undefined, 25);
    expect(ahead.map((r) => r.seq)).toEqual([26, 27, 28, 29, 30, 31, 32, 33, 34, 35]);
    expect(buf.cursor('kafka')).toBe(0);
    expect(buf.read('kafka', 5).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('maxBytes cuts inside a row by the records’ own sizes', () => {
    const { buf } = make();
    const input = Array.from({ length: 20 }, (_, i) => rec({ n: i, size: 100 }));
    buf.append(input);
    expect(buf.read('kafka', 1000, 350).map((r) => r.seq)).toEqual([1, 2, 3]);
    buf.ack('kafka', 3);
    expect(buf.read('kafka', 1000, 350).map((r) => r.seq)).toEqual([4, 5, 6]);
  });
});

describe('eviction of a row a sink has read in part', () => {
  it('writes only the undelivered records to the ledger and takes them off the lag', () => {
    // room for about 1.5 batches of 200 x 100 bytes
    const perRecord = 100 + ROW_OVERHEAD_BYTES;
    const { buf } = make({ maxBytes: 300 * perRecord, sinks: ['kafka'] });
    const one = Array.from({ length: 200 }, (_, i) => rec({ n: i, size: 100, signal: i < 150 ? 'a' : 'b' }));
    buf.append(one);
    buf.ack('kafka', 120);
    // the second batch needs the first one's row out: 80 of its records were not delivered
    buf.append(Array.from({ length: 200 }, (_, i) => rec({ n: 200 + i, size: 100 })));
    // one entry for the source and class; its records are of two signals
    expect(buf.losses().map((l) => [l.source, l.signal, l.firstSeq, l.lastSeq, l.records, l.bytes, l.reason, l.sinks])).toEqual([
      ['opcua', '*', 121, 200, 80, 8000, 'buffer-full', ['kafka']],
    ]);
    expect(buf.lag('kafka')).toEqual({ records: 200, bytes: 200 * 100 });
    expect(buf.stats().evictions).toEqual([{ source: 'opcua', class: 'internal', records: 80, bytes: 8000 }]);
    expect(buf.read('kafka', 1000).map((r) => r.seq)).toEqual(Array.from({ length: 200 }, (_, i) => 201 + i));
  });
});

describe('rows split where a batch changes', () => {
  it('mixed routes, classes, kinds, spooled bodies, builds and source times come back record by record', () => {
    const { buf } = make({ inlineMaxBytes: 64 });
    const input: RecordInput[] = [];
    for (let i = 0; i < 700; i++) {
      const r = rec({
        n: i,
        size: i % 97 === 0 ? 500 : i % 40,
        routes: i % 3 === 0 ? ['kafka', 'minio'] : i % 3 === 1 ? ['kafka'] : ['minio'],
        class: i % 5 === 0 ? 'sensitive' : 'internal',
        signal: `s${i % 11}`,
      });
      if (i % 4 === 0) r.kind = 'scalar';
      if (i % 2 === 0) r.sourceTimeNs = 1_700_000_000_000_000_000n + BigInt(i);
      if (i >= 300) {
        r.build = `job-${Math.floor(i / 200)}`;
        r.layer = i % 13;
      }
      input.push(r);
    }
    buf.append(input);
    for (const sink of ['kafka', 'minio']) {
      const want = input.map((r, i) => ({ r, seq: i + 1 })).filter(({ r }) => r.routes.includes(sink));
      const got = readAll(buf, sink);
      expect(got.map((r) => r.seq)).toEqual(want.map((w) => w.seq));
      got.forEach((g, k) => {
        const r = want[k]!.r;
        expect([g.source, g.signal, g.kind, g.class, g.contentType, g.receiveTimeNs, g.sourceTimeNs, g.build, g.layer]).toEqual([
          r.source,
          r.signal,
          r.kind,
          r.class,
          r.contentType,
          r.receiveTimeNs,
          r.sourceTimeNs,
          r.build,
          r.layer,
        ]);
        expect(g.attributes).toEqual(r.attributes);
        expect([...g.routes].sort()).toEqual([...r.routes].sort());
        if (r.body.length > 64) expect(g.blob).toEqual({ sha256: sha256(r.body), size: r.body.length });
        else expect(Buffer.compare(g.body!, r.body)).toBe(0);
      });
      expect(buf.lag(sink).records).toBe(want.length);
    }
  });
});

describe('a buffer of the previous layout', () => {
  it('is converted at open: every record, cursor, lag and blob as it was, and appends continue the seq', () => {
    const dir = tempDir();
    dirs.push(dir);
    writeOldLayout(dir);
    const opts: BufferOptions = { dir, maxBytes: 64 * 1024 * 1024, sinks: ['kafka', 'minio'], inlineMaxBytes: 1024 };
    const buf = openBuffer(opts, quiet);
    open.push(buf);
    expect(buf.cursor('kafka')).toBe(1);
    expect(buf.lag('kafka')).toEqual({ records: 2, bytes: 2000 + 10 });
    const got = buf.read('kafka', 10);
    expect(got.map((r) => [r.seq, r.signal, r.kind, r.class, r.build, r.layer, r.attributes, r.sourceTimeNs])).toEqual([
      [2, 'laser.power', 'scalar', 'sensitive', 'job-1', 7, { status: 'Good' }, 5n],
      [4, 'frame', 'frame', 'internal', undefined, undefined, undefined, undefined],
    ]);
    expect(Buffer.compare(got[0]!.body!, bodyFor(2, 10))).toBe(0);
    expect(got[1]!.blob).toEqual({ sha256: sha256(bodyFor(4, 2000)), size: 2000 });
    expect(buf.read('minio', 10).map((r) => r.seq)).toEqual([1, 3]);
    expect(buf.stats()).toMatchObject({ records: 4, spoolBlobs: 1, spoolBytes: 2000 });
    expect(buf.append([rec({ n: 5 })])).toEqual({ firstSeq: 5, lastSeq: 5 });
    expect(buf.check().ok).toBe(true);
  });
});

/**
 * A version 1 buffer as that version wrote it (its schema and rows, typed in by hand, with a blob
 * file in its spool): four records, kafka acked through seq 1.
 */
function writeOldLayout(dir: string): void {
  const blob = bodyFor(4, 2000);
  const sha = sha256(blob);
  const spool = path.join(dir, 'spool', sha.slice(0, 2));
  mkdirSync(spool, { recursive: true });
  writeFileSync(path.join(spool, sha.slice(2)), blob);
  const db = new Database(path.join(dir, 'buffer.sqlite'));
  db.exec(`
CREATE TABLE records (seq INTEGER PRIMARY KEY, routes INTEGER NOT NULL, size INTEGER NOT NULL, meta INTEGER NOT NULL,
  receive_time_ns INTEGER NOT NULL, source_time_ns INTEGER, extra TEXT, blob_sha256 TEXT, body BLOB);
CREATE INDEX records_by_blob ON records(blob_sha256) WHERE blob_sha256 IS NOT NULL;
CREATE TABLE streams (id INTEGER PRIMARY KEY, source TEXT NOT NULL, signal TEXT NOT NULL, content_type TEXT NOT NULL, UNIQUE (source, signal, content_type));
CREATE TABLE blobs (sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, refs INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE sinks (name TEXT PRIMARY KEY, bit INTEGER NOT NULL UNIQUE, cursor INTEGER NOT NULL DEFAULT 0,
  lag_records INTEGER NOT NULL DEFAULT 0, lag_bytes INTEGER NOT NULL DEFAULT 0);
CREATE TABLE state (id INTEGER PRIMARY KEY CHECK (id = 1), next_seq INTEGER NOT NULL, records INTEGER NOT NULL,
  inline_bytes INTEGER NOT NULL, spool_blobs INTEGER NOT NULL, spool_bytes INTEGER NOT NULL, missing_blobs INTEGER NOT NULL);
CREATE TABLE evictions (source TEXT NOT NULL, class INTEGER NOT NULL, records INTEGER NOT NULL, bytes INTEGER NOT NULL, PRIMARY KEY (source, class)) WITHOUT ROWID;
CREATE TABLE losses (id INTEGER PRIMARY KEY AUTOINCREMENT, at_ns INTEGER NOT NULL, source TEXT NOT NULL, signal TEXT NOT NULL,
  class INTEGER NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, records INTEGER NOT NULL, bytes INTEGER NOT NULL,
  reason TEXT NOT NULL, sinks TEXT NOT NULL);
PRAGMA user_version = 1;
INSERT INTO streams VALUES (1, 'opcua', 'chamber.o2', 'application/octet-stream'), (2, 'opcua', 'laser.power', 'application/octet-stream'),
  (3, 'camera', 'frame', 'image/png');
INSERT INTO sinks VALUES ('kafka', 0, 1, 2, 2010), ('minio', 1, 0, 2, 20);
INSERT INTO state VALUES (1, 5, 4, 30, 1, 2000, 0);
INSERT INTO blobs VALUES ('${sha}', 2000, 1);
`);
  // version 1's meta column: stream id << 8 | kind index << 3 | class index
  const meta = (stream: number, kind: string, cls: string) =>
    stream * 256 + (RECORD_KINDS.indexOf(kind as never) << 3) + SENSITIVITY_CLASSES.indexOf(cls as never);
  const ins = db.prepare('INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?)');
  ins.run(1, 0b11, 10, meta(1, 'samples', 'internal'), 1000n, null, null, null, bodyFor(1, 10));
  ins.run(2, 0b01, 10, meta(2, 'scalar', 'sensitive'), 2000n, 5n, JSON.stringify({ b: 'job-1', l: 7, a: { status: 'Good' } }), null, bodyFor(2, 10));
  ins.run(3, 0b10, 10, meta(1, 'samples', 'internal'), 3000n, null, null, null, bodyFor(3, 10));
  ins.run(4, 0b01, 2000, meta(3, 'frame', 'internal'), 4000n, null, null, sha, null);
  db.close();
}
