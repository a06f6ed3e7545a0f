/**
 * A read of the buffer by stream and receive time, for the operator's view of one signal (the
 * control-plane API's signal list and value plots, gateway/api/routes/signals.ts): the streams table,
 * and the records of some streams received in a time range, newest first.
 *
 * Constraints:
 * - Read-only, on a connection of its own (`query_only`, as ./reader.ts): it never touches the
 *   owner's statements, counters or cursors, and WAL gives it a snapshot while the owner appends and
 *   evicts. The connection is opened per use and closed after (`withStreamReader`), so a buffer the
 *   owner quarantined and started again is simply the new file on the next read.
 * - `record_rows` has no index on receive time (./layout.ts): the scan walks rows from the newest
 *   seq down, reading only each row's columns until one lies in the range; a row's `data` is read
 *   only when its receive span meets the range and its class may be shown. Receive times are almost,
 *   not strictly, in seq order, so the walk stops at the first row that ended `SCAN_SLACK_NS` before
 *   the range starts.
 * - Bounded: it stops after `maxRecords` matching records or `maxRows` rows with data read (or
 *   `maxWalk` rows walked, when given), and says
 *   so (`truncated`, and `oldestNs`: how far back it got), so one request cannot hold the main
 *   thread (where the inputs append) for long.
 * - Spooled rows (a large body in a file of the spool) are skipped unless `spooled` is set (the frame
 *   list, gateway/api/routes/frames.ts): a scalar's body is never that large. A spooled record is
 *   visited with its blob reference and an empty body; the caller reads the blob (./read.ts readBlob).
 * - `visit` may return false to end the scan early (`stopped`: the caller had what it wanted).
 * - `record(seq)` reads one record by seq (frames' bytes), with its extras and blob reference.
 * - Bodies are handed over as stored: a confidential body is sealed (the caller opens it).
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { RECORD_KINDS, type RecordKind } from '../plugin-api/record.js';
import { DB_FILE } from './layout.js';
import { NO_EXTRA, RECORD_HEADER_BYTES, bodyLengthAt, extraIndexAt, hasSourceTimeAt, headerStart, kindAt, receiveNsAt, sourceNsAt, streamAt } from './rows.js';
import type { Stream } from './streams.js';

/** rows that ended this long before the range's start end the walk (receive times are nearly in seq order) */
export const SCAN_SLACK_NS = 60n * 1_000_000_000n;

export interface StreamRecord {
  stream: number;
  kind: RecordKind;
  /** index into SENSITIVITY_CLASSES */
  cls: number;
  receiveNs: bigint;
  /** the body as stored (sealed when the record is confidential); a view of the row, valid during the visit; empty when spooled */
  body: Buffer;
  seq: number;
  /** the source time, when the record has one */
  sourceNs: bigint | null;
  /** the spooled body's reference (rows read with `spooled` only) */
  blob: { sha256: string; size: number } | null;
  build: string | undefined;
  layer: number | undefined;
  attributes: Readonly<Record<string, string>> | undefined;
}

interface Extra {
  b?: string;
  l?: number;
  a?: Readonly<Record<string, string>>;
}

export interface StreamScan {
  /** records visited */
  records: number;
  /** stopped at `maxRecords` or `maxRows` before reaching the start of the range */
  truncated: boolean;
  /** the oldest receive time visited (the scan covers [oldestNs, toNs] when truncated) */
  oldestNs: bigint | null;
  /** `visit` returned false */
  stopped: boolean;
}

export interface StreamScanOptions {
  streams: ReadonlySet<number>;
  fromNs: bigint;
  toNs: bigint;
  /** rows of a class above this index are not read */
  maxClass: number;
  maxRecords: number;
  maxRows: number;
  /** visit spooled records too (with their blob reference) */
  spooled?: boolean;
  /** rows walked at most, with data or not (a scan with no time bound, as the frame list's) */
  maxWalk?: number;
}

type RowHead = [seq: bigint, cls: bigint, records: bigint, receiveMin: bigint, receiveMax: bigint, blob: string | null, size: bigint];

export class StreamReader {
  private readonly db: Database.Database;

  /** Open the buffer in `dir` (it must exist). */
  constructor(dir: string) {
    this.db = new Database(path.join(path.resolve(dir), DB_FILE), { fileMustExist: true, timeout: 5_000 });
    try {
      this.db.pragma('query_only = ON');
      this.db.pragma('cache_size = -4096');
    } catch (e) {
      this.db.close();
      throw e;
    }
  }

  /** Every stream the buffer has interned, by id. */
  streams(): Stream[] {
    return (
      this.db.prepare('SELECT id, source, signal, content_type FROM streams ORDER BY id').all() as {
        id: number;
        source: string;
        signal: string;
        content_type: string;
      }[]
    ).map((r) => ({ id: r.id, source: r.source, signal: r.signal, contentType: r.content_type }));
  }

