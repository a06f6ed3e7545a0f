/**
 * The sync store: what the cloud output has taken from the buffer and must bring to the cloud, kept
 * on local disk until the cloud has confirmed it (and then as the local hot tier until it ages out or
 * room is needed).
 *
 * Layout of `<dataDir>/sync/<output>/`:
 * - `sync.sqlite` (WAL, synchronous FULL): the upload queue and its progress.
 *   - `objects`: one row per cloud object: its key, the local file holding its bytes, size, SHA-256,
 *     MD5, the strictest class of its records, mode and priority, the oldest record time (queue order
 *     and the cold storage class), state (`queued` | `synced`), and for a multipart upload its upload
 *     id and part size. `local = 0` once the local copy was evicted.
 *   - `parts`: the confirmed parts of a multipart upload (number, size, MD5, ETag): written the moment
 *     the store answers a part, so a restart continues after the last confirmed part.
 *   - `part_log`: every part send started and every part confirmed, so a test or an operator can
 *     prove that no confirmed part was ever sent again.
 *   - `members`: which records (per build: seq range, layer range) an object carries; the per-build
 *     manifest is made from it. A frame whose bytes are already queued or in the cloud adds a member to
 *     the existing object instead of a second upload (content-hash dedup).
 *   - `staged`: time-series records waiting for their window to close (batch mode), indexed by window
 *     (compaction reads a closed window in seq chunks) and by build (is anything of a build left?);
 *     `staged_totals` keeps their count and bytes, so checking room costs no table scan.
 *   - `builds`: per build, when its last record arrived, whether the machine reported it ended
 *     (finished or aborted), and when its manifest was written.
 *   - `refused`: records refused because their class may not leave the premises, per class.
 *   - `settings`: `paused`, the uploader's last measured rate (for the ETA), shared with the CLI.
 * - `objects/`: the local files, written to `objects/tmp/`, fsynced and renamed before their row
 *   commits, so a row never names a missing or partial file; files without a row are crash leftovers
 *   and removed at open.
 *
 * Design constraints:
 * - The output's `send` resolves after `enqueue` committed: from then on the record's bytes live here,
 *   the buffer may drop them. So this store, not the buffer, is what survives an outage of hours.
 * - Tiers: a synced object's local copy stays for `hotMs` (by record time), then is removed; when the
 *   local files exceed `maxBytes`, synced copies go first, oldest first. Data not yet in the cloud is
 *   never evicted: when only such data is left, `enqueue` refuses (`SyncStoreFullError`) and the
 *   records wait in the buffer, under the buffer's own full policy.
 * - Several processes may open the store at once (the gateway, `layergate sync status|pause|resume`):
 *   SQLite WAL with a busy timeout; the CLI only reads or flips a setting.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, writeSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { SensitivityClass } from '../../../../gateway/plugin-api/index.js';
import { classRank } from '../../../../gateway/plugin-api/index.js';
import { SyncStoreFullError } from '../../../../gateway/plugin-api/index.js';

export type SyncMode = 'realtime' | 'batch' | 'continuous';
export type QueueOrder = 'oldest-first' | 'newest-first';

export interface NewObject {
  key: string;
  /** the local file, as returned by `placeBytes` / `placeFile` */
  file: string;
  size: number;
  sha256: string;
  md5: string;
  contentType: string;
  contentEncoding?: string | undefined;
  class: SensitivityClass;
  mode: SyncMode;
  priority: number;
  /** oldest record receive time in the object, ns */
  recordTimeNs: bigint;
  /** the object's records, per build */
  members: Member[];
  /** extra metadata (x-amz-meta-...) */
  metadata?: Record<string, string>;
}

export interface Member {
  build: string;
  firstSeq: number;
  lastSeq: number;
  layerMin: number | null;
  layerMax: number | null;
  records: number;
  class: SensitivityClass;
}

/** A queued or synced object as the store holds it: what was queued (`NewObject`) plus its upload state. */
export interface ObjectRow extends Omit<NewObject, 'contentEncoding' | 'members' | 'metadata'> {
  id: number;
  contentEncoding: string | null;
  state: 'queued' | 'synced';
  local: boolean;
  uploadId: string | null;
  partSize: number | null;
  attempts: number;
  lastError: string | null;
  metadata: Record<string, string>;
}

