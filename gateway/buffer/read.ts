/**
 * The sink side and the operator's view: read from a sink's cursor, ack (move the cursor), blobs,
 * stats, the loss ledger and the full integrity check.
 *
 * Constraints (the full list is in ./layout.ts):
 * - Reads are lazy: rows are stepped through from the sink's cursor (or from where the sink is known
 *   to have nothing, `emptyThrough`) until the limit; the backlog is never loaded. Decoding allocates
 *   the record and its body's view of the row (no copy).
 * - A cursor only moves forward; an ack lowers `deliveredScanFrom` so delivered-first eviction
 *   looks at the rows that just became delivered, and makes room for a refused batch ('space').
 * - `stats` reads only in-memory counters: cheap on a buffer of any size.
 * - `check` runs the full `integrity_check` and verifies every blob's hash; a damaged database is
 *   quarantined and an empty one started, like at open.
 */
import { BlobMissingError, BufferCorruptError } from '../plugin-api/errors.js';
import { RECORD_KINDS, SENSITIVITY_CLASSES, type BlobRef, type RecordKind, type SensitivityClass, type StoredRecord } from '../plugin-api/record.js';
import { EvictionPass, evictDelivered, runEvictionTxn } from './eviction.js';
import type { PackedRowRead, RowInfo } from './layout.js';
import { dropBlobs, isCorruption, recoverSpool, restartEmpty } from './recovery.js';
import {
  NO_EXTRA,
  RECORD_HEADER_BYTES,
  bodyLengthAt,
  countInRange,
  extraIndexAt,
  hasSourceTimeAt,
  headerStart,
  kindAt,
  receiveNsAt,
  sourceNsAt,
  streamAt,
} from './rows.js';
import { type Spool, sha256Hex } from './spool.js';
import type { AppendLogState } from './state.js';
import type { Stream } from './streams.js';
import type { BufferStats, CheckResult, KnownSink, LossEntry, SinkStats } from './types.js';

/** Records routed to `sink` after its cursor (and after `afterSeq`), see RecordBuffer.read. */
export function readSink(st: AppendLogState, sink: string, limit: number, maxBytes?: number, afterSeq?: number): StoredRecord[] {
  st.assertOpen();
  const s = st.sink(sink, 'read');
  if (!(limit > 0)) return [];
  const newest = st.c.nextSeq - 1;
  const fromCursor = Math.max(s.cursor, s.emptyThrough);
  const from = afterSeq === undefined ? fromCursor : Math.max(fromCursor, Math.floor(afterSeq));
  if (from >= newest) return [];
  const streamsById = st.streams.byId;
  const { records, sawRow } = decodeRows(
    st.s.readSink.iterate(from, 1 << s.bit) as IterableIterator<PackedRowRead>,
    from,
    Math.floor(limit),
    maxBytes,
    (id) => streamsById.get(id)!,
    (mask) => st.namesOf(mask),
  );
  // nothing for this sink up to the newest seq: later reads start there (only known when this read
  // started at the cursor: rows between the cursor and `afterSeq` are still to be delivered)
  if (!sawRow && from === fromCursor) s.emptyThrough = newest;
  return records;
}

/**
 * The records of `rows` (the `readSink` statement's rows, ascending) with seq > `from`: at most `max`
 * of them and `maxBytes` of payload (the first always). Shared by the buffer's own reads and by a
 * reader on another connection (./reader.ts). `sawRow`: whether `rows` had any row at all.
 */
export function decodeRows(
  rows: Iterable<PackedRowRead>,
  from: number,
  max: number,
  maxBytes: number | undefined,
  streamOf: (id: number) => Stream,
  namesOf: (mask: number) => string[],
): { records: StoredRecord[]; sawRow: boolean } {
  const out: StoredRecord[] = [];
  let bytes = 0;
  let sawRow = false;
  scan: for (const row of rows) {
    sawRow = true;
    const [, firstSeq, routes, cls, records, size, extrasJson, blobSha256, data] = row;
    const routeNames = namesOf(routes);
    const className = SENSITIVITY_CLASSES[cls] as SensitivityClass;
    const extras = extrasJson === null ? null : extrasOf(extrasJson);
    const h0 = headerStart(data, records);
    let bodyAt = 0;
    for (let i = 0, h = h0; i < records; i++, h += RECORD_HEADER_BYTES) {
      const len = bodyLengthAt(data, h);
      const seq = firstSeq + i;
      if (seq <= from) {
        bodyAt += len;
        continue;
      }
      const recordBytes = blobSha256 === null ? len : size;
      if (maxBytes !== undefined && out.length > 0 && bytes + recordBytes > maxBytes) break scan;
      bytes += recordBytes;
      const stream = streamOf(streamAt(data, h));
      const rec: StoredRecord = {
        seq,
        source: stream.source,
        signal: stream.signal,
        kind: RECORD_KINDS[kindAt(data, h)] as RecordKind,
        receiveTimeNs: receiveNsAt(data, h),
        class: className,
        contentType: stream.contentType,
        routes: routeNames,
      };
      if (hasSourceTimeAt(data, h)) rec.sourceTimeNs = sourceNsAt(data, h);
      if (blobSha256 === null) rec.body = data.subarray(bodyAt, bodyAt + len);
      else rec.blob = { sha256: blobSha256, size };
      bodyAt += len;
      const x = extraIndexAt(data, h);
      if (x !== NO_EXTRA && extras !== null) {
        const extra = extras[x]!;
        if (extra.b !== undefined) rec.build = extra.b;
        if (extra.l !== undefined) rec.layer = extra.l;
        if (extra.a !== undefined) rec.attributes = extra.a;
      }
      out.push(rec);
      if (out.length === max) break scan;
    }
  }
  return { records: out, sawRow };
}

