/**
 * A read of the buffer by seq, whatever the records' sinks: what a client of the gRPC API follows
 * (`StreamRecords`, resumable from a seq) or pages through (`QueryRecords`), and a record's spooled
 * body by its seq (`GetBlob`).
 *
 * Constraints:
 * - Read-only, on a connection of its own (`query_only`, as ./reader.ts): it never touches the owner's
 *   statements, cursors or counters, and WAL gives each read a snapshot while the owner appends and
 *   evicts. Rows are decoded by the owner's code (`decodeRows`, ./read.ts).
 * - Gaps are told, not hidden: seqs after `from` that no row holds (evicted by the bound or the age
 *   limit, or given to records that were never stored: ./disk-full.ts) are reported as ranges, in
 *   order, before the records that follow them. Seqs below the buffer's origin (`origin`, ./layout.ts)
 *   never were records here and are no gap. A record above `maxClass` is skipped silently (it is
 *   there, the caller may not see it); its row's data is not read.
 * - Bounded: a call returns at most `limit` records and `maxBytes` of payload (the first always),
 *   walks at most `maxRows` rows and decodes at most 4 x `limit` (at least 16,384) records, so a caller
 *   that sees few of the records (a narrow filter, a low class ceiling) cannot hold the thread long. `lastSeq` says how far it looked: the next call goes
 *   on from there.
 * - Bodies are handed over as stored: a confidential body is sealed (the caller opens it); a spooled
 *   body is the record's `blob` reference, read with `readBlob(seq)`.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import type { BlobRef, StoredRecord } from '../plugin-api/record.js';
import { DB_FILE, type PackedRowRead } from './layout.js';
import { ReaderTables } from './reader-tables.js';
import { decodeRows, readBlob } from './read.js';
import { Spool } from './spool.js';

/** the row holding a seq (bind seq - 1): the first whose last seq is after it */
const ROW_SQL = 'SELECT seq, first_seq, routes, cls, records, size, extras, blob_sha256, data FROM record_rows WHERE seq > ? ORDER BY seq LIMIT 1';
/** rows' columns without their data, after a seq (bind seq, limit): the class and time checks come before the data is read */
const ROW_HEADS_SQL = 'SELECT seq, first_seq, cls, receive_min_ns, receive_max_ns FROM record_rows WHERE seq > ? ORDER BY seq LIMIT ?';

export interface RangeFilter {
  /** the most sensitive class index (SENSITIVITY_CLASSES) the caller may see */
  maxClass: number;
  /** receive-time range, ns since the Unix epoch, inclusive; a row outside it is not read */
  fromNs?: bigint | undefined;
  toNs?: bigint | undefined;
  /** the last seq of the range (inclusive) */
  toSeq?: number | undefined;
  /** a record the caller wants (signal, source, build ...): the others are skipped */
  accept?: ((r: StoredRecord) => boolean) | undefined;
}

export interface RangeRead {
  /** in seq order */
  records: StoredRecord[];
  /** seqs after `from` no row holds, inclusive ranges in order; each before the records that follow it */
  gaps: { from: number; to: number }[];
  /** the last seq this read covered (records, gaps and skipped records alike): the next read's `from` */
  lastSeq: number;
}

export class RangeReader {
  readonly dbPath: string;
  private readonly db: Database.Database;
  private readonly rowHeads: Database.Statement;
  private readonly row: Database.Statement;
  private readonly head: Database.Statement;
  private readonly tables: ReaderTables;
  private readonly origin: number;
  private readonly spool: Spool;

  /** Open the buffer in `dir` (its owner created it). */
  constructor(dir: string) {
    this.dbPath = path.join(path.resolve(dir), DB_FILE);
    this.db = new Database(this.dbPath, { fileMustExist: true, timeout: 5_000 });
    this.db.pragma('query_only = ON');
    this.db.pragma('cache_size = -4096');
    this.rowHeads = this.db.prepare(ROW_HEADS_SQL).raw(true);
    this.row = this.db.prepare(ROW_SQL).raw(true);
    // records never stored (./disk-full.ts) take seqs too: the head is the state's, not the last row's
    this.head = this.db.prepare('SELECT max((SELECT next_seq - 1 FROM state WHERE id = 1), coalesce((SELECT max(seq) FROM record_rows), 0))').pluck();
    // the owner made the table at open; a seq below the origin was never a record here, so no gap
    this.origin = Number(this.db.prepare('SELECT first_seq FROM origin WHERE id = 1').pluck().get() ?? 1);
    this.tables = new ReaderTables(this.db, this.dbPath);
    this.spool = new Spool(path.join(path.dirname(this.dbPath), 'spool'));
  }

