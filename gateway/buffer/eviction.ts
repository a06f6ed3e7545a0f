/**
 * Eviction and the loss ledger: what leaves the buffer before every sink has it, and the record of
 * it. Making room for a batch (age first, then delivered records, then the oldest undelivered
 * records of drop-oldest classes), age expiry on a timer, and the ledger and eviction totals.
 *
 * Constraints (the full list is in ./layout.ts):
 * - Eviction runs inside a transaction; what it did is collected in an EvictionPass and applied to
 *   memory and the filesystem (unlinking freed blobs, 'space', the warning log) only after the
 *   commit (`afterEviction`), so a rollback leaves no trace.
 * - Every undelivered record evicted is counted per source and class and written to the ledger,
 *   coalesced per (reason, source, class) within one pass. A batch is never made room for by
 *   dropping records of `block` classes.
 * - Rows leave whole (./rows.ts); the ledger and the sink lags still count records, read from the
 *   headers of a row that held undelivered ones.
 * - Scans are rowid range scans in chunks; delivered-first eviction resumes where it stopped
 *   (`deliveredScanFrom`, lowered by an ack), so repeated passes are amortised O(1) per row.
 */
import { BufferFullError } from '../plugin-api/errors.js';
import { SENSITIVITY_CLASSES, nowNs, type RecordInput } from '../plugin-api/record.js';
import { LEDGER_MAX_ENTRIES, ROW_OVERHEAD_BYTES, type RowInfo } from './layout.js';
import { RECORD_HEADER_BYTES, bodyLengthAt, countInRange, headerStart, streamAt } from './rows.js';
import type { AppendLogState, EvictionWarning } from './state.js';

const EVICT_CHUNK = 512;
/** the eviction warning is logged at most this often (the ledger has every eviction at once) */
const EVICTION_WARN_INTERVAL_MS = 10_000;

/** the ledger's `signal` of a run of records of more than one signal */
export const SEVERAL_SIGNALS = '*';

/**
 * Records of one (reason, source, class) evicted in one pass: one ledger entry. Per source, not per
 * signal: a W1 input has 5,000 signals, and a row of its records holds a few hundred of them, so a
 * ledger entry (and a warning) per signal made a pass that evicted under load write thousands of
 * each, which stalled the gateway for seconds. `signal` names the signal when all the run's records
 * have the same one, else SEVERAL_SIGNALS.
 */
export interface LossRun extends EvictionWarning {
  /** the configured sinks that had not received them */
  sinksMask: number;
}

/** What one transaction removed; applied to memory and the filesystem only after its commit. */
export class EvictionPass {
  removed = 0;
  freedShas: string[] = [];
  runs = new Map<string, LossRun>();
}

/** What making room for a batch did: the pass to apply after the commit, and whether the batch is refused. */
export interface RoomOutcome {
  refused: boolean;
  pass: EvictionPass | null;
}

/** The message of a BufferFullError for a batch that does not fit, and `why`. */
export function fullMessage(st: AppendLogState, records: RecordInput[], batchBytes: number, why: string): string {
  const r = records[0]!;
  return `buffer full (${st.bytes()} of ${st.footprint.recordBytes} bytes for records: maxBytes less the share of the WAL and the reserve): a batch of ${records.length} records (${batchBytes} bytes, first from source "${r.source}", signal "${r.signal}", class ${r.class}) does not fit and ${why}`;
}

/**
 * Inside the append transaction, before the batch's rows: evict what must go for `batchBytes` more
 * to fit. `refused` when it cannot fit without dropping undelivered records and the batch has a
 * block-policy class (the pass is then already written). Throws BufferFullError when even dropping
 * every drop-oldest record does not make room; the transaction then rolls back.
 */
export function makeRoom(st: AppendLogState, records: RecordInput[], batchBytes: number, hasBlock: boolean): RoomOutcome {
  let pass: EvictionPass | null = null;
  const cutoff = st.maxAgeNs !== null ? nowNs() - st.maxAgeNs : null;
  if (cutoff !== null && st.c.oldestReceiveNs !== null && st.c.oldestReceiveNs < cutoff) {
    pass = new EvictionPass();
    evictExpired(st, cutoff, pass);
  }
  const limit = st.footprint.recordBytes;
  if (st.bytes() + batchBytes > limit && st.c.records > 0) {
    pass ??= new EvictionPass();
    evictDelivered(st, st.bytes() + batchBytes - limit, pass);
    if (st.bytes() + batchBytes > limit && st.c.records > 0) {
      if (hasBlock) {
        writeLedger(st, pass, true);
        st.saveState();
        return { refused: true, pass };
      }
      evictUndelivered(st, st.bytes() + batchBytes - limit, pass);
      if (st.bytes() + batchBytes > limit && st.c.records > 0) {
        throw new BufferFullError(fullMessage(st, records, batchBytes, 'the rest of the buffer holds undelivered records of block-policy classes'));
      }
    }
  }
  if (pass) writeLedger(st, pass, true);
  return { refused: false, pass };
}

