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
 * - Bounded: it stops after `maxRecords` matching records or `maxRows` rows with data read, and says
 *   so (`truncated`, and `oldestNs`: how far back it got), so one request cannot hold the main
 *   thread (where the inputs append) for long.
 * - Spooled rows (a large body in a file of the spool) are skipped: a scalar's body is never that large.
 * - Bodies are handed over as stored: a confidential body is sealed (the caller opens it).
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { RECORD_KINDS, type RecordKind } from '../plugin-api/record.js';
import { DB_FILE } from './layout.js';
import { RECORD_HEADER_BYTES, bodyLengthAt, headerStart, kindAt, receiveNsAt, streamAt } from './rows.js';
import type { Stream } from './streams.js';

/** rows that ended this long before the range's start end the walk (receive times are nearly in seq order) */
export const SCAN_SLACK_NS = 60n * 1_000_000_000n;

export interface StreamRecord {
  stream: number;
  kind: RecordKind;
  /** index into SENSITIVITY_CLASSES */
  cls: number;
  receiveNs: bigint;
  /** the body as stored (sealed when the record is confidential); a view of the row, valid during the visit */
  body: Buffer;
}

export interface StreamScan {
  /** records visited */
  records: number;
  /** stopped at `maxRecords` or `maxRows` before reaching the start of the range */
  truncated: boolean;
  /** the oldest receive time visited (the scan covers [oldestNs, toNs] when truncated) */
  oldestNs: bigint | null;
}

export interface StreamScanOptions {
  streams: ReadonlySet<number>;
  fromNs: bigint;
  toNs: bigint;
  /** rows of a class above this index are not read */
  maxClass: number;
  maxRecords: number;
  maxRows: number;
}

type RowHead = [seq: bigint, cls: bigint, records: bigint, receiveMin: bigint, receiveMax: bigint, blob: string | null];

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
  scan(opts: StreamScanOptions, visit: (r: StreamRecord) => void): StreamScan {
    const heads = this.db
      .prepare('SELECT seq, cls, records, receive_min_ns, receive_max_ns, blob_sha256 FROM record_rows ORDER BY seq DESC')
      .raw(true)
      .safeIntegers(true);
    const dataOf = this.db.prepare('SELECT data FROM record_rows WHERE seq = ?').pluck();
    const stopBelow = opts.fromNs - SCAN_SLACK_NS;
    let records = 0;
    let rows = 0;
    let oldestNs: bigint | null = null;
    let truncated = false;
    for (const head of heads.iterate() as IterableIterator<RowHead>) {
      const [seq, cls, n, min, max, blob] = head;
      if (max < stopBelow) break;
      if (min > opts.toNs || max < opts.fromNs || blob !== null || Number(cls) > opts.maxClass) continue;
      if (records >= opts.maxRecords || rows >= opts.maxRows) {
        truncated = true;
        break;
      }
      rows++;
      const data = dataOf.get(seq) as Buffer;
      const count = Number(n);
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
        visit({ stream, kind: RECORD_KINDS[kindAt(data, h)] as RecordKind, cls: Number(cls), receiveNs, body: data.subarray(at, at + len) });
      }
    }
    return { records, truncated, oldestNs };
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
