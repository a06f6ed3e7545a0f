/**
 * The buffer's on-disk layout: the SQLite schema, the connection pragmas, the prepared statements
 * over it, the packing of a row and the seq-mark side file; and the invariants every module of the
 * buffer keeps.
 *
 * The buffer is a durable append log with one cursor per sink: every record is committed to SQLite
 * (better-sqlite3, WAL mode) before it is acknowledged to its source, and stays there until each sink
 * it is routed to has acknowledged it or the bound forces it out (which is then counted, never
 * silent). One job per module:
 * - ./append-log.ts: the RecordBuffer the gateway opens (wiring, age timer, close);
 * - ./state.ts: the in-memory counters and sink cursors the modules share, and their rollback;
 * - ./recovery.ts: open, quarantine of a damaged database, recovery of state and spool;
 * - ./streams.ts: stream interning (source, signal, content type -> small integer);
 * - ./append.ts: append; ./eviction.ts: eviction and the loss ledger;
 * - ./read.ts: read, ack, stats, losses and check; ./spool.ts: the blob files;
 * - ./disk-full.ts: a full filesystem: the ledger of records that could not be stored, the reserve.
 *
 * ## On-disk layout (the folder `opts.dir`)
 *
 * - `buffer.sqlite` (+ `-wal`, `-shm`): one database, `PRAGMA user_version = 2` (version 1, one row
 *   per record in a table `records`, is converted at open: ./migrate.ts).
 *   - `record_rows(seq INTEGER PRIMARY KEY, first_seq, routes, cls, records, size, receive_min_ns,
 *     receive_max_ns, extras, blob_sha256, data BLOB)`: a run of records of one append per row,
 *     packed as ./rows.ts describes (per record: stream id, kind, times, extra index, body). Record
 *     seqs are assigned by the buffer, strictly increasing and never reused, from `origin` (the
 *     gateway gives `seqOrigin()`, the clock in µs, so a buffer created again does not reuse the
 *     seqs of the one before); a row holds the consecutive seqs `first_seq..seq`, and its rowid
 *     `seq` is its last. `routes` is a bitmask of
 *     sink bits (see `sinks`) and `cls` the class (index into SENSITIVITY_CLASSES), the same for
 *     every record of a row: a change of either starts a new row, so reads, lags and eviction
 *     decide per row. `size` is the payload bytes of the row (bodies, or the blob's size). `extras` is
 *     a JSON array of the distinct `{b: build, l: layer, a: attributes}` of the row's records, or
 *     NULL. A spooled record has a row of its own with `blob_sha256` set. The data is the last column
 *     so that scans over routes and sizes never touch its overflow pages.
 *     A cursor may stop inside a row: a read from it skips the row's records at or below it, and the
 *     lag sums and eviction decode the row's headers for the part on either side. A row leaves the
 *     buffer whole (eviction never splits one).
 *     No secondary index on routes: reads, lag sums and delivered-first eviction are rowid range
 *     scans, made amortised O(1) per row by in-memory scan horizons (a sink with nothing to read
 *     remembers up to where it is empty; delivered-first eviction remembers up to where every
 *     remaining row is undelivered, until an ack moves a cursor below that point).
 *     Partial index `record_rows_by_blob(blob_sha256)` over spooled rows only, for spool reconciliation.
 *   - `streams(id, source, signal, content_type)`: each distinct triple once, so a row carries one
 *     small integer instead of three strings (smaller rows, less to bind on the hot path).
 *   - `blobs(sha256 PRIMARY KEY, size, refs)`: one row per distinct spooled blob with its reference
 *     count; the file is unlinked after the commit that drops `refs` to zero.
 *   - `sinks(name PRIMARY KEY, bit UNIQUE, cursor, lag_records, lag_bytes)`: one persisted cursor
 *     per sink, its running lag, and the sink's bit in `record_rows.routes`. Bits are never reassigned,
 *     so at most 30 sink names per buffer.
 *   - `state(id = 1, next_seq, records, inline_bytes, spool_blobs, spool_bytes, missing_blobs)`:
 *     running counters, updated in the same transaction as the rows they count, so `stats()` never
 *     has to scan.
 *   - `origin(id = 1, first_seq)`: the first seq this database could hand out. No seq below it was
 *     ever a record of this buffer, so a read from before it tells no gap there (./range-read.ts).
 *   - `evictions(source, class, records, bytes)`: undelivered records evicted, totals since creation.
 *   - `losses(id, at_ns, source, signal, class, first_seq, last_seq, records, bytes, reason, sinks)`:
 *     the loss ledger. Bounded to the newest LEDGER_MAX_ENTRIES (100,000) entries.
 * - `spool/ab/cdef…`: content-addressed blobs (SHA-256 hex), `spool/tmp/` for files being written
 *   (see ./spool.ts).
 * - `seq-mark`: a side file holding a seq high-water mark outside the database: while running, a
 *   reservation (no seq at or above it has been handed out; rewritten and fsynced once per
 *   SEQ_RESERVATION_BLOCK seqs), after a clean close the exact next seq. At open the next seq is
 *   max(database's next_seq, mark), so seqs stay monotonic across a crash, a `synchronous = NORMAL`
 *   power loss that rolled back the last commits, and a quarantine (gaps are allowed, reuse is not).
 * - `reserve`: 1 MiB set aside while there is room, deleted by an open that fails for a full disk
 *   (./disk-full.ts), so that the buffer opens on a 100 % full filesystem.
 * - `quarantine/<timestamp>/`: a damaged database (with its -wal, -shm) and the spool it referred to,
 *   moved aside, never deleted.
 *
 * ## Durability: the `synchronous` setting (WAL mode)
 *
 * - FULL (default): every commit fsyncs the WAL before `append` returns. A record whose `append`
 *   returned survives a process crash, a kernel panic and a power loss (given a disk that honours
 *   flushes). Loses nothing that was acknowledged.
 * - NORMAL: the WAL is fsynced only at checkpoints. A process crash (kill -9) still loses nothing (the
 *   WAL is in the OS page cache), but a power loss or kernel panic can roll back the most recent
 *   commits since the last checkpoint (typically up to ~1000 pages, i.e. a few MB of recent appends
 *   and acks): records that were acknowledged to their source are then gone, and acked sink cursors
 *   step back (sinks see those records again: at least once). The database itself stays consistent.
 * - Spooled blobs are fsynced (file and folder) before their row commits under either setting, so a
 *   committed row never points at a blob that is not durable. Seq marks are fsynced too.
 *
 * ## Design constraints
 *
 * - The commit is the acknowledgement: `append(records)` is one transaction (the evictions that make
 *   room for the batch, its rows, blob references, counters); it returns (and 'append' fires) only
 *   after the commit. A throw means nothing of the batch was stored. Blob files are written and
 *   fsynced before that transaction starts.
 * - Hot path: prepared statements, a row per run of up to ROW_MAX_RECORDS records packed into one
 *   reused scratch buffer (./rows.ts), no per-record allocation; stream ids and route masks are
 *   looked up once per run of equal values.
 * - Bounded by bytes: inline body bytes + ROW_OVERHEAD_BYTES per record (so a flood of empty bodies is
 *   bounded too) + each distinct spooled blob once. Before a batch is stored, the buffer makes room:
 *   records past `maxAgeMs` first, then records already delivered to every sink they are routed to
 *   (no loss), then, if the batch's classes all have the `drop-oldest` policy, the oldest undelivered
 *   records whose class has the `drop-oldest` policy (records of `block` classes are never dropped to
 *   make room). If a batch still does not fit, it is refused with BufferFullError, nothing of it is
 *   stored, and no undelivered record is dropped for it (delivered ones evicted while trying stay
 *   evicted: no loss); inputs wait for 'space', which an ack emits once room can be made. A batch is accepted
 *   when it fits or the buffer is empty, so the size exceeds the bound by at most one batch.
 * - Every eviction of an undelivered record is counted per source and class (`evictions`) and
 *   written to the loss ledger, coalesced per (reason, source, class) within one eviction pass
 *   (first_seq/last_seq bound the run; other records may lie between them; `signal` is `*` when the
 *   run holds more than one signal).
 * - A sink removed from the configuration keeps its cursor (it resumes if it comes back) but stops
 *   holding records back: records count as delivered once every configured sink in their routes has
 *   them. With `holdUnlistedSinks` it keeps holding back what was routed to it after its cursor
 *   (every sink row is held, listed or not) until an admin drops it (`dropSink`): that writes what it
 *   had not received to the loss ledger ('sink-dropped'), moves its cursor to the newest seq (lag 0)
 *   and releases it for the rest of the open; the drop is not persisted (no column for it), which is
 *   exact because a dropped sink is not routable and holds nothing back after a restart either.
 *   A sink added later starts at cursor 0 and only ever receives records routed to it after it
 *   was configured (older records were not routed to it).
 * - Reads are lazy: `read` steps through rows from the sink's cursor and stops at its limit; the
 *   backlog is never loaded.
 * - `stats()` reads only in-memory counters (persisted in `state`, `sinks` and `evictions` in the
 *   transactions that change them), so it is cheap on a buffer of any size.
 * - Loss ledger `bytes` and eviction `bytes` are payload bytes (body or blob size) of the records.
 * - Age eviction walks from the oldest row and stops at the first row holding a record younger than
 *   the cutoff (receive times are almost but not strictly in seq order). It runs on append and on a
 *   timer.
 * - Integrity: at open `PRAGMA quick_check` (O(N) over the file, but it skips the index-versus-table
 *   cross checks that make `integrity_check` several times slower on a multi-GB buffer; page and
 *   b-tree damage, which is what a torn write or a garbage file produces, is still found). `check()`
 *   runs the full `integrity_check` and verifies every blob's hash. A file that is not a database or
 *   fails the check is quarantined and a new empty buffer starts: the gateway never crash-loops on a
 *   damaged buffer and never deletes one.
 * - Missing or truncated blobs found at recovery: their rows are dropped (a forwarder could never
 *   deliver them), counted in `missingBlobs` and written to the ledger with reason 'blob-missing'.
 * - Single process per folder: the owner holds an exclusive lock on `buffer.lock` (a one-row SQLite
 *   file in `locking_mode = EXCLUSIVE`, so the lock is an OS file lock that dies with the process), and
 *   a second opener fails with SQLITE_BUSY instead of corrupting the running counters. The buffer's
 *   own database is in normal locking mode, so that the same process may read it on a second
 *   connection from another thread (./reader.ts, the delivery thread). Everything is synchronous
 *   (better-sqlite3).
 */ import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { RECORD_KINDS, SENSITIVITY_CLASSES } from '../plugin-api/record.js';
