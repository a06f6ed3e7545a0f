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
 *   coalesced per (reason, stream, class) within one pass. A batch is never made room for by
 *   dropping records of `block` classes.
 * - Scans are rowid range scans in chunks; delivered-first eviction resumes where it stopped
 *   (`deliveredScanFrom`, lowered by an ack), so repeated passes are amortised O(1) per row.
 */
import { BufferFullError } from '../plugin-api/errors.js';
import { SENSITIVITY_CLASSES, nowNs, type RecordInput } from '../plugin-api/record.js';
import { LEDGER_MAX_ENTRIES, ROW_OVERHEAD_BYTES } from './layout.js';
import type { AppendLogState } from './state.js';

const EVICT_CHUNK = 512;

/** records of one (reason, stream, class) evicted in one pass: one ledger entry */
export interface LossRun {
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

interface EvictedRow {
  routes: number;
  size: number;
  meta: number;
  blob_sha256: string | null;
}

/** The message of a BufferFullError for a batch that does not fit, and `why`. */
export function fullMessage(st: AppendLogState, records: RecordInput[], batchBytes: number, why: string): string {
  const r = records[0]!;
  return `buffer full (${st.bytes()} of ${st.maxBytes} bytes): a batch of ${records.length} records (${batchBytes} bytes, first from source "${r.source}", signal "${r.signal}", class ${r.class}) does not fit and ${why}`;
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
  if (st.bytes() + batchBytes > st.maxBytes && st.c.records > 0) {
    pass ??= new EvictionPass();
    evictDelivered(st, st.bytes() + batchBytes - st.maxBytes, pass);
    if (st.bytes() + batchBytes > st.maxBytes && st.c.records > 0) {
      if (hasBlock) {
        writeLedger(st, pass, true);
        st.saveState();
        return { refused: true, pass };
      }
      evictUndelivered(st, st.bytes() + batchBytes - st.maxBytes, pass);
      if (st.bytes() + batchBytes > st.maxBytes && st.c.records > 0) {
        throw new BufferFullError(fullMessage(st, records, batchBytes, 'the rest of the buffer holds undelivered records of block-policy classes'));
      }
    }
  }
  if (pass) writeLedger(st, pass, true);
  return { refused: false, pass };
}

/**
 * Delete one row inside a transaction and account for it. `reason` is written to the ledger when
 * the record had not reached every configured sink it is routed to (always, with `forceLedger`).
 */
export function evictRow(st: AppendLogState, seq: number, reason: string, pass: EvictionPass, forceLedger = false): number {
  const row = st.s.deleteRow.get(seq) as EvictedRow | undefined;
  if (!row) return 0;
  const c = st.c;
  c.records--;
  let freed = ROW_OVERHEAD_BYTES;
  if (row.blob_sha256 === null) {
    c.inlineBytes -= row.size;
    freed += row.size;
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
  const pending = st.pendingMask(row.routes, seq);
  let m = pending;
  while (m !== 0) {
    const s = st.bitToSink[31 - Math.clz32(m & -m)]!;
    m &= m - 1;
    s.lagRecords--;
    s.lagBytes -= row.size;
    s.lagDirty = true;
  }
  if (pending !== 0 || forceLedger) {
    const stream = Math.floor(row.meta / 256);
    const cls = row.meta & 7;
    const key = `${reason}\0${stream}\0${cls}`;
    const stm = st.streams.byId.get(stream);
    const run = pass.runs.get(key);
    if (run) {
      run.lastSeq = seq;
      run.records++;
      run.bytes += row.size;
      run.sinksMask |= pending;
    } else {
      pass.runs.set(key, {
        reason,
        source: stm?.source ?? '?',
        signal: stm?.signal ?? '?',
        cls,
        firstSeq: seq,
        lastSeq: seq,
        records: 1,
        bytes: row.size,
        sinksMask: pending,
      });
    }
  }
  pass.removed++;
  return freed;
}

function evictExpired(st: AppendLogState, cutoff: bigint, pass: EvictionPass): void {
  let after = 0;
  for (;;) {
    const rows = st.s.oldestChunk.all(after, EVICT_CHUNK) as { seq: bigint; receive_time_ns: bigint }[];
    for (const r of rows) {
      if (r.receive_time_ns >= cutoff) {
        st.refreshOldest();
        return;
      }
      evictRow(st, Number(r.seq), 'max-age', pass);
    }
    if (rows.length < EVICT_CHUNK) break;
    after = Number(rows[rows.length - 1]!.seq);
  }
  st.refreshOldest();
}

/**
 * Evict records every configured routed sink has acknowledged, oldest first, until `need` bytes
 * are freed. Undelivered rows are skipped; the scan resumes after the last row it looked at, as
 * long as no ack moved a cursor below that point (see `ackSink` in ./read.ts).
 */
export function evictDelivered(st: AppendLogState, need: number, pass: EvictionPass): number {
  let freed = 0;
  let after = Math.max(st.deliveredScanFrom, 0);
  outer: for (;;) {
    const rows = st.s.oldestChunk.all(after, EVICT_CHUNK) as { seq: bigint; routes: bigint }[];
    for (const r of rows) {
      const seq = Number(r.seq);
      after = seq;
      if (st.pendingMask(Number(r.routes), seq) === 0) {
        freed += evictRow(st, seq, 'delivered', pass);
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
    const rows = st.s.oldestChunk.all(after, EVICT_CHUNK) as { seq: bigint; meta: bigint }[];
    for (const r of rows) {
      after = Number(r.seq);
      if (st.blocks[Number(r.meta & 7n)]) continue;
      freed += evictRow(st, after, 'buffer-full', pass);
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
  if (pass.runs.size > 0) {
    for (const run of pass.runs.values()) {
      if (run.reason === 'buffer-full' || run.reason === 'max-age') {
        st.log.warn(
          {
            reason: run.reason,
            source: run.source,
            signal: run.signal,
            class: SENSITIVITY_CLASSES[run.cls],
            records: run.records,
            firstSeq: run.firstSeq,
            lastSeq: run.lastSeq,
          },
          'evicted undelivered records',
        );
      }
    }
  }
  if (pass.removed > 0) {
    st.spaceWanted = 0;
    st.events.emit('space');
  }
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
