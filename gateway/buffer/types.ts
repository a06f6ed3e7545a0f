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
  /** SQLite `synchronous` (default FULL: a committed append survives power loss) */
  synchronous?: 'FULL' | 'NORMAL';
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
  /** e.g. 'buffer-full', 'max-age', 'blob-missing', 'corrupt-quarantined' */
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
   * opened with them: a new sink starts at cursor 0; one no longer listed keeps its cursor but stops
   * holding records back, and resumes there if it comes back.
   */
  configureSinks(sinks: readonly string[]): void;
  /** 'append' (after each commit) and 'space' (after records were removed) */
  on(event: 'append' | 'space', listener: () => void): this;
  off(event: 'append' | 'space', listener: () => void): this;
  close(): void;
}