import type { PackedRow } from './rows.js';
import type { BufferFootprint } from './footprint.js';
import { fsyncDir } from './spool.js';

/** accounted per row on top of its inline body, for its metadata columns */
export const ROW_OVERHEAD_BYTES = 64;
/** the loss ledger keeps this many newest entries */
export const LEDGER_MAX_ENTRIES = 100_000;
/** seqs reserved per fsync of the seq-mark side file */
export const SEQ_RESERVATION_BLOCK = 1 << 20;
/** routes are a 32-bit signed integer mask in JS bit arithmetic: keep clear of the sign bit */
export const MAX_SINKS = 30;
/** one process owns a buffer: a second opener fails fast instead of waiting for the lock */
const BUSY_TIMEOUT_MS = 500;
export const DB_FILE = 'buffer.sqlite';
export const LOCK_FILE = 'buffer.lock';
export const SEQ_MARK_FILE = 'seq-mark';
/** `meta` stores a class and a kind as their index in these lists */
export const CLASS_INDEX = new Map<string, number>(SENSITIVITY_CLASSES.map((c, i) => [c, i]));
export const KIND_INDEX = new Map<string, number>(RECORD_KINDS.map((k, i) => [k, i]));

const SCHEMA = `
CREATE TABLE IF NOT EXISTS record_rows (
  seq INTEGER PRIMARY KEY,
  first_seq INTEGER NOT NULL,
  routes INTEGER NOT NULL,
  cls INTEGER NOT NULL,
  records INTEGER NOT NULL,
  size INTEGER NOT NULL,
  receive_min_ns INTEGER NOT NULL,
  receive_max_ns INTEGER NOT NULL,
  extras TEXT,
  blob_sha256 TEXT,
  data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS record_rows_by_blob ON record_rows(blob_sha256) WHERE blob_sha256 IS NOT NULL;
CREATE TABLE IF NOT EXISTS streams (
  id INTEGER PRIMARY KEY, source TEXT NOT NULL, signal TEXT NOT NULL, content_type TEXT NOT NULL,
  UNIQUE (source, signal, content_type)
);
CREATE TABLE IF NOT EXISTS blobs (sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, refs INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sinks (
  name TEXT PRIMARY KEY, bit INTEGER NOT NULL UNIQUE, cursor INTEGER NOT NULL DEFAULT 0,
  lag_records INTEGER NOT NULL DEFAULT 0, lag_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  next_seq INTEGER NOT NULL,
  records INTEGER NOT NULL,
  inline_bytes INTEGER NOT NULL,
  spool_blobs INTEGER NOT NULL,
  spool_bytes INTEGER NOT NULL,
  missing_blobs INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS origin (id INTEGER PRIMARY KEY CHECK (id = 1), first_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS evictions (
  source TEXT NOT NULL, class INTEGER NOT NULL, records INTEGER NOT NULL, bytes INTEGER NOT NULL,
  PRIMARY KEY (source, class)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS losses (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at_ns INTEGER NOT NULL,
  source TEXT NOT NULL,
  signal TEXT NOT NULL,
  class INTEGER NOT NULL,
  first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  records INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  reason TEXT NOT NULL,
  sinks TEXT NOT NULL
);
PRAGMA user_version = 2;
`;

