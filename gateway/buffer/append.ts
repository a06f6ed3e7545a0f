/**
 * Append: check a batch, store its large bodies in the spool, and commit its rows, blob references,
 * counters and sink lags in one transaction (together with the evictions that make room for it).
 *
 * Constraints (the full list is in ./layout.ts):
 * - The commit is the acknowledgement: `appendBatch` returns, and 'append' fires, only after the
 *   commit. A throw means nothing of the batch was stored; in-memory state is restored and blob
 *   files written for it are removed. Blob files are fsynced before the transaction starts.
 * - Hot path (hundreds of thousands of records/s): records are packed into rows of up to
 *   ROW_MAX_RECORDS (./rows.ts), one INSERT per row; per record there is no allocation and no
 *   closure. Class, kind, route mask and stream id are looked up once per run of equal values; the
 *   per-batch scratch is two typed arrays.
 * - Seqs are reserved in the seq-mark file in blocks of SEQ_RESERVATION_BLOCK before they are used,
 *   so a seq is never handed out twice, even after a power loss.
 */
import type Database from 'better-sqlite3';
import { BufferFullError, InvalidRecordError, UnknownSinkError } from '../plugin-api/errors.js';
import { RECORD_KINDS, SENSITIVITY_CLASSES, type RecordInput } from '../plugin-api/record.js';
import { forgetUnstored, writeUnstored } from './disk-full.js';
import { afterEviction, fullMessage, makeRoom, type RoomOutcome } from './eviction.js';
import { CLASS_INDEX, KIND_INDEX, ROW_OVERHEAD_BYTES, SEQ_RESERVATION_BLOCK, insertPackedRow, writeSeqMark } from './layout.js';
import { RowPacker, type PackedRow } from './rows.js';
import { sha256Hex } from './spool.js';
import type { AppendLogState } from './state.js';
import type { AppendResult } from './types.js';

type AppendTransaction = Database.Transaction<
  (records: RecordInput[], masks: Int32Array, codes: Uint8Array, shas: (string | null)[] | null, batchBytes: number, hasBlock: boolean) => RoomOutcome
>;

/**
 * The append transaction of each open connection, made on the first append after an open or a quarantine
 * reopen (keyed by the connection, so a reopened database never runs a transaction of the closed one).
 */
const appendTransactions = new WeakMap<Database.Database, AppendTransaction>();

function appendTransactionOf(st: AppendLogState): AppendTransaction {
  let txn = appendTransactions.get(st.db);
  if (!txn) appendTransactions.set(st.db, (txn = createAppendTransaction(st)));
  return txn;
}

/** The row packer of a buffer: one scratch buffer reused by every append. */
const packers = new WeakMap<AppendLogState, RowPacker>();

function packerOf(st: AppendLogState): RowPacker {
  let packer = packers.get(st);
  if (!packer) packers.set(st, (packer = new RowPacker((row) => storeRow(st, row))));
  return packer;
}

/** The append transaction on the state's current connection. */
function createAppendTransaction(st: AppendLogState): AppendTransaction {
  return st.db.transaction(
    (records: RecordInput[], masks: Int32Array, codes: Uint8Array, shas: (string | null)[] | null, batchBytes: number, hasBlock: boolean) =>
      appendInTxn(st, records, masks, codes, shas, batchBytes, hasBlock),
  );
}

