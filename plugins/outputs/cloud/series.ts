/**
 * The content of the `cloud` output's time-series objects: which table a record goes to, and the table
 * of a group of records, rows sorted by signal then seq, the signal a (dictionary-encoded) column.
 * (The `minio` output's series objects are made the same way: plugins/outputs/minio/series.ts.)
 *
 * Design constraints:
 * - One object holds every signal of its table, build, date and window: readers filter by the
 *   `signal` column. Sorted by it, a signal's rows are contiguous: the column's dictionary indices
 *   run-length encode to almost nothing, and readers that use row-group or page statistics can skip
 *   other signals.
 * - The table builders of plugins/outputs/shared/columns.ts are the one definition of the columns.
 *   When a builder does not yet give the `signal` column, it is added here (after `seq`), so the
 *   objects carry it either way.
 */
import { Dictionary, Int32, Table, Utf8, makeData, makeVector, vectorFromArray } from 'apache-arrow';
import type { Vector } from 'apache-arrow';
import { CONTENT_TYPES } from '../../../gateway/plugin-api/index.js';
import type { StoredRecord } from '../../../gateway/plugin-api/index.js';
import { eventsTable, isTextual, parseSamples, parseScalar, rawTable, samplesTable, scalarTable } from '../shared/columns.js';
import type { ColumnItem } from '../shared/columns.js';

export type SeriesTable = 'scalars' | 'samples' | 'events' | 'raw';

/** The table a record's body goes to; a body that does not fit its content type goes to `raw` with the reason. */
export function seriesItem(record: StoredRecord, body: Buffer): { table: SeriesTable; item: ColumnItem } {
  try {
    if (record.contentType === CONTENT_TYPES.scalar) {
      parseScalar(body);
      return { table: 'scalars', item: { record, body } };
    }
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
  const t =
    table === 'scalars' ? scalarTable(items) : table === 'samples' ? samplesTable(items, channels!) : table === 'events' ? eventsTable(items) : rawTable(items);
  return t.getChild('signal') ? t : withSignalColumn(t, items);
}

/**
 * `table` with a dictionary-encoded `signal` column after `seq`: one row per record, or per sample of
 * a samples block. `items` are sorted by signal, so the dictionary is built in one pass.
 */
function withSignalColumn(table: Table, items: ColumnItem[]): Table {
  const names: string[] = [];
  const indices = new Int32Array(table.numRows);
  let row = 0;
  for (const { record, samples } of items) {
    if (names[names.length - 1] !== record.signal) names.push(record.signal);
    const n = samples ? samples.count : 1;
    indices.fill(names.length - 1, row, row + n);
    row += n;
  }
  const signal = makeVector(
    makeData({
      type: new Dictionary(new Utf8(), new Int32()),
      length: indices.length,
      nullCount: 0,
      data: indices,
      dictionary: vectorFromArray(names, new Utf8()),
    }),
  );
  const columns: Record<string, Vector> = {};
  for (const field of table.schema.fields) {
    columns[field.name] = table.getChild(field.name)!;
    if (field.name === 'seq') columns.signal = signal;
  }
  return new Table(columns);
}