/** The pragmas every connection gets; the benchmark's plain-SQLite baseline uses the same ones. */
export function configureConnection(db: Database.Database, synchronous: 'FULL' | 'NORMAL', footprint: BufferFootprint): void {
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  // the WAL's share of maxBytes (./footprint.ts): checkpoint at half of it, and truncate a
  // checkpointed WAL back to it rather than keep its high-water size on disk
  db.pragma(`wal_autocheckpoint = ${footprint.walAutocheckpointPages}`);
  db.pragma(`journal_size_limit = ${footprint.walBytes}`);
  // 16 MiB of page cache. Measured against 2 MiB (appends of W1-like scalars while a sink reads far
  // behind): 2 MiB saves 16 MB of RSS but costs 15-25 % of append and read throughput, 8 MiB 10-20 %
  db.pragma('cache_size = -16384');
}

/**
 * Take the folder's owner lock (see the header): a connection to `dir/buffer.lock` that holds an
 * exclusive lock until it is closed, or until the process ends. Throws SQLITE_BUSY ("database is
 * locked") when another process holds it.
 */
export function lockFolder(dir: string): Database.Database {
  const db = new Database(path.join(dir, LOCK_FILE), { timeout: BUSY_TIMEOUT_MS });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    // the first write takes the exclusive lock, and exclusive locking mode keeps it
    try {
      db.exec('CREATE TABLE IF NOT EXISTS owner (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL)');
      db.prepare('INSERT OR REPLACE INTO owner VALUES (1, ?)').run(process.pid);
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'SQLITE_FULL') throw e;
      // a full disk has no room for the pid row's journal: the lock is what matters, and an empty
      // exclusive transaction takes it (kept by exclusive locking mode) without writing a page, so
      // a gateway started on a full disk still opens its buffer and drains it (the row keeps an old pid)
      db.exec('BEGIN EXCLUSIVE; COMMIT');
    }
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/** A configured connection to `dbPath` (created when missing); the schema is not applied yet. */
export function openConnection(dbPath: string, synchronous: 'FULL' | 'NORMAL', footprint: BufferFootprint): Database.Database {
  const db = new Database(dbPath, { timeout: BUSY_TIMEOUT_MS });
  try {
    configureConnection(db, synchronous, footprint);
  } catch (e) {
    // (a full disk fails the WAL index here): a connection left open would hold the files until GC
    db.close();
    throw e;
  }
  return db;
}