  /** Visit the records of `opts.streams` received in [fromNs, toNs], newest row first (see the header). */
  scan(opts: StreamScanOptions, visit: (r: StreamRecord) => boolean | undefined): StreamScan {
    const heads = this.db
      .prepare('SELECT seq, cls, records, receive_min_ns, receive_max_ns, blob_sha256, size FROM record_rows ORDER BY seq DESC')
      .raw(true)
      .safeIntegers(true);
    const dataOf = this.db.prepare('SELECT data, extras FROM record_rows WHERE seq = ?').raw(true);
    const stopBelow = opts.fromNs - SCAN_SLACK_NS;
    let records = 0;
    let rows = 0;
    let oldestNs: bigint | null = null;
    let truncated = false;
    let stopped = false;
    let walked = 0;
    walk: for (const head of heads.iterate() as IterableIterator<RowHead>) {
      const [seq, cls, n, min, max, blob, size] = head;
      if (max < stopBelow) break;
      if (opts.maxWalk !== undefined && ++walked > opts.maxWalk) {
        truncated = true;
        break;
      }
      if (min > opts.toNs || max < opts.fromNs || (blob !== null && !opts.spooled) || Number(cls) > opts.maxClass) continue;
      if (records >= opts.maxRecords || rows >= opts.maxRows) {
        truncated = true;
        break;
      }
      rows++;
      const [data, extrasJson] = dataOf.get(seq) as [Buffer, string | null];
      const count = Number(n);
      const firstSeq = Number(seq) - count + 1;
      const blobRef = blob === null ? null : { sha256: blob, size: Number(size) };
      let extras: Extra[] | undefined;
      const h0 = headerStart(data, count);
      let bodyAt = 0;
      for (let i = 0, h = h0; i < count; i++, h += RECORD_HEADER_BYTES) {
        const len = bodyLengthAt(data, h);
        const at = bodyAt;
        bodyAt += len;
        const stream = streamAt(data, h);
        if (!opts.streams.has(stream)) continue;
        const receiveNs = receiveNsAt(data, h);
        if (receiveNs < opts.fromNs || receiveNs > opts.toNs) continue;
        records++;
        if (oldestNs === null || receiveNs < oldestNs) oldestNs = receiveNs;
        const x = extraIndexAt(data, h);
        if (x !== NO_EXTRA && extrasJson !== null) extras ??= JSON.parse(extrasJson) as Extra[];
        const extra = x !== NO_EXTRA ? extras?.[x] : undefined;
        const rec: StreamRecord = {
          stream,
          kind: RECORD_KINDS[kindAt(data, h)] as RecordKind,
          cls: Number(cls),
          receiveNs,
          body: data.subarray(at, at + len),
          seq: firstSeq + i,
          sourceNs: hasSourceTimeAt(data, h) ? sourceNsAt(data, h) : null,
          blob: blobRef,
          build: extra?.b,
          layer: extra?.l,
          attributes: extra?.a,
        };
        if (visit(rec) === false) {
          stopped = true;
          break walk;
        }
      }
    }
    return { records, truncated, oldestNs, stopped };
  }

  /** The record with this seq (a copy of its body, or its blob reference), or undefined when it is not in the buffer. */
  record(seq: number): (StreamRecord & { stream: number }) | undefined {
    if (!Number.isSafeInteger(seq) || seq < 0) return undefined;
    const row = this.db
      .prepare('SELECT seq, first_seq, cls, records, size, extras, blob_sha256, data FROM record_rows WHERE seq >= ? ORDER BY seq LIMIT 1')
      .get(seq) as
      | { seq: number; first_seq: number; cls: number; records: number; size: number; extras: string | null; blob_sha256: string | null; data: Buffer }
      | undefined;
    if (row === undefined || row.first_seq > seq) return undefined;
    const data = row.data;
    const h0 = headerStart(data, row.records);
    let bodyAt = 0;
    for (let i = 0, h = h0; i < row.records; i++, h += RECORD_HEADER_BYTES) {
      const len = bodyLengthAt(data, h);
      if (row.first_seq + i !== seq) {
        bodyAt += len;
        continue;
      }
      const x = extraIndexAt(data, h);
      const extra = x !== NO_EXTRA && row.extras !== null ? (JSON.parse(row.extras) as Extra[])[x] : undefined;
      return {
        stream: streamAt(data, h),
        kind: RECORD_KINDS[kindAt(data, h)] as RecordKind,
        cls: row.cls,
        receiveNs: receiveNsAt(data, h),
        body: Buffer.from(data.subarray(bodyAt, bodyAt + len)),
        seq,
        sourceNs: hasSourceTimeAt(data, h) ? sourceNsAt(data, h) : null,
        blob: row.blob_sha256 === null ? null : { sha256: row.blob_sha256, size: row.size },
        build: extra?.b,
        layer: extra?.l,
        attributes: extra?.a,
      };
    }
    return undefined;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** Run `f` with a reader of the buffer in `dir`, closed after. */
export function withStreamReader<T>(dir: string, f: (r: StreamReader) => T): T {
  const reader = new StreamReader(dir);
  try {
    return f(reader);
  } finally {
    reader.close();
  }
}
