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
 * - Nothing it cannot account for is deleted; every loss found goes to the ledger with a count and a
 *   seq range, marked '-lower-bound' where the count cannot be known (then the range runs to the seq
 *   mark, the highest seq that can have been handed out):
 *   - a missing or empty database with blobs in the spool: the spool goes to quarantine (its blobs are
 *     records of the lost file, not orphans of a crash): 'database-missing-lower-bound';
 *   - a quarantined database is described only from answers that agree with each other and the mark
 *     (a damaged b-tree returns reversed or garbage seq ranges): else 'corrupt-quarantined-lower-bound';
 *   - a damaged WAL is read before SQLite opens it (./wal.ts); the commits SQLite drops are entered
 *     as 'wal-rolled-back' with the seq range from the dropped copy of the state page.
 * - The spool is reconciled with the `blobs` table: files no row refers to are removed (after a crash
 *   these are blobs whose row never committed, or whose unlink did not happen: nothing undelivered);
 *   rows whose blob is missing or damaged are dropped and written to the ledger ('blob-missing'),
 *   a damaged file is moved to quarantine.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { BufferCorruptError, BufferSinkListedError, UnknownSinkError } from '../plugin-api/errors.js';
import { EvictionPass, afterEviction, evictRow, ledgerSinkBacklog, rowAt, writeLedger } from './eviction.js';
import { CLASS_INDEX, DB_FILE, MAX_SINKS, applySchema, hasTable, openConnection, prepareStatements, readSeqMark } from './layout.js';
import { migrateOneRowPerRecord } from './migrate.js';
import { Spool, fsyncDir, sha256Hex } from './spool.js';
import type { AppendLogState, SinkState } from './state.js';
import { type WalScan, decodeSingleRowLeaf, scanWal } from './wal.js';