/**
 * A first seq for a buffer that may replace an earlier one: the wall clock in microseconds since the
 * Unix epoch (about 1.8e15 in 2026, 16 digits until the year 2286, far below 2^53). Seqs are what the
 * sinks key on (file names in the lake and MinIO, the PostgreSQL and MongoDB keys with the time), so a
 * buffer created again (a new disk, a wiped data folder: no database and no `seq-mark` left) must not
 * hand out the seqs of the one before; from 1 it would. It holds while the gateway averaged fewer than a
 * million records a second since its buffer was created and the clock was not set back.
 */
export function seqOrigin(nowMs: number = Date.now()): number {
  return Math.max(1, Math.floor(nowMs) * 1000);
}

/**
 * Create what is missing of the schema (a no-op on an existing buffer). A new database's seqs start at
 * `firstSeq`, its origin; a buffer made before origins were kept counted from 1, its origin.
 */
export function applySchema(db: Database.Database, firstSeq: number): void {
  db.exec(SCHEMA);
  db.transaction(() => {
    const created = db.prepare('INSERT OR IGNORE INTO state VALUES (1, ?, 0, 0, 0, 0, 0)').run(firstSeq).changes === 1;
    db.prepare('INSERT OR IGNORE INTO origin VALUES (1, ?)').run(created ? firstSeq : 1);
  })();
}

