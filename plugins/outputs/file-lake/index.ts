/**
 * The `file-lake` output: the embedded default sink. It writes every record it receives into a local,
 * Hive-partitioned folder tree that pyarrow, pandas, DuckDB and Spark read as they are:
 *
 *   <lake>/<table>/machine=<m>/build=<b>/signal=<s>/part-<firstSeq>-<lastSeq>.arrow   (or .parquet)
 *   <lake>/images/machine=<m>/build=<b>/signal=<s>/<seq>.<ext>   (frames, original bytes; indexed by
 *                                                                 rows in the `frames` table)
 *
 * This module sorts a batch into tables and partitions; compaction.ts turns each group into files,
 * durable.ts publishes them, frame-index.ts writes frames and their index.
 *
 * Design constraints:
 * - Durable before ack. `send` resolves only after every file of the batch is written, fsynced,
 *   moved into place and its folder fsynced (durable.ts), so a reader sees whole files only.
 * - Coarse files: the forwarder is asked to linger (`linger`, 60 s) so that batches are already
 *   coarse before they get here; compaction merges what still lands in small pieces (compaction.ts).
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
import type { ColumnItem, ParsedSamples } from '../shared/columns.js';
import { partitionSegment } from '../shared/layout.js';
import { PartitionWriter } from './compaction.js';
import type { LakeTable } from './compaction.js';
import { DurableFiles, WRITE_CONCURRENCY, eachLimit, fsyncPath } from './durable.js';
import { frameIndexTable, writeFrame } from './frame-index.js';
import type { FrameRow } from './frame-index.js';
import { DEFAULT_LAKE_LINGER_MS, fileLakeConfigSchema } from './schema.js';
import type { FileLakeConfig } from './schema.js';

export { fileLakeConfigSchema } from './schema.js';
export type { FileLakeConfig } from './schema.js';

export interface FileLakeStats {
  /** files published (table files and frame images) */
  files: number;
  rows: number;
  bytes: number;
  /** records stored in the raw table because their body did not fit their content type */
  malformed: number;
  /** files not written again because an identical file (or a merged file holding the same rows) was already there (redelivery) */
  duplicateFilesSkipped: number;
  /** batches merged into the partition's latest file (compaction) */
  merges: number;
  /** files unlinked: replaced by a merged file, or found superseded at start */
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
  private readonly partitions: PartitionWriter;

  constructor(config: FileLakeConfig, env: { dataDir: string; machine: string }) {
    this.root = path.resolve(config.path ?? path.join(env.dataDir, 'lake'));
    this.machine = env.machine;
    this.files = new DurableFiles(path.join(this.root, '.tmp'), this.counters, () => this.log);
    this.partitions = new PartitionWriter(this.root, config, this.files, this.counters, () => this.log);
  }

  async start(ctx: OutputContext): Promise<void> {
    this.ctx = ctx;
    this.log = ctx.log;
    await this.files.resetTmp();
    this.partitions.forgetTails();
    const removed = await this.partitions.removeSuperseded();
    ctx.log.info({ root: this.root, supersededFilesRemoved: removed }, 'file lake ready');
  }

  async stop(): Promise<void> {
    this.ctx = undefined;
  }

  stats(): FileLakeStats {
    return { ...this.counters };
  }

  async send(batch: StoredRecord[]): Promise<void> {
    const ctx = this.ctx;
    if (!ctx) throw new Error(`file-lake ${this.root}: send before start`);
    const groups = new Map<string, Group>();
    const frames = new Map<string, StoredRecord[]>();
    const touchedDirs = new Set<string>();

    for (const record of batch) {
      const partition = this.partition(record);
      let body: Buffer;
      let table: LakeTable = 'raw';
      let samples: ParsedSamples | undefined;
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
            parseScalar(body);
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
        this.counters.malformed++;
        this.warnMalformed(record, error);
      }
      const channelsKey = samples ? `\u0000${samples.channels.join('\u0000')}` : '';
      const dir = path.join(this.root, table, partition);
      const key = dir + channelsKey;
      let group = groups.get(key);
      if (!group) {
        group = { table, dir, items: [], ...(samples ? { channels: samples.channels } : {}) };
        groups.set(key, group);
      }
      group.items.push({ record, body, ...(samples ? { samples } : {}), ...(error ? { error } : {}) });
    }

    // Groups go to different files: write them a few at a time, so that their fsyncs overlap (the
    // file system commits concurrent syncs together) instead of paying one sync latency per file.
    await eachLimit([...groups.entries()], WRITE_CONCURRENCY, async ([key, group]) => {
      await this.files.ensureDir(group.dir);
      touchedDirs.add(group.dir);
      const chunks = this.partitions.roll(group.items, (i) => ({ record: i.record, rows: i.samples ? i.samples.count : 1, bytes: i.body.length }));
      await this.partitions.locked(key, async () => {
        const build = (items: Group['items']) =>
          group.table === 'scalars'
            ? scalarTable(items)
            : group.table === 'samples'
              ? samplesTable(items, group.channels!)
              : group.table === 'events'
                ? eventsTable(items)
                : rawTable(items);
        for (const chunk of chunks) await this.partitions.writeChunk(key, group.dir, chunk, build);
      });
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
      const key = dir;
      await this.partitions.locked(key, async () => {
        for (const chunk of this.partitions.roll(rows, (r) => ({ record: r.record, rows: 1, bytes: 0 }))) {
          await this.partitions.writeChunk(key, dir, chunk, frameIndexTable);
        }
      });
    });

    await eachLimit([...touchedDirs], WRITE_CONCURRENCY, fsyncPath);
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

  private partition(r: StoredRecord): string {
    return path.join(`machine=${partitionSegment(this.machine)}`, `build=${partitionSegment(r.build)}`, `signal=${partitionSegment(r.signal)}`);
  }
}

export const definition: OutputDefinition<FileLakeConfig> = {
  type: 'file-lake',
  configSchema: fileLakeConfigSchema,
  // the lake is a folder on the gateway's own disk; it prefers coarse batches (a file per batch)
  capabilities: () => ({ premises: 'on', linger: DEFAULT_LAKE_LINGER_MS }),
  renamedKeys: { accepts: 'classes' },
  create: (config, env) => new FileLakeOutput(config, env),
};