/** Store `records` in one transaction and return their seqs (see RecordBuffer.append). */
export function appendBatch(st: AppendLogState, records: RecordInput[]): AppendResult {
  st.assertOpen();
  const n = records.length;
  if (n === 0) return { firstSeq: st.c.nextSeq, lastSeq: st.c.nextSeq - 1 };
  // per-batch scratch: one typed array for route masks and one for class/kind codes
  const masks = new Int32Array(n);
  const codes = new Uint8Array(n);
  let shas: (string | null)[] | null = null;
  let newBlobs: Map<string, Uint8Array> | null = null;
  let batchBytes = 0;
  let hasBlock = false;
  const blocks = st.blocks;
  const inlineMaxBytes = st.inlineMaxBytes;
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
      if (c === undefined) throw invalid(r, i, `class "${String(r.class)}" is not one of ${SENSITIVITY_CLASSES.join(', ')}`);
      cls = c;
      lastClass = r.class;
    }
    if (r.kind !== lastKind) {
      const k = KIND_INDEX.get(r.kind);
      if (k === undefined) throw invalid(r, i, `kind "${String(r.kind)}" is not one of ${RECORD_KINDS.join(', ')}`);
      kind = k;
      lastKind = r.kind;
    }
    if (!(r.body instanceof Uint8Array)) throw invalid(r, i, 'body is not a Buffer');
    if (typeof r.receiveTimeNs !== 'bigint') throw invalid(r, i, 'receiveTimeNs is not a bigint');
    if (typeof r.source !== 'string' || typeof r.signal !== 'string' || typeof r.contentType !== 'string') {
      throw invalid(r, i, 'source, signal and contentType must be strings');
    }
    codes[i] = (kind << 3) | cls;
    if (r.routes !== lastRoutes) {
      lastMask = routeMask(st, r, i);
      lastRoutes = r.routes;
    }
    masks[i] = lastMask;
    if (blocks[cls]) hasBlock = true;
    const size = r.body.length;
    if (size > inlineMaxBytes) {
      const sha = sha256Hex(r.body);
      shas ??= new Array<string | null>(n).fill(null);
      shas[i] = sha;
      if (!newBlobs?.has(sha) && st.s.blobExists.get(sha) === undefined) {
        (newBlobs ??= new Map()).set(sha, r.body);
        batchBytes += size;
      }
      batchBytes += ROW_OVERHEAD_BYTES;
    } else {
      batchBytes += size + ROW_OVERHEAD_BYTES;
    }
  }
  // the blob files are durable before any row refers to them
  if (newBlobs) st.spool.writeAll(newBlobs);

  if (st.c.nextSeq + n > st.seqReservedBelow) {
    st.seqReservedBelow = st.c.nextSeq + n + SEQ_RESERVATION_BLOCK;
    writeSeqMark(st.seqMarkPath, st.seqReservedBelow);
  }
  const firstSeq = st.c.nextSeq;
  const snap = st.snapshot();
  let outcome: RoomOutcome;
  try {
    outcome = appendTransactionOf(st)(records, masks, codes, shas, batchBytes, hasBlock);
  } catch (e) {
    st.restore(snap);
    // rolled back: the pending ledger runs stay pending
    unstoredWritten = null;
    if (newBlobs) for (const sha of newBlobs.keys()) st.spool.remove(sha);
    if (e instanceof BufferFullError) noteRefused(st, batchBytes);
    throw e;
  }
  if (outcome.pass) afterEviction(st, outcome.pass);
  forgetUnstored(st, unstoredWritten);
  unstoredWritten = null;
  if (outcome.refused) {
    if (newBlobs) for (const sha of newBlobs.keys()) st.spool.remove(sha);
    noteRefused(st, batchBytes);
    throw new BufferFullError(fullMessage(st, records, batchBytes, 'its class has the block policy'));
  }
  const last = records[n - 1]!;
  st.c.newestSeq = st.c.nextSeq - 1;
  st.c.newestReceiveNs = last.receiveTimeNs;
  if (st.c.oldestSeq === null) {
    st.c.oldestSeq = firstSeq;
    st.c.oldestReceiveNs = records[0]!.receiveTimeNs;
  }
  st.events.emit('append');
  return { firstSeq, lastSeq: st.c.nextSeq - 1 };
}

function routeMask(st: AppendLogState, r: RecordInput, i: number): number {
  const routes = r.routes;
  if (!Array.isArray(routes)) throw invalid(r, i, 'routes is not an array of sink names');
  let mask = 0;
  for (let j = 0; j < routes.length; j++) {
    const s = st.sinks.get(routes[j]!);
    // held, not only listed (every listed sink is held): a sink no longer listed (an output removed
    // while the gateway runs) still takes what an emit routed before the new policy was in force
    if (!s?.held) {
      throw new UnknownSinkError(
        `record ${i} of the batch (source "${r.source}", signal "${r.signal}") is routed to unknown sink "${routes[j]}"; configured sinks: ${st.configuredNames().join(', ') || '(none)'}`,
      );
    }
    mask |= 1 << s.bit;
  }
  return mask;
}

function invalid(r: RecordInput, i: number, what: string): Error {
  return new InvalidRecordError(`record ${i} of the batch (source "${r?.source}", signal "${r?.signal}"): ${what}`);
}

/** a refused batch waits for 'space': an ack emits it once this many bytes can be made free */
function noteRefused(st: AppendLogState, batchBytes: number): void {
  st.spaceWanted = Math.max(1, batchBytes);
}