/**
 * A row of `record_rows` as the read statement returns it: an array in the statement's column order.
 * Arrays, not objects: building a keyed object per row was a quarter of a sink's read cost.
 */
export type PackedRowRead = [
  seq: number,
  first_seq: number,
  routes: number,
  cls: number,
  records: number,
  size: number,
  extras: string | null,
  blob_sha256: string | null,
  data: Buffer,
];

/** A row's columns without its data, as eviction and the lag sums see it. */
export interface RowInfo {
  seq: number;
  first_seq: number;
  routes: number;
  cls: number;
  records: number;
  size: number;
  blob_sha256: string | null;
}

/** The rows routed to a sink (bind: after seq, route bit mask), as `PackedRowRead`; also the second reader's (./reader.ts). */
export const READ_SINK_SQL =
  'SELECT seq, first_seq, routes, cls, records, size, extras, blob_sha256, data FROM record_rows WHERE seq > ? AND (routes & ?) != 0 ORDER BY seq';

/** Every statement the buffer runs more than once, prepared once per connection. */
export function prepareStatements(db: Database.Database) {
  return {
    insertRow: db.prepare(
      'INSERT INTO record_rows (seq, first_seq, routes, cls, records, size, receive_min_ns, receive_max_ns, extras, blob_sha256, data) VALUES (?,?,?,?,?,?,?,?,?,?,?)',
    ),
    insertStream: db.prepare('INSERT INTO streams (source, signal, content_type) VALUES (?, ?, ?)'),
    saveState: db.prepare('UPDATE state SET next_seq = ?, records = ?, inline_bytes = ?, spool_blobs = ?, spool_bytes = ?, missing_blobs = ? WHERE id = 1'),
    blobExists: db.prepare('SELECT 1 FROM blobs WHERE sha256 = ?').pluck(),
    blobRef: db.prepare('INSERT INTO blobs (sha256, size, refs) VALUES (?, ?, 1) ON CONFLICT (sha256) DO UPDATE SET refs = refs + 1 RETURNING refs').pluck(),
    blobUnref: db.prepare('UPDATE blobs SET refs = refs - 1 WHERE sha256 = ? RETURNING refs, size'),
    blobDelete: db.prepare('DELETE FROM blobs WHERE sha256 = ?'),
    rowInfo: db.prepare('SELECT seq, first_seq, routes, cls, records, size, blob_sha256 FROM record_rows WHERE seq = ?'),
    rowData: db.prepare('SELECT data FROM record_rows WHERE seq = ?').pluck(),
    deleteRow: db.prepare('DELETE FROM record_rows WHERE seq = ?'),
    oldestChunk: db
      .prepare('SELECT seq, first_seq, routes, cls, records, size, blob_sha256, receive_max_ns FROM record_rows WHERE seq > ? ORDER BY seq LIMIT ?')
      .safeIntegers(true),
    // ORDER BY the table's seq, not the result column named seq (first_seq), which has no index
    oldest: db.prepare('SELECT first_seq AS seq, receive_min_ns AS receive_time_ns FROM record_rows ORDER BY record_rows.seq LIMIT 1').safeIntegers(true),
    newest: db.prepare('SELECT seq, receive_max_ns AS receive_time_ns FROM record_rows ORDER BY seq DESC LIMIT 1').safeIntegers(true),
    readSink: db.prepare(READ_SINK_SQL).raw(true),
    /** whole rows routed to a sink with all their seqs in (lo, hi]: bind (lo, hi, lo, bit) */
    lagWholeRows: db.prepare(
      'SELECT total(records) AS n, total(size) AS bytes FROM record_rows WHERE seq > ? AND seq <= ? AND first_seq > ? AND (routes & ?) != 0',
    ),
    /** the row holding seq ? + 1, or the next one after it */
    rowAfter: db.prepare('SELECT seq, first_seq, routes, cls, records, size, blob_sha256 FROM record_rows WHERE seq > ? ORDER BY seq LIMIT 1'),
    /** rows routed to a sink, in seq order, for a chunked scan: bind (after seq, route bit mask, limit) */
    sinkChunk: db.prepare(
      'SELECT seq, first_seq, routes, cls, records, size, blob_sha256 FROM record_rows WHERE seq > ? AND (routes & ?) != 0 ORDER BY seq LIMIT ?',
    ),
    setCursor: db.prepare('UPDATE sinks SET cursor = ?, lag_records = ?, lag_bytes = ? WHERE name = ?'),
    setLag: db.prepare('UPDATE sinks SET lag_records = ?, lag_bytes = ? WHERE name = ?'),
    addLoss: db.prepare('INSERT INTO losses (at_ns, source, signal, class, first_seq, last_seq, records, bytes, reason, sinks) VALUES (?,?,?,?,?,?,?,?,?,?)'),
    trimLosses: db.prepare('DELETE FROM losses WHERE id <= ?'),
    addEviction: db.prepare(
      'INSERT INTO evictions (source, class, records, bytes) VALUES (?,?,?,?) ON CONFLICT (source, class) DO UPDATE SET records = records + excluded.records, bytes = bytes + excluded.bytes',
    ),
    losses: db.prepare('SELECT * FROM losses ORDER BY id DESC LIMIT ?').safeIntegers(true),
    rowsOfBlob: db.prepare('SELECT seq FROM record_rows WHERE blob_sha256 = ? ORDER BY seq'),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;

/** INSERT one packed row (./rows.ts) with the `insertRow` statement. */
export function insertPackedRow(insertRow: Database.Statement, row: PackedRow): void {
  insertRow.run(row.seq, row.firstSeq, row.routes, row.cls, row.records, row.size, row.receiveMinNs, row.receiveMaxNs, row.extras, row.blobSha256, row.data);
}

/** Whether `db` has a table `name`. */
export function hasTable(db: Database.Database, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

/** The seq mark in `file`, or 1 when there is none (or it is unreadable). */
export function readSeqMark(file: string): number {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(n) && n > 0 ? n : 1;
  } catch {
    return 1;
  }
}

/** Durably replace the seq mark: temp file, fsync, rename, fsync the folder. */
export function writeSeqMark(file: string, value: number): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, `${value}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  fsyncDir(path.dirname(file));
}
