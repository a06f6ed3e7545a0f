/**
 * Buffer append throughput against two baselines measured in the same run, on the same disk:
 *   (a) plain SQLite: a minimal table (seq INTEGER PRIMARY KEY, body BLOB), the same batch size,
 *       the same connection pragmas (WAL, synchronous, locking mode) and one transaction per batch;
 *   (b) raw disk: the same bytes appended to one file with fdatasync after each batch.
 * Targets: small records >= 0.7 of (a); 4 MiB (spooled) bodies >= 0.7 of (b). The bench reports
 * PASS/MISS; it never fails a build.
 *
 * The "W1 scalars, full" case is the buffer as a plant runs it at W1: batches of 5,000 values of
 * 5,000 signals, each with its own attributes (an OPC-UA status and server timestamp), into a buffer
 * held at its bound (32 MiB here), every record delivered, so each append first evicts delivered
 * rows. Its plain-SQLite baseline keeps the same number of rows by deleting the oldest per batch.
 *
 *   npm run bench:buffer            (BENCH_SYNC=NORMAL to run with synchronous = NORMAL)
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { openBuffer } from '../../gateway/buffer/index.js';
import { bufferFootprint } from '../../gateway/buffer/footprint.js';
import { configureConnection } from '../../gateway/buffer/layout.js';
import type { RecordInput } from '../../gateway/plugin-api/record.js';

/** the bound of the cases that never fill the buffer */
const BENCH_MAX_BYTES = 64 * 1024 ** 3;
const SYNC = process.env.BENCH_SYNC === 'NORMAL' ? 'NORMAL' : 'FULL';

interface Case {
  name: string;
  bodyBytes: number;
  batch: number;
  batches: number;
  target: 'plain' | 'raw' | null;
  /** W1-like: this many signals, attributes per record, the buffer at its bound (see the header) */
  fullAtW1?: { signals: number; maxBytes: number };
}

const CASES: Case[] = [
  { name: 'small (64 B)', bodyBytes: 64, batch: 1000, batches: 300, target: 'plain' },
  { name: '4 KiB', bodyBytes: 4096, batch: 256, batches: 120, target: null },
  { name: '4 MiB (spooled)', bodyBytes: 4 * 1024 * 1024, batch: 4, batches: 40, target: 'raw' },
  { name: 'W1 scalars, full', bodyBytes: 30, batch: 5000, batches: 100, target: 'plain', fullAtW1: { signals: 5000, maxBytes: 32 * 1024 * 1024 } },
];

/** A pool of distinct bodies; the first 8 bytes carry a counter so spooled blobs never deduplicate. */
function bodyPool(size: number): Buffer[] {
  const pool: Buffer[] = [];
  for (let i = 0; i < 8; i++) {
    const b = Buffer.allocUnsafe(size);
    for (let j = 0; j < size; j += 4) b.writeUInt32LE((Math.random() * 0xffffffff) >>> 0, Math.min(j, size - 4));
    pool.push(b);
  }
  return pool;
}

interface Result {
  seconds: number;
  records: number;
  bytes: number;
}

function timeIt(records: number, bytes: number, run: () => void): Result {
  const t0 = process.hrtime.bigint();
  run();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { seconds, records, bytes };
}

function benchBuffer(dir: string, c: Case): Result {
  const pool = bodyPool(c.bodyBytes);
  const full = c.fullAtW1;
  const buf = openBuffer({ dir, maxBytes: full?.maxBytes ?? BENCH_MAX_BYTES, sinks: ['kafka'], synchronous: SYNC }, pino({ level: 'silent' }));
  const batch: RecordInput[] = [];
  const now = BigInt(Date.now()) * 1_000_000n;
  for (let i = 0; i < c.batch; i++) {
    const rec: RecordInput = {
      source: 'opcua',
      signal: full ? `w1.v${i % full.signals}` : 'chamber.o2',
      kind: full ? 'scalar' : 'samples',
      receiveTimeNs: now,
      class: 'internal',
      contentType: 'application/octet-stream',
      body: c.bodyBytes > 64 * 1024 ? Buffer.from(pool[i % pool.length]!) : pool[i % pool.length]!,
      routes: ['kafka'],
    };
    if (full) rec.attributes = { status: 'Good', server_time_ns: String(now + BigInt(i) * 1000n) };
    batch.push(rec);
  }
  if (full) {
    // fill to the bound (untimed), everything delivered: until an append had to evict
    let appended = 0;
    while (buf.stats().records === appended) {
      buf.ack('kafka', buf.append(batch).lastSeq);
      appended += batch.length;
    }
  }
  let counter = 0;
  const r = timeIt(c.batch * c.batches, c.bodyBytes * c.batch * c.batches, () => {
    for (let b = 0; b < c.batches; b++) {
      if (c.bodyBytes > 64 * 1024) {
        // a new counter in each body (in place: append has returned) so no blob deduplicates
        for (const rec of batch) rec.body.writeDoubleLE(++counter, 0);
      }
      const { lastSeq } = buf.append(batch);
      if (full) buf.ack('kafka', lastSeq);
    }
  });
  buf.close();
  return r;
}

