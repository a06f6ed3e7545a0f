/**
 * The `file-lake` output: the embedded default sink. It writes every record it receives into a local,
 * Hive-partitioned folder tree of long tables that pyarrow, pandas, DuckDB and Spark read as they are:
 *
 *   <lake>/<table>/machine=<m>/build=<b>/date=<YYYY-MM-DD>/part-<firstSeq>-<lastSeq>.arrow   (or .parquet)
 *   <lake>/images/machine=<m>/build=<b>/date=<YYYY-MM-DD>/<seq>.<ext>   (frames, original bytes; indexed
 *                                                                       by rows of the `frames` table)
 *
 * Tables: scalars, samples, events, raw, frames. `date` is the UTC date of the record's receive time.
 * The signal is a column (dictionary-encoded), not a folder: a plant's thousands of signals share a
 * partition's files, rows sorted by signal, then seq (part-files.ts).
 *
 * This module packs a batch for the batch worker and writes its frames; batch-job.ts (in the worker,
 * batch-worker.ts) sorts the rest into tables and partitions and writer.ts turns each group into new
 * files, durable.ts publishes them, frame-index.ts writes frames and their index, compaction.ts merges
 * small files in the background, migrate.ts moves a lake of the earlier `signal=` layout into this one.
 *
 * Design constraints:
 * - Durable before ack. `send` resolves only after every file of the batch is written, fsynced,
 *   moved into place and its folder fsynced (durable.ts), so a reader sees whole files only: for the
 *   tables, when the batch worker replies; for frames, here.
 * - Little per-record work on the gateway's thread, which the inputs, the buffer and every forwarder
 *   share: `send` only packs records into typed arrays and one body buffer (packed-batch.ts, about
 *   1 CPU-µs per scalar record) and moves them to the batch worker, which parses, builds, encodes and
 *   writes (seconds of CPU per 10^6 records; on this thread they halved ingest at the design load).
 *   Frames are few, large and mostly I/O, and stay here. A crashed worker fails the send retryably
 *   and is restarted by the next one.
 * - Cheap ack path: a batch becomes at most one new file per table and partition (more only at
 *   `rollEvery` or `compactWindow` boundaries); nothing existing is read or rewritten, so the cost of
 *   a batch does not grow with the partition. The lake asks the forwarder for large batches
 *   (schema.ts) and a `linger`, so files start coarse; the compactor merges what still lands in small
 *   pieces, off the ack path.
 * - Bad input is counted and kept: a scalar body that is not the scalar JSON, or a samples block whose
 *   attributes or length do not fit, goes to the `raw` table with an `error` column (decided in the
 *   worker, counted and logged here from its reply); the rest of the batch is unaffected. So does a
 *   record whose spooled blob is gone (it cannot come back, and failing the batch would block the sink
 *   for good); other I/O errors fail the batch, to be retried.
 * - Never abandoned: the lake declares no send timeout (definition.ts), so the forwarder waits for a
 *   send however long a busy CPU makes it. A timeout would send the batch again beside the running
 *   one (up to four at once): the work and the memory over again for a lake already behind.
 * - Memory: a batch in flight is held as the forwarder's records here and as its tables in the worker;
 *   the batch size the lake asks for keeps each well under 64 MiB of heap (schema.ts).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { BlobMissingError } from '../../../gateway/plugin-api/index.js';
import type { OutputContext, OutputDefinition, OutputPlugin } from '../../../gateway/plugin-api/index.js';
import type { StoredRecord } from '../../../gateway/plugin-api/index.js';
import type { BatchResult, MalformedRecord } from './batch-job.js';
import { workerBatchWriter } from './batch-worker.js';
import type { BatchWriter } from './batch-worker.js';
import { Compactor } from './compaction.js';
import type { Merger } from './compaction.js';
import { DurableFiles, WRITE_CONCURRENCY, eachLimit, fsyncPath } from './durable.js';
import { frameIndexTable, writeFrame } from './frame-index.js';
import type { FrameRow } from './frame-index.js';
import { workerMerger } from './merge-worker.js';
import { lakePartition, oldLayoutFolders } from './layout.js';
import { BatchPacker } from './packed-batch.js';
import type { FileLakeConfig } from './schema.js';
import { PartitionWriter } from './writer.js';
import type { PublishedFile } from './writer.js';
import { definition as lazyDefinition } from './definition.js';

export { fileLakeConfigSchema } from './schema.js';
export type { FileLakeConfig } from './schema.js';

export interface FileLakeStats {
  /** files published (table files, merged files and frame images) */
  files: number;
  rows: number;
  bytes: number;
  /** records stored in the raw table because their body did not fit their content type */
  malformed: number;
  /** files not written again because an identical file was already there (redelivery) */
  duplicateFilesSkipped: number;
  /** merged files the compactor published */
  merges: number;
  /** files unlinked: merged into another, or found superseded */
  filesRemoved: number;
}

