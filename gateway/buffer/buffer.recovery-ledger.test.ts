/**
 * Recovery accounts for what it cannot keep: one test per kind of damage, produced for real on disk
 * (a deleted, emptied or truncated database, a damaged WAL, a corrupted or deleted spool blob). Each
 * checks the loss ledger's reason, counts and seq range against what the damage removed, that the
 * damaged files were moved to quarantine instead of deleted, and that nothing else was lost (the
 * records the damage did not touch are still read, and seqs keep increasing).
 */
import {
  closeSync,
  cpSync,
  existsSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { BlobMissingError } from '../plugin-api/errors.js';
import { openBuffer, type BufferOptions, type RecordBuffer } from './index.js';
import { bodyFor, rec, sha256, tempDir } from './test-support/records.js';

const quiet = pino({ level: 'silent' });
const dirs: string[] = [];
const open: RecordBuffer[] = [];

function options(dir = tempDir()): BufferOptions {
  dirs.push(dir);
  return { dir, maxBytes: 64 * 1024 * 1024, sinks: ['kafka', 'minio'], inlineMaxBytes: 1024 };
}

function start(opts: BufferOptions): RecordBuffer {
  const buf = openBuffer(opts, quiet);
  open.push(buf);
  return buf;
}

afterEach(() => {
  for (const b of open.splice(0)) b.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function quarantines(dir: string): string[] {
  const q = path.join(dir, 'quarantine');
  return existsSync(q) ? readdirSync(q).map((d) => path.join(q, d)) : [];
}

function blobFiles(spoolDir: string): string[] {
  return readdirSync(spoolDir)
    .filter((d) => /^[0-9a-f]{2}$/.test(d))
    .flatMap((d) => readdirSync(path.join(spoolDir, d)).map((f) => d + f));
}

/**
 * A cleanly closed buffer: seqs 1..300 inline (200 B, to kafka, kafka acked through 100), then
 * 301..305 spooled (3000 B each, distinct, to minio, unacked). Undelivered: 200 inline + 5 spooled.
 */
function filled(): BufferOptions {
  const opts = options();
  const buf = openBuffer(opts, quiet);
  for (let i = 1; i <= 300; i += 100) buf.append(Array.from({ length: 100 }, (_, j) => rec({ n: i + j, size: 200 })));
  buf.append(Array.from({ length: 5 }, (_, j) => rec({ n: 1000 + j, size: 3000, routes: ['minio'], signal: 'camera.frame' })));
  buf.ack('kafka', 100);
  buf.close();
  return opts;
}

/** the folder as a power cut leaves it: copied while the buffer is open (its WAL not checkpointed) */
function crashedCopy(opts: BufferOptions): BufferOptions {
  const crashed = options();
  cpSync(opts.dir, crashed.dir, { recursive: true });
  rmSync(path.join(crashed.dir, 'buffer.lock'), { force: true });
  return crashed;
}

function expectWorkingAfter(buf: RecordBuffer, lastSeqBefore: number): void {
  const { firstSeq } = buf.append([rec({ n: 1 })]);
  expect(firstSeq).toBeGreaterThan(lastSeqBefore);
  expect(buf.read('kafka', 1000).at(-1)?.seq).toBe(firstSeq);
}

describe('recovery: a missing or empty database', () => {
  for (const damage of ['missing', 'empty'] as const) {
    it(`a ${damage} database: the spool is quarantined (not deleted) and the loss is in the ledger as a lower bound`, () => {
      const opts = filled();
      const file = path.join(opts.dir, 'buffer.sqlite');
      const blobs = blobFiles(path.join(opts.dir, 'spool'));
      expect(blobs).toHaveLength(5);
      if (damage === 'missing') unlinkSync(file);
      else writeFileSync(file, '');
      const buf = start(opts);
      const q = quarantines(opts.dir);
      expect(q).toHaveLength(1);
      expect(blobFiles(path.join(q[0]!, 'spool')).sort()).toEqual(blobs.sort());
      expect(blobFiles(path.join(opts.dir, 'spool'))).toEqual([]);
      // 205 records were undelivered; without the database only the 5 blobs can be counted, and the
      // seq mark bounds the range of seqs that can have been lost
      expect(buf.losses()).toEqual([
        expect.objectContaining({ reason: 'database-missing-lower-bound', records: 5, bytes: 15000, firstSeq: 1, lastSeq: 305, sinks: ['kafka', 'minio'] }),
      ]);
      expectWorkingAfter(buf, 305);
      // entered once: a second open finds a healthy database
      buf.close();
      expect(start(opts).losses()).toHaveLength(1);
      expect(quarantines(opts.dir)).toHaveLength(1);
    });
  }

  it('a new buffer (no database, no spool, no seq mark) has nothing to account for', () => {
    const buf = start(options());
    expect(buf.losses()).toEqual([]);
    expect(quarantines(buf.stats().path.replace(/\/buffer\.sqlite$/, ''))).toEqual([]);
  });
});

describe('recovery: a truncated database', () => {
  it('is quarantined with a lower bound of the undelivered records and the seq range up to the mark', () => {
    const opts = filled();
    const file = path.join(opts.dir, 'buffer.sqlite');
    truncateSync(file, Math.floor(statSync(file).size / 2));
    const buf = start(opts);
    const q = quarantines(opts.dir);
    expect(q).toHaveLength(1);
    expect(blobFiles(path.join(q[0]!, 'spool'))).toHaveLength(5);
    const losses = buf.losses();
    expect(losses).toHaveLength(1);
    const loss = losses[0]!;
    expect(loss).toMatchObject({ reason: 'corrupt-quarantined-lower-bound', firstSeq: 1, lastSeq: 305, sinks: ['kafka', 'minio'] });
    // at least the blobs; at most the 205 undelivered records: never more than was there
    expect(loss.records).toBeGreaterThanOrEqual(5);
    expect(loss.records).toBeLessThanOrEqual(205);
    expectWorkingAfter(buf, 305);
  });
});

/** the commit frames of a WAL file, as frame indexes (see ./wal.ts) */
function walCommitFrames(file: string): { commits: number[]; frameSize: number } {
  const wal = readFileSync(file);
  const frameSize = 24 + wal.readUInt32BE(8);
  const commits: number[] = [];
  for (let i = 0; 32 + (i + 1) * frameSize <= wal.length; i++) if (wal.readUInt32BE(32 + i * frameSize + 4) !== 0) commits.push(i);
  return { commits, frameSize };
}

describe('recovery: a damaged WAL', () => {
  it('the commits SQLite rolls back are in the ledger with their exact seq range; the rest is kept', () => {
    const opts = options();
    const buf = start(opts);
    for (let i = 0; i < 10; i++) buf.append(Array.from({ length: 10 }, (_, j) => rec({ n: i * 10 + j + 1, size: 200 })));
    const crashed = crashedCopy(opts);
    const walFile = path.join(crashed.dir, 'buffer.sqlite-wal');
    const { commits, frameSize } = walCommitFrames(walFile);
    // the last ten commits are the ten appends; damage the first frame of the sixth (seqs 51..60)
    const frame = commits.at(-6)! + 1;
    const fd = openSync(walFile, 'r+');
    writeSync(fd, bodyFor(7, 10), 0, 10, 32 + frame * frameSize + 24 + 100);
    closeSync(fd);
    const after = start(crashed);
    expect(after.losses()).toEqual([
      expect.objectContaining({ reason: 'wal-rolled-back', firstSeq: 51, lastSeq: 100, records: 50, sinks: ['kafka', 'minio'] }),
    ]);
    // nothing else: the first five appends are intact
    expect(after.read('kafka', 1000).map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(existsSync(path.join(quarantines(crashed.dir)[0]!, 'buffer.sqlite-wal'))).toBe(true);
    expectWorkingAfter(after, 100);
  });

  it('when the dropped state page itself is the damaged frame, the range runs to the seq mark, marked as a lower bound', () => {
    const opts = options();
    const buf = start(opts);
    for (let i = 0; i < 10; i++) buf.append(Array.from({ length: 10 }, (_, j) => rec({ n: i * 10 + j + 1, size: 200 })));
    const crashed = crashedCopy(opts);
    const walFile = path.join(crashed.dir, 'buffer.sqlite-wal');
    // the state table's page, from a throwaway copy (opening it replays the WAL into that copy only)
    const probe = options();
    cpSync(crashed.dir, probe.dir, { recursive: true });
    const db = new Database(path.join(probe.dir, 'buffer.sqlite'), { readonly: true });
    const root = db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'state'").pluck().get() as number;
    db.close();
    const { commits, frameSize } = walCommitFrames(walFile);
    const wal = readFileSync(walFile);
    // the last commit's copy of the state page: garbage over the whole page
    let frame = -1;
    for (let i = commits.at(-2)! + 1; i <= commits.at(-1)!; i++) if (wal.readUInt32BE(32 + i * frameSize) === root) frame = i;
    expect(frame).toBeGreaterThan(0);
    const fd = openSync(walFile, 'r+');
    writeSync(fd, bodyFor(9, frameSize - 24), 0, frameSize - 24, 32 + frame * frameSize + 24);
    closeSync(fd);
    const after = start(crashed);
    const losses = after.losses();
    expect(losses).toEqual([expect.objectContaining({ reason: 'wal-rolled-back-lower-bound', firstSeq: 91, records: 0 })]);
    expect(losses[0]!.lastSeq).toBeGreaterThanOrEqual(100);
    expect(after.read('kafka', 1000).map((r) => r.seq)).toEqual(Array.from({ length: 90 }, (_, i) => i + 1));
    expectWorkingAfter(after, losses[0]!.lastSeq);
  });

  it('a crash with an intact WAL loses nothing and writes no ledger entry', () => {
    const opts = options();
    const buf = start(opts);
    for (let i = 0; i < 10; i++) buf.append(Array.from({ length: 10 }, (_, j) => rec({ n: i * 10 + j + 1, size: 200 })));
    const after = start(crashedCopy(opts));
    expect(after.losses()).toEqual([]);
    expect(after.read('kafka', 1000)).toHaveLength(100);
  });
});

describe('spool blobs damaged on disk', () => {
  /** filled(), reopened; the spooled record of seq 303 and its file */
  function withFrame(): { buf: RecordBuffer; opts: BufferOptions; file: string; ref: { sha256: string; size: number } } {
    const opts = filled();
    const buf = start(opts);
    const rec303 = buf.read('minio', 10).find((r) => r.seq === 303)!;
    const ref = rec303.blob!;
    expect(ref.sha256).toBe(sha256(bodyFor(1002, 3000)));
    return { buf, opts, file: buf.blobPath(ref), ref };
  }

  function corrupt(file: string): void {
    // same size, 10 bytes changed: only the hash can tell
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(10, 0xee), 0, 10, 1000);
    closeSync(fd);
  }

  it('a corrupt blob is never handed out: readBlob refuses it, quarantines the file and enters its record in the ledger', async () => {
    const { buf, opts, file, ref } = withFrame();
    corrupt(file);
    await expect(buf.readBlob(ref)).rejects.toThrow(BlobMissingError);
    expect(existsSync(file)).toBe(false);
    const q = quarantines(opts.dir);
    expect(q).toHaveLength(1);
    expect(existsSync(path.join(q[0]!, 'spool', ref.sha256))).toBe(true);
    expect(buf.losses()).toEqual([expect.objectContaining({ reason: 'blob-corrupt', firstSeq: 303, lastSeq: 303, records: 1, bytes: 3000, sinks: ['minio'] })]);
    // nothing else: the other four frames and the 200 undelivered inline records are still there
    expect(buf.read('minio', 10).map((r) => r.seq)).toEqual([301, 302, 304, 305]);
    expect(buf.read('kafka', 1000)).toHaveLength(200);
    expect(buf.stats()).toMatchObject({ missingBlobs: 1, spoolBlobs: 4 });
    for (const r of buf.read('minio', 10)) await expect(buf.readBlob(r.blob!)).resolves.toHaveLength(3000);
  });

  it('recovery: a corrupt blob found by check() is quarantined and in the ledger; nothing else is lost', () => {
    const { buf, opts, file, ref } = withFrame();
    corrupt(file);
    expect(buf.check()).toMatchObject({ ok: false, missingBlobs: 1 });
    expect(existsSync(path.join(quarantines(opts.dir)[0]!, 'spool', ref.sha256))).toBe(true);
    expect(buf.losses()).toEqual([expect.objectContaining({ reason: 'blob-missing', firstSeq: 303, lastSeq: 303, records: 1, bytes: 3000 })]);
    expect(buf.read('minio', 10).map((r) => r.seq)).toEqual([301, 302, 304, 305]);
    expect(buf.read('kafka', 1000)).toHaveLength(200);
  });

  it('recovery: a missing blob drops exactly its record into the ledger at open; nothing else is lost', () => {
    const { buf, opts, file } = withFrame();
    buf.close();
    unlinkSync(file);
    const again = start(opts);
    expect(again.losses()).toEqual([
      expect.objectContaining({ reason: 'blob-missing', firstSeq: 303, lastSeq: 303, records: 1, bytes: 3000, sinks: ['minio'] }),
    ]);
    expect(again.read('minio', 10).map((r) => r.seq)).toEqual([301, 302, 304, 305]);
    expect(again.read('kafka', 1000)).toHaveLength(200);
    expectWorkingAfter(again, 305);
  });
});
