/**
 * Compaction of the file lake: how a partition's records become few coarse, immutable files.
 *
 * Design constraints:
 * - Immutable files, coarse by compaction. A visible file is never rewritten or appended to. To
 *   keep the file count low (a trickle of health scalars would otherwise make a file per record),
 *   a partition keeps one file per `compactWindow` of receive time: a batch landing where the
 *   partition's latest file is from the same window (and the two fit in `rollEvery`) is merged with
 *   it into a new file `part-<first of old>-<last of new>`, published like any file (temp, fsync,
 *   link, fsync folder; durable.ts) before the old file is unlinked. So `send` still resolves only on
 *   durable data, and the work per batch is bounded by `rollEvery`. A crash between publishing the
 *   merged file and unlinking the old one leaves rows twice (same `seq`); at start, a file whose seq
 *   range lies inside another file's range in the same folder, and whose rows all appear in that
 *   file, is removed as superseded (`removeSuperseded`).
 * - At-least-once redelivery never corrupts and never loses. A redelivered batch that splits the same
 *   way produces the same file name and the same bytes: the existing file is kept and the copy
 *   dropped. Rows the latest file already holds (a batch merged before its ack was lost) are not
 *   written again. A redelivery that splits differently can repeat rows: the `seq` column identifies
 *   them (documented in README.md).
 * - One write at a time per folder and channel set (`locked`): a timed-out send may still run beside
 *   the next one.
 */
