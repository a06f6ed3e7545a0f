/**
 * Open, quarantine and recovery: bring a buffer folder to a consistent running state, whatever a
 * crash, a power loss or a damaged file left in it.
 *
 * Constraints (the full list is in ./layout.ts):
 * - At open `PRAGMA quick_check` runs; a file that is not a database or fails it is moved with its
 *   spool to quarantine/<timestamp>/ (never deleted), written to the loss ledger
 *   ('corrupt-quarantined'), and an empty buffer starts: no crash loop on a damaged buffer.
 * - The in-memory state is loaded from the database once (sinks, streams, counters, eviction
 *   totals); the next seq is the largest of the database's, the seq mark's and the newest row's, so
 *   seqs are never reused.
 * - The spool is reconciled with the `blobs` table: files no row refers to are removed; rows whose
 *   blob is missing or damaged are dropped and written to the ledger ('blob-missing').
 */
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { BufferCorruptError } from '../plugin-api/errors.js';
import { EvictionPass, afterEviction, evictRow, rowAt, writeLedger } from './eviction.js';
import { CLASS_INDEX, DB_FILE, MAX_SINKS, applySchema, hasTable, openConnection, prepareStatements, readSeqMark } from './layout.js';
import { migrateOneRowPerRecord } from './migrate.js';
import { fsyncDir, sha256Hex } from './spool.js';
import type { AppendLogState, SinkState } from './state.js';

/** what could be read of a quarantined database: its ledger entry */
interface QuarantinedFiles {
  to: string;
  records: number;
  bytes: number;
  firstSeq: number;
  lastSeq: number;
}

/** true for the errors of a damaged database file (as opposed to I/O, locking or usage errors) */
export function isCorruption(e: unknown): boolean {
  if (e instanceof BufferCorruptError) return true;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB');
}

/** Open (or create) the database and load the state, quarantining a damaged file. */
export function openDatabase(st: AppendLogState, sinkNames: string[]): void {
  let db: Database.Database | undefined;
  try {
    db = openConnection(st.dbPath, st.synchronous);
    const check = (db.pragma('quick_check') as { quick_check: string }[]).map((r) => r.quick_check);
    if (check.length !== 1 || check[0] !== 'ok') {
      throw new BufferCorruptError(`${st.dbPath}: quick_check failed: ${check.slice(0, 5).join('; ')}`);
    }
    applySchema(db);
    migrateOneRowPerRecord(db, st.log);
    st.db = db;
    loadState(st, sinkNames);
  } catch (e) {
    if (!isCorruption(e)) {
      db?.close();
      throw e;
    }
    try {
      db?.close();
    } catch {
      // a connection to a damaged file may refuse to close cleanly; the file is moved aside anyway
    }
    restartEmpty(st, e, sinkNames);
  }
}

/**
 * Move the (already closed) damaged database aside and start an empty one in its place, with the
 * quarantine in the ledger. Returns where the files went.
 */
export function restartEmpty(st: AppendLogState, cause: unknown, sinkNames: string[]): string {
  const info = quarantineFiles(st, cause);
  st.db = openConnection(st.dbPath, st.synchronous);
  applySchema(st.db);
  loadState(st, sinkNames);
  recordQuarantine(st, info);
  return info.to;
}