const NS_PER_DAY = 86_400_000_000_000n;

function isMissingBlob(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === BlobMissingError.code;
}

export class FileLakeOutput implements OutputPlugin {
  readonly type = 'file-lake';
  readonly root: string;
  private readonly machine: string;
  private ctx: OutputContext | undefined;
  private log: Logger | undefined;
  private readonly lastMalformedWarn = new Map<string, number>();
  private readonly lastPartition = new Map<string | undefined, { from: bigint; to: bigint; partition: string }>();
  private readonly counters: FileLakeStats = {
    files: 0,
    rows: 0,
    bytes: 0,
    malformed: 0,
    duplicateFilesSkipped: 0,
    merges: 0,
    filesRemoved: 0,
  };
  private readonly config: FileLakeConfig;
  private readonly files: DurableFiles;
  /** frames' index files (the other tables are written by the batch worker) */
  private readonly writer: PartitionWriter;
  private readonly batches: BatchWriter;
  private readonly compactor: Compactor;
  /** the batch worker's highest used heap seen in a batch (measurements) */
  writerHeapBytes = 0;

  /**
   * `merger`: where the compactor's merges run (default: a worker thread; tests pass their own);
   * `batchWriter`: where batches are written (default: the lake's batch worker thread)
   */
  constructor(config: FileLakeConfig, env: { dataDir: string; machine: string }, options: { merger?: Merger; batchWriter?: BatchWriter } = {}) {
    this.config = config;
    this.root = path.resolve(config.path ?? path.join(env.dataDir, 'lake'));
    this.machine = env.machine;
    this.files = new DurableFiles(path.join(this.root, '.tmp'), this.counters, () => this.log);
    this.writer = new PartitionWriter(config, this.files, this.counters);
    this.batches = options.batchWriter ?? workerBatchWriter();
    this.compactor = new Compactor(this.root, config, this.files, options.merger ?? workerMerger(), this.counters, () => this.log);
  }

  /** How long the batch worker has been busy and idle (its event loop utilization, ms). */
  writerUtilization(): { active: number; idle: number } {
    return this.batches.utilization();
  }

  async start(ctx: OutputContext): Promise<void> {
    this.ctx = ctx;
    this.log = ctx.log;
    await this.files.resetTmp();
    const removed = await this.compactor.removeSuperseded();
    const old = await oldLayoutFolders(this.root);
    if (old.length > 0) {
      ctx.log.warn(
        { root: this.root, oldLayoutFolders: old.length, example: old[0] },
        'the lake holds folders of the earlier layout (one folder per signal); new data goes to machine=/build=/date= folders. Move the old ones with: layergate lake migrate -c <config>',
      );
    }
    await this.compactor.scanAll();
    this.batches.warm();
    ctx.log.info({ root: this.root, supersededFilesRemoved: removed }, 'file lake ready');
  }

  async stop(): Promise<void> {
    await this.batches.close();
    await this.compactor.stop();
    this.ctx = undefined;
  }

  stats(): FileLakeStats {
    return { ...this.counters };
  }

  /** Run a compaction pass now and wait for it (tests, measure.ts); a running gateway never needs it. */
  compactNow(): Promise<void> {
    return this.compactor.compactNow();
  }

  /** Whether a compaction pass is running. */
  get compacting(): boolean {
    return this.compactor.busy;
  }