function benchPlainSqlite(dir: string, c: Case): Result {
  const pool = bodyPool(c.bodyBytes);
  const db = new Database(path.join(dir, 'plain.sqlite'));
  // the pragmas (and WAL share) of a buffer with the same bound
  configureConnection(db, SYNC, bufferFootprint(c.fullAtW1?.maxBytes ?? BENCH_MAX_BYTES));
  db.exec('CREATE TABLE records (seq INTEGER PRIMARY KEY, body BLOB NOT NULL)');
  const ins = db.prepare('INSERT INTO records (seq, body) VALUES (?, ?)');
  const trim = db.prepare('DELETE FROM records WHERE seq <= ?');
  // the full case keeps as many rows as the buffer holds at its bound (its accounting: body + 64 B)
  const keep = c.fullAtW1 ? Math.floor(bufferFootprint(c.fullAtW1.maxBytes).recordBytes / (c.bodyBytes + 64)) : 0;
  let seq = 0;
  const insertBatch = db.transaction(() => {
    if (keep > 0 && seq + c.batch > keep) trim.run(seq + c.batch - keep);
    for (let i = 0; i < c.batch; i++) ins.run(++seq, pool[i % pool.length]!);
  });
  if (keep > 0) while (seq < keep) insertBatch();
  const r = timeIt(c.batch * c.batches, c.bodyBytes * c.batch * c.batches, () => {
    for (let b = 0; b < c.batches; b++) insertBatch();
  });
  db.close();
  return r;
}

function benchRawFile(dir: string, c: Case): Result {
  const pool = bodyPool(c.bodyBytes);
  const fd = openSync(path.join(dir, 'raw.bin'), 'w');
  const r = timeIt(c.batch * c.batches, c.bodyBytes * c.batch * c.batches, () => {
    for (let b = 0; b < c.batches; b++) {
      if (c.bodyBytes <= 64 * 1024) {
        // one write per batch, as a log would do
        const chunk = Buffer.concat(Array.from({ length: c.batch }, (_, i) => pool[i % pool.length]!));
        writeSync(fd, chunk);
      } else {
        for (let i = 0; i < c.batch; i++) writeSync(fd, pool[i % pool.length]!);
      }
      fdatasyncSync(fd);
    }
  });
  closeSync(fd);
  return r;
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

const root = mkdtempSync(path.join(os.tmpdir(), 'lg-bench-'));
const rows: string[][] = [];
const verdicts: string[] = [];
const rawSpread: string[] = [];
try {
  for (const c of CASES) {
    // a warm-up round (discarded), then three rounds, each running buffer, plain and raw back to
    // back. The disk is shared and its speed drifts, so ratios are taken within a round (paired)
    // and the median round is reported.
    const rounds: { buffer: Result; plain: Result; raw: Result }[] = [];
    for (let rep = 0; rep < 4; rep++) {
      const round: Partial<Record<'buffer' | 'plain' | 'raw', Result>> = {};
      for (const [name, fn] of [
        ['buffer', benchBuffer],
        ['plain', benchPlainSqlite],
        ['raw', benchRawFile],
      ] as const) {
        const dir = mkdtempSync(path.join(root, `${name}-`));
        // start every run with no dirty pages left by the previous one (its writeback would be
        // billed to whichever run comes next)
        execFileSync('sync');
        round[name] = fn(dir, c);
        rmSync(dir, { recursive: true, force: true });
      }
      if (rep > 0) rounds.push(round as { buffer: Result; plain: Result; raw: Result });
    }
    const rate = (r: Result) => r.records / r.seconds;
    const mbs = (r: Result) => r.bytes / r.seconds / 1e6;
    const median = (xs: number[]) => xs.slice().sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const vsPlain = median(rounds.map((r) => rate(r.buffer) / rate(r.plain)));
    const vsRaw = median(rounds.map((r) => mbs(r.buffer) / mbs(r.raw)));
    rows.push([
      c.name,
      String(c.batch),
      fmt(median(rounds.map((r) => rate(r.buffer)))),
      fmt(median(rounds.map((r) => mbs(r.buffer))), 1),
      fmt(median(rounds.map((r) => rate(r.plain)))),
      fmt(median(rounds.map((r) => mbs(r.plain))), 1),
      fmt(median(rounds.map((r) => mbs(r.raw))), 1),
      fmt(vsPlain, 2),
      fmt(vsRaw, 2),
    ]);
    rawSpread.push(
      `${c.name}: raw MB/s per round ${rounds.map((r) => fmt(mbs(r.raw), 0)).join(' / ')}, buffer MB/s ${rounds.map((r) => fmt(mbs(r.buffer), 0)).join(' / ')}`,
    );
    if (c.target === 'plain') verdicts.push(`${c.name}: buffer/plain-sqlite = ${fmt(vsPlain, 2)} (target >= 0.70): ${vsPlain >= 0.7 ? 'PASS' : 'MISS'}`);
    if (c.target === 'raw') verdicts.push(`${c.name}: buffer/raw-disk = ${fmt(vsRaw, 2)} (target >= 0.70): ${vsRaw >= 0.7 ? 'PASS' : 'MISS'}`);
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}

const header = ['records', 'batch', 'buffer rec/s', 'buffer MB/s', 'plain rec/s', 'plain MB/s', 'raw MB/s', 'buf/plain', 'buf/raw'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
console.log(`buffer append benchmark (synchronous = ${SYNC}, temp dir on ${os.tmpdir()})`);
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));
console.log();
for (const v of verdicts) console.log(v);
console.log('(medians of 3 rounds; ratios paired within a round)');
for (const line of rawSpread) console.log(line);

// the spool addresses blobs by SHA-256: on one core that caps spooled appends whatever the disk does
const probe = bodyPool(4 * 1024 * 1024)[0]!;
const hashRun = timeIt(32, 32 * probe.length, () => {
  for (let i = 0; i < 32; i++) createHash('sha256').update(probe).digest();
});
console.log(`SHA-256 on this CPU: ${fmt(hashRun.bytes / hashRun.seconds / 1e6, 0)} MB/s (ceiling for spooled appends)`);