interface Extra {
  b?: string;
  l?: number;
  a?: Readonly<Record<string, string>>;
}

/** The last `extras` column parsed, and what it parsed to (attributes frozen: records share them). */
let lastExtras: { json: string; extras: Extra[] } = { json: '', extras: [] };

/**
 * The parsed `extras` column of a row. Consecutive rows mostly carry the same text (one publish's
 * status and server time, one build and layer), so the last one is parsed once and its attributes
 * objects are shared, frozen, by the records that carry them.
 */
function extrasOf(json: string): Extra[] {
  if (json === lastExtras.json) return lastExtras.extras;
  const extras = JSON.parse(json) as Extra[];
  for (const extra of extras) if (extra.a !== undefined) Object.freeze(extra.a);
  lastExtras = { json, extras };
  return extras;
}

/**
 * Records routed to the sink with `bit` and seq in (lo, hi], and their payload bytes: whole rows by
 * one aggregate over the rowid range, the (at most two) rows cut by `lo` or `hi` by their headers.
 */
function lagBetween(st: AppendLogState, bit: number, lo: number, hi: number): { records: number; bytes: number } {
  const mask = 1 << bit;
  const whole = st.s.lagWholeRows.get(lo, hi, lo, mask) as { n: number; bytes: number };
  let records = whole.n;
  let bytes = whole.bytes;
  const left = st.s.rowAfter.get(lo) as RowInfo | undefined;
  if (left && left.first_seq <= lo && (left.routes & mask) !== 0) {
    const part = partOf(st, left, lo, hi);
    records += part.records;
    bytes += part.bytes;
  }
  const right = st.s.rowAfter.get(hi) as RowInfo | undefined;
  if (right && right.first_seq <= hi && right.first_seq > lo && (right.routes & mask) !== 0) {
    const part = partOf(st, right, lo, hi);
    records += part.records;
    bytes += part.bytes;
  }
  return { records, bytes };
}

/** The records of `row` (a row cut by `lo` or `hi`) with seq in (lo, hi], by its headers. */
function partOf(st: AppendLogState, row: RowInfo, lo: number, hi: number): { records: number; bytes: number } {
  const data = st.s.rowData.get(row.seq) as Buffer;
  return countInRange(row.first_seq, row.records, row.size, data, lo, hi);
}

/** Advance `sink`'s cursor to `uptoSeq` (never backwards), see RecordBuffer.ack. */
export function ackSink(st: AppendLogState, sink: string, uptoSeq: number): void {
  st.assertOpen();
  const s = st.sink(sink, 'ack');
  const upto = Math.min(Math.floor(uptoSeq), st.c.nextSeq - 1);
  if (!(upto > s.cursor)) return;
  const r = lagBetween(st, s.bit, s.cursor, upto);
  st.s.setCursor.run(upto, s.lagRecords - r.records, s.lagBytes - r.bytes, sink);
  // rows above the old cursor may have become delivered: delivered-first eviction rescans them
  st.deliveredScanFrom = Math.min(st.deliveredScanFrom, s.cursor);
  s.cursor = upto;
  s.lagRecords -= r.records;
  s.lagBytes -= r.bytes;
  if (st.spaceWanted > 0) {
    const need = st.bytes() + st.spaceWanted - st.footprint.recordBytes;
    if (need <= 0) {
      st.spaceWanted = 0;
      st.events.emit('space');
      return;
    }
    const pass = new EvictionPass();
    runEvictionTxn(st, pass, () => evictDelivered(st, need, pass));
  }
}

/** The path of a spooled blob in `spool` (also the second reader's, ./reader.ts). */
export function blobPath(spool: Spool, ref: BlobRef): string {
  if (!/^[0-9a-f]{64}$/.test(ref.sha256)) throw new RangeError(`blob ref: "${ref.sha256}" is not a lowercase hex SHA-256`);
  return spool.pathOf(ref.sha256);
}

