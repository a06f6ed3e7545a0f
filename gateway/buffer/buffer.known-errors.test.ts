/**
 * Known faults, produced for real on disk: a database file that is garbage, truncated or has a
 * damaged page is quarantined (never deleted) and a working empty buffer takes its place, with the
 * event in the loss ledger and seqs still increasing; a busy database is an error, not a corruption;
 * missing, truncated or altered spool blobs are flagged, counted and written to the ledger; orphan
 * and temp spool files are removed; unknown sinks are named in the error.
 */
import { cpSync, existsSync, openSync, readdirSync, closeSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { BlobMissingError, UnknownSinkError } from '../plugin-api/errors.js';
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

/** a closed buffer holding `n` records of 200 B and one spooled blob; returns its options */
function filled(n: number): BufferOptions {
  const opts = options();
  const buf = openBuffer(opts, quiet);
  buf.append([rec({ n: 0, size: 5000 })]);
  for (let i = 1; i <= n; i += 100) buf.append(Array.from({ length: 100 }, (_, j) => rec({ n: i + j, size: 200 })));
  buf.close();
  return opts;
}

/**
 * `reason`: 'corrupt-quarantined' when the damaged file could still tell what it held, else
 * 'corrupt-quarantined-lower-bound' (its counts are a lower bound, its range reaches the seq mark).
 */
function expectQuarantinedAndWorking(opts: BufferOptions, lastSeqBefore: number, reason: string): void {
  const buf = start(opts);
  const q = quarantines(opts.dir);
  expect(q).toHaveLength(1);
  expect(existsSync(path.join(q[0]!, 'buffer.sqlite'))).toBe(true);
  // the spool the damaged file referred to is kept beside it
  expect(existsSync(path.join(q[0]!, 'spool'))).toBe(true);
  expect(buf.stats().records).toBe(0);
  const [loss] = buf.losses();
  expect(loss).toMatchObject({ reason, source: '*', signal: '*', sinks: ['kafka', 'minio'] });
  expect(loss!.lastSeq).toBeGreaterThanOrEqual(lastSeqBefore);
  const { firstSeq } = buf.append([rec({ n: 1 }), rec({ n: 2, size: 3000 })]);
  expect(firstSeq).toBeGreaterThan(lastSeqBefore);
  expect(buf.read('kafka', 10).map((r) => r.seq)).toEqual([firstSeq, firstSeq + 1]);
  // a second open finds a healthy database and quarantines nothing more
  buf.close();
  const again = start(opts);
  expect(quarantines(opts.dir)).toHaveLength(1);
  expect(again.stats().records).toBe(2);
}

describe('damaged database file', () => {
  it('a file of garbage bytes is quarantined and a new buffer starts', () => {
    const opts = filled(300);
    writeFileSync(path.join(opts.dir, 'buffer.sqlite'), bodyFor(1, 64 * 1024));
    expectQuarantinedAndWorking(opts, 301, 'corrupt-quarantined-lower-bound');
  });

  it('a truncated file is quarantined and a new buffer starts', () => {
    const opts = filled(2000);
    const file = path.join(opts.dir, 'buffer.sqlite');
    truncateSync(file, Math.floor(statSync(file).size * 0.4));
    expectQuarantinedAndWorking(opts, 2001, 'corrupt-quarantined-lower-bound');
  });

  it('a damaged page in the middle is found by the check at open', () => {
    const opts = filled(2000);
    const fd = openSync(path.join(opts.dir, 'buffer.sqlite'), 'r+');
    writeSync(fd, bodyFor(2, 8192), 0, 8192, 16 * 4096);
    closeSync(fd);
    expectQuarantinedAndWorking(opts, 2001, 'corrupt-quarantined');
  });

  it('after a crash (no clean close) the seq mark keeps seqs increasing through a quarantine', () => {
    const opts = options();
    const buf = start(opts);
    for (let i = 0; i < 5; i++) buf.append(Array.from({ length: 10 }, (_, j) => rec({ n: i * 10 + j })));
    // the folder as a power cut would leave it: copied while the buffer is open
    const crashed = tempDir();
    dirs.push(crashed);
    cpSync(opts.dir, crashed, { recursive: true });
    writeFileSync(path.join(crashed, 'buffer.sqlite'), bodyFor(3, 4096));
    rmSync(path.join(crashed, 'buffer.sqlite-wal'), { force: true });
    expectQuarantinedAndWorking({ ...opts, dir: crashed }, 50, 'corrupt-quarantined-lower-bound');
  });

  it('a database held by another process is an error, not a corruption', () => {
    const opts = options();
    const first = start(opts);
    first.append([rec({ n: 1 })]);
    expect(() => openBuffer(opts, quiet)).toThrow(/locked|busy/i);
    expect(quarantines(opts.dir)).toEqual([]);
    expect(first.read('kafka', 10)).toHaveLength(1);
  });

  it('check() runs the full integrity check and reports a healthy buffer as ok', () => {
    const buf = start(filled(300));
    expect(buf.check()).toEqual({ ok: true, integrity: ['ok'], orphanBlobsRemoved: 0, missingBlobs: 0 });
  });
});

describe('spool faults', () => {
  function withBlobs(): { opts: BufferOptions; sha: string; file: string } {
    const opts = options();
    const buf = openBuffer(opts, quiet);
    const big = bodyFor(42, 4000);
    buf.append([rec({ n: 1 }), rec({ n: 2, body: big }), rec({ n: 3, body: Buffer.from(big), routes: ['kafka', 'minio'] })]);
    buf.append([rec({ n: 4, size: 2000, routes: ['minio'] })]);
    const file = buf.blobPath({ sha256: sha256(big), size: 4000 });
    buf.close();
    return { opts, sha: sha256(big), file };
  }

  it('a missing blob: its rows are dropped, counted in missingBlobs and written to the ledger', async () => {
    const { opts, file } = withBlobs();
    unlinkSync(file);
    const buf = start(opts);
    const st = buf.stats();
    expect(st.missingBlobs).toBe(2);
    expect(st.records).toBe(2);
    expect(st.spoolBlobs).toBe(1);
    expect(buf.read('kafka', 10).map((r) => r.seq)).toEqual([1]);
    expect(buf.read('minio', 10).map((r) => r.seq)).toEqual([4]);
    await expect(buf.readBlob(buf.read('minio', 1)[0]!.blob!)).resolves.toHaveLength(2000);
    const losses = buf.losses();
    expect(losses).toHaveLength(1);
    expect(losses[0]).toMatchObject({ reason: 'blob-missing', firstSeq: 2, lastSeq: 3, records: 2, bytes: 8000, sinks: ['kafka', 'minio'] });
    expect(st.sinks.find((s) => s.sink === 'kafka')).toMatchObject({ lagRecords: 1 });
    // counted once: a second reopen finds nothing new
    buf.close();
    expect(start(opts).stats().missingBlobs).toBe(2);
  });

  it('a truncated blob is treated like a missing one', () => {
    const { opts, file } = withBlobs();
    truncateSync(file, 1000);
    const buf = start(opts);
    expect(buf.stats().missingBlobs).toBe(2);
    expect(buf.losses()[0]).toMatchObject({ reason: 'blob-missing', records: 2 });
    expect(existsSync(file)).toBe(false);
  });

  it('orphan blobs and temp files are removed at open; referenced blobs stay', () => {
    const { opts, file } = withBlobs();
    const orphan = path.join(opts.dir, 'spool', 'ff', 'f'.repeat(62));
    writeFileSync(orphan, 'no row refers to me');
    writeFileSync(path.join(opts.dir, 'spool', 'tmp', '123-1.tmp'), 'half written');
    const buf = start(opts);
    expect(existsSync(orphan)).toBe(false);
    expect(readdirSync(path.join(opts.dir, 'spool', 'tmp'))).toEqual([]);
    expect(existsSync(file)).toBe(true);
    expect(buf.stats().missingBlobs).toBe(0);
    expect(buf.losses()).toEqual([]);
  });

  it('check() finds an altered blob of the right size by its hash', async () => {
    const { opts, file } = withBlobs();
    const buf = start(opts);
    const ref = buf.read('kafka', 10)[1]!.blob!;
    writeFileSync(file, bodyFor(43, 4000));
    const result = buf.check();
    expect(result).toEqual({ ok: false, integrity: ['ok'], orphanBlobsRemoved: 0, missingBlobs: 2 });
    expect(buf.stats().missingBlobs).toBe(2);
    expect(buf.read('kafka', 10).map((r) => r.seq)).toEqual([1]);
    await expect(buf.readBlob(ref)).rejects.toThrow(BlobMissingError);
  });

  it('readBlob refuses an altered blob of the right size and drops its rows at once (check() then finds nothing more)', async () => {
    const { opts, file } = withBlobs();
    const buf = start(opts);
    const ref = buf.read('kafka', 10)[1]!.blob!;
    writeFileSync(file, bodyFor(43, 4000));
    await expect(buf.readBlob(ref)).rejects.toThrow(BlobMissingError);
    expect(buf.stats().missingBlobs).toBe(2);
    expect(buf.read('kafka', 10).map((r) => r.seq)).toEqual([1]);
    expect(buf.losses()[0]).toMatchObject({ reason: 'blob-corrupt', firstSeq: 2, lastSeq: 3, records: 2 });
    expect(buf.check()).toEqual({ ok: true, integrity: ['ok'], orphanBlobsRemoved: 0, missingBlobs: 0 });
  });

  it('readBlob of a blob that is gone is a BlobMissingError naming the hash', async () => {
    const { opts, file, sha } = withBlobs();
    const buf = start(opts);
    unlinkSync(file);
    await expect(buf.readBlob({ sha256: sha, size: 4000 })).rejects.toThrow(new RegExp(`blob ${sha}`));
  });
});

describe('unknown sinks', () => {
  it('append names the sink, the source and the signal, and stores nothing of the batch', () => {
    const buf = start(options());
    const bad = rec({ n: 2, routes: ['kafak'], source: 'mqtt-cell3', signal: 'meltpool.ch1' });
    expect(() => buf.append([rec({ n: 1 }), bad])).toThrow(UnknownSinkError);
    let err: unknown;
    try {
      buf.append([rec({ n: 1 }), bad]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnknownSinkError);
    expect((err as Error).message).toContain('unknown sink "kafak"');
    expect((err as Error).message).toContain('source "mqtt-cell3", signal "meltpool.ch1"');
    expect((err as { code: string }).code).toBe('LG_BUFFER_UNKNOWN_SINK');
    expect(buf.stats().records).toBe(0);
    expect(() => buf.read('nope', 10)).toThrow(UnknownSinkError);
    expect(() => buf.ack('nope', 1)).toThrow(/unknown sink "nope"/);
  });
});