/** a row as the eviction scans read it (integers as bigint) */
interface ChunkRow {
  seq: bigint;
  first_seq: bigint;
  routes: bigint;
  cls: bigint;
  records: bigint;
  size: bigint;
  blob_sha256: string | null;
  receive_max_ns: bigint;
}

function rowInfo(r: ChunkRow): RowInfo {
  return {
    seq: Number(r.seq),
    first_seq: Number(r.first_seq),
    routes: Number(r.routes),
    cls: Number(r.cls),
    records: Number(r.records),
    size: Number(r.size),
    blob_sha256: r.blob_sha256,
  };
}

/** The row with last seq `seq`, or undefined. */
export function rowAt(st: AppendLogState, seq: number): RowInfo | undefined {
  return st.s.rowInfo.get(seq) as RowInfo | undefined;
}

/**
 * Delete one row inside a transaction and account for it. Its records that had not reached every
 * configured sink they are routed to are written to the ledger with `reason` (all of them, with
 * `forceLedger`). Returns the bytes freed, as the bound counts them.
 */
export function evictRow(st: AppendLogState, row: RowInfo, reason: string, pass: EvictionPass, forceLedger = false): number {
  const { seq: lastSeq, first_seq: firstSeq, records, size } = row;
  const c = st.c;
  // the row's data is read only when some of its records are undelivered: its headers name them
  const pending = st.pendingMask(row.routes, lastSeq);
  const data = pending !== 0 || forceLedger ? (st.s.rowData.get(lastSeq) as Buffer) : null;
  st.s.deleteRow.run(lastSeq);
  c.records -= records;
  let freed = records * ROW_OVERHEAD_BYTES;
  if (row.blob_sha256 === null) {
    c.inlineBytes -= size;
    freed += size;
  } else {
    const ref = st.s.blobUnref.get(row.blob_sha256) as { refs: number; size: number } | undefined;
    if (ref && ref.refs <= 0) {
      st.s.blobDelete.run(row.blob_sha256);
      c.spoolBlobs--;
      c.spoolBytes -= ref.size;
      freed += ref.size;
      pass.freedShas.push(row.blob_sha256);
    }
  }
  pass.removed += records;
  if (data === null) return freed;
  let m = pending;
  while (m !== 0) {
    const s = st.bitToSink[31 - Math.clz32(m & -m)]!;
    m &= m - 1;
    const part = countInRange(firstSeq, records, size, data, s.cursor, lastSeq);
    s.lagRecords -= part.records;
    s.lagBytes -= part.bytes;
    s.lagDirty = true;
  }
  addLossRuns(st, row, data, reason, pass, firstSeq - 1, (seq) => st.pendingMask(row.routes, seq), forceLedger);
  return freed;
}

/**
 * Add the records of `row` (its `data`) with seq > `after` to the pass's ledger runs, one run per
 * (reason, source, class); `pendingOf(seq)` is the mask of the sinks that had not received the
 * record. Records no sink is pending for are skipped, unless `all`.
 */
function addLossRuns(
  st: AppendLogState,
  row: RowInfo,
  data: Buffer,
  reason: string,
  pass: EvictionPass,
  after: number,
  pendingOf: (seq: number) => number,
  all: boolean,
): { records: number; bytes: number } {
  const { first_seq: firstSeq, records, size } = row;
  let total = 0;
  let totalBytes = 0;
  // consecutive records mostly share a stream
  const h0 = headerStart(data, records);
  let run: LossRun | undefined;
  let runStream = -1;
  for (let i = 0, h = h0; i < records; i++, h += RECORD_HEADER_BYTES) {
    const seq = firstSeq + i;
    if (seq <= after) continue;
    const recordPending = pendingOf(seq);
    if (recordPending === 0 && !all) continue;
    const bytes = row.blob_sha256 === null ? bodyLengthAt(data, h) : size;
    const stream = streamAt(data, h);
    if (stream !== runStream || run === undefined) {
      runStream = stream;
      const stm = st.streams.byId.get(stream);
      const source = stm?.source ?? '?';
      const signal = stm?.signal ?? '?';
      const key = `${reason}\0${source}\0${row.cls}`;
      run = pass.runs.get(key);
      if (!run) {
        run = { reason, source, signal, cls: row.cls, firstSeq: seq, lastSeq: seq, records: 0, bytes: 0, sinksMask: 0 };
        pass.runs.set(key, run);
      } else if (run.signal !== signal) run.signal = SEVERAL_SIGNALS;
    }
    run.lastSeq = seq;
    run.records++;
    run.bytes += bytes;
    run.sinksMask |= recordPending;
    total++;
    totalBytes += bytes;
  }
  return { records: total, bytes: totalBytes };
}

