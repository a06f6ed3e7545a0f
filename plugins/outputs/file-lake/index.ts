/**
 * The `file-lake` output: the embedded default sink. It writes every record it receives into a local,
 * Hive-partitioned folder tree that pyarrow, pandas, DuckDB and Spark read as they are:
 *
 *   <lake>/<table>/machine=<m>/build=<b>/signal=<s>/part-<firstSeq>-<lastSeq>.arrow   (or .parquet)
 *   <lake>/images/machine=<m>/build=<b>/signal=<s>/<seq>.<ext>   (frames, original bytes; indexed by
 *                                                                 rows in the `frames` table)
 *
 * Design constraints:
 * - Durable before ack. `send` resolves only after every file of the batch is written, fsynced,
 *   moved into place and its folder fsynced. Files are written under `<lake>/.tmp/` and published
 *   with link(2), which is atomic and never replaces an existing file, so a reader sees whole files
 *   only and a crash leaves at most temp files (removed at start).
 * - Immutable files, coarse by compaction. A visible file is never rewritten or appended to. To
 *   keep the file count low (a trickle of health scalars would otherwise make a file per record),
 *   a partition keeps one file per `compactWindow` of receive time: a batch landing where the
 *   partition's latest file is from the same window (and the two fit in `rollEvery`) is merged with
 *   it into a new file `part-<first of old>-<last of new>`, published like any file (temp, fsync,
 *   link, fsync folder) before the old file is unlinked. So `send` still resolves only on durable
 *   data, and the work per batch is bounded by `rollEvery`. A crash between publishing the merged
 *   file and unlinking the old one leaves rows twice (same `seq`); at start, a file whose seq range
 *   lies inside another file's range in the same folder, and whose rows all appear in that file, is
 *   removed as superseded. The forwarder is asked to linger (`linger`, 60 s) so that batches are
 *   already coarse before they get here.
 * - At-least-once redelivery never corrupts and never loses. A redelivered batch that splits the same
 *   way produces the same file name and the same bytes: the existing file is kept and the copy
 *   dropped. A name clash with different bytes (e.g. a buffer whose seq restarted) is written beside
 *   it as `...-dupN.arrow`, never over it. A redelivery that splits differently can repeat rows: the
 *   `seq` column identifies them (documented in README.md).
 * - Bad input is counted and kept: a scalar body that is not the scalar JSON, or a samples block whose
 *   attributes or length do not fit, goes to the `raw` table with an `error` column; the rest of the
 *   batch is unaffected. So does a record whose spooled blob is gone (it cannot come back, and
 *   failing the batch would block the sink for good); other I/O errors fail the batch, to be retried.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { DataType, Table, Utf8, makeVector, tableFromIPC, tableToIPC, vectorFromArray } from 'apache-arrow';
import * as parquet from 'parquet-wasm';
import type { Logger } from 'pino';
import { BlobMissingError } from '../../../gateway/plugin-api/index.js';
import type { OutputContext, OutputDefinition, OutputPlugin } from '../../../gateway/plugin-api/index.js';
import type { StoredRecord } from '../../../gateway/plugin-api/index.js';
import { CONTENT_TYPES } from '../../../gateway/plugin-api/index.js';
import { DEFAULT_LAKE_LINGER_MS, fileLakeConfigSchema } from './schema.js';
import {
  attributesJson, commonColumns, eventsTable, isTextual, parseSamples, parseScalar, rawTable, samplesTable, scalarTable,
  toParquet,
} from '../shared/columns.js';
import type { ColumnItem, ParsedSamples } from '../shared/columns.js';
import type { FileLakeConfig } from './schema.js';

export { fileLakeConfigSchema } from './schema.js';
export type { FileLakeConfig } from './schema.js';

export type LakeTable = 'scalars' | 'samples' | 'events' | 'raw' | 'frames';

/** The value pyarrow (and Hive) read back as null in a partition path. */
export const NULL_PARTITION = '__HIVE_DEFAULT_PARTITION__';
const MAX_SEGMENT_CHARS = 120;

