/**
 * Compaction of the cloud output's staged time series (batch mode): the records of a closed window
 * become Parquet objects, one per table and build (and channel set for samples), every signal inside,
 * rows sorted by signal then seq, the signal a (dictionary-encoded) column:
 *
 *   <p>/machine=<m>/build=<b>/timeseries/<table>/date=<YYYY-MM-DD>/part-<first>-<last>[-<channels>].parquet
 *
 * Design constraints:
 * - Bounded memory. A window is read in chunks of consecutive seqs, at most `maxRecords` records or
 *   `maxBytes` of staged bytes each (at 50,000 records/s a 5-minute window holds 15 million); only one
 *   chunk is decoded at a time, and each chunk becomes its own objects. A window that fits one chunk
 *   makes one object per table and build.
 * - Crash-safe. A chunk's objects are committed in one transaction with the removal of exactly the
 *   staged rows they hold (the window's seq range of the chunk, checked to hold as many rows as were
 *   read): after a crash a row is either still staged or in a queued object, never both, never
 *   neither. Keys are a function of the rows (seq range), so a chunk compacted again after
 *   a crash between placing the files and the commit gets the same keys.
 * - Columns: the file lake's tables plus `signal` (../shared/series.ts).
 */
import { createHash } from 'node:crypto';
import { decodeRecord } from '../../../gateway/plugin-api/index.js';
import type { ColumnItem } from '../shared/columns.js';
import { timeseriesKey } from './layout.js';
import { placeRecordsObject } from './objects.js';
import { seriesItem, seriesParquet, seriesTable } from '../shared/series.js';
import type { SeriesTable } from '../shared/series.js';
import type { NewObject, StagedRecord, SyncStore } from './sync/store.js';

export interface CompactionOptions {
  store: SyncStore;
  prefix: string;
  machine: string;
  /** the window length, ms (staged rows carry the window's index) */
  windowMs: number;
  priority: number;
  /** most records, and most staged bytes, of one chunk */
  maxRecords: number;
  maxBytes: number;
}

export interface CompactionStats {
  chunks: number;
  objects: number;
  records: number;
  /** the most records and staged bytes ever held at once: at most maxRecords / maxBytes (or one record) */
  largestChunkRecords: number;
  largestChunkBytes: number;
}

interface Group {
  table: SeriesTable;
  build: string;
  channels?: string[];
  items: ColumnItem[];
}

export class Compactor {
  private readonly o: CompactionOptions;
  private halted = false;
  readonly stats: CompactionStats = { chunks: 0, objects: 0, records: 0, largestChunkRecords: 0, largestChunkBytes: 0 };

  constructor(o: CompactionOptions) {
    this.o = o;
  }

  /** Stop after the chunk in hand (the output is stopping): the rest stays staged for the next start. */
  halt(): void {
    this.halted = true;
  }

  /**
   * Compact every staged window before `beforeWindow`, oldest first, chunk by chunk; between chunks the
   * event loop runs (sends, uploads). Returns the number of objects queued.
   */
  async compactBefore(beforeWindow: number): Promise<number> {
    const { store } = this.o;
    let made = 0;
    let after: number | undefined;
    while (!this.halted) {
      const window = store.oldestStagedWindow(beforeWindow, after);
      if (window === undefined) break;
      let afterSeq = 0;
      while (!this.halted) {
        const rows = store.stagedChunk(window, afterSeq, this.o.maxRecords, this.o.maxBytes);
        if (rows.length === 0) break;
        made += this.compactChunk(window, rows);
        afterSeq = rows[rows.length - 1]!.seq;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      after = window;
    }
    return made;
  }

  /** One chunk (rows of one window, in seq order) into its objects, committed with the removal of its rows. */
  private compactChunk(window: number, rows: StagedRecord[]): number {
    const { store } = this.o;
    let bytes = 0;
    for (const r of rows) bytes += r.bytes.length;
    this.stats.chunks++;
    this.stats.records += rows.length;
    this.stats.largestChunkRecords = Math.max(this.stats.largestChunkRecords, rows.length);
    this.stats.largestChunkBytes = Math.max(this.stats.largestChunkBytes, bytes);
    const groups = new Map<string, Group>();
    for (const s of rows) {
      const record = decodeRecord(s.bytes);
      record.routes = [];
      const { table, item } = seriesItem(record, record.body ?? Buffer.alloc(0));
      const channels = item.samples?.channels;
      const key = `${table}\u0000${record.build ?? ''}${channels ? `\u0000${channels.join('\u0000')}` : ''}`;
      let g = groups.get(key);
      if (!g) {
        g = { table, build: record.build ?? '', items: [], ...(channels ? { channels } : {}) };
        groups.set(key, g);
      }
      g.items.push(item);
    }
    const objects: NewObject[] = [];
    const placed: string[] = [];
    try {
      for (const g of groups.values()) {
        // the chunk is in seq order: first and last name the object before the rows are sorted by signal
        const records = g.items.map((i) => i.record);
        const firstSeq = records[0]!.seq;
        const lastSeq = records[records.length - 1]!.seq;
        const parquet = seriesParquet(seriesTable(g.table, g.items, g.channels));
        const key = timeseriesKey(this.o.prefix, this.o.machine, {
          build: g.build,
          table: g.table,
          windowStartMs: window * this.o.windowMs,
          firstSeq,
          lastSeq,
          channelsHash: g.channels ? createHash('sha256').update(g.channels.join(',')).digest('hex').slice(0, 8) : undefined,
        });
        const signals = new Set(records.map((r) => r.signal)).size;
        objects.push(
          placeRecordsObject(
            store,
            parquet,
            {
              key,
              contentType: 'application/vnd.apache.parquet',
              mode: 'batch',
              priority: this.o.priority,
              records,
              metadata: {
                'layergate-table': g.table,
                'layergate-signals': String(signals),
                'layergate-window-start': new Date(window * this.o.windowMs).toISOString(),
              },
            },
            placed,
          ),
        );
      }
      store.enqueue({ objects, unstage: [{ window, firstSeq: rows[0]!.seq, lastSeq: rows[rows.length - 1]!.seq, records: rows.length }] });
    } catch (err) {
      for (const f of placed) store.discard(f);
      throw err;
    }
    this.stats.objects += objects.length;
    return objects.length;
  }
}
