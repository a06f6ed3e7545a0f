/**
 * The durable ring buffer: every record is committed to SQLite (better-sqlite3, WAL mode) before it is
 * acknowledged to its source, and stays there until each sink it is routed to has acknowledged it or
 * the bound forces it out (which is then counted, never silent).
 *
 * ## On-disk layout (the folder `opts.dir`)
 *
 * - `buffer.sqlite` (+ `-wal`, `-shm`): one database, `PRAGMA user_version = 1`.
 *   - `records(seq INTEGER PRIMARY KEY, routes, size, meta, receive_time_ns, source_time_ns, extra,
 *     blob_sha256, body BLOB)`: one row per record. `seq` is the rowid, assigned by the buffer,
 *     strictly increasing and never reused. `routes` is a bitmask of sink bits (see `sinks`); `size`
 *     is the payload size (body length or blob size); `meta` packs stream id << 8 | kind << 3 |
 *     class (indexes into RECORD_KINDS / SENSITIVITY_CLASSES); ns timestamps are 64-bit INTEGERs
 *     read with `safeIntegers`; `extra` is JSON `{build, layer, attributes}` or NULL when all are
 *     absent. Exactly one of `body` (inline) and `blob_sha256` (spooled) is set; the body is the
 *     last column so that scans over routes and sizes never touch its overflow pages.
 *     No secondary index on routes: measured, an index on (routes, seq) costs ~25-30% of append
 *     throughput for small records. Reads, lag sums and delivered-first eviction are rowid range
 *     scans instead, made amortised O(1) per row by in-memory scan horizons (a sink with nothing
 *     to read remembers up to where it is empty; delivered-first eviction remembers up to where
 *     every remaining row is undelivered, until an ack moves a cursor below that point).
 *     Partial index `records_by_blob(blob_sha256)` over spooled rows only, for spool reconciliation.
 *   - `streams(id, source, signal, content_type)`: each distinct triple once, so a row carries one
 *     small integer instead of three strings (smaller rows, less to bind on the hot path).
 *   - `blobs(sha256 PRIMARY KEY, size, refs)`: one row per distinct spooled blob with its reference
 *     count; the file is unlinked after the commit that drops `refs` to zero.
 *   - `sinks(name PRIMARY KEY, bit UNIQUE, cursor, lag_records, lag_bytes)`: one persisted cursor
 *     per sink, its running lag, and the sink's bit in `records.routes`. Bits are never reassigned,
 *     so at most 30 sink names per buffer.
 *   - `state(id = 1, next_seq, records, inline_bytes, spool_blobs, spool_bytes, missing_blobs)`:
 *     running counters, updated in the same transaction as the rows they count, so `stats()` never
 *     has to scan.
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
 * - Hot path: prepared statements, rows inserted 16 per statement execution, no per-record
 *   allocation beyond what better-sqlite3 needs to bind; stream ids and route masks are looked up
 *   once per run of equal values.
 * - Bounded by bytes: inline body bytes + ROW_OVERHEAD_BYTES per row (so a flood of empty bodies is
 *   bounded too) + each distinct spooled blob once. Before a batch is stored, the buffer makes room:
 *   records past `maxAgeMs` first, then records already delivered to every sink they are routed to
 *   (no loss), then, if the batch's classes all have the `drop-oldest` policy, the oldest undelivered
 *   records whose class has the `drop-oldest` policy (records of `block` classes are never dropped to
 *   make room). If a batch still does not fit, it is refused with BufferFullError, nothing of it is
 *   stored, and no undelivered record is dropped for it (delivered ones evicted while trying stay
 *   evicted: no loss); inputs wait for 'space', which an ack emits once room can be made. A batch is accepted
 *   when it fits or the buffer is empty, so the size exceeds the bound by at most one batch.
 * - Every eviction of an undelivered record is counted per source and class (`evictions`) and
 *   written to the loss ledger, coalesced per (reason, source, signal, class) within one eviction
 *   pass (first_seq/last_seq bound the run; other records may lie between them).
 * - A sink removed from the configuration keeps its cursor (it resumes if it comes back) but stops
 *   holding records back: records count as delivered once every configured sink in their routes has
 *   them. A sink added later starts at cursor 0 and only ever receives records routed to it after it
 *   was configured (older records were not routed to it).
 * - Reads are lazy: `read` runs one LIMIT query from the sink's cursor; the backlog is never loaded.
 * - `stats()` reads only in-memory counters (persisted in `state`, `sinks` and `evictions` in the
 *   transactions that change them), so it is cheap on a buffer of any size.
 * - Loss ledger `bytes` and eviction `bytes` are payload bytes (body or blob size) of the records.
 * - Age eviction walks from the oldest seq and stops at the first record younger than the cutoff
 *   (receive times are almost but not strictly in seq order). It runs on append and on a timer.
 * - Integrity: at open `PRAGMA quick_check` (O(N) over the file, but it skips the index-versus-table
 *   cross checks that make `integrity_check` several times slower on a multi-GB buffer; page and
 *   b-tree damage, which is what a torn write or a garbage file produces, is still found). `check()`
 *   runs the full `integrity_check` and verifies every blob's hash. A file that is not a database or
 *   fails the check is quarantined and a new empty buffer starts: the gateway never crash-loops on a
 *   damaged buffer and never deletes one.
 * - Missing or truncated blobs found at recovery: their rows are dropped (a forwarder could never
 *   deliver them), counted in `missingBlobs` and written to the ledger with reason 'blob-missing'.
 * - Single process per folder: `locking_mode = EXCLUSIVE` makes a second opener fail with SQLITE_BUSY
 *   instead of corrupting the running counters. Everything is synchronous (better-sqlite3).
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { pino, type Logger } from 'pino';
import {
  BlobMissingError,
  BufferCorruptError,
  BufferFullError,
  InvalidRecordError,
  UnknownSinkError,
} from '../plugin-api/errors.js';
import {
  RECORD_KINDS,
  SENSITIVITY_CLASSES,
  nowNs,
  type BlobRef,
  type RecordInput,
  type RecordKind,
  type SensitivityClass,
  type StoredRecord,
} from '../plugin-api/record.js';
import { Spool, fsyncDir } from './spool.js';
import type {
  AppendResult,
  BufferOptions,
  BufferStats,
  CheckResult,
  LossEntry,
  RecordBuffer,
  SinkStats,
} from './types.js';

/** accounted per row on top of its inline body, for its metadata columns */
export const ROW_OVERHEAD_BYTES = 64;
/** the loss ledger keeps this many newest entries */
export const LEDGER_MAX_ENTRIES = 100_000;
export const DEFAULT_INLINE_MAX_BYTES = 64 * 1024;
/** seqs reserved per fsync of the seq-mark side file */
export const SEQ_RESERVATION_BLOCK = 1 << 20;
/** routes are a 32-bit signed integer mask in JS bit arithmetic: keep clear of the sign bit */
export const MAX_SINKS = 30;
const EVICT_CHUNK = 512;
/**
 * Appends insert this many rows per statement execution: measured ~1.3x the rows/s of one row
 * per execution for small records (fewer VDBE runs and N-API calls per row).
 */