/**
 * A value as a safe path segment: letters, digits, `.`, `_` and `-` stay; every other byte of its UTF-8
 * form becomes `%XX` (pyarrow's default `segment_encoding="uri"` decodes it back). An empty value is
 * the Hive null partition; `.` and `..` are encoded; a value longer than 120 characters after encoding
 * is cut and gets `~` plus 16 hex digits of its SHA-256, so distinct values stay distinct.
 */
export function partitionSegment(value: string | undefined): string {
  if (value === undefined || value === '') return NULL_PARTITION;
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9._-]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (out === '.' || out === '..') out = out.replace(/\./g, '%2E');
  if (out === NULL_PARTITION) out = out.replace(/_/g, '%5F');
  if (out.length > MAX_SEGMENT_CHARS) {
    const hash = createHash('sha256').update(value).digest('hex').slice(0, 16);
    out = `${out.slice(0, MAX_SEGMENT_CHARS - 17).replace(/%[0-9A-F]?$/, '')}~${hash}`;
  }
  return out;
}

/** File extension for a frame's content type (its bytes are written unchanged). */
export function frameExtension(contentType: string): string {
  const base = contentType.split(';')[0]!.trim().toLowerCase();
  const known: Record<string, string> = {
    'image/png': 'png', 'image/jpeg': 'jpg', 'image/jpg': 'jpg', 'image/tiff': 'tif', 'image/bmp': 'bmp',
    'image/webp': 'webp', 'image/gif': 'gif', 'image/x-portable-graymap': 'pgm', 'image/x-portable-anymap': 'pnm',
    'image/avif': 'avif', 'image/jxl': 'jxl',
  };
  return known[base] ?? 'bin';
}

const SEQ_DIGITS = 16; // 2^53 has 16 digits: names sort in seq order

function seqName(seq: number): string {
  return String(seq).padStart(SEQ_DIGITS, '0');
}

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

// ---- record shapes ---------------------------------------------------------------------------