  async send(batch: StoredRecord[]): Promise<void> {
    const ctx = this.ctx;
    if (!ctx) throw new Error(`file-lake ${this.root}: send before start`);
    const frames = new Map<string, StoredRecord[]>();
    const packer = new BatchPacker(batch.length);
    // the only per-record work on this thread: packing (packed-batch.ts); the rest is the worker's
    for (const record of batch) {
      let body = record.body;
      if (body === undefined && record.blob) {
        try {
          if (record.kind === 'frame') await fs.access(ctx.blobs.path(record.blob));
          else body = await ctx.blobs.read(record.blob);
        } catch (err) {
          // a spooled body that is gone will not come back: retrying would block this sink for good
          if (!isMissingBlob(err)) throw err;
          packer.add(record, undefined, `body blob ${record.blob.sha256} (${record.blob.size} bytes) is missing from the spool`);
          continue;
        }
      }
      if (record.kind === 'frame') {
        const partition = this.partition(record);
        const list = frames.get(partition) ?? [];
        list.push(record);
        frames.set(partition, list);
        continue;
      }
      packer.add(record, body);
    }
    const writes: Promise<void>[] = [];
    if (packer.size > 0) {
      const { batch: packed, transfer } = packer.finish();
      const job = { root: this.root, machine: this.machine, config: this.config, batch: packed };
      writes.push(this.batches.run(job, transfer, (indices) => packer.attributesOf(indices)).then((r) => this.written(r)));
    }
    // frames are few and large, mostly I/O: written from here, beside the worker's job
    if (frames.size > 0) writes.push(this.writeFrames(ctx, frames));
    for (const w of await Promise.allSettled(writes)) if (w.status === 'rejected') throw w.reason;
  }

  /** Take the worker's report of a batch: counters, malformed records, the files for the compactor. */
  private written(result: BatchResult): void {
    this.counters.files += result.files;
    this.counters.bytes += result.bytes;
    this.counters.rows += result.rows;
    this.counters.duplicateFilesSkipped += result.duplicateFilesSkipped;
    for (const m of result.malformed) {
      this.counters.malformed++;
      this.warnMalformed(m);
    }
    this.writerHeapBytes = Math.max(this.writerHeapBytes, result.heapBytes);
    // the compactor looks at these folders later, never inside a send
    this.compactor.published(result.published);
  }

  private async writeFrames(ctx: OutputContext, frames: Map<string, StoredRecord[]>): Promise<void> {
    const published: PublishedFile[] = [];
    const touchedDirs = new Set<string>();
    await eachLimit([...frames], WRITE_CONCURRENCY, async ([partition, records]) => {
      // images in their own tree so that every file below a table folder is a table file
      const imageDir = path.join(this.root, 'images', partition);
      const dir = path.join(this.root, 'frames', partition);
      await this.files.ensureDir(imageDir);
      await this.files.ensureDir(dir);
      touchedDirs.add(imageDir);
      touchedDirs.add(dir);
      const rows: FrameRow[] = [];
      // images first, then the index that names them: an index row never points at a missing file
      for (const record of records) {
        const row = await writeFrame(this.files, ctx, imageDir, record);
        rows.push({ ...row, file: path.posix.join('images', partition.split(path.sep).join('/'), row.file) });
      }
      for (const chunk of this.writer.roll(rows, (r) => ({ record: r.record, rows: 1, bytes: 0 }))) {
        const file = await this.writer.write(dir, chunk, (r) => r.record, frameIndexTable);
        if (file) published.push(file);
      }
    });
    await eachLimit([...touchedDirs], WRITE_CONCURRENCY, fsyncPath);
    this.compactor.published(published);
  }

  /** Warn once a minute per signal (a source sending bad bodies would flood the log); debug otherwise. */
  private warnMalformed(fields: MalformedRecord): void {
    const now = Date.now();
    if (now - (this.lastMalformedWarn.get(fields.signal) ?? 0) >= 60_000) {
      this.lastMalformedWarn.set(fields.signal, now);
      this.log?.warn({ ...fields, malformedTotal: this.counters.malformed }, 'record body does not fit its content type; stored in the raw table');
    } else {
      this.log?.debug(fields, 'record body does not fit its content type; stored in the raw table');
    }
  }

  /** The partition of a record; the last one per build is kept, as a batch is mostly one build and day. */
  private partition(r: StoredRecord): string {
    const last = this.lastPartition.get(r.build);
    if (last && r.receiveTimeNs >= last.from && r.receiveTimeNs < last.to) return last.partition;
    const from = r.receiveTimeNs - (((r.receiveTimeNs % NS_PER_DAY) + NS_PER_DAY) % NS_PER_DAY);
    const partition = lakePartition(this.machine, r.build, r.receiveTimeNs);
    if (this.lastPartition.size > 1000) this.lastPartition.clear();
    this.lastPartition.set(r.build, { from, to: from + NS_PER_DAY, partition });
    return partition;
  }
}

/** The full definition: the lazy one of ./definition.ts, and how to create an instance. */
export const definition: OutputDefinition<FileLakeConfig> = {
  ...lazyDefinition,
  create: (config, env) => new FileLakeOutput(config, env),
};
