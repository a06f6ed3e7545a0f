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
 * This module sorts a batch into tables and partitions; writer.ts turns each group into new files,
 * durable.ts publishes them, frame-index.ts writes frames and their index, compaction.ts merges small
 * files in the background, migrate.ts moves a lake of the earlier `signal=` layout into this one.
 *
 * Design constraints:
 * - Durable before ack. `send` resolves only after every file of the batch is written, fsynced,
 *   moved into place and its folder fsynced (durable.ts), so a reader sees whole files only.
 * - Cheap ack path: a batch becomes at most one new file per table and partition (more only at
 *   `rollEvery` or `compactWindow` boundaries); nothing existing is read or rewritten, so the cost of
 *   a batch does not grow with the partition. The lake asks the forwarder for large batches
 *   (schema.ts) and a `linger`, so files start coarse; the compactor merges what still lands in small
 *   pieces, off the ack path.
 * - Bad input is counted and kept: a scalar body that is not the scalar JSON, or a samples block whose
 *   attributes or length do not fit, goes to the `raw` table with an `error` column; the rest of the
 *   batch is unaffected. So does a record whose spooled blob is gone (it cannot come back, and
 *   failing the batch would block the sink for good); other I/O errors fail the batch, to be retried.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { BlobMissingError } from '../../../gateway/plugin-api/index.js';
import type { OutputContext, OutputDefinition, OutputPlugin } from '../../../gateway/plugin-api/index.js';
import type { StoredRecord } from '../../../gateway/plugin-api/index.js';
import { CONTENT_TYPES } from '../../../gateway/plugin-api/index.js';
import { eventsTable, isTextual, parseSamples, parseScalar, rawTable, samplesTable, scalarTable } from '../shared/columns.js';
import type { ColumnItem, ParsedSamples, ParsedScalar } from '../shared/columns.js';
import { Compactor } from './compaction.js';
import type { Merger } from './compaction.js';
import { DurableFiles, WRITE_CONCURRENCY, eachLimit, fsyncPath } from './durable.js';
import { frameIndexTable, writeFrame } from './frame-index.js';
import type { FrameRow } from './frame-index.js';
import { workerMerger } from './merge-worker.js';
import { lakePartition, oldLayoutFolders } from './layout.js';
import type { LakeTable } from './layout.js';
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

/** One group of records that becomes one or more files in one folder. */
interface Group {
  table: LakeTable;
  dir: string;
  /** samples only: channel names, which define the file's columns */
  channels?: string[];
  items: ColumnItem[];
}

const NS_PER_DAY = 86_400_000_000_000n;

function isMissingBlob(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === BlobMissingError.code;
}

function buildTable(group: Group, items: ColumnItem[]) {
  const options = { signal: true };
  return group.table === 'scalars'
    ? scalarTable(items, options)
    : group.table === 'samples'
      ? samplesTable(items, group.channels!, options)
      : group.table === 'events'
        ? eventsTable(items, options)
        : rawTable(items, options);
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
  private readonly files: DurableFiles;
  private readonly writer: PartitionWriter;
  private readonly compactor: Compactor;

  /** `merger`: where the compactor's merges run (default: a worker thread; tests pass their own) */
  constructor(config: FileLakeConfig, env: { dataDir: string; machine: string }, options: { merger?: Merger } = {}) {
    this.root = path.resolve(config.path ?? path.join(env.dataDir, 'lake'));
    this.machine = env.machine;
    this.files = new DurableFiles(path.join(this.root, '.tmp'), this.counters, () => this.log);
    this.writer = new PartitionWriter(config, this.files, this.counters);
    this.compactor = new Compactor(this.root, config, this.files, options.merger ?? workerMerger(), this.counters, () => this.log);
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
    ctx.log.info({ root: this.root, supersededFilesRemoved: removed }, 'file lake ready');
  }

  async stop(): Promise<void> {
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
    const groups = new Map<string, Group>();
    const frames = new Map<string, StoredRecord[]>();
    const touchedDirs = new Set<string>();
    const published: PublishedFile[] = [];

    for (const record of batch) {
      const partition = this.partition(record);
      let body: Buffer;
      let table: LakeTable = 'raw';
      let samples: ParsedSamples | undefined;
      let scalar: ParsedScalar | undefined;
      let error: string | undefined;
      try {
        if (record.kind === 'frame') {
          if (record.blob) await fs.access(ctx.blobs.path(record.blob));
          const list = frames.get(partition) ?? [];
          list.push(record);
          frames.set(partition, list);
          continue;
        }
        body = record.body ?? (record.blob ? await ctx.blobs.read(record.blob) : Buffer.alloc(0));
      } catch (err) {
        // a spooled body that is gone will not come back: retrying would block this sink for good
        if (!isMissingBlob(err)) throw err;
        body = Buffer.alloc(0);
        error = `body blob ${record.blob!.sha256} (${record.blob!.size} bytes) is missing from the spool`;
      }
      if (error === undefined) {
        try {
          if (record.contentType === CONTENT_TYPES.scalar) {
            scalar = parseScalar(body);
            table = 'scalars';
          } else if (record.contentType === CONTENT_TYPES.samplesF32) {
            samples = parseSamples(record, body);
            table = 'samples';
          } else {
            table = isTextual(record.contentType) ? 'events' : 'raw';
          }
        } catch (err) {
          error = (err as Error).message;
        }
      }
      if (error !== undefined) {
        table = 'raw';
        samples = undefined;
        scalar = undefined;
        this.counters.malformed++;
        this.warnMalformed(record, error);
      }
      const channelsKey = samples ? `\u0000${samples.channels.join('\u0000')}` : '';
      const key = `${table}\u0000${partition}${channelsKey}`;
      let group = groups.get(key);
      if (!group) {
        group = { table, dir: path.join(this.root, table, partition), items: [], ...(samples ? { channels: samples.channels } : {}) };
        groups.set(key, group);
      }
      group.items.push({ record, body, ...(samples ? { samples } : {}), ...(scalar ? { scalar } : {}), ...(error ? { error } : {}) });
    }

    // Groups go to different files: write them a few at a time, so that their fsyncs overlap (the
    // file system commits concurrent syncs together) instead of paying one sync latency per file.
    await eachLimit([...groups.values()], WRITE_CONCURRENCY, async (group) => {
      await this.files.ensureDir(group.dir);
      touchedDirs.add(group.dir);
      const chunks = this.writer.roll(group.items, (i) => ({ record: i.record, rows: i.samples ? i.samples.count : 1, bytes: i.body.length }));
      for (const chunk of chunks) {
        const file = await this.writer.write(
          group.dir,
          chunk,
          (i) => i.record,
          (items) => buildTable(group, items),
        );
        if (file) published.push(file);
      }
    });

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
    // the compactor looks at these folders later, never inside a send
    this.compactor.published(published);
  }

  /** Warn once a minute per signal (a source sending bad bodies would flood the log); debug otherwise. */
  private warnMalformed(record: StoredRecord, error: string): void {
    const now = Date.now();
    const fields = { seq: record.seq, source: record.source, signal: record.signal, contentType: record.contentType, error };
    if (now - (this.lastMalformedWarn.get(record.signal) ?? 0) >= 60_000) {
      this.lastMalformedWarn.set(record.signal, now);
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