/** Consecutive items of a group that go into one file: within rollEvery and one compaction window. */
interface Chunk<T> {
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

/** One group of records that becomes one or more files in one folder. */
interface Group {
  table: LakeTable;
  dir: string;
  /** samples only: channel names, which define the file's columns */
  channels?: string[];
  items: ColumnItem[];
}

interface FrameRow { record: StoredRecord; file: string; sha256: string; size: number }

function frameIndexTable(rows: FrameRow[]): Table {
  const items = rows.map((r) => ({ record: r.record, body: Buffer.alloc(0) }));
  return new Table({
    ...commonColumns(items),
    content_type: vectorFromArray(rows.map((r) => r.record.contentType), new Utf8()),
    file: vectorFromArray(rows.map((r) => r.file), new Utf8()),
    sha256: vectorFromArray(rows.map((r) => r.sha256), new Utf8()),
    size_bytes: makeVector(BigInt64Array.from(rows, (r) => BigInt(r.size))),
    attributes: vectorFromArray(rows.map((r) => attributesJson(r.record)), new Utf8()),
  });
}

/** Read a table file this output wrote (Arrow IPC file or Parquet) back into an Arrow table. */
export async function readTableFile(file: string): Promise<Table> {
  const bytes = await fs.readFile(file);
  if (file.endsWith('.parquet')) return tableFromIPC(parquet.readParquet(bytes).intoIPCStream());
  return tableFromIPC(bytes);
}

function sameSchema(a: Table, b: Table): boolean {
  const fa = a.schema.fields;
  const fb = b.schema.fields;
  return fa.length === fb.length
    && fa.every((f, i) => f.name === fb[i]!.name && String(f.type) === String(fb[i]!.type) && f.nullable === fb[i]!.nullable);
}

/** One column's values, exact: int64 timestamps as bigint (Vector.get would turn them into float ms). */
function exactValues(table: Table, column: number): unknown[] {
  const vector = table.getChildAt(column)!;
  if (!DataType.isTimestamp(vector.type)) return Array.from({ length: vector.length }, (_, i) => vector.get(i) as unknown);
  const out: unknown[] = [];
  for (const data of vector.data) {
    const values = data.values as BigInt64Array;
    for (let i = 0; i < data.length; i++) out.push(data.getValid(i) ? values[i]! : null);
  }
  return out;
}

function rowKeys(table: Table, keep: (seq: bigint) => boolean): string[] {
  const columns = table.schema.fields.map((_, c) => exactValues(table, c));
  const seqColumn = table.schema.fields.findIndex((f) => f.name === 'seq');
  const keys: string[] = [];
  for (let r = 0; r < table.numRows; r++) {
    if (seqColumn >= 0 && !keep(columns[seqColumn]![r] as bigint)) continue;
    keys.push(JSON.stringify(columns.map((c) => c[r]), (_, v: unknown) =>
      typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));
  }
  return keys;
}

/**
 * Whether every row of `small` is in `big` (same schema, equal values in every column). Only then is a
 * file with a seq range inside another's a leftover copy that may go: equal seqs alone would also match
 * a buffer whose seq numbering restarted, and that data must be kept.
 */
export function rowsContained(small: Table, big: Table): boolean {
  if (!sameSchema(small, big)) return false;
  const seqColumn = small.schema.fields.findIndex((f) => f.name === 'seq');
  if (seqColumn < 0) return false;
  const seqs = new Set(exactValues(small, seqColumn) as bigint[]);
  const have = new Map<string, number>();
  for (const k of rowKeys(big, (seq) => seqs.has(seq))) have.set(k, (have.get(k) ?? 0) + 1);
  for (const k of rowKeys(small, () => true)) {
    const n = have.get(k) ?? 0;
    if (n === 0) return false;
    have.set(k, n - 1);
  }
  return true;
}

const PART_NAME = /^part-(\d{16})-(\d{16})(-dup\d+)?\.(arrow|parquet)$/;

interface PartFile { name: string; first: number; last: number; dup: boolean }

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

// ---- files -----------------------------------------------------------------------------------

function isMissingBlob(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === BlobMissingError.code;
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** How many files of one batch are written at once (libuv's thread pool has 4 threads by default). */
const WRITE_CONCURRENCY = 4;

async function eachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

async function fsyncPath(p: string): Promise<void> {
  const fh = await fs.open(p, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}

export class FileLakeOutput implements OutputPlugin {
  readonly type = 'file-lake';
  readonly root: string;
  private readonly tmpDir: string;
  private readonly machine: string;
  private readonly rollRecords: number;
  private readonly rollBytes: number;
  private readonly format: FileLakeConfig['format'];
  /** compaction window in ns of receive time; 0n: no compaction */
  private readonly windowNs: bigint;
  private ctx: OutputContext | undefined;
  private log: Logger | undefined;
  private readonly lastMalformedWarn = new Map<string, number>();
  /** per folder and channel set: its latest file (null: looked, none) */
  private readonly tails = new Map<string, TailFile | null>();
  /** per folder and channel set: the write in progress (a timed-out send may still run beside the next) */
  private readonly locks = new Map<string, Promise<void>>();
  private readonly counters: FileLakeStats = {
    files: 0, rows: 0, bytes: 0, malformed: 0, duplicateFilesSkipped: 0, merges: 0, filesRemoved: 0,
  };

  constructor(config: FileLakeConfig, env: { dataDir: string; machine: string }) {
    this.root = path.resolve(config.path ?? path.join(env.dataDir, 'lake'));
    this.tmpDir = path.join(this.root, '.tmp');
    this.machine = env.machine;
    this.rollRecords = config.rollEvery.records;
    this.rollBytes = config.rollEvery.bytes;
    this.format = config.format;
    this.windowNs = BigInt(Math.round(config.compactWindow)) * 1_000_000n;
  }

  async start(ctx: OutputContext): Promise<void> {
    this.ctx = ctx;
    this.log = ctx.log;
    // temp files of a crashed run hold nothing acknowledged (send had not resolved): drop them
    await fs.rm(this.tmpDir, { recursive: true, force: true });
    await fs.mkdir(this.tmpDir, { recursive: true });
    this.tails.clear();
    const removed = await this.removeSuperseded();
    ctx.log.info({ root: this.root, supersededFilesRemoved: removed }, 'file lake ready');
  }

  /**
   * Crash leftovers of compaction: a file whose seq range lies inside another file's range in the
   * same folder, and whose rows all appear in that file, was merged into it before the crash; remove
   * it. A file that cannot be read is kept (and logged): removing data on a guess is worse than a
   * duplicate row, which readers drop by `seq` anyway.
   */
  private async removeSuperseded(): Promise<number> {
    const byDir = new Map<string, PartFile[]>();
    for (const table of ['scalars', 'samples', 'events', 'raw', 'frames'] satisfies LakeTable[]) {
      let entries;
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
              this.log?.info({ file: path.join(dir, p.name), supersededBy: cover.name }, 'removed a file already merged into another (crash leftover)');
              continue;
            }
          } catch (err) {
            this.log?.warn({ err, file: path.join(dir, p.name) }, 'could not check a possibly superseded file; kept it');
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
      await this.ensureDir(group.dir);
      touchedDirs.add(group.dir);
      const chunks = this.roll(group.items, (i) => ({ record: i.record, rows: i.samples ? i.samples.count : 1, bytes: i.body.length }));
      await this.locked(key, async () => {
        const build = (items: Group['items']) => (group.table === 'scalars' ? scalarTable(items)
          : group.table === 'samples' ? samplesTable(items, group.channels!)
            : group.table === 'events' ? eventsTable(items)
              : rawTable(items));
        for (const chunk of chunks) await this.writeChunk(key, group.dir, chunk, build);
      });
    });

    await eachLimit([...frames], WRITE_CONCURRENCY, async ([partition, records]) => {
      // images in their own tree so that every file below a table folder is a table file
      const imageDir = path.join(this.root, 'images', partition);
      const dir = path.join(this.root, 'frames', partition);
      await this.ensureDir(imageDir);
      await this.ensureDir(dir);
      touchedDirs.add(imageDir);
      touchedDirs.add(dir);
      const rows: FrameRow[] = [];
      // images first, then the index that names them: an index row never points at a missing file
      for (const record of records) {
        const row = await this.writeFrame(ctx, imageDir, record);
        rows.push({ ...row, file: path.posix.join('images', partition.split(path.sep).join('/'), row.file) });
      }
      const key = dir;
      await this.locked(key, async () => {
        for (const chunk of this.roll(rows, (r) => ({ record: r.record, rows: 1, bytes: 0 }))) {
          await this.writeChunk(key, dir, chunk, frameIndexTable);
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
    return path.join(
      `machine=${partitionSegment(this.machine)}`,
      `build=${partitionSegment(r.build)}`,
      `signal=${partitionSegment(r.signal)}`,
    );
  }

  /**
   * Split a group at record boundaries so no file exceeds rollEvery (one record always fits), and at
   * compaction window boundaries (by receive time) so that no file spans two windows.
   */
  private roll<T>(items: T[], size: (item: T) => { record: StoredRecord; rows: number; bytes: number }): Chunk<T>[] {
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
  private async locked(key: string, fn: () => Promise<void>): Promise<void> {
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
            name: latest.name, first: latest.first, last: latest.last, window: newest / this.windowNs,
            rows: table.numRows, bytes: stat.size,
          };
        }
      } catch (err) {
        this.log?.warn({ err, file: path.join(dir, latest.name) }, 'could not read the latest file of a partition; starting a new one');
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
  private async writeChunk<T>(key: string, dir: string, chunk: Chunk<T>, build: (items: T[]) => Table): Promise<void> {
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
        this.log?.debug({ dir, first, last: head.seqs[head.seqs.length - 1], in: tail.name }, 'rows already in the lake (redelivery); not written again');
      } else {
        await this.writeOwnFile(key, dir, head, headTable, tail);
      }
      if (split < 0) return;
      chunk = sliceChunk(chunk, split, chunk.items.length);
    }
    const table = build(chunk.items);
    const last = chunk.seqs[chunk.seqs.length - 1]!;
    const current = this.windowNs > 0n ? await this.tail(key, dir) : null;
    if (current && chunk.seqs[0]! > current.last && current.window === chunk.window
      && current.rows + table.numRows <= this.rollRecords && current.bytes + chunk.bytes <= this.rollBytes) {
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
          name, first: current.first, last, window: current.window,
          rows: current.rows + table.numRows, bytes: current.bytes + chunk.bytes,
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
      this.log?.warn({ err, file: path.join(dir, tail.name) }, 'could not read the partition\'s latest file; writing a new one');
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

  /** mkdir -p, then fsync the parent of every folder it created so the new entries are durable. */
  private async ensureDir(dir: string): Promise<void> {
    const first = await fs.mkdir(dir, { recursive: true });
    if (!first) return;
    let p = dir;
    while (p.length >= first.length) {
      await fsyncPath(path.dirname(p));
      p = path.dirname(p);
    }
  }

  /** Write `part-<first>-<last>` (records arrive in ascending seq order, the forwarder's contract). */
  private async writeTableFile(dir: string, first: number, last: number, table: Table): Promise<{ name: string; duplicate: boolean }> {
    const bytes = this.format === 'parquet' ? toParquet(table) : tableToIPC(table, 'file');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const tmp = await this.writeTmp(bytes);
    return this.publish(tmp, dir, `part-${seqName(first)}-${seqName(last)}`, this.format, sha256, bytes.length);
  }

  private async writeFrame(ctx: OutputContext, dir: string, record: StoredRecord): Promise<FrameRow> {
    const ext = frameExtension(record.contentType);
    const base = seqName(record.seq);
    if (record.blob) {
      // large frames: copy the spooled file instead of loading it
      const tmp = this.tmpName();
      await fs.copyFile(ctx.blobs.path(record.blob), tmp);
      await fsyncPath(tmp);
      const { name } = await this.publish(tmp, dir, base, ext, record.blob.sha256, record.blob.size);
      return { record, file: name, sha256: record.blob.sha256, size: record.blob.size };
    }
    const body = record.body ?? Buffer.alloc(0);
    const sha256 = createHash('sha256').update(body).digest('hex');
    const tmp = await this.writeTmp(body);
    const { name } = await this.publish(tmp, dir, base, ext, sha256, body.length);
    return { record, file: name, sha256, size: body.length };
  }

  private tmpName(): string {
    return path.join(this.tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}.tmp`);
  }

  private async writeTmp(bytes: Uint8Array): Promise<string> {
    const tmp = this.tmpName();
    const fh = await fs.open(tmp, 'wx');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return tmp;
  }

  /**
   * Move a fsynced temp file to `<dir>/<base>.<ext>` without ever replacing a file: link(2) fails
   * with EEXIST instead. An existing file with the same bytes means a redelivery (keep it); one with
   * other bytes gets the new file beside it as `<base>-dupN.<ext>`. Returns the file name used and
   * whether it was already there.
   */
  private async publish(
    tmp: string, dir: string, base: string, ext: string, sha256: string, size: number,
  ): Promise<{ name: string; duplicate: boolean }> {
    try {
      for (let n = 0; ; n++) {
        const name = n === 0 ? `${base}.${ext}` : `${base}-dup${n}.${ext}`;
        const target = path.join(dir, name);
        try {
          await fs.link(tmp, target);
          this.counters.files++;
          this.counters.bytes += size;
          return { name, duplicate: false };
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          const existing = await fs.stat(target);
          if (existing.size === size && (await sha256File(target)) === sha256) {
            this.counters.duplicateFilesSkipped++;
            this.log?.debug({ file: target }, 'identical file already in the lake (redelivery); kept it');
            return { name, duplicate: true };
          }
        }
      }
    } finally {
      await fs.rm(tmp, { force: true });
    }
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