/** Move the database files and the spool to quarantine/<timestamp>/; return what could be read of the old state. */
function quarantineFiles(st: AppendLogState, cause: unknown): QuarantinedFiles {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  let to = path.join(st.dir, 'quarantine', stamp);
  for (let i = 1; existsSync(to); i++) to = path.join(st.dir, 'quarantine', `${stamp}-${i}`);
  mkdirSync(to, { recursive: true });
  for (const suffix of ['', '-wal', '-shm']) {
    const f = st.dbPath + suffix;
    if (existsSync(f)) renameSync(f, path.join(to, DB_FILE + suffix));
  }
  renameSync(st.spool.dir, path.join(to, 'spool'));
  fsyncDir(to);
  fsyncDir(st.dir);
  st.spool.init();
  const info = { to, records: 0, bytes: 0, firstSeq: 0, lastSeq: Math.max(0, readSeqMark(st.seqMarkPath) - 1) };
  try {
    const old = new Database(path.join(to, DB_FILE), { readonly: true, fileMustExist: true });
    try {
      const state = old.prepare('SELECT records, inline_bytes + spool_bytes AS bytes FROM state WHERE id = 1').get() as
        | { records: number; bytes: number }
        | undefined;
      const range = seqRangeOf(old);
      if (state) Object.assign(info, { records: state.records, bytes: state.bytes });
      if (range.lo !== null && range.hi !== null) Object.assign(info, { firstSeq: range.lo, lastSeq: range.hi });
    } finally {
      old.close();
    }
  } catch {
    // the damaged file could not tell us what it held; the ledger entry says 0 records (unknown)
  }
  st.lastQuarantine = to;
  st.log.error(
    { err: cause, quarantinedTo: to, records: info.records },
    'buffer database is damaged or not a database: moved to quarantine, starting an empty buffer',
  );
  return info;
}

function recordQuarantine(st: AppendLogState, info: QuarantinedFiles): void {
  const pass = new EvictionPass();
  pass.runs.set('q', {
    reason: 'corrupt-quarantined',
    source: '*',
    signal: '*',
    // what the file held is unknown: report it under the strictest class
    cls: CLASS_INDEX.get('confidential')!,
    firstSeq: info.firstSeq,
    lastSeq: info.lastSeq,
    records: info.records,
    bytes: info.bytes,
    sinksMask: st.configuredMask,
  });
  st.db.transaction(() => writeLedger(st, pass, false))();
}

/** The first and last seq a (damaged, read-only) database holds, in either layout. */
function seqRangeOf(db: Database.Database): { lo: number | null; hi: number | null } {
  if (hasTable(db, 'record_rows')) {
    return db.prepare('SELECT (SELECT first_seq FROM record_rows ORDER BY seq LIMIT 1) AS lo, (SELECT max(seq) FROM record_rows) AS hi').get() as {
      lo: number | null;
      hi: number | null;
    };
  }
  // a buffer of the previous layout (one row per record) that was damaged before it was converted
  return db.prepare('SELECT min(seq) AS lo, max(seq) AS hi FROM records').get() as { lo: number | null; hi: number | null };
}

/** Load the in-memory state from the database; sinks new in `sinkNames` get a bit and cursor 0. */
function loadState(st: AppendLogState, sinkNames: string[]): void {
  const db = st.db;
  const known = db.prepare('SELECT name, bit, cursor, lag_records, lag_bytes FROM sinks').all() as {
    name: string;
    bit: number;
    cursor: number;
    lag_records: number;
    lag_bytes: number;
  }[];
  const usedBits = new Set(known.map((k) => k.bit));
  const add = db.prepare('INSERT INTO sinks (name, bit, cursor) VALUES (?, ?, 0)');
  db.transaction(() => {
    for (const name of sinkNames) {
      if (known.some((k) => k.name === name)) continue;
      let bit = 0;
      while (usedBits.has(bit)) bit++;
      if (bit >= MAX_SINKS) {
        throw new RangeError(`buffer.sinks: sink "${name}" would be sink number ${bit + 1}; a buffer holds at most ${MAX_SINKS} sink names`);
      }
      usedBits.add(bit);
      add.run(name, bit);
      known.push({ name, bit, cursor: 0, lag_records: 0, lag_bytes: 0 });
    }
  })();
  st.sinks.clear();
  st.bitToSink = [];
  st.configuredMask = 0;
  for (const k of known) {
    const configured = sinkNames.includes(k.name);
    const s: SinkState = {
      name: k.name,
      bit: k.bit,
      cursor: k.cursor,
      emptyThrough: 0,
      lagDirty: false,
      configured,
      lagRecords: k.lag_records,
      lagBytes: k.lag_bytes,
    };
    st.sinks.set(k.name, s);
    st.bitToSink[k.bit] = s;
    if (configured) st.configuredMask |= 1 << k.bit;
  }
  st.deliveredScanFrom = 0;
  st.routeNames.clear();
  st.s = prepareStatements(db);
  st.streams.load(db, st.s.insertStream);
  const state = db.prepare('SELECT * FROM state WHERE id = 1').get() as {
    next_seq: number;
    records: number;
    inline_bytes: number;
    spool_blobs: number;
    spool_bytes: number;
    missing_blobs: number;
  };
  const newest = st.s.newest.get() as { seq: bigint; receive_time_ns: bigint } | undefined;
  st.c = {
    nextSeq: Math.max(state.next_seq, readSeqMark(st.seqMarkPath), newest ? Number(newest.seq) + 1 : 1),
    records: state.records,
    inlineBytes: state.inline_bytes,
    spoolBlobs: state.spool_blobs,
    spoolBytes: state.spool_bytes,
    missingBlobs: state.missing_blobs,
    oldestSeq: null,
    oldestReceiveNs: null,
    newestSeq: newest ? Number(newest.seq) : null,
    newestReceiveNs: newest ? newest.receive_time_ns : null,
  };
  st.seqReservedBelow = st.c.nextSeq;
  st.refreshOldest();
  st.evictionTotals.clear();
  for (const e of db.prepare('SELECT source, class, records, bytes FROM evictions').all() as {
    source: string;
    class: number;
    records: number;
    bytes: number;
  }[]) {
    st.evictionTotals.set(`${e.source}\0${e.class}`, { source: e.source, cls: e.class, records: e.records, bytes: e.bytes });
  }
}