import { createHash } from 'node:crypto';
import type { Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { tableToIPC } from 'apache-arrow';
import type { Table } from 'apache-arrow';
import type { Logger } from 'pino';
import type { StoredRecord } from '../../../gateway/plugin-api/index.js';
import { toParquet } from '../shared/columns.js';
import { seqName } from '../shared/layout.js';
import { readTableFile } from '../shared/table-files.js';
import type { DurableFiles } from './durable.js';
import { fsyncPath } from './durable.js';
import { exactValues, rowsContained, sameSchema } from './rows.js';
import type { FileLakeConfig } from './schema.js';

export type LakeTable = 'scalars' | 'samples' | 'events' | 'raw' | 'frames';

/** The tables, each a folder under the lake's root. */
export const LAKE_TABLES: readonly LakeTable[] = ['scalars', 'samples', 'events', 'raw', 'frames'];

/** Consecutive items of a group that go into one file: within rollEvery and one compaction window. */
export interface Chunk<T> {
  items: T[];
  seqs: number[];
  rows: number;
  bytes: number;
  window: bigint;
}

function sliceChunk<T>(chunk: Chunk<T>, from: number, to: number): Chunk<T> {
  // rows/bytes of a part are only used for rollEvery checks of what follows: scale them by item count
  const part = (n: number) => Math.ceil((n * (to - from)) / chunk.items.length);
  return { items: chunk.items.slice(from, to), seqs: chunk.seqs.slice(from, to), rows: part(chunk.rows), bytes: part(chunk.bytes), window: chunk.window };
}

const PART_NAME = /^part-(\d{16})-(\d{16})(-dup\d+)?\.(arrow|parquet)$/;

interface PartFile {
  name: string;
  first: number;
  last: number;
  dup: boolean;
}

function parsePart(name: string): PartFile | undefined {
  const m = PART_NAME.exec(name);
  return m ? { name, first: Number(m[1]), last: Number(m[2]), dup: m[3] !== undefined } : undefined;
}

/** The latest file of a partition (per table and channel set), the one a next batch may merge into. */
interface TailFile {
  name: string;
  first: number;
  last: number;
  /** compaction window of its records (receive time / window) */
  window: bigint;
  rows: number;
  /** record body bytes; for a file found on disk, its size as an estimate */
  bytes: number;
}

/** The counters compaction keeps (part of the lake's stats). */
export interface CompactionCounters {
  rows: number;
  merges: number;
  filesRemoved: number;
  duplicateFilesSkipped: number;
}

export class PartitionWriter {
  /** per folder and channel set: its latest file (null: looked, none) */
  private readonly tails = new Map<string, TailFile | null>();
  /** per folder and channel set: the write in progress (a timed-out send may still run beside the next) */
  private readonly locks = new Map<string, Promise<void>>();
  private readonly rollRecords: number;
  private readonly rollBytes: number;
  private readonly format: FileLakeConfig['format'];
  /** compaction window in ns of receive time; 0n: no compaction */
  private readonly windowNs: bigint;

  constructor(
    private readonly root: string,
    config: FileLakeConfig,
    private readonly files: DurableFiles,
    private readonly counters: CompactionCounters,
    private readonly log: () => Logger | undefined,
  ) {
    this.rollRecords = config.rollEvery.records;
    this.rollBytes = config.rollEvery.bytes;
    this.format = config.format;
    this.windowNs = BigInt(Math.round(config.compactWindow)) * 1_000_000n;
  }

  /** Forget the latest files seen (at start: they are read from the disk again). */
  forgetTails(): void {
    this.tails.clear();
  }

  /**
   * Crash leftovers of compaction: a file whose seq range lies inside another file's range in the
   * same folder, and whose rows all appear in that file, was merged into it before the crash; remove
   * it. A file that cannot be read is kept (and logged): removing data on a guess is worse than a
   * duplicate row, which readers drop by `seq` anyway.
   */
  async removeSuperseded(): Promise<number> {
    const byDir = new Map<string, PartFile[]>();
    for (const table of LAKE_TABLES) {
      let entries: Dirent[];
      try {
        entries = await fs.readdir(path.join(this.root, table), { recursive: true, withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      for (const e of entries) {
        const part = e.isFile() ? parsePart(e.name) : undefined;
        if (!part) continue;
        const list = byDir.get(e.parentPath) ?? [];
        list.push(part);
        byDir.set(e.parentPath, list);
      }
    }
    let removed = 0;
    for (const [dir, parts] of byDir) {
      if (parts.length < 2) continue;
      // widest first among equal starts, so a covering file is seen before the files inside it
      parts.sort((a, b) => a.first - b.first || b.last - a.last);
      let cover: PartFile | undefined;
      let removedHere = 0;
      for (const p of parts) {
        if (cover && p.last <= cover.last && !(p.first === cover.first && p.last === cover.last)) {
          try {
            const [inner, outer] = await Promise.all([readTableFile(path.join(dir, p.name)), readTableFile(path.join(dir, cover.name))]);
            if (rowsContained(inner, outer)) {
              await fs.unlink(path.join(dir, p.name));
              removedHere++;
              this.log()?.info({ file: path.join(dir, p.name), supersededBy: cover.name }, 'removed a file already merged into another (crash leftover)');
              continue;
            }
          } catch (err) {
            this.log()?.warn({ err, file: path.join(dir, p.name) }, 'could not check a possibly superseded file; kept it');
          }
        }
        if (!cover || p.last > cover.last) cover = p;
      }
      if (removedHere > 0) await fsyncPath(dir);
      removed += removedHere;
    }
    this.counters.filesRemoved += removed;
    return removed;
  }

  /**
   * Split a group at record boundaries so no file exceeds rollEvery (one record always fits), and at
   * compaction window boundaries (by receive time) so that no file spans two windows.
   */
  roll<T>(items: T[], size: (item: T) => { record: StoredRecord; rows: number; bytes: number }): Chunk<T>[] {
    const chunks: Chunk<T>[] = [];
    let cur: Chunk<T> | undefined;
    for (const item of items) {
      const { record, rows, bytes } = size(item);
      const window = this.windowNs > 0n ? record.receiveTimeNs / this.windowNs : 0n;
      if (!cur || cur.window !== window || cur.rows + rows > this.rollRecords || cur.bytes + bytes > this.rollBytes) {
        cur = { items: [], seqs: [], rows: 0, bytes: 0, window };
        chunks.push(cur);
      }
      cur.items.push(item);
      cur.seqs.push(record.seq);
      cur.rows += rows;
      cur.bytes += bytes;
    }
    return chunks;
  }

  /** Run `fn` after the previous write of the same folder and channel set has finished. */
  async locked(key: string, fn: () => Promise<void>): Promise<void> {
    const previous = this.locks.get(key) ?? Promise.resolve();
    const mine = previous.catch(() => undefined).then(fn);
    const settled = mine.catch(() => undefined);
    this.locks.set(key, settled);
    try {
      await mine;
    } finally {
      if (this.locks.get(key) === settled) this.locks.delete(key);
    }
  }

  /** The latest file of a folder (per channel set), from memory or, the first time, from the disk. */
  private async tail(key: string, dir: string): Promise<TailFile | null> {
    const known = this.tails.get(key);
    if (known !== undefined) return known;
    let latest: PartFile | undefined;
    for (const name of await fs.readdir(dir)) {
      const part = parsePart(name);
      if (part && !part.dup && name.endsWith(`.${this.format}`) && (!latest || part.last > latest.last)) latest = part;
    }
    let found: TailFile | null = null;
    if (latest) {
      try {
        const file = path.join(dir, latest.name);
        const [table, stat] = await Promise.all([readTableFile(file), fs.stat(file)]);
        // the window of its newest row: receive time, or for samples the sample time (close to it)
        const timeColumn = table.schema.fields.findIndex((f) => f.name === 'receive_time_ns' || f.name === 'time_ns');
        const times = timeColumn >= 0 ? exactValues(table, timeColumn) : [];
        const newest = times[times.length - 1];
        if (typeof newest === 'bigint' && this.windowNs > 0n) {
          found = {
            name: latest.name,
            first: latest.first,
            last: latest.last,
            window: newest / this.windowNs,
            rows: table.numRows,
            bytes: stat.size,
          };
        }
      } catch (err) {
        this.log()?.warn({ err, file: path.join(dir, latest.name) }, 'could not read the latest file of a partition; starting a new one');
      }
    }
    // a samples folder holds one file set per channel set: the key tells them apart, the schema check in writeChunk too
    this.tails.set(key, found);
    return found;
  }

  /**
   * Write one chunk: merged with the folder's latest file when that is from the same window and the
   * two fit in rollEvery, else as a file of its own. Rows the latest file already holds (a batch sent
   * again after a lost ack, when it had been merged) are not written again.
   */
  async writeChunk<T>(key: string, dir: string, chunk: Chunk<T>, build: (items: T[]) => Table): Promise<void> {
    const tail = this.windowNs > 0n ? await this.tail(key, dir) : null;
    const first = chunk.seqs[0]!;
    if (tail && first <= tail.last) {
      // the part up to the latest file's last seq may be a redelivery of rows merged into it
      const split = chunk.seqs.findIndex((seq) => seq > tail.last);
      const head = split < 0 ? chunk : sliceChunk(chunk, 0, split);
      const headTable = build(head.items);
      const existing = first >= tail.first ? await this.readTail(dir, tail) : undefined;
      if (existing && rowsContained(headTable, existing)) {
        this.counters.duplicateFilesSkipped++;
        this.log()?.debug({ dir, first, last: head.seqs[head.seqs.length - 1], in: tail.name }, 'rows already in the lake (redelivery); not written again');
      } else {
        await this.writeOwnFile(key, dir, head, headTable, tail);
      }
      if (split < 0) return;
      chunk = sliceChunk(chunk, split, chunk.items.length);
    }
    const table = build(chunk.items);
    const last = chunk.seqs[chunk.seqs.length - 1]!;
    const current = this.windowNs > 0n ? await this.tail(key, dir) : null;
    if (
      current &&
      chunk.seqs[0]! > current.last &&
      current.window === chunk.window &&
      current.rows + table.numRows <= this.rollRecords &&
      current.bytes + chunk.bytes <= this.rollBytes
    ) {
      const tailPath = path.join(dir, current.name);
      const old = await this.readTail(dir, current);
      if (old && sameSchema(old, table)) {
        const { name } = await this.writeTableFile(dir, current.first, last, old.concat(table));
        // the merged file's folder entry is durable before the old file's removal can be
        await fsyncPath(dir);
        if (name !== current.name) {
          await fs.rm(tailPath, { force: true });
          this.counters.filesRemoved++;
        }
        this.counters.rows += table.numRows;
        this.counters.merges++;
        this.tails.set(key, {
          name,
          first: current.first,
          last,
          window: current.window,
          rows: current.rows + table.numRows,
          bytes: current.bytes + chunk.bytes,
        });
        return;
      }
    }
    await this.writeOwnFile(key, dir, chunk, table, current);
  }

  /**
   * The latest file's rows; undefined when it cannot be read (damaged, or removed by hand): then the
   * batch goes to a file of its own rather than failing, which would block the sink for good.
   */
  private async readTail(dir: string, tail: TailFile): Promise<Table | undefined> {
    try {
      return await readTableFile(path.join(dir, tail.name));
    } catch (err) {
      this.log()?.warn({ err, file: path.join(dir, tail.name) }, "could not read the partition's latest file; writing a new one");
      return undefined;
    }
  }

  private async writeOwnFile<T>(key: string, dir: string, chunk: Chunk<T>, table: Table, tail: TailFile | null): Promise<void> {
    const first = chunk.seqs[0]!;
    const last = chunk.seqs[chunk.seqs.length - 1]!;
    const { name, duplicate } = await this.writeTableFile(dir, first, last, table);
    if (!duplicate) this.counters.rows += table.numRows;
    if (this.windowNs > 0n && (!tail || last > tail.last)) {
      this.tails.set(key, { name, first, last, window: chunk.window, rows: table.numRows, bytes: chunk.bytes });
    }
  }

  /** Write `part-<first>-<last>` (records arrive in ascending seq order, the forwarder's contract). */
  private async writeTableFile(dir: string, first: number, last: number, table: Table): Promise<{ name: string; duplicate: boolean }> {
    const bytes = this.format === 'parquet' ? toParquet(table) : tableToIPC(table, 'file');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const tmp = await this.files.writeTmp(bytes);
    return this.files.publish(tmp, dir, `part-${seqName(first)}-${seqName(last)}`, this.format, sha256, bytes.length);
  }
}