/** A spooled body from `spool`, checked against its size and hash (also the second reader's). */
export async function readBlob(spool: Spool, ref: BlobRef): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await spool.read(ref.sha256);
  } catch (e) {
    throw new BlobMissingError(`blob ${ref.sha256} (${ref.size} bytes) is not in the spool ${spool.dir}`, { cause: e });
  }
  if (bytes.length !== ref.size || sha256Hex(bytes) !== ref.sha256) {
    throw new BlobMissingError(`blob ${ref.sha256}: the spooled file is damaged (${bytes.length} bytes, expected ${ref.size})`);
  }
  return bytes;
}

/**
 * The owner's readBlob: a blob found damaged (wrong size or hash) is never returned, and is not left
 * for the next reader to trip over either: its rows are dropped into the loss ledger
 * ('blob-corrupt') and the file moved to quarantine (./recovery.ts dropBlobs). A missing file is
 * only reported: the same rows are dropped at the next open or check.
 */
export async function readOwnedBlob(st: AppendLogState, ref: BlobRef): Promise<Buffer> {
  try {
    return await readBlob(st.spool, ref);
  } catch (e) {
    if (
      e instanceof BlobMissingError &&
      !st.closed &&
      (await st.spool.verify(ref.sha256, ref.size)) === 'damaged' &&
      st.s.blobExists.get(ref.sha256) !== undefined
    ) {
      dropBlobs(st, [ref.sha256], 'blob-corrupt');
    }
    throw e;
  }
}

export function stats(st: AppendLogState): BufferStats {
  const c = st.c;
  const bytes = st.bytes();
  const sinks: SinkStats[] = [];
  for (const s of st.sinks.values()) {
    if (s.configured) sinks.push({ sink: s.name, cursor: s.cursor, lagRecords: s.lagRecords, lagBytes: s.lagBytes });
  }
  return {
    path: st.dbPath,
    records: c.records,
    bytes,
    maxBytes: st.maxBytes,
    recordBytesLimit: st.footprint.recordBytes,
    fill: bytes / st.footprint.recordBytes,
    oldestSeq: c.records > 0 ? c.oldestSeq : null,
    newestSeq: c.records > 0 ? c.newestSeq : null,
    oldestReceiveTimeNs: c.records > 0 ? c.oldestReceiveNs : null,
    newestReceiveTimeNs: c.records > 0 ? c.newestReceiveNs : null,
    spoolBlobs: c.spoolBlobs,
    spoolBytes: c.spoolBytes,
    sinks,
    // a stable order (source, then class rank), the same before and after a reopen
    evictions: [...st.evictionTotals.values()]
      .sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : a.cls - b.cls))
      .map((t) => ({
        source: t.source,
        class: SENSITIVITY_CLASSES[t.cls] as SensitivityClass,
        records: t.records,
        bytes: t.bytes,
      })),
    missingBlobs: c.missingBlobs,
  };
}

/** Every sink row the buffer knows, listed or not (see RecordBuffer.knownSinks); from memory. */
export function knownSinks(st: AppendLogState): KnownSink[] {
  st.assertOpen();
  return [...st.sinks.values()].map((s) => ({
    name: s.name,
    listed: s.configured,
    held: s.held,
    cursor: s.cursor,
    lagRecords: s.lagRecords,
    lagBytes: s.lagBytes,
  }));
}

/** The newest `limit` entries of the loss ledger, newest first. */
export function losses(st: AppendLogState, limit: number): LossEntry[] {
  st.assertOpen();
  const rows = st.s.losses.all(limit) as {
    id: bigint;
    at_ns: bigint;
    source: string;
    signal: string;
    class: bigint;
    first_seq: bigint;
    last_seq: bigint;
    records: bigint;
    bytes: bigint;
    reason: string;
    sinks: string;
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

/** Full integrity check of the database and every blob; quarantines a damaged database. */
export function check(st: AppendLogState): CheckResult {
  st.assertOpen();
  let integrity: string[];
  try {
    integrity = (st.db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check);
  } catch (e) {
    if (!isCorruption(e)) throw e;
    integrity = [(e as Error).message];
  }
  if (integrity.length !== 1 || integrity[0] !== 'ok') {
    const configured = st.configuredNames();
    try {
      st.db.close();
    } catch {
      // closing a damaged database may fail; it is moved aside either way
    }
    const quarantinedTo = restartEmpty(st, new BufferCorruptError(`${st.dbPath}: integrity_check failed: ${integrity.slice(0, 5).join('; ')}`), configured);
    st.events.emit('space');
    return { ok: false, integrity, orphanBlobsRemoved: 0, missingBlobs: 0, quarantinedTo };
  }
  const r = recoverSpool(st, true);
  return { ok: r.missingBlobs === 0, integrity, orphanBlobsRemoved: r.orphanBlobsRemoved, missingBlobs: r.missingBlobs };
}