/** what could be read of a quarantined database: its ledger entry */
interface QuarantinedFiles {
  to: string;
  records: number;
  bytes: number;
  firstSeq: number;
  lastSeq: number;
  /** false: records and bytes are a lower bound and the seq range an upper bound (the file could not be read) */
  exact: boolean;
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
  // a missing or empty file: SQLite would start a new database without a word, and the spool's blobs
  // would all look like orphans of a crash; they are the records that file held (see quarantineUnownedSpool)
  const fresh = !existsSync(st.dbPath) || statSync(st.dbPath).size === 0;
  // read before the first connection: SQLite drops a damaged WAL's tail silently, and the next
  // write overwrites it
  const wal = fresh ? null : scanWal(`${st.dbPath}-wal`);
  let walCopy: string | undefined;
  if (wal) {
    // kept for analysis, as a damaged database is
    walCopy = quarantineFolder(st);
    copyFileSync(`${st.dbPath}-wal`, path.join(walCopy, `${DB_FILE}-wal`));
    fsyncDir(walCopy);
    st.lastQuarantine = walCopy;
  }
  try {
    db = openConnection(st.dbPath, st.synchronous, st.footprint);
    const check = (db.pragma('quick_check') as { quick_check: string }[]).map((r) => r.quick_check);
    if (check.length !== 1 || check[0] !== 'ok') {
      throw new BufferCorruptError(`${st.dbPath}: quick_check failed: ${check.slice(0, 5).join('; ')}`);
    }
    applySchema(db, firstSeqHere(st));
    migrateOneRowPerRecord(db, st.log);
    st.db = db;
    loadState(st, sinkNames);
    if (fresh) quarantineUnownedSpool(st);
    if (wal) recordWalRollback(st, wal, walCopy!);
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
 * The first seq of a database created in this folder: `firstSeq` when nothing of an earlier buffer is
 * left; when its seq mark survived (a damaged or missing database), 1 as before: the seqs then go on
 * above the mark, and gaps and the ledger count from 1 (what the lost database handed out is unknown).
 */
function firstSeqHere(st: AppendLogState): number {
  return readSeqMark(st.seqMarkPath) > 1 ? 1 : st.firstSeq;
}

/**
 * Move the (already closed) damaged database aside and start an empty one in its place, with the
 * quarantine in the ledger. Returns where the files went.
 */
export function restartEmpty(st: AppendLogState, cause: unknown, sinkNames: string[]): string {
  const info = quarantineFiles(st, cause);
  st.db = openConnection(st.dbPath, st.synchronous, st.footprint);
  applySchema(st.db, firstSeqHere(st));
  loadState(st, sinkNames);
  recordQuarantine(st, info);
  return info.to;
}

/**
 * The database was missing or empty at open, yet the spool holds blobs: they belong to records of a
 * database that is gone. They are moved to quarantine/<timestamp>/spool (never deleted) and the loss
 * is entered in the ledger as 'database-missing-lower-bound': records = the blobs (each belongs to at
 * least one record; inline records left no trace), seq range 1..seq mark - 1 (every seq that can have
 * been handed out, 0..0 when there is no mark).
 */
function quarantineUnownedSpool(st: AppendLogState): void {
  const files = st.spool.list();
  const markLast = readSeqMark(st.seqMarkPath) - 1;
  if (files.length === 0 && markLast < 1) return;
  let to: string | undefined;
  if (files.length > 0) {
    to = quarantineFolder(st);
    renameSync(st.spool.dir, path.join(to, 'spool'));
    fsyncDir(to);
    fsyncDir(st.dir);
    st.spool.init();
    st.lastQuarantine = to;
  }
  const info: QuarantinedFiles = {
    to: to ?? '',
    records: files.length,
    bytes: files.reduce((n, f) => n + f.size, 0),
    firstSeq: markLast >= 1 ? 1 : 0,
    lastSeq: Math.max(0, markLast),
    exact: false,
  };
  recordQuarantine(st, info, 'database-missing-lower-bound');
  st.log.error(
    { quarantinedTo: to, blobs: files.length, firstSeq: info.firstSeq, lastSeq: info.lastSeq },
    'buffer database missing or empty although the spool or the seq mark shows it held records: spool moved to quarantine, loss written to the ledger',
  );
}

/**
 * SQLite dropped committed transactions of a damaged WAL (see ./wal.ts). The seqs they handed out are
 * from the database's next seq up to the next seq of the newest dropped copy of the `state` page:
 * exact when that copy decodes ('wal-rolled-back', records = the seqs of that range; some may have
 * been delivered already, the sinks' acks were rolled back with them). When it does not decode (it
 * may be the damaged frame) the range reaches the seq mark and the count is 0, marked as a lower
 * bound ('wal-rolled-back-lower-bound'). A copy of the WAL was put in quarantine (`to`) before SQLite opened it.
 */
function recordWalRollback(st: AppendLogState, wal: WalScan, to: string): void {
  const db = st.db;
  const dbNext = Math.max(
    db.prepare('SELECT next_seq FROM state WHERE id = 1').pluck().get() as number,
    ((db.prepare('SELECT max(seq) FROM record_rows').pluck().get() as number | null) ?? 0) + 1,
  );
  const markLast = readSeqMark(st.seqMarkPath) - 1;
  const root = db.prepare("SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'state'").pluck().get() as number;
  const copies = wal.lostPages.get(root) ?? [];
  const newest = copies.length > 0 ? decodeSingleRowLeaf(copies.at(-1)!, root) : null;
  const lostNext = newest?.[1];
  const exact = typeof lostNext === 'number' && Number.isSafeInteger(lostNext) && lostNext >= dbNext && (markLast < 1 || lostNext - 1 <= markLast);
  const firstSeq = dbNext;
  const lastSeq = exact ? lostNext - 1 : Math.max(markLast, dbNext - 1);
  if (lastSeq < firstSeq) {
    st.log.warn(
      { lostCommits: wal.lostCommits },
      'damaged WAL: SQLite dropped commits that handed out no seq (acks or housekeeping): sinks may receive some records again',
    );
    return;
  }
  recordQuarantine(
    st,
    { to, records: exact ? lastSeq - firstSeq + 1 : 0, bytes: 0, firstSeq, lastSeq, exact },
    exact ? 'wal-rolled-back' : 'wal-rolled-back-lower-bound',
  );
  st.log.error(
    { lostCommits: wal.lostCommits, lostFrames: wal.lostFrames, firstSeq, lastSeq, exact, walCopy: to },
    'damaged WAL: SQLite rolled back committed records; the missing seq range is in the loss ledger',
  );
}

function quarantineFolder(st: AppendLogState): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  let to = path.join(st.dir, 'quarantine', stamp);
  for (let i = 1; existsSync(to); i++) to = path.join(st.dir, 'quarantine', `${stamp}-${i}`);
  mkdirSync(to, { recursive: true });
  return to;
}

/** Move the database files and the spool to quarantine/<timestamp>/; return what could be read of the old state. */
function quarantineFiles(st: AppendLogState, cause: unknown): QuarantinedFiles {
  const to = quarantineFolder(st);
  for (const suffix of ['', '-wal', '-shm']) {
    const f = st.dbPath + suffix;
    if (existsSync(f)) renameSync(f, path.join(to, DB_FILE + suffix));
  }
  renameSync(st.spool.dir, path.join(to, 'spool'));
  fsyncDir(to);
  fsyncDir(st.dir);
  st.spool.init();
  const info = { ...describeQuarantined(path.join(to, DB_FILE), path.join(to, 'spool'), readSeqMark(st.seqMarkPath)), to };
  st.lastQuarantine = to;
  st.log.error(
    { err: cause, quarantinedTo: to, records: info.records, exact: info.exact, firstSeq: info.firstSeq, lastSeq: info.lastSeq },
    'buffer database is damaged or not a database: moved to quarantine, starting an empty buffer',
  );
  return info;
}

function recordQuarantine(st: AppendLogState, info: QuarantinedFiles, reason?: string): void {
  const pass = new EvictionPass();
  pass.runs.set('q', {
    reason: reason ?? (info.exact ? 'corrupt-quarantined' : 'corrupt-quarantined-lower-bound'),
    source: '*',
    signal: '*',
    // what the file held is unknown: report it under the strictest class
    cls: CLASS_INDEX.get('confidential')!,
    firstSeq: info.firstSeq,
    lastSeq: info.lastSeq,
    records: info.records,
    bytes: info.bytes,
    sinksMask: st.heldMask,
  });
  st.db.transaction(() => writeLedger(st, pass, false))();
}

/**
 * What a quarantined database held, for its ledger entry. A damaged file may answer with garbage (a
 * truncated b-tree gives a first seq above the last, or a last seq from a stale page), so its answers
 * are only taken when they agree with each other and with the seq mark; otherwise the entry is marked
 * a lower bound: records = the larger of the blobs of the quarantined spool (each spooled blob belongs
 * to at least one record) and the largest sink lag the file still shows (that many records were
 * undelivered to that sink), seq range = from the lowest sink cursor the file still shows (else
 * 1) to the seq mark, the highest seq that can have been handed out.
 */
function describeQuarantined(dbFile: string, spoolDir: string, seqMark: number): Omit<QuarantinedFiles, 'to'> {
  const markLast = seqMark > 1 ? seqMark - 1 : null;
  let blobs = 0;
  let blobBytes = 0;
  try {
    const spool = new Spool(spoolDir);
    for (const f of spool.list()) {
      blobs++;
      blobBytes += f.size;
    }
  } catch {
    // no spool folder: no spooled records to count
  }
  let lowCursor: number | null = null;
  // the largest lag of a sink: that many records were certainly undelivered (if the page is readable)
  let lag = { records: 0, bytes: 0 };
  const plausible = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
  try {
    const old = new Database(dbFile, { readonly: true, fileMustExist: true });
    try {
      try {
        for (const k of old.prepare('SELECT cursor, lag_records, lag_bytes FROM sinks').all() as {
          cursor: unknown;
          lag_records: unknown;
          lag_bytes: unknown;
        }[]) {
          if (plausible(k.cursor) && (markLast === null || k.cursor <= markLast)) lowCursor = Math.min(lowCursor ?? k.cursor, k.cursor);
          if (plausible(k.lag_records) && plausible(k.lag_bytes) && k.lag_records > lag.records && (markLast === null || k.lag_records <= markLast)) {
            lag = { records: k.lag_records, bytes: k.lag_bytes };
          }
        }
      } catch {
        // the sinks table is damaged too
      }
      const state = old.prepare('SELECT records, inline_bytes + spool_bytes AS bytes, spool_blobs FROM state WHERE id = 1').get() as
        | { records: number; bytes: number; spool_blobs: number }
        | undefined;
      const { lo, hi } = seqRangeOf(old);
      // a full count through the b-tree fails (or disagrees) where the file is damaged
      const counted = old.prepare('SELECT total(records) AS records FROM record_rows').get() as { records: number };
      const sane =
        state !== undefined &&
        state.records === counted.records &&
        state.spool_blobs >= blobs &&
        (state.records === 0 ? lo === null : lo !== null && hi !== null && lo <= hi && (markLast === null || hi <= markLast));
      if (sane) return { records: state.records, bytes: state.bytes, firstSeq: lo ?? 0, lastSeq: hi ?? 0, exact: true };
    } finally {
      old.close();
    }
  } catch {
    // the damaged file could not tell us what it held: fall through to the lower bound
  }
  const useLag = lag.records > blobs;
  const firstSeq = markLast === null ? 0 : Math.min(markLast, (lowCursor ?? 0) + 1);
  return { records: useLag ? lag.records : blobs, bytes: useLag ? lag.bytes : blobBytes, firstSeq, lastSeq: markLast ?? 0, exact: false };
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
  db.transaction(() => {
    for (const k of addSinkRows(db, known, sinkNames)) known.push(k);
  })();
  st.sinks.clear();
  st.bitToSink = [];
  for (const k of known) {
    const s: SinkState = {
      name: k.name,
      bit: k.bit,
      cursor: k.cursor,
      emptyThrough: 0,
      lagDirty: false,
      configured: false,
      held: false,
      lagRecords: k.lag_records,
      lagBytes: k.lag_bytes,
    };
    st.sinks.set(k.name, s);
    st.bitToSink[k.bit] = s;
  }
  markConfigured(st, sinkNames);
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

interface SinkRow {
  name: string;
  bit: number;
  cursor: number;
  lag_records: number;
  lag_bytes: number;
}

/**
 * Rows for the names in `names` that `known` lacks: each gets the lowest bit no sink ever had (bits
 * are never reused: rows still carry the bits of removed sinks) and cursor 0, which is exact for a
 * new sink: no record stored before it was configured is routed to it. Inside a transaction.
 */
function addSinkRows(db: Database.Database, known: readonly SinkRow[], names: readonly string[]): SinkRow[] {
  const usedBits = new Set(known.map((k) => k.bit));
  const add = db.prepare('INSERT INTO sinks (name, bit, cursor) VALUES (?, ?, 0)');
  const added: SinkRow[] = [];
  for (const name of names) {
    if (known.some((k) => k.name === name) || added.some((k) => k.name === name)) continue;
    let bit = 0;
    while (usedBits.has(bit)) bit++;
    if (bit >= MAX_SINKS) {
      throw new RangeError(`buffer.sinks: sink "${name}" would be sink number ${bit + 1}; a buffer holds at most ${MAX_SINKS} sink names`);
    }
    usedBits.add(bit);
    add.run(name, bit);
    added.push({ name, bit, cursor: 0, lag_records: 0, lag_bytes: 0 });
  }
  return added;
}

/**
 * Which sinks are listed (`configured`: read, acked, in the stats): exactly `names`. Which hold
 * records back and take records routed to them (`held`): the listed ones, and with `holdUnlistedSinks` every other sink row too, except one
 * dropped with `dropSink` during this open (a listed name is no longer dropped). An unlisted sink
 * that is not held keeps its cursor and lag, and is ignored.
 */
function markConfigured(st: AppendLogState, names: readonly string[]): void {
  st.heldMask = 0;
  for (const s of st.sinks.values()) {
    s.configured = names.includes(s.name);
    if (s.configured) st.droppedSinks.delete(s.name);
    s.held = s.configured || (st.holdUnlistedSinks && !st.droppedSinks.has(s.name));
    if (s.held) st.heldMask |= 1 << s.bit;
  }
  // a sink no longer held may have made records delivered: delivered-first eviction rescans
  st.deliveredScanFrom = 0;
  st.routeNames.clear();
}

/**
 * The running buffer's sinks become `names` (a configuration applied while it runs), with the
 * meaning they have at open: a new name starts at cursor 0 and receives what is routed to it from
 * now on; a name no longer listed keeps its cursor and lag on disk, and resumes where it was if it
 * comes back. Whether it still holds records back depends on `BufferOptions.holdUnlistedSinks`:
 * - false (the default): it stops holding records back (they count as delivered once every listed
 *   sink in their routes has them; its lag is no longer kept up by eviction);
 * - true: it keeps holding back the records routed to it after its cursor (they are not delivered,
 *   so delivered-first eviction leaves them; buffer-full and max-age eviction ledger them with its
 *   name) until it is listed again or an admin drops it (`dropSink`: the loss ledger gets what it had
 *   not received). A drop lasts for this open; after a restart the sink is held again, with lag 0.
 * One transaction; 'space' is emitted, since records may have become delivered.
 */
export function configureSinks(st: AppendLogState, names: readonly string[]): void {
  st.assertOpen();
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new RangeError(`buffer.sinks: sink "${n}" is listed twice`);
    seen.add(n);
  }
  const known: SinkRow[] = [...st.sinks.values()].map((s) => ({
    name: s.name,
    bit: s.bit,
    cursor: s.cursor,
    lag_records: s.lagRecords,
    lag_bytes: s.lagBytes,
  }));
  const added = st.db.transaction(() => addSinkRows(st.db, known, names))();
  for (const k of added) {
    const s: SinkState = { name: k.name, bit: k.bit, cursor: 0, emptyThrough: 0, lagDirty: false, configured: false, held: false, lagRecords: 0, lagBytes: 0 };
    st.sinks.set(k.name, s);
    st.bitToSink[k.bit] = s;
  }
  markConfigured(st, names);
  st.events.emit('space');
}

/** the reason of the ledger entries `dropSink` writes */
export const SINK_DROPPED_REASON = 'sink-dropped';

/**
 * An admin drops a sink that is no longer listed (see RecordBuffer.dropSink): in one transaction the
 * records routed to it after its cursor go to the loss ledger ('sink-dropped', that sink alone; not
 * counted as evictions: they stay in the buffer for the other sinks they are routed to), its cursor
 * moves to the newest seq with lag 0; then it stops holding records back for the rest of this open
 * and 'space' is emitted (its records may have become delivered).
 */
export function dropSink(st: AppendLogState, name: string): { records: number; bytes: number } {
  st.assertOpen();
  const s = st.sinks.get(name);
  if (!s) {
    throw new UnknownSinkError(`dropSink: unknown sink "${name}"; known sinks: ${[...st.sinks.keys()].join(', ') || '(none)'}`);
  }
  if (s.configured) {
    throw new BufferSinkListedError(
      `dropSink: sink "${name}" is still a configured output (configured sinks: ${st.configuredNames().join(', ')}); remove it from the configuration first`,
    );
  }
  const pass = new EvictionPass();
  const oldCursor = s.cursor;
  const cursor = Math.max(s.cursor, st.c.nextSeq - 1);
  let dropped = { records: 0, bytes: 0 };
  st.db.transaction(() => {
    dropped = ledgerSinkBacklog(st, s.bit, s.cursor, SINK_DROPPED_REASON, pass);
    writeLedger(st, pass, false);
    st.s.setCursor.run(cursor, 0, 0, name);
  })();
  s.cursor = cursor;
  s.emptyThrough = cursor;
  s.lagRecords = 0;
  s.lagBytes = 0;
  s.lagDirty = false;
  s.held = false;
  st.heldMask &= ~(1 << s.bit);
  st.droppedSinks.add(name);
  // rows above the old cursor may have become delivered: delivered-first eviction rescans them
  st.deliveredScanFrom = Math.min(st.deliveredScanFrom, oldCursor);
  st.log.warn(
    { sink: name, records: dropped.records, bytes: dropped.bytes, fromSeq: oldCursor + 1, toSeq: cursor },
    'buffer sink dropped: the records it had not received were written to the loss ledger',
  );
  st.events.emit('space');
  return dropped;
}

/**
 * Forget an unlisted sink no record was routed to (see RecordBuffer.forgetSink): its row goes, and
 * its bit may be given to a sink added later, which is exact because no row carries it.
 */
export function forgetSink(st: AppendLogState, name: string): void {
  st.assertOpen();
  const s = st.sinks.get(name);
  if (!s) throw new UnknownSinkError(`forgetSink: unknown sink "${name}"; known sinks: ${[...st.sinks.keys()].join(', ') || '(none)'}`);
  if (s.configured) throw new BufferSinkListedError(`forgetSink: sink "${name}" is still a configured output; remove it from the configuration first`);
  // lag counts every record routed to a sink after its cursor (evictions take theirs off): at cursor 0
  // with no lag, no row carries its bit (an unheld sink's lag may be stale, but only too high)
  if (s.cursor !== 0 || s.lagRecords !== 0) {
    throw new RangeError(`forgetSink: sink "${name}" has had records routed to it; drop it instead (its undelivered records go to the loss ledger)`);
  }
  st.db.prepare('DELETE FROM sinks WHERE name = ?').run(name);
  st.sinks.delete(name);
  st.bitToSink[s.bit] = undefined;
  st.droppedSinks.delete(name);
  st.heldMask &= ~(1 << s.bit);
  st.routeNames.clear();
}

/**
 * Drop the rows of spooled blobs that are missing or damaged: their records are evicted into the
 * ledger with `reason`, counted in missingBlobs, and the files that are still there are moved to
 * quarantine/<timestamp>/spool/ (kept for analysis, never deleted, never delivered). Returns the
 * records dropped.
 */
export function dropBlobs(st: AppendLogState, shas: string[], reason: string): number {
  if (shas.length === 0) return 0;
  let missing = 0;
  const pass = new EvictionPass();
  const snap = st.snapshot();
  try {
    st.db.transaction(() => {
      for (const sha of shas) {
        for (const seq of st.s.rowsOfBlob.pluck().all(sha) as number[]) {
          const row = rowAt(st, seq);
          if (!row) continue;
          evictRow(st, row, reason, pass, true);
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
  // evictRow unlinks a blob whose refs reach zero: move what is left of the files first
  let to: string | undefined;
  for (const sha of shas) {
    const file = st.spool.pathOf(sha);
    if (!existsSync(file)) continue;
    if (to === undefined) {
      to = quarantineFolder(st);
      mkdirSync(path.join(to, 'spool'));
    }
    renameSync(file, path.join(to, 'spool', sha));
  }
  if (to !== undefined) {
    fsyncDir(path.join(to, 'spool'));
    fsyncDir(to);
    st.lastQuarantine = to;
  }
  st.refreshOldest();
  afterEviction(st, pass);
  st.log.error(
    { blobs: shas.length, records: missing, reason, quarantinedTo: to },
    'spooled blobs missing or damaged: their records were dropped and written to the loss ledger, the damaged files moved to quarantine',
  );
  return missing;
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
  const missing = dropBlobs(st, damaged, 'blob-missing');
  if (orphanBlobsRemoved + scan.strayRemoved > 0) {
    st.log.warn({ orphans: orphanBlobsRemoved, temp: scan.strayRemoved }, 'removed spool files no record refers to');
  }
  return { orphanBlobsRemoved: orphanBlobsRemoved + scan.strayRemoved, missingBlobs: missing };
}
