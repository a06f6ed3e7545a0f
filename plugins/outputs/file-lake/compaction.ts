/**
 * Compaction of the file lake, off the acknowledgement path: a background compactor merges the small
 * files `send` leaves in a partition folder into files sized for readers.
 *
 *   <lake>/<table>/machine=<m>/build=<b>/date=<YYYY-MM-DD>/part-<firstSeq>-<lastSeq>.<arrow|parquet>
 *
 * Design constraints:
 * - Never on the ack path. `send` only writes new files (writer.ts) and tells the compactor which
 *   folders got some; the compactor runs a pass `compactEvery` later, one pass and one merge at a
 *   time, and `send` never waits for it. `stop` cancels a scheduled pass and ends a running one
 *   before its next publication (an unpublished merge leaves only a temp file, removed at start).
 * - Immutable files. A visible file is never rewritten or appended to: a merge writes its rows into a
 *   new file `part-<first of inputs>-<last of inputs>` (temp, fsync, link, fsync folder; durable.ts),
 *   and only then unlinks its inputs (and fsyncs the folder again). A crash between the two leaves
 *   rows twice (same `seq`); at start, and in every pass, a file whose seq range lies inside another
 *   file's range in the same folder, with the same columns, and whose rows all appear in that file,
 *   is removed as superseded (`removeSuperseded`). One merged file supersedes all its inputs, and a
 *   file merged twice (a merge of a merge) is covered by the newest.
 * - What is merged: files of one folder with equal columns (samples differ by channel set; files are
 *   read in the current layout, so an older samples file has the newer block columns, null) whose rows
 *   are from one `compactWindow` of receive time (writer.ts splits batches at window boundaries; the
 *   range is in each file's metadata, part-files.ts). A file of at least half `rollEvery` (rows, or
 *   bytes as Arrow in memory) counts as done. The others are merged in seq order in groups that stay
 *   within `rollEvery`, so a merge holds at most `rollEvery` of rows in memory (inputs, the merged
 *   table and its encoding: about three times `rollEvery.bytes` at the peak). `-dupN` files are left
 *   alone.
 * - Redelivery: a batch sent again after its files were merged is written as a new small file; its
 *   rows are all in the merged file, so the next pass removes it as superseded (readers in between
 *   deduplicate on `seq`).
 * - Merging runs in a worker thread (merge-worker.ts): merging a group of rollEvery rows takes seconds
 *   of CPU (sorting, copying, Parquet encoding), which on the gateway's event loop would stall the
 *   inputs and every other forwarder; in the worker, `send` and ingest go on beside it.
 */
import type { Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Table } from 'apache-arrow';
import type { Logger } from 'pino';
import type { DurableFiles } from './durable.js';
import { fsyncPath } from './durable.js';
import type { MergeJob, MergeResult } from './merge-job.js';
import { partBase, parsePart, partInfo, readPartFile } from './part-files.js';
import type { LakeFormat, PartInfo, PartName } from './part-files.js';
import { LAKE_TABLES } from './layout.js';
import { rowsContained, sameSchema } from './rows.js';
import type { FileLakeConfig } from './schema.js';
import type { PublishedFile } from './writer.js';

/** The counters compaction keeps (part of the lake's stats). */
export interface CompactionCounters {
  /** merged files published */
  merges: number;
  /** files unlinked: merged into another, or found superseded */
  filesRemoved: number;
}

/** Runs one merge job (in a worker thread, or inline). */
export interface Merger {
  run(job: MergeJob): Promise<MergeResult>;
  close(): Promise<void>;
}

/** A file on disk below this size is read to learn whether it is a merge candidate; a larger one is done. */
const CANDIDATE_DISK_FRACTION = 8;

/** Whether `inner`'s seq range lies inside `outer`'s (and they are not the same range). */
function inside(inner: PartName, outer: PartName): boolean {
  return inner.first >= outer.first && inner.last <= outer.last && !(inner.first === outer.first && inner.last === outer.last);
}

export class Compactor {
  private readonly rollRecords: number;
  private readonly rollBytes: number;
  private readonly format: LakeFormat;
  private readonly windowNs: bigint;
  private readonly everyMs: number;
  /** folders with files not yet looked at */
  private readonly dirty = new Set<string>();
  /** what is known of a file (by path): its description, or null when it is done or not ours */
  private readonly known = new Map<string, PartInfo | null>();
  /** pairs (inner, outer) already found to hold different rows: not compared again */
  private readonly distinct = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopping = false;

