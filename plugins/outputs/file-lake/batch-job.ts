/**
 * Writing one batch (all but its frames) as a self-contained job, run in the batch worker
 * (batch-worker.ts): sort the records of a PackedBatch into tables and partitions, parse their
 * bodies, build each group's table and publish it durably (writer.ts, durable.ts). It takes and
 * returns plain data, so it runs the same in a worker thread as inline.
 *
 * Design constraints:
 * - Everything that costs CPU per record beyond packing happens here, off the gateway's event loop:
 *   JSON parsing of scalar bodies, de-interleaving samples, sorting, building and encoding the tables.
 * - Durable before the reply: every file is written under `.tmp/`, fsynced, linked into place, and
 *   its folder fsynced before the job resolves; `send` acknowledges only after the reply. A job cut
 *   short (the thread crashed, the process died) leaves temp files and possibly some published files;
 *   the batch is sent again, splits the same way and finds those files with the same bytes (kept).
 * - Bad input is kept, not fatal: a body that does not fit its content type, or a record whose spooled
 *   body is gone, goes to the raw table with an `error`, and is reported back (counted and logged by
 *   the lake). I/O errors reject the job, and so the send, to be retried.
 * - Memory: the job holds the packed batch, one small object per record and one group's table and its
 *   encoding at a time per concurrent write; valid scalars keep no body view once parsed.
 */
import path from 'node:path';
import { getHeapStatistics } from 'node:v8';
import type { StoredRecord } from '../../../gateway/plugin-api/index.js';
import { CONTENT_TYPES } from '../../../gateway/plugin-api/index.js';
import { eventsTable, isTextual, parseSamples, parseScalar, rawTable, samplesTable, scalarTable } from '../shared/columns.js';
import type { ColumnItem } from '../shared/columns.js';
import { DurableFiles, WRITE_CONCURRENCY, eachLimit, fsyncPath } from './durable.js';
import { lakePartition } from './layout.js';
import type { LakeTable } from './layout.js';
import type { PackedBatch } from './packed-batch.js';
import type { FileLakeConfig } from './schema.js';
import { PartitionWriter } from './writer.js';
import type { PublishedFile } from './writer.js';

export interface BatchJob {
  root: string;
  machine: string;
  config: FileLakeConfig;
  batch: PackedBatch;
}

/** A record that went to the raw table because its body did not fit, or was gone. */
export interface MalformedRecord {
  seq: number;
  source: string;
  signal: string;
  contentType: string;
  error: string;
}

export interface BatchResult {
  published: PublishedFile[];
  /** files published, their bytes, rows, and files found already there (redelivery) */
  files: number;
  bytes: number;
  rows: number;
  duplicateFilesSkipped: number;
  malformed: MalformedRecord[];
  /** how far the thread's used heap rose above its level at the start of the job (garbage included), at
   * its highest point seen (after parsing, after each table) */
  heapBytes: number;
}

interface Item extends ColumnItem {
  /** body bytes, for rollEvery (a parsed scalar keeps no body) */
  bytes: number;
}

/** One group of records that becomes one or more files in one folder. */
interface Group {
  table: LakeTable;
  dir: string;
  /** samples only: channel names, which define the file's columns */
  channels?: string[];
  items: Item[];
}

const NS_PER_DAY = 86_400_000_000_000n;
const NO_BODY = Buffer.alloc(0);
const NO_ROUTES: string[] = [];

function buildTable(group: Group, items: Item[]) {
  const options = { signal: true };
  return group.table === 'scalars'
    ? scalarTable(items, options)
    : group.table === 'samples'
      ? samplesTable(items, group.channels!, options)
      : group.table === 'events'
        ? eventsTable(items, options)
        : rawTable(items, options);
}

/** The attributes (JSON, '' when none) of the records at these indices of the batch: see packed-batch.ts. */
export type AttributesOf = (indices: number[]) => Promise<string[]>;