/**
 * Inside a transaction: the records routed to sink `bit` after `cursor` go to the pass's ledger
 * runs with `reason` and that sink alone; no row is removed (the records stay for the other sinks
 * they are routed to). Chunked rowid scan over the rows routed to it. Returns the records and
 * payload bytes.
 */
export function ledgerSinkBacklog(st: AppendLogState, bit: number, cursor: number, reason: string, pass: EvictionPass): { records: number; bytes: number } {
  const mask = 1 << bit;
  let records = 0;
  let bytes = 0;
  let after = cursor;
  for (;;) {
    const rows = st.s.sinkChunk.all(after, mask, EVICT_CHUNK) as RowInfo[];
    for (const row of rows) {
      const data = st.s.rowData.get(row.seq) as Buffer;
      const part = addLossRuns(st, row, data, reason, pass, cursor, () => mask, true);
      records += part.records;
      bytes += part.bytes;
    }
    if (rows.length < EVICT_CHUNK) break;
    after = rows[rows.length - 1]!.seq;
  }
  return { records, bytes };
}

function evictExpired(st: AppendLogState, cutoff: bigint, pass: EvictionPass): void {
  let after = 0;
  for (;;) {
    const rows = st.s.oldestChunk.all(after, EVICT_CHUNK) as ChunkRow[];
    for (const r of rows) {
      // a row leaves whole: only once its youngest record is past the cutoff
      if (r.receive_max_ns >= cutoff) {
        st.refreshOldest();
        return;
      }
      evictRow(st, rowInfo(r), 'max-age', pass);
    }
    if (rows.length < EVICT_CHUNK) break;
    after = Number(rows[rows.length - 1]!.seq);
  }
  st.refreshOldest();
}

/**
 * Evict records every configured routed sink has acknowledged, oldest first, until `need` bytes
 * are freed. Rows with an undelivered record are skipped; the scan resumes after the last row it
 * looked at, as long as no ack moved a cursor below that point (see `ackSink` in ./read.ts).
 */
export function evictDelivered(st: AppendLogState, need: number, pass: EvictionPass): number {
  let freed = 0;
  let after = Math.max(st.deliveredScanFrom, 0);
  outer: for (;;) {
    const rows = st.s.oldestChunk.all(after, EVICT_CHUNK) as ChunkRow[];
    for (const r of rows) {
      const seq = Number(r.seq);
      after = seq;
      if (st.pendingMask(Number(r.routes), seq) === 0) {
        freed += evictRow(st, rowInfo(r), 'delivered', pass);
        if (freed >= need) break outer;
      }
    }
    if (rows.length < EVICT_CHUNK) break;
  }
  st.deliveredScanFrom = after;
  if (pass.removed > 0) st.refreshOldest();
  return freed;
}

/** Evict the oldest records of drop-oldest classes (delivered or not) until `need` bytes are freed. */
function evictUndelivered(st: AppendLogState, need: number, pass: EvictionPass): number {
  let freed = 0;
  let after = 0;
  outer: while (freed < need) {
    const rows = st.s.oldestChunk.all(after, EVICT_CHUNK) as ChunkRow[];
    for (const r of rows) {
      after = Number(r.seq);
      if (st.blocks[Number(r.cls)]) continue;
      freed += evictRow(st, rowInfo(r), 'buffer-full', pass);
      if (freed >= need) break outer;
    }
    if (rows.length < EVICT_CHUNK) break;
  }
  st.refreshOldest();
  return freed;
}

