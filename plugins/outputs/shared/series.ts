/**
 * The content of the time-series objects of the `minio` output and the `cloud` output: which table a
 * record goes to, and the table of a group of records, rows sorted by signal then seq, the signal a
 * (dictionary-encoded) column.
 *
 * Design constraints:
 * - One object holds every signal of its table, build, date and window: readers filter by the
 *   `signal` column. Sorted by it, a signal's rows are contiguous, and the column's dictionary
 *   indices run-length encode to almost nothing.
 * - The table builders of plugins/outputs/shared/columns.ts are the one definition of the columns
 *   (the file lake's tables, with their `signal` column); Parquet row groups of 64 Ki rows, as the
 *   file lake's, so a reader filtering by signal skips the row groups whose statistics exclude it.
 */
import type { Table } from 'apache-arrow';
import { CONTENT_TYPES } from '../../../gateway/plugin-api/index.js';
import type { StoredRecord } from '../../../gateway/plugin-api/index.js';
import { eventsTable, isTextual, parseSamples, parseScalar, rawTable, samplesTable, scalarTable, toParquet } from './columns.js';
import type { ColumnItem } from './columns.js';

export type SeriesTable = 'scalars' | 'samples' | 'events' | 'raw';

/** The table a record's body goes to; a body that does not fit its content type goes to `raw` with the reason. */
export function seriesItem(record: StoredRecord, body: Buffer): { table: SeriesTable; item: ColumnItem } {
  try {
    if (record.contentType === CONTENT_TYPES.scalar) return { table: 'scalars', item: { record, body, scalar: parseScalar(body) } };
    if (record.contentType === CONTENT_TYPES.samplesF32) return { table: 'samples', item: { record, body, samples: parseSamples(record, body) } };
    return { table: isTextual(record.contentType) ? 'events' : 'raw', item: { record, body } };
  } catch (err) {
    return { table: 'raw', item: { record, body, error: (err as Error).message } };
  }
}

/** Signal, then seq: the row order of every series object. */
export function bySignalThenSeq(a: ColumnItem, b: ColumnItem): number {
  const sa = a.record.signal;
  const sb = b.record.signal;
  if (sa !== sb) return sa < sb ? -1 : 1;
  return a.record.seq - b.record.seq;
}

/** The table of `items` (sorted here by signal then seq), with a `signal` column. */
export function seriesTable(table: SeriesTable, items: ColumnItem[], channels?: string[]): Table {
  items.sort(bySignalThenSeq);
  const options = { signal: true };
  return table === 'scalars'
    ? scalarTable(items, options)
    : table === 'samples'
      ? samplesTable(items, channels!, options)
      : table === 'events'
        ? eventsTable(items, options)
        : rawTable(items, options);
}

/** Parquet rows per row group: the file lake's size, for the same reader behaviour */
const ROW_GROUP_ROWS = 64 * 1024;

/** A series table as Parquet (zstd, float32 BYTE_STREAM_SPLIT, the signal dictionary-encoded). */
export function seriesParquet(table: Table): Uint8Array {
  return toParquet(table, { rowGroupRows: ROW_GROUP_ROWS });
}