/**
 * build, layer and attributes, the rarely set fields, in one JSON column; null when none is set.
 * The records of a batch mostly share their build and layer, and inputs share one attributes object
 * between the records of a publish (OPC-UA: status, server time): the JSON of the last (build, layer,
 * attributes object) is reused. The cache lives for one append (`appendInTxn` resets it), so an input that
 * changes an attributes object between its batches is never served stale JSON.
 */
function extraJson(r: RecordInput): string | null {
  const attrs = r.attributes;
  const c = lastExtra;
  if (r.build === c.build && r.layer === c.layer && attrs === c.attrs) return c.json;
  let any = false;
  if (attrs) {
    for (const _ in attrs) {
      any = true;
      break;
    }
  }
  let json: string | null;
  if (any) json = JSON.stringify({ b: r.build, l: r.layer, a: attrs });
  else if (r.build === undefined && r.layer === undefined) json = null;
  else json = JSON.stringify({ b: r.build, l: r.layer });
  lastExtra = { build: r.build, layer: r.layer, attrs, json };
  return json;
}

const EMPTY_EXTRA_CACHE: ExtraCache = { build: undefined, layer: undefined, attrs: null, json: null };

interface ExtraCache {
  build: string | undefined;
  layer: number | undefined;
  /** null never equals a record's attributes (an object or undefined) */
  attrs: Record<string, string> | undefined | null;
  json: string | null;
}

/** The last build, layer and attributes `extraJson` wrote, and their JSON. */
let lastExtra: ExtraCache = EMPTY_EXTRA_CACHE;

/** the pending disk-full ledger runs the running append transaction wrote (forgotten after its commit) */
let unstoredWritten: string[] | null = null;

/** Runs inside the append transaction; a throw rolls everything back. */
function appendInTxn(
  st: AppendLogState,
  records: RecordInput[],
  masks: Int32Array,
  codes: Uint8Array,
  shas: (string | null)[] | null,
  batchBytes: number,
  hasBlock: boolean,
): RoomOutcome {
  const room = makeRoom(st, records, batchBytes, hasBlock);
  if (room.refused) return room;
  lastExtra = EMPTY_EXTRA_CACHE;
  // drops noted while the disk was full go into the first transaction that can commit again
  unstoredWritten = writeUnstored(st);

  const packer = packerOf(st);
  packer.reset();
  const streams = st.streams;
  const c = st.c;
  let seq = c.nextSeq;
  // the stream of consecutive records is usually the same: look it up on change
  let prev: RecordInput | null = null;
  let stream = 0;
  for (let i = 0; i < records.length; i++, seq++) {
    const r = records[i]!;
    const code = codes[i]!;
    const sha = shas ? shas[i]! : null;
    if (prev === null || r.source !== prev.source || r.signal !== prev.signal || r.contentType !== prev.contentType) {
      stream = streams.idOf(r.source, r.signal, r.contentType);
    }
    prev = r;
    const extra = r.build !== undefined || r.layer !== undefined || r.attributes !== undefined ? extraJson(r) : null;
    packer.add(seq, masks[i]!, code & 7, stream, code >> 3, r.receiveTimeNs, r.sourceTimeNs, extra, sha === null ? r.body : null, sha, r.body.length);
  }
  packer.flush();
  c.nextSeq = seq;
  st.saveState();
  return room;
}

/** Insert one packed row and account for it: counters, blob reference, sink lags (inside the transaction). */
function storeRow(st: AppendLogState, row: PackedRow): void {
  insertPackedRow(st.s.insertRow, row);
  const c = st.c;
  c.records += row.records;
  if (row.blobSha256 === null) c.inlineBytes += row.size;
  else if ((st.s.blobRef.get(row.blobSha256, row.size) as number) === 1) {
    c.spoolBlobs++;
    c.spoolBytes += row.size;
  }
  addLag(st, row.routes, row.records, row.size);
}

/** Add a run of records with one route mask to the lag of each sink in it (written by saveState). */
function addLag(st: AppendLogState, mask: number, records: number, bytes: number): void {
  let m = Math.max(mask, 0);
  while (m !== 0) {
    const s = st.bitToSink[31 - Math.clz32(m & -m)]!;
    m &= m - 1;
    s.lagRecords += records;
    s.lagBytes += bytes;
    s.lagDirty = true;
  }
}