  /** The newest seq given out (0: none yet). */
  headSeq(): number {
    return Number(this.head.get() ?? 0);
  }

  /**
   * Records after `from` that `filter` lets through, ascending: at most `limit` records, `maxBytes`
   * of payload, `maxRows` rows walked (see the module header).
   */
  read(from: number, filter: RangeFilter, limit: number, maxBytes: number, maxRows = 4_096): RangeRead {
    const records: StoredRecord[] = [];
    const gaps: { from: number; to: number }[] = [];
    let expected = Math.max(from + 1, this.origin);
    let lastSeq = from;
    let bytes = 0;
    /** records decoded, seen or filtered out: a narrow filter must not decode the whole buffer in one call */
    let decoded = 0;
    const maxDecoded = Math.max(limit * 4, 16_384);
    const toSeq = filter.toSeq ?? Number.MAX_SAFE_INTEGER;
    // the heads first, whole: a connection cannot read a row while a statement of it is still iterating
    const heads = this.rowHeads.all(from, maxRows) as [number, number, number, bigint | number, bigint | number][];
    for (const [seq, firstSeq, cls, minNs, maxNs] of heads) {
      if (records.length >= limit || (records.length > 0 && bytes >= maxBytes) || decoded >= maxDecoded) break;
      const start = Math.max(firstSeq, from + 1);
      if (start > toSeq) break;
      if (firstSeq > expected) {
        const to = Math.min(firstSeq - 1, toSeq);
        gaps.push({ from: expected, to });
        lastSeq = to;
      }
      const outOfTime = (filter.fromNs !== undefined && BigInt(maxNs) < filter.fromNs) || (filter.toNs !== undefined && BigInt(minNs) > filter.toNs);
      if (cls > filter.maxClass || outOfTime) {
        lastSeq = Math.min(seq, toSeq);
        expected = seq + 1;
        continue;
      }
      const row = this.row.get(start - 1) as PackedRowRead | undefined;
      if (row === undefined || row[0] !== seq) break; // evicted between the two reads: the next read tells the gap
      const want = Math.min(seq, toSeq) - start + 1;
      const got = decodeRows(
        [row],
        start - 1,
        Math.min(want, limit - records.length),
        records.length === 0 ? maxBytes : Math.max(1, maxBytes - bytes),
        (id) => this.tables.stream(id),
        (mask) => this.tables.namesOf(mask),
      ).records;
      let covered = start - 1;
      decoded += got.length;
      for (const r of got) {
        if (r.seq > toSeq) break;
        covered = r.seq;
        bytes += r.blob ? r.blob.size : (r.body?.length ?? 0);
        if (filter.fromNs !== undefined && r.receiveTimeNs < filter.fromNs) continue;
        if (filter.toNs !== undefined && r.receiveTimeNs > filter.toNs) continue;
        if (filter.accept !== undefined && !filter.accept(r)) continue;
        records.push(r);
      }
      if (got.length < want) {
        // cut by the limit or the bytes: the rest of the row comes with the next read
        lastSeq = covered;
        return { records, gaps, lastSeq };
      }
      lastSeq = Math.min(seq, toSeq);
      expected = seq + 1;
    }
    return { records, gaps, lastSeq };
  }

  /** The record of `seq`, as stored (sealed when confidential), or undefined when no row holds it. */
  record(seq: number): StoredRecord | undefined {
    const row = this.row.get(seq - 1) as PackedRowRead | undefined;
    if (row === undefined || row[1] > seq) return undefined;
    const [r] = decodeRows(
      [row],
      seq - 1,
      1,
      undefined,
      (id) => this.tables.stream(id),
      (mask) => this.tables.namesOf(mask),
    ).records;
    return r?.seq === seq ? r : undefined;
  }

  /** A spooled body, checked against its size and hash (as the owner's `readBlob`). */
  readBlob(ref: BlobRef): Promise<Buffer> {
    return readBlob(this.spool, ref);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