export async function runBatchJob(job: BatchJob, attributesOf: AttributesOf): Promise<BatchResult> {
  const { batch, root } = job;
  const counters = { files: 0, bytes: 0, rows: 0, duplicateFilesSkipped: 0 };
  const files = new DurableFiles(path.join(root, '.tmp'), counters, () => undefined);
  const writer = new PartitionWriter(job.config, files, counters);
  const malformed: MalformedRecord[] = [];
  /** malformed scalars: their attributes were not packed (packed-batch.ts) */
  const unpacked: { index: number; record: StoredRecord }[] = [];
  const groups = new Map<string, Group>();
  const bodies = Buffer.from(batch.bodies.buffer, batch.bodies.byteOffset, batch.bodies.byteLength);
  const attributes = batch.attributes.split('\u0000');
  const missing = new Map(batch.missing);
  const strings = batch.strings;
  const partitions = new Map<number, { from: bigint; to: bigint; partition: string }>();
  const heapStart = getHeapStatistics().used_heap_size;
  let heapBytes = 0;
  const heap = () => {
    heapBytes = Math.max(heapBytes, getHeapStatistics().used_heap_size - heapStart);
  };

  /** The partition of a record; the last one per build is kept, as a batch is mostly one build and day. */
  const partitionOf = (build: number, receiveTimeNs: bigint): string => {
    const last = partitions.get(build);
    if (last && receiveTimeNs >= last.from && receiveTimeNs < last.to) return last.partition;
    const from = receiveTimeNs - (((receiveTimeNs % NS_PER_DAY) + NS_PER_DAY) % NS_PER_DAY);
    const partition = lakePartition(job.machine, build < 0 ? undefined : strings[build], receiveTimeNs);
    partitions.set(build, { from, to: from + NS_PER_DAY, partition });
    return partition;
  };

  let last: { table: LakeTable; partition: string; group: Group } | undefined;
  for (let i = 0; i < batch.count; i++) {
    const attrs = attributes[i]!;
    const record: StoredRecord = {
      seq: batch.seq[i]!,
      source: strings[batch.source[i]!]!,
      signal: strings[batch.signal[i]!]!,
      kind: strings[batch.kind[i]!] as StoredRecord['kind'],
      class: strings[batch.class[i]!] as StoredRecord['class'],
      contentType: strings[batch.contentType[i]!]!,
      receiveTimeNs: batch.receiveTimeNs[i]!,
      routes: NO_ROUTES,
    };
    // assigned, not spread: object spreads per record were a tenth of the job
    if (batch.hasSourceTime[i]) record.sourceTimeNs = batch.sourceTimeNs[i]!;
    if (batch.build[i]! >= 0) record.build = strings[batch.build[i]!]!;
    if (batch.hasLayer[i]) record.layer = batch.layer[i]!;
    const start = batch.bodyOffsets[i]!;
    const bytes = batch.bodyOffsets[i + 1]! - start;
    let body = bytes > 0 ? bodies.subarray(start, start + bytes) : NO_BODY;
    let table: LakeTable = 'raw';
    let item: Item | undefined;
    let error = missing.get(i);
    if (error === undefined) {
      try {
        if (record.contentType === CONTENT_TYPES.scalar) {
          // the attributes of a scalar go nowhere unless it turns out malformed (below)
          item = { record, body: NO_BODY, bytes, scalar: parseScalar(body) };
          table = 'scalars';
        } else {
          if (attrs !== '') record.attributes = JSON.parse(attrs) as Record<string, string>;
          if (record.contentType === CONTENT_TYPES.samplesF32) {
            item = { record, body, bytes, samples: parseSamples(record, body) };
            table = 'samples';
          } else {
            table = isTextual(record.contentType) ? 'events' : 'raw';
          }
        }
      } catch (err) {
        error = (err as Error).message;
        item = undefined;
      }
    }
    if (error !== undefined) {
      table = 'raw';
      if (record.contentType === CONTENT_TYPES.scalar && !missing.has(i)) unpacked.push({ index: i, record });
      else if (attrs !== '' && record.attributes === undefined) record.attributes = JSON.parse(attrs) as Record<string, string>;
      malformed.push({ seq: record.seq, source: record.source, signal: record.signal, contentType: record.contentType, error });
      item = { record, body, bytes, error };
    }
    item ??= { record, body, bytes };
    body = NO_BODY;
    const partition = partitionOf(batch.build[i]!, record.receiveTimeNs);
    const channels = item.samples?.channels;
    let group: Group | undefined;
    // most records go where the one before went: no key string to build and hash
    if (!channels && last && last.table === table && last.partition === partition) group = last.group;
    else {
      const key = `${table}\u0000${partition}${channels ? `\u0000${channels.join('\u0000')}` : ''}`;
      group = groups.get(key);
      if (!group) {
        group = { table, dir: path.join(root, table, partition), items: [], ...(channels ? { channels } : {}) };
        groups.set(key, group);
      }
      last = channels ? undefined : { table, partition, group };
    }
    group.items.push(item);
  }
  if (unpacked.length > 0) {
    const texts = await attributesOf(unpacked.map((u) => u.index));
    unpacked.forEach((u, k) => {
      if (texts[k]) u.record.attributes = JSON.parse(texts[k]) as Record<string, string>;
    });
  }
  heap();

  const published: PublishedFile[] = [];
  // Groups go to different files: write them a few at a time, so that their fsyncs overlap (the
  // file system commits concurrent syncs together) instead of paying one sync latency per file.
  await eachLimit([...groups.values()], WRITE_CONCURRENCY, async (group) => {
    await files.ensureDir(group.dir);
    const chunks = writer.roll(group.items, (i) => ({ record: i.record, rows: i.samples ? i.samples.count : 1, bytes: i.bytes }));
    for (const chunk of chunks) {
      const file = await writer.write(
        group.dir,
        chunk,
        (i) => i.record,
        (items) => {
          const table = buildTable(group, items);
          heap();
          return table;
        },
      );
      if (file) published.push(file);
    }
    // the group's rows can go before the folder is synced
    group.items = [];
    await fsyncPath(group.dir);
  });
  return { published, ...counters, malformed, heapBytes };
}