export interface PartRow {
  part: number;
  size: number;
  md5: string;
  etag: string;
}

export interface StagedRecord {
  seq: number;
  window: number;
  build: string;
  bytes: Buffer;
}

/** Staged rows of one window in a seq range, `records` of them (a compaction chunk). */
export interface StagedRange {
  window: number;
  firstSeq: number;
  lastSeq: number;
  records: number;
}

export interface ManifestEntry {
  key: string;
  size: number;
  sha256: string;
  class: SensitivityClass;
  mode: SyncMode;
  firstSeq: number;
  lastSeq: number;
  layerMin: number | null;
  layerMax: number | null;
  records: number;
}

export interface SyncProgress {
  paused: boolean;
  queued: { objects: number; bytes: number };
  /** bytes of queued objects already confirmed (multipart parts) */
  queuedConfirmedBytes: number;
  synced: { objects: number; bytes: number };
  byPriority: { priority: number; mode: SyncMode; objects: number; bytes: number }[];
  /** local copies on disk */
  local: { objects: number; bytes: number; syncedBytes: number };
  staged: { records: number; bytes: number };
  refused: { class: SensitivityClass; records: number }[];
  /** the uploader's last measured throughput (bytes/s) and when it was measured */
  rate: { bytesPerSecond: number; atMs: number } | null;
  /** seconds to upload what is queued at the measured rate; null when unknown */
  etaSeconds: number | null;
  lastError: string | null;
  builds: { build: string; objects: number; synced: number; manifestAtMs: number | null }[];
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS objects (
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  file TEXT NOT NULL,
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  md5 TEXT NOT NULL,
  content_type TEXT NOT NULL,
  content_encoding TEXT,
  class TEXT NOT NULL,
  mode TEXT NOT NULL,
  priority INTEGER NOT NULL,
  record_time_ns INTEGER NOT NULL,
  queued_ns INTEGER NOT NULL,
  state TEXT NOT NULL DEFAULT 'queued',
  local INTEGER NOT NULL DEFAULT 1,
  upload_id TEXT,
  part_size INTEGER,
  synced_ns INTEGER,
  etag TEXT,
  storage_class TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  retry_at_ms INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS objects_queue ON objects (state, priority, record_time_ns);
CREATE INDEX IF NOT EXISTS objects_sha ON objects (sha256);
CREATE TABLE IF NOT EXISTS parts (
  object_id INTEGER NOT NULL,
  part INTEGER NOT NULL,
  size INTEGER NOT NULL,
  md5 TEXT NOT NULL,
  etag TEXT NOT NULL,
  confirmed_ns INTEGER NOT NULL,
  PRIMARY KEY (object_id, part)
);
CREATE TABLE IF NOT EXISTS part_log (
  id INTEGER PRIMARY KEY,
  object_id INTEGER NOT NULL,
  upload_id TEXT NOT NULL,
  part INTEGER NOT NULL,
  event TEXT NOT NULL,
  at_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
  object_id INTEGER NOT NULL,
  build TEXT NOT NULL,
  first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  layer_min INTEGER,
  layer_max INTEGER,
  records INTEGER NOT NULL,
  class TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS members_build ON members (build);
CREATE UNIQUE INDEX IF NOT EXISTS members_once ON members (object_id, build, first_seq, last_seq);
CREATE TABLE IF NOT EXISTS staged (
  seq INTEGER PRIMARY KEY,
  window INTEGER NOT NULL,
  build TEXT NOT NULL,
  bytes BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS staged_window ON staged (window);
CREATE INDEX IF NOT EXISTS staged_build ON staged (build);
CREATE TABLE IF NOT EXISTS builds (
  build TEXT PRIMARY KEY,
  last_record_ms INTEGER NOT NULL,
  changed INTEGER NOT NULL DEFAULT 1,
  manifest_ms INTEGER,
  ended INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS refused (
  class TEXT PRIMARY KEY,
  records INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`;

/**
 * Count and bytes of the staged rows, updated by `enqueue` in the same transaction as the rows (once
 * per transaction, not per row): the room check of every `send` reads them instead of summing a table
 * of millions of rows (at 50,000 records/s a 5-minute window stages 15 million).
 */
const STAGED_TOTALS = `
CREATE TABLE staged_totals (id INTEGER PRIMARY KEY CHECK (id = 1), records INTEGER NOT NULL, bytes INTEGER NOT NULL);
INSERT INTO staged_totals SELECT 1, COUNT(*), COALESCE(SUM(LENGTH(bytes)), 0) FROM staged;
`;

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface SyncStoreOptions {
  dir: string;
  /** bound of the local copies (bytes) */
  maxBytes: number;
  /** a synced object's local copy is kept this long, by record time (ms) */
  hotMs: number;
}

export class SyncStore {
  readonly dir: string;
  readonly objectsDir: string;
  private readonly tmpDir: string;
  readonly db: Database.Database;
  private readonly maxBytes: number;
  private readonly hotMs: number;
  private tmpCounter = 0;

  constructor(opts: SyncStoreOptions) {
    this.dir = opts.dir;
    this.objectsDir = path.join(opts.dir, 'objects');
    this.tmpDir = path.join(this.objectsDir, 'tmp');
    this.maxBytes = opts.maxBytes;
    this.hotMs = opts.hotMs;
    mkdirSync(this.tmpDir, { recursive: true });
    this.db = new Database(path.join(opts.dir, 'sync.sqlite'), { timeout: 5000 });
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.defaultSafeIntegers(false);
    this.db.exec(SCHEMA);
    const buildColumns = (this.db.prepare('PRAGMA table_info(builds)').all() as { name: string }[]).map((c) => c.name);
    if (!buildColumns.includes('ended')) this.db.exec('ALTER TABLE builds ADD COLUMN ended INTEGER NOT NULL DEFAULT 0');
    this.db
      .transaction(() => {
        // a store made before the totals existed: count once, then enqueue keeps them
        if (this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'staged_totals'").get()) return;
        this.db.exec(STAGED_TOTALS);
      })
      .immediate();
  }

  /** Open for the CLI: no cleanup, the gateway may be running. */
  static openExisting(dir: string): SyncStore {
    return new SyncStore({ dir, maxBytes: Number.MAX_SAFE_INTEGER, hotMs: Number.MAX_SAFE_INTEGER });
  }

  /** Remove temp files and local files no row names (leftovers of a crash before the commit). */
  removeLeftovers(): number {
    rmSync(this.tmpDir, { recursive: true, force: true });
    mkdirSync(this.tmpDir, { recursive: true });
    const named = new Set(this.db.prepare('SELECT file FROM objects WHERE local = 1').pluck().all() as string[]);
    let removed = 0;
    for (const name of readdirSync(this.objectsDir)) {
      if (name === 'tmp' || named.has(name)) continue;
      rmSync(path.join(this.objectsDir, name), { force: true });
      removed++;
    }
    return removed;
  }

  close(): void {
    this.db.close();
  }

  filePath(file: string): string {
    return path.join(this.objectsDir, file);
  }

  private tmpName(): string {
    return path.join(this.tmpDir, `${process.pid}-${++this.tmpCounter}-${randomBytes(4).toString('hex')}`);
  }

  /** Write bytes as a local object file (fsynced, renamed into place); returns its name and digests. */
  placeBytes(bytes: Uint8Array): { file: string; size: number; sha256: string; md5: string } {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const md5 = createHash('md5').update(bytes).digest('hex');
    const file = `${sha256}`;
    const tmp = this.tmpName();
    const fd = openSync(tmp, 'wx');
    try {
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.filePath(file));
    fsyncDir(this.objectsDir);
    return { file, size: bytes.length, sha256, md5 };
  }

  /**
   * Take a file that is already content-addressed by `sha256` (a spooled blob): hard-linked when on
   * the same file system (no copy of a frame), copied otherwise.
   */
  placeFile(source: string, sha256: string): string {
    const target = this.filePath(sha256);
    const tmp = this.tmpName();
    try {
      linkSync(source, tmp);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EXDEV' && code !== 'EPERM') throw err;
      copyFileSync(source, tmp);
      const fd = openSync(tmp, 'r');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    renameSync(tmp, target);
    fsyncDir(this.objectsDir);
    return sha256;
  }

  /** The object already holding these bytes under this key, if any (content-hash dedup). */
  objectByKey(key: string): { id: number; state: string } | undefined {
    return this.db.prepare('SELECT id, state FROM objects WHERE key = ?').get(key) as { id: number; state: string } | undefined;
  }

  /** Local bytes of objects not yet in the cloud, and of all local copies. */
  localBytes(): { total: number; unsynced: number } {
    const r = this.db
      .prepare(
        "SELECT COALESCE(SUM(size), 0) AS total, COALESCE(SUM(CASE WHEN state = 'queued' THEN size ELSE 0 END), 0) AS unsynced FROM objects WHERE local = 1",
      )
      .get() as { total: number; unsynced: number };
    const staged = this.stagedTotals().bytes;
    return { total: r.total + staged, unsynced: r.unsynced + staged };
  }

  /**
   * Make room for `incoming` bytes: evict synced local copies (oldest first). Throws
   * `SyncStoreFullError` when even with every synced copy gone it would not fit.
   */
  ensureRoom(incoming: number): void {
    const { total, unsynced } = this.localBytes();
    if (total + incoming <= this.maxBytes) return;
    if (unsynced + incoming > this.maxBytes) {
      throw new SyncStoreFullError(
        `sync store ${this.dir}: ${unsynced} bytes not yet in the cloud + ${incoming} new exceed maxBytes ${this.maxBytes}; the records stay in the buffer until uploads make room`,
      );
    }
    this.evictSynced(total + incoming - this.maxBytes);
  }

  /** Remove synced local copies, oldest record time first, until `need` bytes are freed. Returns bytes freed. */
  evictSynced(need: number, olderThanNs?: bigint): number {
    const rows = (
      olderThanNs !== undefined
        ? this.db
            .prepare("SELECT id, file, size FROM objects WHERE state = 'synced' AND local = 1 AND record_time_ns < ? ORDER BY record_time_ns, id")
            .all(olderThanNs)
        : this.db.prepare("SELECT id, file, size FROM objects WHERE state = 'synced' AND local = 1 ORDER BY record_time_ns, id").all()
    ) as { id: number; file: string; size: number }[];
    let freed = 0;
    const mark = this.db.prepare('UPDATE objects SET local = 0 WHERE id = ?');
    const stillUsed = this.db.prepare('SELECT COUNT(*) FROM objects WHERE file = ? AND local = 1 AND id != ?').pluck();
    for (const r of rows) {
      if (freed >= need) break;
      mark.run(r.id);
      if ((stillUsed.get(r.file, r.id) as number) === 0) rmSync(this.filePath(r.file), { force: true });
      freed += r.size;
    }
    return freed;
  }

  /** The tier rule run by the uploader: synced copies older than the hot period go. Returns bytes freed. */
  expireHot(nowMs = Date.now()): number {
    const cutoff = BigInt(nowMs - this.hotMs) * 1_000_000n;
    return this.evictSynced(Number.MAX_SAFE_INTEGER, cutoff);
  }

  /**
   * Commit new objects, members of existing ones (dedup), staged records and refusals in one
   * transaction. The files of new objects must already be placed.
   */
  enqueue(batch: {
    objects?: NewObject[];
    /** members for objects already queued or synced (same key) */
    dedup?: { key: string; member: Member }[];
    staged?: StagedRecord[];
    /**
     * staged records now carried by new objects: per compaction chunk, the rows of `window` with seqs
     * `firstSeq`..`lastSeq`, exactly `records` of them (another count aborts the commit: the rows
     * changed since they were read)
     */
    unstage?: StagedRange[];
    refused?: Map<SensitivityClass, number>;
    /** builds the machine reported finished or aborted: their manifest need not wait for quiet */
    ended?: string[];
  }): void {
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const insertObject = this.db.prepare(`INSERT INTO objects (key, file, size, sha256, md5, content_type, content_encoding, class,
      mode, priority, record_time_ns, queued_ns, metadata) VALUES (@key, @file, @size, @sha256, @md5, @contentType, @contentEncoding,
      @class, @mode, @priority, @recordTimeNs, @queuedNs, @metadata)`);
    // a redelivered batch (at least once) names the same records again: they count once
    const insertMember = this.db.prepare(`INSERT OR IGNORE INTO members (object_id, build, first_seq, last_seq, layer_min, layer_max, records, class)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    const touchBuild = this.db.prepare(`INSERT INTO builds (build, last_record_ms, changed) VALUES (?, ?, 1)
      ON CONFLICT (build) DO UPDATE SET last_record_ms = MAX(last_record_ms, excluded.last_record_ms), changed = 1`);
    const addMember = (objectId: number, m: Member) => {
      insertMember.run(objectId, m.build, m.firstSeq, m.lastSeq, m.layerMin, m.layerMax, m.records, m.class);
      if (m.build) touchBuild.run(m.build, Date.now());
    };
    this.db.transaction(() => {
      for (const o of batch.objects ?? []) {
        const existing = this.objectByKey(o.key);
        if (existing) {
          // the same key again (a redelivered batch): the bytes are the same, only record the members
          for (const m of o.members) addMember(existing.id, m);
          continue;
        }
        const info = insertObject.run({
          key: o.key,
          file: o.file,
          size: o.size,
          sha256: o.sha256,
          md5: o.md5,
          contentType: o.contentType,
          contentEncoding: o.contentEncoding ?? null,
          class: o.class,
          mode: o.mode,
          priority: o.priority,
          recordTimeNs: o.recordTimeNs,
          queuedNs: nowNs,
          metadata: JSON.stringify(o.metadata ?? {}),
        });
        for (const m of o.members) addMember(Number(info.lastInsertRowid), m);
      }
      for (const d of batch.dedup ?? []) {
        const existing = this.objectByKey(d.key);
        if (!existing) throw new Error(`sync store: dedup member for unknown object ${d.key}`);
        addMember(existing.id, d.member);
      }
      const stage = this.db.prepare('INSERT OR IGNORE INTO staged (seq, window, build, bytes) VALUES (?, ?, ?, ?)');
      const stagedBuilds = new Set<string>();
      let stagedRecords = 0;
      let stagedBytes = 0;
      for (const s of batch.staged ?? []) {
        // a redelivered record is already staged: ignored, and not counted again
        if (stage.run(s.seq, s.window, s.build, s.bytes).changes === 0) continue;
        stagedRecords++;
        stagedBytes += s.bytes.length;
        if (s.build) stagedBuilds.add(s.build);
      }
      // once per build, not per record
      for (const b of stagedBuilds) touchBuild.run(b, Date.now());
      // one statement per chunk, not per row: a chunk is 200,000 rows
      const sizeOf = this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(bytes)), 0) AS bytes FROM staged WHERE window = ? AND seq BETWEEN ? AND ?');
      const unstage = this.db.prepare('DELETE FROM staged WHERE window = ? AND seq BETWEEN ? AND ?');
      for (const u of batch.unstage ?? []) {
        const { n, bytes } = sizeOf.get(u.window, u.firstSeq, u.lastSeq) as { n: number; bytes: number };
        if (n !== u.records) {
          throw new Error(`sync store: window ${u.window} seqs ${u.firstSeq}..${u.lastSeq} hold ${n} staged records, the chunk read ${u.records}`);
        }
        unstage.run(u.window, u.firstSeq, u.lastSeq);
        stagedRecords -= n;
        stagedBytes -= bytes;
      }
      if (stagedRecords !== 0 || stagedBytes !== 0) {
        this.db.prepare('UPDATE staged_totals SET records = records + ?, bytes = bytes + ? WHERE id = 1').run(stagedRecords, stagedBytes);
      }
      const ended = this.db.prepare(`INSERT INTO builds (build, last_record_ms, changed, ended) VALUES (?, ?, 1, 1)
        ON CONFLICT (build) DO UPDATE SET ended = 1, changed = 1`);
      for (const b of batch.ended ?? []) ended.run(b, Date.now());
      const refuse = this.db.prepare(
        'INSERT INTO refused (class, records) VALUES (?, ?) ON CONFLICT (class) DO UPDATE SET records = records + excluded.records',
      );
      for (const [cls, n] of batch.refused ?? []) refuse.run(cls, n);
    })();
  }

  /** The oldest window with staged records that is before `beforeWindow` and after `afterWindow`. */
  oldestStagedWindow(beforeWindow: number, afterWindow = Number.MIN_SAFE_INTEGER): number | undefined {
    const w = this.db.prepare('SELECT MIN(window) FROM staged WHERE window < ? AND window > ?').pluck().get(beforeWindow, afterWindow) as number | null;
    return w ?? undefined;
  }

  /**
   * The next staged records of `window` after `afterSeq`, in seq order: at most `maxRecords`, and no more
   * than `maxBytes` of encoded records (but always at least one), so what compaction holds is bounded
   * whatever the window holds.
   */
  stagedChunk(window: number, afterSeq: number, maxRecords: number, maxBytes: number): StagedRecord[] {
    const rows: StagedRecord[] = [];
    let bytes = 0;
    const it = this.db.prepare('SELECT seq, window, build, bytes FROM staged WHERE window = ? AND seq > ? ORDER BY seq').iterate(window, afterSeq);
    for (const r of it as IterableIterator<StagedRecord>) {
      if (rows.length > 0 && (rows.length >= maxRecords || bytes + r.bytes.length > maxBytes)) break;
      rows.push(r);
      bytes += r.bytes.length;
    }
    return rows;
  }

  stagedCount(): number {
    return this.stagedTotals().records;
  }

  private stagedTotals(): { records: number; bytes: number } {
    return this.db.prepare('SELECT records, bytes FROM staged_totals WHERE id = 1').get() as { records: number; bytes: number };
  }

  private toRow(r: Record<string, unknown>): ObjectRow {
    return {
      id: r.id as number,
      key: r.key as string,
      file: r.file as string,
      size: r.size as number,
      sha256: r.sha256 as string,
      md5: r.md5 as string,
      contentType: r.content_type as string,
      contentEncoding: (r.content_encoding as string | null) ?? null,
      class: r.class as SensitivityClass,
      mode: r.mode as SyncMode,
      priority: r.priority as number,
      recordTimeNs: BigInt(r.record_time_ns as number),
      state: r.state as 'queued' | 'synced',
      local: r.local === 1,
      uploadId: (r.upload_id as string | null) ?? null,
      partSize: (r.part_size as number | null) ?? null,
      attempts: r.attempts as number,
      lastError: (r.last_error as string | null) ?? null,
      metadata: JSON.parse(r.metadata as string) as Record<string, string>,
    };
  }

  /** The next object to upload: lowest priority number, then by record time (oldest or newest first). */
  next(order: QueueOrder, nowMs = Date.now()): ObjectRow | undefined {
    const dir = order === 'newest-first' ? 'DESC' : 'ASC';
    const r = this.db
      .prepare(`SELECT * FROM objects WHERE state = 'queued' AND retry_at_ms <= ? ORDER BY priority, record_time_ns ${dir}, id ${dir} LIMIT 1`)
      .get(nowMs) as Record<string, unknown> | undefined;
    return r ? this.toRow(r) : undefined;
  }

  /** ms until the earliest queued object may be retried (0: one is ready; undefined: queue empty). */
  nextRetryInMs(nowMs = Date.now()): number | undefined {
    const at = this.db.prepare("SELECT MIN(retry_at_ms) FROM objects WHERE state = 'queued'").pluck().get() as number | null;
    return at === null ? undefined : Math.max(0, at - nowMs);
  }

  object(id: number): ObjectRow | undefined {
    const r = this.db.prepare('SELECT * FROM objects WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return r ? this.toRow(r) : undefined;
  }

  objects(): ObjectRow[] {
    return (this.db.prepare('SELECT * FROM objects ORDER BY id').all() as Record<string, unknown>[]).map((r) => this.toRow(r));
  }

  setUpload(id: number, uploadId: string | null, partSize: number | null): void {
    this.db.prepare('UPDATE objects SET upload_id = ?, part_size = ? WHERE id = ?').run(uploadId, partSize, id);
    if (uploadId === null) this.db.prepare('DELETE FROM parts WHERE object_id = ?').run(id);
  }

  parts(id: number): PartRow[] {
    return this.db.prepare('SELECT part, size, md5, etag FROM parts WHERE object_id = ? ORDER BY part').all(id) as PartRow[];
  }

  logPart(id: number, uploadId: string, part: number, event: 'send' | 'confirmed' | 'adopted'): void {
    this.db
      .prepare('INSERT INTO part_log (object_id, upload_id, part, event, at_ns) VALUES (?, ?, ?, ?, ?)')
      .run(id, uploadId, part, event, BigInt(Date.now()) * 1_000_000n);
  }

  partLog(id?: number): { objectId: number; uploadId: string; part: number; event: string }[] {
    const rows = (
      id === undefined
        ? this.db.prepare('SELECT object_id, upload_id, part, event FROM part_log ORDER BY id').all()
        : this.db.prepare('SELECT object_id, upload_id, part, event FROM part_log WHERE object_id = ? ORDER BY id').all(id)
    ) as { object_id: number; upload_id: string; part: number; event: string }[];
    return rows.map((r) => ({ objectId: r.object_id, uploadId: r.upload_id, part: r.part, event: r.event }));
  }

  /** Persist a confirmed part (the store answered it with this ETag). */
  confirmPart(id: number, uploadId: string, p: PartRow, event: 'confirmed' | 'adopted' = 'confirmed'): void {
    this.db.transaction(() => {
      this.db
        .prepare('INSERT OR REPLACE INTO parts (object_id, part, size, md5, etag, confirmed_ns) VALUES (?, ?, ?, ?, ?, ?)')
        .run(id, p.part, p.size, p.md5, p.etag, BigInt(Date.now()) * 1_000_000n);
      this.logPart(id, uploadId, p.part, event);
    })();
  }

  markSynced(id: number, etag: string, storageClass: string | null): void {
    this.db
      .prepare("UPDATE objects SET state = 'synced', synced_ns = ?, etag = ?, storage_class = ?, last_error = NULL WHERE id = ?")
      .run(BigInt(Date.now()) * 1_000_000n, etag, storageClass, id);
  }

  markFailed(id: number, error: string, retryAtMs: number): void {
    this.db.prepare('UPDATE objects SET attempts = attempts + 1, last_error = ?, retry_at_ms = ? WHERE id = ?').run(error, retryAtMs, id);
  }

  /** Make every queued object eligible now (after the link came back, or on resume). */
  clearRetryDelays(): void {
    this.db.prepare("UPDATE objects SET retry_at_ms = 0 WHERE state = 'queued'").run();
  }

  setting(name: string): string | undefined {
    return this.db.prepare('SELECT value FROM settings WHERE name = ?').pluck().get(name) as string | undefined;
  }

  setSetting(name: string, value: string): void {
    this.db.prepare('INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value').run(name, value);
  }

  get paused(): boolean {
    return this.setting('paused') === '1';
  }

  setPaused(paused: boolean): void {
    this.setSetting('paused', paused ? '1' : '0');
  }

  /**
   * Builds whose manifest is due: changed since the last manifest, ended (the machine said so) or
   * quiet for `quietMs`, and nothing of them left to upload.
   */
  buildsReadyForManifest(quietMs: number, nowMs = Date.now()): string[] {
    const candidates = this.db
      .prepare('SELECT build FROM builds WHERE changed = 1 AND (ended = 1 OR last_record_ms <= ?)')
      .pluck()
      .all(nowMs - quietMs) as string[];
    const pending = this.db
      .prepare(`SELECT COUNT(*) FROM members m JOIN objects o ON o.id = m.object_id
      WHERE m.build = ? AND o.state != 'synced'`)
      .pluck();
    const staged = this.db.prepare('SELECT EXISTS (SELECT 1 FROM staged WHERE build = ?)').pluck();
    return candidates.filter((b) => (pending.get(b) as number) === 0 && (staged.get(b) as number) === 0);
  }

  /** Every object of a build, with the build's seq and layer range in it. */
  manifestEntries(build: string): ManifestEntry[] {
    const rows = this.db
      .prepare(`SELECT o.key, o.size, o.sha256, o.class AS object_class, o.mode, MIN(m.first_seq) AS first_seq, MAX(m.last_seq) AS last_seq,
      MIN(m.layer_min) AS layer_min, MAX(m.layer_max) AS layer_max, SUM(m.records) AS records
      FROM members m JOIN objects o ON o.id = m.object_id WHERE m.build = ? GROUP BY o.id ORDER BY MIN(m.first_seq), o.key`)
      .all(build) as {
      key: string;
      size: number;
      sha256: string;
      object_class: SensitivityClass;
      mode: SyncMode;
      first_seq: number;
      last_seq: number;
      layer_min: number | null;
      layer_max: number | null;
      records: number;
    }[];
    return rows.map((r) => ({
      key: r.key,
      size: r.size,
      sha256: r.sha256,
      class: r.object_class,
      mode: r.mode,
      firstSeq: r.first_seq,
      lastSeq: r.last_seq,
      layerMin: r.layer_min,
      layerMax: r.layer_max,
      records: r.records,
    }));
  }

  /** The manifest of `build` as it was when `atMs` was read is in the cloud. */
  markManifest(build: string, lastRecordMs: number): void {
    this.db
      .prepare('UPDATE builds SET manifest_ms = ?, changed = CASE WHEN last_record_ms > ? THEN 1 ELSE 0 END WHERE build = ?')
      .run(Date.now(), lastRecordMs, build);
  }

  buildLastRecordMs(build: string): number {
    return (this.db.prepare('SELECT last_record_ms FROM builds WHERE build = ?').pluck().get(build) as number | undefined) ?? 0;
  }

  /** The figures `layergate sync status` shows. */
  progress(): SyncProgress {
    const byState = this.db.prepare('SELECT state, COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM objects GROUP BY state').all() as {
      state: string;
      n: number;
      bytes: number;
    }[];
    const get = (s: string) => byState.find((r) => r.state === s) ?? { n: 0, bytes: 0 };
    const confirmed = this.db
      .prepare(`SELECT COALESCE(SUM(p.size), 0) FROM parts p JOIN objects o ON o.id = p.object_id WHERE o.state = 'queued'`)
      .pluck()
      .get() as number;
    const byPriority = this.db
      .prepare(`SELECT priority, mode, COUNT(*) AS objects, COALESCE(SUM(size), 0) AS bytes FROM objects WHERE state = 'queued'
      GROUP BY priority, mode ORDER BY priority`)
      .all() as { priority: number; mode: SyncMode; objects: number; bytes: number }[];
    const local = this.db
      .prepare(`SELECT COUNT(*) AS objects, COALESCE(SUM(size), 0) AS bytes,
      COALESCE(SUM(CASE WHEN state = 'synced' THEN size ELSE 0 END), 0) AS syncedBytes FROM objects WHERE local = 1`)
      .get() as { objects: number; bytes: number; syncedBytes: number };
    const staged = this.stagedTotals();
    const refused = this.db.prepare('SELECT class, records FROM refused ORDER BY class').all() as { class: SensitivityClass; records: number }[];
    refused.sort((a, b) => classRank(a.class) - classRank(b.class));
    const rateText = this.setting('rate');
    const rate = rateText ? (JSON.parse(rateText) as { bytesPerSecond: number; atMs: number }) : null;
    const queuedBytes = get('queued').bytes;
    const left = queuedBytes - confirmed;
    const etaSeconds = left <= 0 ? 0 : rate && rate.bytesPerSecond > 0 ? Math.ceil(left / rate.bytesPerSecond) : null;
    const lastError = this.db
      .prepare("SELECT last_error FROM objects WHERE state = 'queued' AND last_error IS NOT NULL ORDER BY retry_at_ms DESC LIMIT 1")
      .pluck()
      .get() as string | undefined;
    const builds = (
      this.db
        .prepare(`SELECT b.build, b.manifest_ms, COUNT(DISTINCT o.id) AS objects, COUNT(DISTINCT CASE WHEN o.state = 'synced' THEN o.id END) AS synced
      FROM builds b LEFT JOIN members m ON m.build = b.build LEFT JOIN objects o ON o.id = m.object_id GROUP BY b.build ORDER BY b.last_record_ms DESC LIMIT 20`)
        .all() as { build: string; manifest_ms: number | null; objects: number; synced: number }[]
    ).map((b) => ({ build: b.build, objects: b.objects, synced: b.synced, manifestAtMs: b.manifest_ms }));
    return {
      paused: this.paused,
      queued: { objects: get('queued').n, bytes: queuedBytes },
      queuedConfirmedBytes: confirmed,
      synced: { objects: get('synced').n, bytes: get('synced').bytes },
      byPriority,
      local,
      staged,
      refused,
      rate,
      etaSeconds,
      lastError: lastError ?? null,
      builds,
    };
  }

  /** size of a local file (for tests and checks) */
  localFileSize(file: string): number | undefined {
    try {
      return statSync(this.filePath(file)).size;
    } catch {
      return undefined;
    }
  }

  /** Unlink a placed file whose rows were not committed, unless a committed object uses the same file. */
  discard(file: string): void {
    const used = this.db.prepare('SELECT COUNT(*) FROM objects WHERE file = ? AND local = 1').pluck().get(file) as number;
    if (used > 0) return;
    try {
      unlinkSync(this.filePath(file));
    } catch {
      /* already gone */
    }
  }
}