/**
 * Reconcile spool and rows. Orphan and temp files are removed. Blob rows whose file is missing or
 * has the wrong size (or, with `verifyHashes`, the wrong content) are dropped with their records,
 * counted in missingBlobs and written to the ledger ('blob-missing').
 */
export function recoverSpool(st: AppendLogState, verifyHashes: boolean): { orphanBlobsRemoved: number; missingBlobs: number } {
  const scan = st.spool.scan();
  const files = new Map(scan.files.map((f) => [f.sha256, f.size]));
  const rows = st.db.prepare('SELECT sha256, size FROM blobs').all() as { sha256: string; size: number }[];
  const damaged: string[] = [];
  for (const row of rows) {
    const size = files.get(row.sha256);
    files.delete(row.sha256);
    let ok = size === row.size;
    if (ok && verifyHashes) ok = sha256Hex(readFileSync(st.spool.pathOf(row.sha256))) === row.sha256;
    if (!ok) damaged.push(row.sha256);
  }
  let orphanBlobsRemoved = 0;
  for (const sha of files.keys()) {
    st.spool.remove(sha);
    orphanBlobsRemoved++;
  }
  let missing = 0;
  if (damaged.length > 0) {
    const pass = new EvictionPass();
    const snap = st.snapshot();
    try {
      st.db.transaction(() => {
        for (const sha of damaged) {
          for (const seq of st.s.rowsOfBlob.pluck().all(sha) as number[]) {
            const row = rowAt(st, seq);
            if (!row) continue;
            evictRow(st, row, 'blob-missing', pass, true);
            missing += row.records;
          }
          // evictRow dropped the refs; make sure the row is gone even if refs had drifted
          st.s.blobDelete.run(sha);
        }
        st.c.missingBlobs += missing;
        writeLedger(st, pass, false);
        st.saveState();
      })();
    } catch (e) {
      st.restore(snap);
      throw e;
    }
    for (const sha of damaged) st.spool.remove(sha);
    st.refreshOldest();
    afterEviction(st, pass);
    st.log.error({ blobs: damaged.length, records: missing }, 'spooled blobs missing or damaged: their records were dropped and written to the loss ledger');
  }
  if (orphanBlobsRemoved + scan.strayRemoved > 0) {
    st.log.warn({ orphans: orphanBlobsRemoved, temp: scan.strayRemoved }, 'removed spool files no record refers to');
  }
  return { orphanBlobsRemoved: orphanBlobsRemoved + scan.strayRemoved, missingBlobs: missing };
}