/** Write a pass's ledger entries and eviction totals (inside its transaction). */
export function writeLedger(st: AppendLogState, pass: EvictionPass, countEvictions: boolean): void {
  if (pass.runs.size === 0) return;
  const at = nowNs();
  let lastId = 0;
  for (const run of pass.runs.values()) {
    const sinks = JSON.stringify(st.namesOf(run.sinksMask).filter((x) => !x.startsWith('#')));
    lastId = Number(
      st.s.addLoss.run(at, run.source, run.signal, run.cls, run.firstSeq, run.lastSeq, run.records, run.bytes, run.reason, sinks).lastInsertRowid,
    );
    if (countEvictions && (run.reason === 'buffer-full' || run.reason === 'max-age')) {
      st.s.addEviction.run(run.source, run.cls, run.records, run.bytes);
    }
  }
  if (lastId > LEDGER_MAX_ENTRIES) st.s.trimLosses.run(lastId - LEDGER_MAX_ENTRIES);
}

/** After the commit: eviction totals in memory, unlink freed blobs, tell waiting inputs. */
export function afterEviction(st: AppendLogState, pass: EvictionPass): void {
  for (const run of pass.runs.values()) {
    if (run.reason !== 'buffer-full' && run.reason !== 'max-age') continue;
    const key = `${run.source}\0${run.cls}`;
    const t = st.evictionTotals.get(key);
    if (t) {
      t.records += run.records;
      t.bytes += run.bytes;
    } else st.evictionTotals.set(key, { source: run.source, cls: run.cls, records: run.records, bytes: run.bytes });
  }
  for (const sha of pass.freedShas) {
    // a blob freed and stored again in the same transaction is still referenced
    if (st.s.blobExists.get(sha) === undefined) st.spool.remove(sha);
  }
  for (const run of pass.runs.values()) {
    if (run.reason === 'buffer-full' || run.reason === 'max-age') noteEvictionWarning(st, run);
  }
  warnEvictions(st, false);
  if (pass.removed > 0) {
    st.spaceWanted = 0;
    st.events.emit('space');
  }
}

/** Add a run to the eviction warning being collected (per reason, source and class). */
function noteEvictionWarning(st: AppendLogState, run: LossRun): void {
  const key = `${run.reason}\0${run.source}\0${run.cls}`;
  const w = st.evictionWarnings.get(key);
  if (!w) {
    const { sinksMask: _sinks, ...warning } = run;
    st.evictionWarnings.set(key, warning);
  } else {
    w.records += run.records;
    w.bytes += run.bytes;
    w.lastSeq = Math.max(w.lastSeq, run.lastSeq);
    w.firstSeq = Math.min(w.firstSeq, run.firstSeq);
    if (w.signal !== run.signal) w.signal = SEVERAL_SIGNALS;
  }
}

/**
 * Log the collected evictions at warn, at most once per EVICTION_WARN_INTERVAL_MS (or now, with
 * `force`): a full buffer evicts on every append, and a warning per pass flooded the log. The
 * ledger and `stats().evictions` have every eviction at once; the log summarises.
 */
export function warnEvictions(st: AppendLogState, force: boolean): void {
  if (st.evictionWarnings.size === 0) return;
  const now = Date.now();
  if (!force && now - st.evictionWarnedAt < EVICTION_WARN_INTERVAL_MS) return;
  st.evictionWarnedAt = now;
  for (const w of st.evictionWarnings.values()) {
    st.log.warn(
      {
        reason: w.reason,
        source: w.source,
        signal: w.signal,
        class: SENSITIVITY_CLASSES[w.cls],
        records: w.records,
        bytes: w.bytes,
        firstSeq: w.firstSeq,
        lastSeq: w.lastSeq,
      },
      'evicted undelivered records',
    );
  }
  st.evictionWarnings.clear();
}

/** Age eviction on the timer: its own transaction. */
export function expireByAge(st: AppendLogState): void {
  if (st.closed || st.maxAgeNs === null) return;
  const cutoff = nowNs() - st.maxAgeNs;
  if (st.c.oldestReceiveNs === null || st.c.oldestReceiveNs >= cutoff) return;
  const pass = new EvictionPass();
  runEvictionTxn(st, pass, () => evictExpired(st, cutoff, pass));
}

/** Run `work` (which adds to `pass`) in a transaction of its own, with its ledger and counters. */
export function runEvictionTxn(st: AppendLogState, pass: EvictionPass, work: () => void): void {
  const snap = st.snapshot();
  try {
    st.db.transaction(() => {
      work();
      writeLedger(st, pass, true);
      st.saveState();
    })();
  } catch (e) {
    st.restore(snap);
    st.log.error({ err: e }, 'buffer eviction failed');
    return;
  }
  afterEviction(st, pass);
}