const INSERT_ROWS_PER_STATEMENT = 16;
const INSERT_COLUMNS = 9;
/** one process owns a buffer: a second opener fails fast instead of waiting for the lock */
const BUSY_TIMEOUT_MS = 500;
const DB_FILE = 'buffer.sqlite';
const SEQ_MARK_FILE = 'seq-mark';
const CLASS_INDEX = new Map<string, number>(SENSITIVITY_CLASSES.map((c, i) => [c, i]));
const KIND_INDEX = new Map<string, number>(RECORD_KINDS.map((k, i) => [k, i]));
const SEQ_MAX = Number.MAX_SAFE_INTEGER;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS records (
  seq INTEGER PRIMARY KEY,
  routes INTEGER NOT NULL,
  size INTEGER NOT NULL,
  meta INTEGER NOT NULL,
  receive_time_ns INTEGER NOT NULL,
  source_time_ns INTEGER,
  extra TEXT,
  blob_sha256 TEXT,
  body BLOB
);
CREATE INDEX IF NOT EXISTS records_by_blob ON records(blob_sha256) WHERE blob_sha256 IS NOT NULL;
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
INSERT OR IGNORE INTO state VALUES (1, 1, 0, 0, 0, 0, 0);
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
PRAGMA user_version = 1;
`;

/** The pragmas every connection gets; the benchmark's plain-SQLite baseline uses the same ones. */
export function configureConnection(db: Database.Database, synchronous: 'FULL' | 'NORMAL'): void {
  db.pragma('locking_mode = EXCLUSIVE');
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  // keeps a checkpointed WAL from staying at its high-water size on disk
  db.pragma('journal_size_limit = 67108864');
  db.pragma('cache_size = -16384');
}

interface SinkState {
  name: string;
  bit: number;
  cursor: number;
  /** reads: no record routed to this sink in (cursor, emptyThrough] (in memory only) */
  emptyThrough: number;
  /** lag changed in the running transaction and must be written with the state */
  lagDirty: boolean;
  configured: boolean;
  lagRecords: number;
  lagBytes: number;
}

interface Counters {
  nextSeq: number;
  records: number;
  inlineBytes: number;
  spoolBlobs: number;
  spoolBytes: number;
  missingBlobs: number;
  oldestSeq: number | null;
  oldestReceiveNs: bigint | null;
  newestSeq: number | null;
  newestReceiveNs: bigint | null;
}

interface LossRun {
  reason: string;
  source: string;
  signal: string;
  cls: number;
  firstSeq: number;
  lastSeq: number;
  records: number;
  bytes: number;
  sinksMask: number;
}

/** What one transaction removed; applied to memory and the filesystem only after its commit. */
class EvictionPass {
  removed = 0;
  freedShas: string[] = [];
  runs = new Map<string, LossRun>();
}

interface EvictedRow {
  routes: number;
  size: number;
  meta: number;
  blob_sha256: string | null;
}

interface Stream {
  id: number;
  source: string;
  signal: string;
  contentType: string;
}

interface RecordRow {
  seq: bigint;
  routes: bigint;
  size: bigint;
  receive_time_ns: bigint;
  meta: bigint;
  source_time_ns: bigint | null;
  extra: string | null;
  body: Buffer | null;
  blob_sha256: string | null;
}

interface Snapshot {
  c: Counters;
  lag: [SinkState, number, number][];
  streams: number;
  deliveredScanFrom: number;
}

type AppendOutcome = { refused: false; pass: EvictionPass | null } | { refused: true; pass: EvictionPass | null };

function isCorruption(e: unknown): boolean {
  if (e instanceof BufferCorruptError) return true;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB');
}

/** the key of a stream group: the streams of one source and content type, by signal */
function groupKey(source: string, contentType: string): string {
  return `${source}\0${contentType}`;
}

/** build, layer and attributes, the rarely set fields, in one JSON column; null when none is set */
function extraJson(r: RecordInput): string | null {
  let attrs: Record<string, string> | undefined = r.attributes;
  if (attrs) {
    let any = false;
    for (const _ in attrs) {
      any = true;
      break;
    }
    if (!any) attrs = undefined;
  }
  if (r.build === undefined && r.layer === undefined && attrs === undefined) return null;
  return JSON.stringify({ b: r.build, l: r.layer, a: attrs });
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function readSeqMark(file: string): number {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(n) && n > 0 ? n : 1;
  } catch {
    return 1;
  }
}

function writeSeqMark(file: string, value: number): void {
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

export class SqliteRingBuffer extends EventEmitter implements RecordBuffer {
  readonly dir: string;
  readonly dbPath: string;
  private readonly log: Logger;
  private readonly maxBytes: number;
  private readonly maxAgeNs: bigint | null;
  private readonly inlineMaxBytes: number;
  private readonly synchronous: 'FULL' | 'NORMAL';
  /** per class index: true when the class has the `block` policy */
  private readonly blocks: boolean[];
  private readonly spool: Spool;
  private readonly seqMarkPath: string;
  private db!: Database.Database;
  private closed = false;
  private ageTimer: NodeJS.Timeout | null = null;

  private sinks = new Map<string, SinkState>();
  private bitToSink: (SinkState | undefined)[] = [];
  private configuredMask = 0;
  /** delivered-first eviction: every row at or below this seq is undelivered (or gone) */
  private deliveredScanFrom = 0;
  private routeNames = new Map<number, string[]>();
  /**
   * streams by (source, content type), then signal: the append loop looks up a signal in the group
   * of the previous record without building a key string per record
   */
  private streamGroups = new Map<string, Map<string, Stream>>();
  private lastGroup: { source: string; contentType: string; bySignal: Map<string, Stream> } | null = null;
  private streamById = new Map<number, Stream>();
  /** in insertion order, so a rolled-back transaction can drop the ones it added */
  private streamList: Stream[] = [];
  private c!: Counters;
  private evictionTotals = new Map<string, { source: string; cls: number; records: number; bytes: number }>();
  private seqReservedBelow = 0;
  /** reused parameter array of the multi-row insert */
  private readonly insertArgs: unknown[] = new Array<unknown>(INSERT_COLUMNS * INSERT_ROWS_PER_STATEMENT).fill(null);
  /** bytes of the last refused batch, until a 'space' event was emitted */
  private spaceWanted = 0;
  private lastQuarantine: string | undefined;

  private s!: ReturnType<SqliteRingBuffer['prepare']>;
  private appendTxn!: Database.Transaction<(records: RecordInput[], masks: Int32Array, codes: Uint8Array, shas: (string | null)[] | null, batchBytes: number, hasBlock: boolean) => AppendOutcome>;

  constructor(opts: BufferOptions, log?: Logger) {
    super();
    this.log = (log ?? pino({ name: 'layergate' })).child({ component: 'buffer' });
    if (!(opts.maxBytes > 0)) throw new RangeError(`buffer.maxBytes: expected a positive number, got ${opts.maxBytes}`);
    if (opts.maxAgeMs !== undefined && !(opts.maxAgeMs > 0)) {
      throw new RangeError(`buffer.maxAgeMs: expected a positive number, got ${opts.maxAgeMs}`);
    }
    this.dir = path.resolve(opts.dir);
    this.dbPath = path.join(this.dir, DB_FILE);
    this.seqMarkPath = path.join(this.dir, SEQ_MARK_FILE);
    this.maxBytes = opts.maxBytes;
    this.maxAgeNs = opts.maxAgeMs !== undefined ? BigInt(Math.round(opts.maxAgeMs)) * 1_000_000n : null;
    this.inlineMaxBytes = opts.inlineMaxBytes ?? DEFAULT_INLINE_MAX_BYTES;
    this.synchronous = opts.synchronous ?? 'FULL';
    this.blocks = SENSITIVITY_CLASSES.map((cls) => (opts.fullPolicy?.[cls] ?? 'drop-oldest') === 'block');
    const names = new Set<string>();
    for (const s of opts.sinks) {
      if (names.has(s)) throw new RangeError(`buffer.sinks: sink "${s}" is listed twice`);
      names.add(s);
    }
    mkdirSync(this.dir, { recursive: true });
    this.spool = new Spool(path.join(this.dir, 'spool'));
    this.spool.init();
    this.openDatabase(opts.sinks);
    this.recoverSpool(false);
    if (this.maxAgeNs !== null) {
      const everyMs = Math.min(60_000, Math.max(1_000, Math.floor(Number(this.maxAgeNs / 1_000_000n) / 4)));
      this.ageTimer = setInterval(() => this.expireByAge(), everyMs);
      this.ageTimer.unref();
    }
  }

  // ---- open, quarantine, recovery -----------------------------------------------------------

  private openDatabase(sinkNames: string[]): void {
    let db: Database.Database | undefined;
    try {
      db = new Database(this.dbPath, { timeout: BUSY_TIMEOUT_MS });
      configureConnection(db, this.synchronous);
      const check = (db.pragma('quick_check') as { quick_check: string }[]).map((r) => r.quick_check);
      if (check.length !== 1 || check[0] !== 'ok') {
        throw new BufferCorruptError(`${this.dbPath}: quick_check failed: ${check.slice(0, 5).join('; ')}`);
      }
      db.exec(SCHEMA);
      this.db = db;
      this.load(sinkNames);
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
      const info = this.quarantineFiles(e);
      this.db = new Database(this.dbPath, { timeout: BUSY_TIMEOUT_MS });
      configureConnection(this.db, this.synchronous);
      this.db.exec(SCHEMA);
      this.load(sinkNames);
      this.recordQuarantine(info);
    }
  }

  /** Move the database files and the spool to quarantine/<timestamp>/; return what could be read of the old state. */
  private quarantineFiles(cause: unknown): { to: string; records: number; bytes: number; firstSeq: number; lastSeq: number } {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    let to = path.join(this.dir, 'quarantine', stamp);
    for (let i = 1; existsSync(to); i++) to = path.join(this.dir, 'quarantine', `${stamp}-${i}`);
    mkdirSync(to, { recursive: true });
    for (const suffix of ['', '-wal', '-shm']) {
      const f = this.dbPath + suffix;
      if (existsSync(f)) renameSync(f, path.join(to, DB_FILE + suffix));
    }
    renameSync(this.spool.dir, path.join(to, 'spool'));
    fsyncDir(to);
    fsyncDir(this.dir);
    this.spool.init();
    const info = { to, records: 0, bytes: 0, firstSeq: 0, lastSeq: Math.max(0, readSeqMark(this.seqMarkPath) - 1) };
    try {
      const old = new Database(path.join(to, DB_FILE), { readonly: true, fileMustExist: true });
      try {
        const st = old.prepare('SELECT records, inline_bytes + spool_bytes AS bytes FROM state WHERE id = 1').get() as
          | { records: number; bytes: number }
          | undefined;
        const range = old.prepare('SELECT min(seq) AS lo, max(seq) AS hi FROM records').get() as { lo: number | null; hi: number | null };
        if (st) Object.assign(info, { records: st.records, bytes: st.bytes });
        if (range.lo !== null && range.hi !== null) Object.assign(info, { firstSeq: range.lo, lastSeq: range.hi });
      } finally {
        old.close();
      }
    } catch {
      // the damaged file could not tell us what it held; the ledger entry says 0 records (unknown)
    }
    this.lastQuarantine = to;
    this.log.error(
      { err: cause, quarantinedTo: to, records: info.records },
      'buffer database is damaged or not a database: moved to quarantine, starting an empty buffer',
    );
    return info;
  }

  private recordQuarantine(info: { to: string; records: number; bytes: number; firstSeq: number; lastSeq: number }): void {
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
      sinksMask: this.configuredMask,
    });
    this.db.transaction(() => this.writeLedger(pass, false))();
  }

  private load(sinkNames: string[]): void {
    const db = this.db;
    const known = db.prepare('SELECT name, bit, cursor, lag_records, lag_bytes FROM sinks').all() as {
      name: string; bit: number; cursor: number; lag_records: number; lag_bytes: number;
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
    this.sinks.clear();
    this.bitToSink = [];
    this.configuredMask = 0;
    for (const k of known) {
      const configured = sinkNames.includes(k.name);
      const s: SinkState = {
        name: k.name, bit: k.bit, cursor: k.cursor, emptyThrough: 0, lagDirty: false, configured, lagRecords: k.lag_records, lagBytes: k.lag_bytes,
      };
      this.sinks.set(k.name, s);
      this.bitToSink[k.bit] = s;
      if (configured) this.configuredMask |= 1 << k.bit;
    }
    this.deliveredScanFrom = 0;
    this.routeNames.clear();
    this.streamGroups.clear();
    this.lastGroup = null;
    this.streamById.clear();
    this.streamList = [];
    for (const r of db.prepare('SELECT id, source, signal, content_type FROM streams ORDER BY id').all() as {
      id: number; source: string; signal: string; content_type: string;
    }[]) {
      this.addStream({ id: r.id, source: r.source, signal: r.signal, contentType: r.content_type });
    }
    this.s = this.prepare();
    const st = db.prepare('SELECT * FROM state WHERE id = 1').get() as {
      next_seq: number; records: number; inline_bytes: number; spool_blobs: number; spool_bytes: number; missing_blobs: number;
    };
    const newest = db.prepare('SELECT seq, receive_time_ns FROM records ORDER BY seq DESC LIMIT 1').safeIntegers(true).get() as
      | { seq: bigint; receive_time_ns: bigint }
      | undefined;
    this.c = {
      nextSeq: Math.max(st.next_seq, readSeqMark(this.seqMarkPath), newest ? Number(newest.seq) + 1 : 1),
      records: st.records,
      inlineBytes: st.inline_bytes,
      spoolBlobs: st.spool_blobs,
      spoolBytes: st.spool_bytes,
      missingBlobs: st.missing_blobs,
      oldestSeq: null,
      oldestReceiveNs: null,
      newestSeq: newest ? Number(newest.seq) : null,
      newestReceiveNs: newest ? newest.receive_time_ns : null,
    };
    this.seqReservedBelow = this.c.nextSeq;
    this.refreshOldest();
    this.evictionTotals.clear();
    for (const e of db.prepare('SELECT source, class, records, bytes FROM evictions').all() as {
      source: string; class: number; records: number; bytes: number;
    }[]) {
      this.evictionTotals.set(`${e.source}\0${e.class}`, { source: e.source, cls: e.class, records: e.records, bytes: e.bytes });
    }
    this.appendTxn = db.transaction(this.appendInTxn.bind(this));
  }

  private prepare() {
    const db = this.db;
    return {
      insert: db.prepare(
        'INSERT INTO records (seq, routes, size, meta, receive_time_ns, source_time_ns, extra, blob_sha256, body) VALUES (?,?,?,?,?,?,?,?,?)',
      ),
      insertMany: db.prepare(
        `INSERT INTO records (seq, routes, size, meta, receive_time_ns, source_time_ns, extra, blob_sha256, body) VALUES ${Array<string>(INSERT_ROWS_PER_STATEMENT).fill('(?,?,?,?,?,?,?,?,?)').join(',')}`,
      ),
      insertStream: db.prepare('INSERT INTO streams (source, signal, content_type) VALUES (?, ?, ?)'),
      saveState: db.prepare(
        'UPDATE state SET next_seq = ?, records = ?, inline_bytes = ?, spool_blobs = ?, spool_bytes = ?, missing_blobs = ? WHERE id = 1',
      ),
      blobExists: db.prepare('SELECT 1 FROM blobs WHERE sha256 = ?').pluck(),
      blobRef: db.prepare(
        'INSERT INTO blobs (sha256, size, refs) VALUES (?, ?, 1) ON CONFLICT (sha256) DO UPDATE SET refs = refs + 1 RETURNING refs',
      ).pluck(),
      blobUnref: db.prepare('UPDATE blobs SET refs = refs - 1 WHERE sha256 = ? RETURNING refs, size'),
      blobDelete: db.prepare('DELETE FROM blobs WHERE sha256 = ?'),
      deleteRow: db.prepare('DELETE FROM records WHERE seq = ? RETURNING routes, size, meta, blob_sha256'),
      oldestChunk: db.prepare('SELECT seq, routes, meta, receive_time_ns FROM records WHERE seq > ? ORDER BY seq LIMIT ?').safeIntegers(true),
      oldest: db.prepare('SELECT seq, receive_time_ns FROM records ORDER BY seq LIMIT 1').safeIntegers(true),
      newest: db.prepare('SELECT seq, receive_time_ns FROM records ORDER BY seq DESC LIMIT 1').safeIntegers(true),
      readSink: db
        .prepare(
          'SELECT seq, routes, size, meta, receive_time_ns, source_time_ns, extra, blob_sha256, body FROM records WHERE seq > ? AND (routes & ?) != 0 ORDER BY seq LIMIT ?',
        )
        .safeIntegers(true),
      lagRange: db.prepare('SELECT count(*) AS n, total(size) AS bytes FROM records WHERE seq > ? AND seq <= ? AND (routes & ?) != 0'),
      setCursor: db.prepare('UPDATE sinks SET cursor = ?, lag_records = ?, lag_bytes = ? WHERE name = ?'),
      setLag: db.prepare('UPDATE sinks SET lag_records = ?, lag_bytes = ? WHERE name = ?'),
      addLoss: db.prepare(
        'INSERT INTO losses (at_ns, source, signal, class, first_seq, last_seq, records, bytes, reason, sinks) VALUES (?,?,?,?,?,?,?,?,?,?)',
      ),
      trimLosses: db.prepare('DELETE FROM losses WHERE id <= ?'),
      addEviction: db.prepare(
        'INSERT INTO evictions (source, class, records, bytes) VALUES (?,?,?,?) ON CONFLICT (source, class) DO UPDATE SET records = records + excluded.records, bytes = bytes + excluded.bytes',
      ),
      losses: db.prepare('SELECT * FROM losses ORDER BY id DESC LIMIT ?').safeIntegers(true),
      rowsOfBlob: db.prepare('SELECT seq FROM records WHERE blob_sha256 = ? ORDER BY seq'),
    };
  }

  /**
   * Reconcile spool and rows. Orphan and temp files are removed. Blob rows whose file is missing or
   * has the wrong size (or, with `verifyHashes`, the wrong content) are dropped with their records,
   * counted in missingBlobs and written to the ledger ('blob-missing').
   */
  private recoverSpool(verifyHashes: boolean): { orphanBlobsRemoved: number; missingBlobs: number } {
    const scan = this.spool.scan();
    const files = new Map(scan.files.map((f) => [f.sha256, f.size]));
    const rows = this.db.prepare('SELECT sha256, size FROM blobs').all() as { sha256: string; size: number }[];
    const damaged: string[] = [];
    for (const row of rows) {
      const size = files.get(row.sha256);
      files.delete(row.sha256);
      let ok = size === row.size;
      if (ok && verifyHashes) ok = sha256Hex(readFileSync(this.spool.pathOf(row.sha256))) === row.sha256;
      if (!ok) damaged.push(row.sha256);
    }
    let orphanBlobsRemoved = 0;
    for (const sha of files.keys()) {
      this.spool.remove(sha);
      orphanBlobsRemoved++;
    }
    let missing = 0;
    if (damaged.length > 0) {
      const pass = new EvictionPass();
      const snap = this.snapshot();
      try {
        this.db.transaction(() => {
          for (const sha of damaged) {
            for (const seq of this.s.rowsOfBlob.pluck().all(sha) as number[]) {
              this.evictRow(seq, 'blob-missing', pass, true);
              missing++;
            }
            // evictRow dropped the refs; make sure the row is gone even if refs had drifted
            this.s.blobDelete.run(sha);
          }
          this.c.missingBlobs += missing;
          this.writeLedger(pass, false);
          this.saveState();
        })();
      } catch (e) {
        this.restore(snap);
        throw e;
      }
      for (const sha of damaged) this.spool.remove(sha);
      this.refreshOldest();
      this.afterEviction(pass);
      this.log.error({ blobs: damaged.length, records: missing }, 'spooled blobs missing or damaged: their records were dropped and written to the loss ledger');
    }
    if (orphanBlobsRemoved + scan.strayRemoved > 0) {
      this.log.warn({ orphans: orphanBlobsRemoved, temp: scan.strayRemoved }, 'removed spool files no record refers to');
    }
    return { orphanBlobsRemoved: orphanBlobsRemoved + scan.strayRemoved, missingBlobs: missing };
  }

  private addStream(st: Stream): void {
    const key = groupKey(st.source, st.contentType);
    let group = this.streamGroups.get(key);
    if (!group) this.streamGroups.set(key, (group = new Map()));
    group.set(st.signal, st);
    this.streamById.set(st.id, st);
    this.streamList.push(st);
  }

  /** the stream id for a triple, inserting it (inside the caller's transaction) when new */
  private streamId(source: string, signal: string, contentType: string): number {
    let last = this.lastGroup;
    if (last === null || last.source !== source || last.contentType !== contentType) {
      const key = groupKey(source, contentType);
      let bySignal = this.streamGroups.get(key);
      if (!bySignal) this.streamGroups.set(key, (bySignal = new Map()));
      last = this.lastGroup = { source, contentType, bySignal };
    }
    let st = last.bySignal.get(signal);
    if (!st) {
      const id = Number(this.s.insertStream.run(source, signal, contentType).lastInsertRowid);
      st = { id, source, signal, contentType };
      this.addStream(st);
    }
    return st.id;
  }

  // ---- counters -------------------------------------------------------------------------------

  private bytes(): number {
    return this.c.inlineBytes + this.c.records * ROW_OVERHEAD_BYTES + this.c.spoolBytes;
  }

  private snapshot(): Snapshot {
    return {
      c: { ...this.c },
      lag: [...this.sinks.values()].map((s) => [s, s.lagRecords, s.lagBytes]),
      streams: this.streamList.length,
      deliveredScanFrom: this.deliveredScanFrom,
    };
  }

  /** undo what a rolled-back transaction did to the in-memory state */
  private restore(snap: Snapshot): void {
    this.c = snap.c;
    this.deliveredScanFrom = snap.deliveredScanFrom;
    while (this.streamList.length > snap.streams) {
      const st = this.streamList.pop()!;
      this.streamGroups.get(groupKey(st.source, st.contentType))?.delete(st.signal);
      this.streamById.delete(st.id);
    }
    for (const [s, r, b] of snap.lag) {
      s.lagRecords = r;
      s.lagBytes = b;
    }
  }

  private saveState(): void {
    const c = this.c;
    this.s.saveState.run(c.nextSeq, c.records, c.inlineBytes, c.spoolBlobs, c.spoolBytes, c.missingBlobs);
    for (const s of this.sinks.values()) {
      if (s.lagDirty) {
        this.s.setLag.run(s.lagRecords, s.lagBytes, s.name);
        s.lagDirty = false;
      }
    }
  }

  private refreshOldest(): void {
    const row = this.s.oldest.get() as { seq: bigint; receive_time_ns: bigint } | undefined;
    this.c.oldestSeq = row ? Number(row.seq) : null;
    this.c.oldestReceiveNs = row ? row.receive_time_ns : null;
    // eviction can remove the newest rows too (delivered or unrouted ones)
    const newest = row ? (this.s.newest.get() as { seq: bigint; receive_time_ns: bigint }) : undefined;
    this.c.newestSeq = newest ? Number(newest.seq) : null;
    this.c.newestReceiveNs = newest ? newest.receive_time_ns : null;
  }

  private namesOf(mask: number): string[] {
    let names = this.routeNames.get(mask);
    if (!names) {
      names = [];
      for (let bit = 0; bit < MAX_SINKS; bit++) if (mask & (1 << bit)) names.push(this.bitToSink[bit]?.name ?? `#${bit}`);
      this.routeNames.set(mask, names);
    }
    return names;
  }

  /** configured sinks in `mask` that have not acknowledged `seq` */
  private pendingMask(mask: number, seq: number): number {
    let pending = 0;
    let m = mask & this.configuredMask;
    while (m !== 0) {
      const bit = 31 - Math.clz32(m & -m);
      m &= m - 1;
      if (this.bitToSink[bit]!.cursor < seq) pending |= 1 << bit;
    }
    return pending;
  }

  // ---- append ---------------------------------------------------------------------------------

  append(records: RecordInput[]): AppendResult {
    this.assertOpen();
    const n = records.length;
    if (n === 0) return { firstSeq: this.c.nextSeq, lastSeq: this.c.nextSeq - 1 };
    // per-batch scratch: one typed array for route masks and one for class/kind codes
    const masks = new Int32Array(n);
    const codes = new Uint8Array(n);
    let shas: (string | null)[] | null = null;
    let newBlobs: Map<string, Uint8Array> | null = null;
    let batchBytes = 0;
    let hasBlock = false;
    // inputs hand over batches whose records share one routes array: resolve it once
    let lastRoutes: string[] | null = null;
    let lastMask = 0;
    // and mostly one class and kind: look their codes up on change
    let lastClass: string | null = null;
    let lastKind: string | null = null;
    let cls = 0;
    let kind = 0;
    for (let i = 0; i < n; i++) {
      const r = records[i]!;
      if (r.class !== lastClass) {
        const c = CLASS_INDEX.get(r.class);
        if (c === undefined) throw this.invalid(r, i, `class "${String(r.class)}" is not one of ${SENSITIVITY_CLASSES.join(', ')}`);
        cls = c;
        lastClass = r.class;
      }
      if (r.kind !== lastKind) {
        const k = KIND_INDEX.get(r.kind);
        if (k === undefined) throw this.invalid(r, i, `kind "${String(r.kind)}" is not one of ${RECORD_KINDS.join(', ')}`);
        kind = k;
        lastKind = r.kind;
      }
      if (!(r.body instanceof Uint8Array)) throw this.invalid(r, i, 'body is not a Buffer');
      if (typeof r.receiveTimeNs !== 'bigint') throw this.invalid(r, i, 'receiveTimeNs is not a bigint');
      if (typeof r.source !== 'string' || typeof r.signal !== 'string' || typeof r.contentType !== 'string') {
        throw this.invalid(r, i, 'source, signal and contentType must be strings');
      }
      codes[i] = (kind << 3) | cls;
      if (r.routes !== lastRoutes) {
        lastMask = this.routeMask(r, i);
        lastRoutes = r.routes;
      }
      masks[i] = lastMask;
      if (this.blocks[cls]) hasBlock = true;
      const size = r.body.length;
      if (size > this.inlineMaxBytes) {
        const sha = sha256Hex(r.body);
        shas ??= new Array<string | null>(n).fill(null);
        shas[i] = sha;
        if (!newBlobs?.has(sha) && this.s.blobExists.get(sha) === undefined) {
          (newBlobs ??= new Map()).set(sha, r.body);
          batchBytes += size;
        }
        batchBytes += ROW_OVERHEAD_BYTES;
      } else {
        batchBytes += size + ROW_OVERHEAD_BYTES;
      }
    }
    // the blob files are durable before any row refers to them
    if (newBlobs) this.spool.writeAll(newBlobs);

    if (this.c.nextSeq + n > this.seqReservedBelow) {
      this.seqReservedBelow = this.c.nextSeq + n + SEQ_RESERVATION_BLOCK;
      writeSeqMark(this.seqMarkPath, this.seqReservedBelow);
    }
    const firstSeq = this.c.nextSeq;
    const snap = this.snapshot();
    let outcome: AppendOutcome;
    try {
      outcome = this.appendTxn(records, masks, codes, shas, batchBytes, hasBlock);
    } catch (e) {
      this.restore(snap);
      if (newBlobs) for (const sha of newBlobs.keys()) this.spool.remove(sha);
      if (e instanceof BufferFullError) this.noteRefused(batchBytes);
      throw e;
    }
    if (outcome.pass) this.afterEviction(outcome.pass);
    if (outcome.refused) {
      if (newBlobs) for (const sha of newBlobs.keys()) this.spool.remove(sha);
      this.noteRefused(batchBytes);
      throw new BufferFullError(this.fullMessage(records, batchBytes, 'its class has the block policy'));
    }
    const last = records[n - 1]!;
    this.c.newestSeq = this.c.nextSeq - 1;
    this.c.newestReceiveNs = last.receiveTimeNs;
    if (this.c.oldestSeq === null) {
      this.c.oldestSeq = firstSeq;
      this.c.oldestReceiveNs = records[0]!.receiveTimeNs;
    }
    this.emit('append');
    return { firstSeq, lastSeq: this.c.nextSeq - 1 };
  }

  private routeMask(r: RecordInput, i: number): number {
    const routes = r.routes;
    if (!Array.isArray(routes)) throw this.invalid(r, i, 'routes is not an array of sink names');
    let mask = 0;
    for (let j = 0; j < routes.length; j++) {
      const s = this.sinks.get(routes[j]!);
      if (!s || !s.configured) {
        throw new UnknownSinkError(
          `record ${i} of the batch (source "${r.source}", signal "${r.signal}") is routed to unknown sink "${routes[j]}"; configured sinks: ${this.configuredNames().join(', ') || '(none)'}`,
        );
      }
      mask |= 1 << s.bit;
    }
    return mask;
  }

  private configuredNames(): string[] {
    return [...this.sinks.values()].filter((x) => x.configured).map((x) => x.name);
  }

  private invalid(r: RecordInput, i: number, what: string): Error {
    return new InvalidRecordError(`record ${i} of the batch (source "${r?.source}", signal "${r?.signal}"): ${what}`);
  }

  private fullMessage(records: RecordInput[], batchBytes: number, why: string): string {
    const r = records[0]!;
    return `buffer full (${this.bytes()} of ${this.maxBytes} bytes): a batch of ${records.length} records (${batchBytes} bytes, first from source "${r.source}", signal "${r.signal}", class ${r.class}) does not fit and ${why}`;
  }

  private noteRefused(batchBytes: number): void {
    this.spaceWanted = Math.max(1, batchBytes);
  }

  /** Runs inside the append transaction; a throw rolls everything back. */
  private appendInTxn(
    records: RecordInput[],
    masks: Int32Array,
    codes: Uint8Array,
    shas: (string | null)[] | null,
    batchBytes: number,
    hasBlock: boolean,
  ): AppendOutcome {
    let pass: EvictionPass | null = null;
    const cutoff = this.maxAgeNs !== null ? nowNs() - this.maxAgeNs : null;
    if (cutoff !== null && this.c.oldestReceiveNs !== null && this.c.oldestReceiveNs < cutoff) {
      pass = new EvictionPass();
      this.evictExpired(cutoff, pass);
    }
    if (this.bytes() + batchBytes > this.maxBytes && this.c.records > 0) {
      pass ??= new EvictionPass();
      this.evictDelivered(this.bytes() + batchBytes - this.maxBytes, pass);
      if (this.bytes() + batchBytes > this.maxBytes && this.c.records > 0) {
        if (hasBlock) {
          this.writeLedger(pass, true);
          this.saveState();
          return { refused: true, pass };
        }
        this.evictUndelivered(this.bytes() + batchBytes - this.maxBytes, pass);
        if (this.bytes() + batchBytes > this.maxBytes && this.c.records > 0) {
          throw new BufferFullError(this.fullMessage(records, batchBytes, 'the rest of the buffer holds undelivered records of block-policy classes'));
        }
      }
    }
    if (pass) this.writeLedger(pass, true);

    const ins = this.s.insert;
    const insMany = this.s.insertMany;
    const args = this.insertArgs;
    let k = 0;
    const c = this.c;
    let seq = c.nextSeq;
    // the stream and route mask of consecutive records are usually the same: look them up on change
    let prev: RecordInput | null = null;
    let stream = 0;
    let runMask = -1;
    let runRecords = 0;
    let runBytes = 0;
    for (let i = 0; i < records.length; i++, seq++) {
      const r = records[i]!;
      const mask = masks[i]!;
      const code = codes[i]!;
      const sha = shas ? shas[i]! : null;
      const size = r.body.length;
      if (prev === null || r.source !== prev.source || r.signal !== prev.signal || r.contentType !== prev.contentType) {
        stream = this.streamId(r.source, r.signal, r.contentType);
      }
      prev = r;
      const o = k * INSERT_COLUMNS;
      args[o] = seq;
      args[o + 1] = mask;
      args[o + 2] = size;
      args[o + 3] = stream * 256 + code;
      args[o + 4] = r.receiveTimeNs;
      args[o + 5] = r.sourceTimeNs ?? null;
      args[o + 6] = r.build !== undefined || r.layer !== undefined || r.attributes !== undefined ? extraJson(r) : null;
      args[o + 7] = sha;
      args[o + 8] = sha === null ? r.body : null;
      if (++k === INSERT_ROWS_PER_STATEMENT) {
        insMany.run.apply(insMany, args);
        k = 0;
      }
      if (sha === null) c.inlineBytes += size;
      else if ((this.s.blobRef.get(sha, size) as number) === 1) {
        c.spoolBlobs++;
        c.spoolBytes += size;
      }
      if (mask !== runMask) {
        this.addLag(runMask, runRecords, runBytes);
        runMask = mask;
        runRecords = 0;
        runBytes = 0;
      }
      runRecords++;
      runBytes += size;
    }
    for (let j = 0; j < k; j++) {
      const o = j * INSERT_COLUMNS;
      ins.run(args[o], args[o + 1], args[o + 2], args[o + 3], args[o + 4], args[o + 5], args[o + 6], args[o + 7], args[o + 8]);
    }
    args.fill(null);
    this.addLag(runMask, runRecords, runBytes);
    c.records += records.length;
    c.nextSeq = seq;
    this.saveState();
    return { refused: false, pass };
  }

  private addLag(mask: number, records: number, bytes: number): void {
    let m = mask > 0 ? mask : 0;
    while (m !== 0) {
      const s = this.bitToSink[31 - Math.clz32(m & -m)]!;
      m &= m - 1;
      s.lagRecords += records;
      s.lagBytes += bytes;
      s.lagDirty = true;
    }
  }

  // ---- eviction -------------------------------------------------------------------------------

  /**
   * Delete one row inside a transaction and account for it. `reason` is written to the ledger when
   * the record had not reached every configured sink it is routed to (always, with `forceLedger`).
   */
  private evictRow(seq: number, reason: string, pass: EvictionPass, forceLedger = false): number {
    const row = this.s.deleteRow.get(seq) as EvictedRow | undefined;
    if (!row) return 0;
    const c = this.c;
    c.records--;
    let freed = ROW_OVERHEAD_BYTES;
    if (row.blob_sha256 === null) {
      c.inlineBytes -= row.size;
      freed += row.size;
    } else {
      const ref = this.s.blobUnref.get(row.blob_sha256) as { refs: number; size: number } | undefined;
      if (ref && ref.refs <= 0) {
        this.s.blobDelete.run(row.blob_sha256);
        c.spoolBlobs--;
        c.spoolBytes -= ref.size;
        freed += ref.size;
        pass.freedShas.push(row.blob_sha256);
      }
    }
    const pending = this.pendingMask(row.routes, seq);
    let m = pending;
    while (m !== 0) {
      const s = this.bitToSink[31 - Math.clz32(m & -m)]!;
      m &= m - 1;
      s.lagRecords--;
      s.lagBytes -= row.size;
      s.lagDirty = true;
    }
    if (pending !== 0 || forceLedger) {
      const stream = Math.floor(row.meta / 256);
      const cls = row.meta & 7;
      const key = `${reason}\0${stream}\0${cls}`;
      const st = this.streamById.get(stream);
      const run = pass.runs.get(key);
      if (run) {
        run.lastSeq = seq;
        run.records++;
        run.bytes += row.size;
        run.sinksMask |= pending;
      } else {
        pass.runs.set(key, {
          reason, source: st?.source ?? '?', signal: st?.signal ?? '?', cls,
          firstSeq: seq, lastSeq: seq, records: 1, bytes: row.size, sinksMask: pending,
        });
      }
    }
    pass.removed++;
    return freed;
  }

  private evictExpired(cutoff: bigint, pass: EvictionPass): void {
    let after = 0;
    for (;;) {
      const rows = this.s.oldestChunk.all(after, EVICT_CHUNK) as { seq: bigint; receive_time_ns: bigint }[];
      for (const r of rows) {
        if (r.receive_time_ns >= cutoff) {
          this.refreshOldest();
          return;
        }
        this.evictRow(Number(r.seq), 'max-age', pass);
      }
      if (rows.length < EVICT_CHUNK) break;
      after = Number(rows[rows.length - 1]!.seq);
    }
    this.refreshOldest();
  }

  /**
   * Evict records every configured routed sink has acknowledged, oldest first, until `need` bytes
   * are freed. Undelivered rows are skipped; the scan resumes after the last row it looked at, as
   * long as no ack moved a cursor below that point (see `ack`).
   */
  private evictDelivered(need: number, pass: EvictionPass): number {
    let freed = 0;
    let after = Math.max(this.deliveredScanFrom, 0);
    outer: for (;;) {
      const rows = this.s.oldestChunk.all(after, EVICT_CHUNK) as { seq: bigint; routes: bigint }[];
      for (const r of rows) {
        const seq = Number(r.seq);
        after = seq;
        if (this.pendingMask(Number(r.routes), seq) === 0) {
          freed += this.evictRow(seq, 'delivered', pass);
          if (freed >= need) break outer;
        }
      }
      if (rows.length < EVICT_CHUNK) break;
    }
    this.deliveredScanFrom = after;
    if (pass.removed > 0) this.refreshOldest();
    return freed;
  }

  /** Evict the oldest records of drop-oldest classes (delivered or not) until `need` bytes are freed. */
  private evictUndelivered(need: number, pass: EvictionPass): number {
    let freed = 0;
    let after = 0;
    outer: while (freed < need) {
      const rows = this.s.oldestChunk.all(after, EVICT_CHUNK) as { seq: bigint; meta: bigint }[];
      for (const r of rows) {
        after = Number(r.seq);
        if (this.blocks[Number(r.meta & 7n)]) continue;
        freed += this.evictRow(after, 'buffer-full', pass);
        if (freed >= need) break outer;
      }
      if (rows.length < EVICT_CHUNK) break;
    }
    this.refreshOldest();
    return freed;
  }

  /** Write a pass's ledger entries and eviction totals (inside its transaction). */
  private writeLedger(pass: EvictionPass, countEvictions: boolean): void {
    if (pass.runs.size === 0) return;
    const at = nowNs();
    let lastId = 0;
    for (const run of pass.runs.values()) {
      const sinks = JSON.stringify(
        this.namesOf(run.sinksMask).filter((x) => !x.startsWith('#')),
      );
      lastId = Number(
        this.s.addLoss.run(at, run.source, run.signal, run.cls, run.firstSeq, run.lastSeq, run.records, run.bytes, run.reason, sinks)
          .lastInsertRowid,
      );
      if (countEvictions && (run.reason === 'buffer-full' || run.reason === 'max-age')) {
        this.s.addEviction.run(run.source, run.cls, run.records, run.bytes);
      }
    }
    if (lastId > LEDGER_MAX_ENTRIES) this.s.trimLosses.run(lastId - LEDGER_MAX_ENTRIES);
  }

  /** After the commit: eviction totals in memory, unlink freed blobs, tell waiting inputs. */
  private afterEviction(pass: EvictionPass): void {
    for (const run of pass.runs.values()) {
      if (run.reason !== 'buffer-full' && run.reason !== 'max-age') continue;
      const key = `${run.source}\0${run.cls}`;
      const t = this.evictionTotals.get(key);
      if (t) {
        t.records += run.records;
        t.bytes += run.bytes;
      } else this.evictionTotals.set(key, { source: run.source, cls: run.cls, records: run.records, bytes: run.bytes });
    }
    for (const sha of pass.freedShas) {
      // a blob freed and stored again in the same transaction is still referenced
      if (this.s.blobExists.get(sha) === undefined) this.spool.remove(sha);
    }
    if (pass.runs.size > 0) {
      for (const run of pass.runs.values()) {
        if (run.reason === 'buffer-full' || run.reason === 'max-age') {
          this.log.warn(
            { reason: run.reason, source: run.source, signal: run.signal, class: SENSITIVITY_CLASSES[run.cls], records: run.records, firstSeq: run.firstSeq, lastSeq: run.lastSeq },
            'evicted undelivered records',
          );
        }
      }
    }
    if (pass.removed > 0) {
      this.spaceWanted = 0;
      this.emit('space');
    }
  }

  /** Age eviction on the timer: its own transaction. */
  private expireByAge(): void {
    if (this.closed || this.maxAgeNs === null) return;
    const cutoff = nowNs() - this.maxAgeNs;
    if (this.c.oldestReceiveNs === null || this.c.oldestReceiveNs >= cutoff) return;
    const pass = new EvictionPass();
    this.runEvictionTxn(pass, () => this.evictExpired(cutoff, pass));
  }

  private runEvictionTxn(pass: EvictionPass, work: () => void): void {
    const snap = this.snapshot();
    try {
      this.db.transaction(() => {
        work();
        this.writeLedger(pass, true);
        this.saveState();
      })();
    } catch (e) {
      this.restore(snap);
      this.log.error({ err: e }, 'buffer eviction failed');
      return;
    }
    this.afterEviction(pass);
  }

  // ---- read side ------------------------------------------------------------------------------

  private sink(name: string, what: string): SinkState {
    const s = this.sinks.get(name);
    if (!s || !s.configured) {
      throw new UnknownSinkError(`${what}: unknown sink "${name}"; configured sinks: ${[...this.sinks.values()].filter((x) => x.configured).map((x) => x.name).join(', ') || '(none)'}`);
    }
    return s;
  }

  read(sink: string, limit: number, maxBytes?: number, afterSeq?: number): StoredRecord[] {
    this.assertOpen();
    const s = this.sink(sink, 'read');
    if (!(limit > 0)) return [];
    const newest = this.c.nextSeq - 1;
    const fromCursor = Math.max(s.cursor, s.emptyThrough);
    const from = afterSeq === undefined ? fromCursor : Math.max(fromCursor, Math.floor(afterSeq));
    if (from >= newest) return [];
    const rows = this.s.readSink.all(from, 1 << s.bit, Math.floor(limit)) as RecordRow[];
    // nothing for this sink up to the newest seq: later reads start there (only known when this read
    // started at the cursor: rows between the cursor and `afterSeq` are still to be delivered)
    if (rows.length === 0 && from === fromCursor) s.emptyThrough = newest;
    const out: StoredRecord[] = [];
    let bytes = 0;
    for (const row of rows) {
      const size = Number(row.size);
      if (maxBytes !== undefined && out.length > 0 && bytes + size > maxBytes) break;
      bytes += size;
      out.push(this.toStored(row, size));
    }
    return out;
  }

  private toStored(row: RecordRow, size: number): StoredRecord {
    const meta = Number(row.meta);
    const st = this.streamById.get(Math.floor(meta / 256))!;
    const rec: StoredRecord = {
      seq: Number(row.seq),
      source: st.source,
      signal: st.signal,
      kind: RECORD_KINDS[(meta >> 3) & 31] as RecordKind,
      receiveTimeNs: row.receive_time_ns,
      class: SENSITIVITY_CLASSES[meta & 7] as SensitivityClass,
      contentType: st.contentType,
      routes: this.namesOf(Number(row.routes)).slice(),
    };
    if (row.source_time_ns !== null) rec.sourceTimeNs = row.source_time_ns;
    if (row.blob_sha256 === null) rec.body = row.body ?? Buffer.alloc(0);
    else rec.blob = { sha256: row.blob_sha256, size };
    if (row.extra !== null) {
      const extra = JSON.parse(row.extra) as { b?: string; l?: number; a?: Record<string, string> };
      if (extra.b !== undefined) rec.build = extra.b;
      if (extra.l !== undefined) rec.layer = extra.l;
      if (extra.a !== undefined) rec.attributes = extra.a;
    }
    return rec;
  }

  ack(sink: string, uptoSeq: number): void {
    this.assertOpen();
    const s = this.sink(sink, 'ack');
    const upto = Math.min(Math.floor(uptoSeq), this.c.nextSeq - 1);
    if (!(upto > s.cursor)) return;
    const r = this.s.lagRange.get(s.cursor, upto, 1 << s.bit) as { n: number; bytes: number };
    this.s.setCursor.run(upto, s.lagRecords - r.n, s.lagBytes - r.bytes, sink);
    // rows above the old cursor may have become delivered: delivered-first eviction rescans them
    this.deliveredScanFrom = Math.min(this.deliveredScanFrom, s.cursor);
    s.cursor = upto;
    s.lagRecords -= r.n;
    s.lagBytes -= r.bytes;
    if (this.spaceWanted > 0) {
      const need = this.bytes() + this.spaceWanted - this.maxBytes;
      if (need <= 0) {
        this.spaceWanted = 0;
        this.emit('space');
        return;
      }
      const pass = new EvictionPass();
      this.runEvictionTxn(pass, () => this.evictDelivered(need, pass));
    }
  }

  cursor(sink: string): number {
    return this.sink(sink, 'cursor').cursor;
  }

  blobPath(ref: BlobRef): string {
    if (!/^[0-9a-f]{64}$/.test(ref.sha256)) throw new RangeError(`blob ref: "${ref.sha256}" is not a lowercase hex SHA-256`);
    return this.spool.pathOf(ref.sha256);
  }

  async readBlob(ref: BlobRef): Promise<Buffer> {
    let bytes: Buffer;
    try {
      bytes = await this.spool.read(ref.sha256);
    } catch (e) {
      throw new BlobMissingError(`blob ${ref.sha256} (${ref.size} bytes) is not in the spool ${this.spool.dir}`, { cause: e });
    }
    if (bytes.length !== ref.size || sha256Hex(bytes) !== ref.sha256) {
      throw new BlobMissingError(`blob ${ref.sha256}: the spooled file is damaged (${bytes.length} bytes, expected ${ref.size})`);
    }
    return bytes;
  }

  stats(): BufferStats {
    const c = this.c;
    const bytes = this.bytes();
    const sinks: SinkStats[] = [];
    for (const s of this.sinks.values()) {
      if (s.configured) sinks.push({ sink: s.name, cursor: s.cursor, lagRecords: s.lagRecords, lagBytes: s.lagBytes });
    }
    return {
      path: this.dbPath,
      records: c.records,
      bytes,
      maxBytes: this.maxBytes,
      fill: bytes / this.maxBytes,
      oldestSeq: c.records > 0 ? c.oldestSeq : null,
      newestSeq: c.records > 0 ? c.newestSeq : null,
      oldestReceiveTimeNs: c.records > 0 ? c.oldestReceiveNs : null,
      newestReceiveTimeNs: c.records > 0 ? c.newestReceiveNs : null,
      spoolBlobs: c.spoolBlobs,
      spoolBytes: c.spoolBytes,
      sinks,
      // a stable order (source, then class rank), the same before and after a reopen
      evictions: [...this.evictionTotals.values()].sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : a.cls - b.cls)).map((t) => ({
        source: t.source,
        class: SENSITIVITY_CLASSES[t.cls] as SensitivityClass,
        records: t.records,
        bytes: t.bytes,
      })),
      missingBlobs: c.missingBlobs,
    };
  }

  losses(limit = 100): LossEntry[] {
    this.assertOpen();
    const rows = this.s.losses.all(limit) as {
      id: bigint; at_ns: bigint; source: string; signal: string; class: bigint; first_seq: bigint; last_seq: bigint;
      records: bigint; bytes: bigint; reason: string; sinks: string;
    }[];
    return rows.map((r) => ({
      id: Number(r.id),
      atNs: r.at_ns,
      source: r.source,
      signal: r.signal,
      class: SENSITIVITY_CLASSES[Number(r.class)] as SensitivityClass,
      firstSeq: Number(r.first_seq),
      lastSeq: Number(r.last_seq),
      records: Number(r.records),
      bytes: Number(r.bytes),
      reason: r.reason,
      sinks: JSON.parse(r.sinks) as string[],
    }));
  }

  check(): CheckResult {
    this.assertOpen();
    let integrity: string[];
    try {
      integrity = (this.db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check);
    } catch (e) {
      if (!isCorruption(e)) throw e;
      integrity = [(e as Error).message];
    }
    if (integrity.length !== 1 || integrity[0] !== 'ok') {
      const configured = [...this.sinks.values()].filter((s) => s.configured).map((s) => s.name);
      try {
        this.db.close();
      } catch {
        // closing a damaged database may fail; it is moved aside either way
      }
      const info = this.quarantineFiles(new BufferCorruptError(`${this.dbPath}: integrity_check failed: ${integrity.slice(0, 5).join('; ')}`));
      this.db = new Database(this.dbPath, { timeout: BUSY_TIMEOUT_MS });
      configureConnection(this.db, this.synchronous);
      this.db.exec(SCHEMA);
      this.load(configured);
      this.recordQuarantine(info);
      this.emit('space');
      return { ok: false, integrity, orphanBlobsRemoved: 0, missingBlobs: 0, quarantinedTo: info.to };
    }
    const r = this.recoverSpool(true);
    return { ok: r.missingBlobs === 0, integrity, orphanBlobsRemoved: r.orphanBlobsRemoved, missingBlobs: r.missingBlobs };
  }

  /** where the database was moved when it was found damaged at open or by check(), if it was */
  get quarantinedTo(): string | undefined {
    return this.lastQuarantine;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ageTimer) clearInterval(this.ageTimer);
    this.db.close();
    // after a clean close the next open continues exactly where this one stopped
    writeSeqMark(this.seqMarkPath, this.c.nextSeq);
    this.removeAllListeners();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`buffer ${this.dbPath} is closed`);
  }
}

/** Open (or create) the buffer in `opts.dir`, recovering from a crash or a damaged file. */
export function openBuffer(opts: BufferOptions, log?: Logger): RecordBuffer {
  return new SqliteRingBuffer(opts, log);
}
