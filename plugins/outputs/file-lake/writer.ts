/**
 * The acknowledgement path of the file lake: how one group of a batch (one table, partition folder
 * and, for samples, channel set) becomes new files. Nothing here reads or rewrites an existing file;
 * coarse files come later, from the background compactor (compaction.ts). It runs in the batch worker
 * for the tables (batch-job.ts) and on the gateway's thread for the frames index (index.ts).
 *
 * Design constraints:
 * - One file per group per batch, split only at `rollEvery` and at `compactWindow` boundaries of
 *   receive time (so that every file belongs to one window, which the compactor merges by).
 * - Rows sorted by signal, then seq: records come in seq order (the forwarder's contract), a stable
 *   sort by signal keeps it within a signal.
 * - Redelivery: a batch sent again splits the same way, so its files get the same names and bytes,
 *   and publication keeps the file already there (durable.ts). If the first copy was merged away in
 *   the meantime, the rows come back as a new small file; its rows are all in the merged file, and the
 *   compactor removes it (`seq` identifies the repeats for a reader in between).
 */
import { createHash } from 'node:crypto';
import type { Table } from 'apache-arrow';
import type { StoredRecord } from '../../../gateway/plugin-api/index.js';
import type { DurableFiles } from './durable.js';
import { describe, encodeTable, partBase, partInfo } from './part-files.js';
import type { LakeFormat, PartInfo } from './part-files.js';
import type { FileLakeConfig } from './schema.js';

/** Consecutive items of a group that go into one file: within rollEvery and one compaction window. */
export interface Chunk<T> {
  items: T[];
  rows: number;
  bytes: number;
}

/** What a published file is, for the compactor. */
export interface PublishedFile {
  dir: string;
  name: string;
  info: PartInfo;
}

/**
 * Items sorted by signal, then seq: a stable counting sort over the signal's rank (names compared once
 * per distinct signal, not per pair of rows), so records in seq order stay in seq order per signal.
 */
export function sortBySignal<T>(items: readonly T[], record: (item: T) => StoredRecord): T[] {
  const names = [...new Set(items.map((i) => record(i).signal))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const rank = new Map(names.map((n, i) => [n, i]));
  const ranks = Int32Array.from(items, (i) => rank.get(record(i).signal)!);
  const starts = new Int32Array(names.length + 1);
  for (const r of ranks) starts[r + 1]!++;
  for (let i = 0; i < names.length; i++) starts[i + 1]! += starts[i]!;
  const out = new Array<T>(items.length);
  items.forEach((item, i) => {
    out[starts[ranks[i]!]!++] = item;
  });
  // a batch not in seq order (it never is, by the forwarder's contract) is sorted the slow way
  for (let i = 1; i < out.length; i++) {
    const a = record(out[i - 1]!);
    const b = record(out[i]!);
    if (a.signal === b.signal && a.seq > b.seq) {
      return [...items].sort((x, y) => {
        const p = record(x);
        const q = record(y);
        return p.signal < q.signal ? -1 : p.signal > q.signal ? 1 : p.seq - q.seq;
      });
    }
  }
  return out;
}

export class PartitionWriter {
  private readonly rollRecords: number;
  private readonly rollBytes: number;
  readonly format: LakeFormat;
  /** compaction window in ns of receive time; 0n: no compaction */
  readonly windowNs: bigint;

  constructor(
    config: FileLakeConfig,
    private readonly files: DurableFiles,
    private readonly counters: { rows: number },
  ) {
    this.rollRecords = config.rollEvery.records;
    this.rollBytes = config.rollEvery.bytes;
    this.format = config.format;
    this.windowNs = BigInt(Math.round(config.compactWindow)) * 1_000_000n;
  }

  /**
   * Split a group at record boundaries so no file exceeds rollEvery (one record always fits), and at
   * compaction window boundaries (by receive time) so that no file spans two windows. Records of one
   * window need not be adjacent in the batch: each window collects its own.
   */
  roll<T>(items: T[], size: (item: T) => { record: StoredRecord; rows: number; bytes: number }): Chunk<T>[] {
    const chunks: Chunk<T>[] = [];
    const open = new Map<bigint, Chunk<T>>();
    for (const item of items) {
      const { record, rows, bytes } = size(item);
      const window = this.windowNs > 0n ? record.receiveTimeNs / this.windowNs : 0n;
      let cur = open.get(window);
      if (!cur || cur.rows + rows > this.rollRecords || cur.bytes + bytes > this.rollBytes) {
        cur = { items: [], rows: 0, bytes: 0 };
        chunks.push(cur);
        open.set(window, cur);
      }
      cur.items.push(item);
      cur.rows += rows;
      cur.bytes += bytes;
    }
    return chunks;
  }

  /**
   * Write one chunk as a new file `part-<first>-<last>` in `dir` (published durably; the caller
   * fsyncs the folder). `build` gets the chunk's items sorted by signal, then seq.
   */
  async write<T>(dir: string, chunk: Chunk<T>, record: (item: T) => StoredRecord, build: (items: T[]) => Table): Promise<PublishedFile | undefined> {
    const items = sortBySignal(chunk.items, record);
    let first = Number.POSITIVE_INFINITY;
    let last = Number.NEGATIVE_INFINITY;
    let min = record(items[0]!).receiveTimeNs;
    let max = min;
    for (const item of items) {
      const r = record(item);
      if (r.seq < first) first = r.seq;
      if (r.seq > last) last = r.seq;
      if (r.receiveTimeNs < min) min = r.receiveTimeNs;
      if (r.receiveTimeNs > max) max = r.receiveTimeNs;
    }
    const table = describe(build(items), min, max);
    const bytes = encodeTable(table, this.format);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const tmp = await this.files.writeTmp(bytes);
    const { name, duplicate } = await this.files.publish(tmp, dir, partBase(first, last), this.format, sha256, bytes.length);
    if (duplicate) return undefined;
    this.counters.rows += table.numRows;
    return { dir, name, info: partInfo(table)! };
  }
}
