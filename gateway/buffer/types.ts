/**
 * The buffer's contract, as the rest of the gateway sees it. Implementation: ./append-log.ts.
 */
import type { BlobRef, RecordInput, SensitivityClass, StoredRecord } from '../plugin-api/record.js';

export type FullPolicy = 'drop-oldest' | 'block';

export interface BufferOptions {
  /** folder holding buffer.sqlite (+ WAL), spool/ (content-addressed blobs) and quarantine/ */
  dir: string;
  /**
   * bound on the folder's disk use: rows and spooled blobs, plus a share (1/8, at most 64 MiB) for
   * the WAL and the disk-full reserve (./footprint.ts)
   */
  maxBytes: number;
  /** optional: records older than this (by receive time) are evicted; undelivered ones are counted as lost */
  maxAgeMs?: number;
  /** bodies larger than this go to the spool instead of the row (default 64 KiB) */
  inlineMaxBytes?: number;
  /** what happens when a record of this class does not fit (default: drop-oldest for all) */
  fullPolicy?: Partial<Record<SensitivityClass, FullPolicy>>;
  /** the sink names records may be routed to; each gets a cursor */
  sinks: string[];
  /**
   * A sink the buffer knows (it has a cursor) that is not in `sinks` or in the last `configureSinks`
   * list: false (default) = it stops holding records back (they count as delivered once every listed
   * sink has them); true = it keeps holding back the records routed to it after its cursor until it
   * is listed again or dropped with `dropSink` (which writes what it had not received to the loss
   * ledger). A drop lasts for the open it was made in; after a restart the dropped sink is held again,
   * with lag 0 (nothing to hold back).
   */
  holdUnlistedSinks?: boolean;
  /** SQLite `synchronous` (default FULL: a committed append survives power loss) */
  synchronous?: 'FULL' | 'NORMAL';
  /**
   * the first seq of a buffer this open creates (default 1); an existing buffer goes on from its own.
   * The gateway gives `seqOrigin()` (./layout.ts): seqs of a buffer created again do not repeat
   */
  firstSeq?: number;
}

export interface AppendResult {
  firstSeq: number;
  lastSeq: number;
}

export interface SinkStats {
  sink: string;
  cursor: number;
  /** records routed to this sink with seq > cursor */
  lagRecords: number;
  lagBytes: number;
}

export interface BufferStats {
  path: string;
  records: number;
  /** rows and spooled blobs, as the bound counts them */
  bytes: number;
  maxBytes: number;
  /** what `bytes` may reach: maxBytes less the WAL's and the reserve's share (./footprint.ts) */
  recordBytesLimit: number;
  /** bytes / recordBytesLimit, 0..1 (may exceed 1 by at most one batch); at 1 the buffer evicts */
  fill: number;
  oldestSeq: number | null;
  newestSeq: number | null;
  oldestReceiveTimeNs: bigint | null;
  newestReceiveTimeNs: bigint | null;
  spoolBlobs: number;
  spoolBytes: number;
  sinks: SinkStats[];
  /** undelivered records evicted since the buffer was created, per source and class */
  evictions: { source: string; class: SensitivityClass; records: number; bytes: number }[];
  /** rows whose spooled blob was missing or damaged at recovery */
  missingBlobs: number;
}

/** A sink row the buffer knows, listed or not (`RecordBuffer.knownSinks`). */
export interface KnownSink {
  name: string;
  /** in the sinks the buffer was opened or last configured with: an output records are routed to */
  listed: boolean;
  /** holds records back: records routed to it after its cursor are not delivered (nor evicted first) */
  held: boolean;
  cursor: number;
  /** records (and their body bytes) routed to it after its cursor */
  lagRecords: number;
  lagBytes: number;
}

/** One line of the loss ledger: a run of records dropped before delivery. Kept after the records are gone. */
export interface LossEntry {
  id: number;
  /** ns since the Unix epoch */
  atNs: bigint;
  source: string;
  /** the signal of the entry's records, or `*` when they are of several signals */
  signal: string;
  class: SensitivityClass;
  firstSeq: number;
  lastSeq: number;
  records: number;
  bytes: number;
  /** e.g. 'buffer-full', 'max-age', 'blob-missing', 'corrupt-quarantined', 'sink-dropped' */
  reason: string;
  /** the sinks that had not received them */
  sinks: string[];
}

export interface CheckResult {
  ok: boolean;
  /** SQLite PRAGMA integrity_check output ('ok' when fine) */
  integrity: string[];
  orphanBlobsRemoved: number;
  missingBlobs: number;
  /** where a damaged file was moved, when it was */
  quarantinedTo?: string;
}

export interface RecordBuffer {
  /** Store records in one transaction and return their seqs. The return is the ack point. */
  append(records: RecordInput[]): AppendResult;
  /**
   * Account records that could not be stored because the buffer's filesystem is full (an input that
   * cannot wait for space): they get seqs of their own and go to the loss ledger with `reason` in the
   * next transaction that commits (see ./disk-full.ts).
   */
  noteUnstored(records: RecordInput[], reason: string): void;
  /**
   * Records routed to `sink` with seq > its cursor (and > `afterSeq` when given: a forwarder reading
   * ahead of a batch still in flight), ascending; lazy: reads at most `limit` rows.
   */
  read(sink: string, limit: number, maxBytes?: number, afterSeq?: number): StoredRecord[];
  /** Advance `sink`'s cursor to `uptoSeq` (never backwards). */
  ack(sink: string, uptoSeq: number): void;
  cursor(sink: string): number;
  /**
   * Records (and their body bytes) routed to `sink` after its cursor: what it has yet to receive.
   * Kept in memory; cheap enough to ask on every append.
   */
  lag(sink: string): { records: number; bytes: number };
  blobPath(ref: BlobRef): string;
  readBlob(ref: BlobRef): Promise<Buffer>;
  stats(): BufferStats;
  losses(limit?: number): LossEntry[];
  check(): CheckResult;
  /**
   * The sinks become `sinks` while the buffer runs (a configuration applied live), as if it had been
   * opened with them: a new sink starts at cursor 0; one no longer listed keeps its cursor, and
   * resumes there if it comes back. Meanwhile it stops holding records back, or, with
   * `BufferOptions.holdUnlistedSinks`, keeps holding back what it has not received until it is
   * dropped (`dropSink`).
   */
  configureSinks(sinks: readonly string[]): void;
  /** Every sink row the buffer knows, listed or not, with whether it holds records back. */
  knownSinks(): KnownSink[];
  /**
   * Drop a sink that is no longer listed (an output removed from the configuration): the records
   * routed to it after its cursor go to the loss ledger (reason 'sink-dropped', `sinks: [name]`; they
   * stay in the buffer for the other sinks they are routed to), its cursor moves to the newest seq,
   * its lag to 0, and it stops holding records back. One transaction; emits 'space'. Returns what it
   * had not received. Throws BufferSinkListedError for a listed sink, UnknownSinkError for a name
   * the buffer does not know.
   */
  dropSink(name: string): { records: number; bytes: number };
  /**
   * Forget a sink row that no record was ever routed to and that is not listed (one added by a
   * configuration whose apply then failed), so its name and its slot (a buffer holds at most 30)
   * are free again. Throws BufferSinkListedError for a listed sink, UnknownSinkError for an unknown
   * name, and RangeError for one that records were routed to (its cursor moved or it lags: drop it instead).
   */
  forgetSink(name: string): void;
  /** 'append' (after each commit) and 'space' (after records were removed) */
  on(event: 'append' | 'space', listener: () => void): this;
  off(event: 'append' | 'space', listener: () => void): this;
  close(): void;
}