  constructor(
    private readonly root: string,
    config: FileLakeConfig,
    private readonly files: DurableFiles,
    private readonly merger: Merger,
    private readonly counters: CompactionCounters,
    private readonly log: () => Logger | undefined,
  ) {
    this.rollRecords = config.rollEvery.records;
    this.rollBytes = config.rollEvery.bytes;
    this.format = config.format;
    this.windowNs = BigInt(Math.round(config.compactWindow)) * 1_000_000n;
    this.everyMs = config.compactEvery;
  }

  get enabled(): boolean {
    return this.windowNs > 0n;
  }

  /** At start: every partition folder of the lake gets looked at once (small files of an earlier run). */
  async scanAll(): Promise<void> {
    this.stopping = false;
    for (const dir of await this.partitionFolders()) this.dirty.add(dir);
    this.schedule();
  }

  /** `send` published these files: their folders get looked at in the next pass. */
  published(files: readonly PublishedFile[]): void {
    if (!this.enabled) return;
    for (const f of files) {
      this.known.set(path.join(f.dir, f.name), f.info);
      this.dirty.add(f.dir);
    }
    if (files.length > 0) this.schedule();
  }

  /** A pass `compactEvery` from now, unless one is already scheduled or running. */
  private schedule(): void {
    if (!this.enabled || this.stopping || this.timer || this.running || this.dirty.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.pass();
    }, this.everyMs);
    this.timer.unref();
  }

  /** Run a pass now (after the one running, if any); resolves when it is done. */
  async compactNow(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.running !== undefined) await this.running;
    await this.pass();
  }

  /** Whether a pass is running (for tests and stats). */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Cancel a scheduled pass and end a running one: its merge in progress is abandoned unpublished. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.merger.close();
    while (this.running !== undefined) await this.running;
  }

  private pass(): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    const run = (async () => {
      const dirs = [...this.dirty];
      this.dirty.clear();
      for (let i = 0; i < dirs.length; i++) {
        if (this.stopping) {
          for (const d of dirs.slice(i)) this.dirty.add(d);
          break;
        }
        try {
          await this.compactFolder(dirs[i]!);
        } catch (err) {
          if (this.stopping || (err as NodeJS.ErrnoException).code === 'ENOENT') continue; // stopping, or a folder removed by hand
          this.log()?.warn({ err, dir: dirs[i] }, 'compaction of a partition folder failed; will try again');
          this.dirty.add(dirs[i]!);
        }
      }
    })();
    this.running = run;
    return run.finally(() => {
      this.running = undefined;
      this.schedule();
    });
  }

  private async partitionFolders(): Promise<string[]> {
    const dirs = new Set<string>();
    for (const table of LAKE_TABLES) {
      let entries: Dirent[];
      try {
        entries = await fs.readdir(path.join(this.root, table), { recursive: true, withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      for (const e of entries) if (e.isFile() && parsePart(e.name)) dirs.add(e.parentPath);
    }
    return [...dirs].sort();
  }

  /**
   * Crash leftovers of compaction, in the whole lake (at start): see the module header. A file that
   * cannot be read is kept (and logged): removing data on a guess is worse than a duplicate row,
   * which readers drop by `seq` anyway.
   */
  async removeSuperseded(): Promise<number> {
    let removed = 0;
    for (const dir of await this.partitionFolders()) {
      const parts = (await fs.readdir(dir)).map(parsePart).filter((p): p is PartName => p !== undefined);
      removed += (await this.supersede(dir, parts)).size;
    }
    return removed;
  }

  /** Remove the files of `parts` whose rows are all in a file whose range covers theirs; the names removed. */
  private async supersede(dir: string, parts: PartName[]): Promise<Set<string>> {
    const removed = new Set<string>();
    if (parts.length < 2) return removed;
    // widest first among equal starts, so a covering file is seen before the files inside it
    const sorted = [...parts].sort((a, b) => a.first - b.first || b.last - a.last);
    // the files that cover others, widest-reaching first; a file inside several is checked against each
    const covers: PartName[] = [];
    const tables = new Map<string, Table>();
    const read = async (p: PartName) => {
      let t = tables.get(p.name);
      if (!t) {
        t = await readPartFile(path.join(dir, p.name));
        // one big file at a time in memory: covers are compared one after another
        if (tables.size > 2) tables.clear();
        tables.set(p.name, t);
      }
      return t;
    };
    for (const p of sorted) {
      const around = covers.filter((c) => inside(p, c) && !this.distinct.has(`${dir}\u0000${p.name}\u0000${c.name}`));
      let gone = false;
      for (const cover of around) {
        try {
          const [inner, outer] = [await read(p), await read(cover)];
          if (sameSchema(inner, outer) && rowsContained(inner, outer)) {
            await fs.unlink(path.join(dir, p.name));
            this.known.delete(path.join(dir, p.name));
            removed.add(p.name);
            this.log()?.info(
              { file: path.join(dir, p.name), supersededBy: cover.name },
              'removed a file whose rows are all in another (merged before a crash, or redelivered)',
            );
            gone = true;
            break;
          }
          this.distinct.add(`${dir}\u0000${p.name}\u0000${cover.name}`);
        } catch (err) {
          this.log()?.warn({ err, file: path.join(dir, p.name) }, 'could not check a possibly superseded file; kept it');
        }
      }
      if (!gone && !p.dup) covers.push(p);
    }
    if (removed.size > 0) {
      await fsyncPath(dir);
      this.counters.filesRemoved += removed.size;
    }
    return removed;
  }

  /** What is known of a file: from `send`, from an earlier pass, or read now (small files only). */
  private async info(dir: string, part: PartName): Promise<PartInfo | null> {
    const file = path.join(dir, part.name);
    const cached = this.known.get(file);
    if (cached !== undefined) return cached;
    let found: PartInfo | null = null;
    try {
      const { size } = await fs.stat(file);
      if (size < this.rollBytes / CANDIDATE_DISK_FRACTION) found = partInfo(await readPartFile(file)) ?? null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      this.log()?.warn({ err, file }, 'could not read a lake file; it is not merged');
    }
    this.known.set(file, found);
    return found;
  }

  private done(info: PartInfo): boolean {
    return info.rows * 2 >= this.rollRecords || info.bytes * 2 >= this.rollBytes;
  }

  /** Remove superseded files of a folder, then merge its small files window by window. */
  private async compactFolder(dir: string): Promise<void> {
    const parts = (await fs.readdir(dir)).map(parsePart).filter((p): p is PartName => p !== undefined && p.format === this.format);
    const described: { part: PartName; info: PartInfo }[] = [];
    for (const part of parts) {
      const info = await this.info(dir, part);
      if (info) described.push({ part, info });
    }
    // superseded files first: a leftover merged again would be a duplicate in the merged file
    const byColumns = new Map<string, { part: PartName; info: PartInfo }[]>();
    for (const d of described) byColumns.set(d.info.columns, [...(byColumns.get(d.info.columns) ?? []), d]);
    const removed = new Set<string>();
    for (const group of byColumns.values()) {
      for (const name of await this.supersede(
        dir,
        group.map((d) => d.part),
      ))
        removed.add(name);
    }
    for (const group of byColumns.values()) {
      const windows = new Map<bigint, { part: PartName; info: PartInfo }[]>();
      for (const d of group) {
        if (removed.has(d.part.name) || d.part.dup || this.done(d.info)) continue;
        const window = d.info.receiveMinNs / this.windowNs;
        if (d.info.receiveMaxNs / this.windowNs !== window) continue; // written with another window
        windows.set(window, [...(windows.get(window) ?? []), d]);
      }
      for (const files of windows.values()) {
        files.sort((a, b) => a.part.first - b.part.first || a.part.last - b.part.last);
        let merge: typeof files = [];
        let rows = 0;
        let bytes = 0;
        for (const f of [...files, undefined]) {
          if (!f || rows + f.info.rows > this.rollRecords || bytes + f.info.bytes > this.rollBytes) {
            if (merge.length > 1) {
              if (this.stopping) return;
              await this.merge(
                dir,
                merge.map((m) => m.part),
              );
            }
            merge = [];
            rows = 0;
            bytes = 0;
          }
          if (!f) break;
          merge.push(f);
          rows += f.info.rows;
          bytes += f.info.bytes;
        }
      }
    }
  }

  /** Merge `inputs` (seq order) into one new file, publish it, then unlink them. */
  private async merge(dir: string, inputs: PartName[]): Promise<void> {
    const tmp = this.files.tmpName();
    let result: MergeResult;
    try {
      result = await this.merger.run({ inputs: inputs.map((p) => path.join(dir, p.name)), tmp, format: this.format });
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
    if (this.stopping) {
      await fs.rm(tmp, { force: true });
      return;
    }
    const first = Math.min(...inputs.map((p) => p.first));
    const last = Math.max(...inputs.map((p) => p.last));
    const { name } = await this.files.publish(tmp, dir, partBase(first, last), this.format, result.sha256, result.size);
    // the merged file's folder entry is durable before any input's removal can be
    await fsyncPath(dir);
    this.known.set(path.join(dir, name), result.info);
    for (const p of inputs) {
      if (p.name === name) continue;
      await fs.rm(path.join(dir, p.name), { force: true });
      this.known.delete(path.join(dir, p.name));
      this.counters.filesRemoved++;
    }
    await fsyncPath(dir);
    this.counters.merges++;
    this.log()?.debug({ dir, file: name, inputs: inputs.length, rows: result.info.rows }, 'merged small files');
  }
}
