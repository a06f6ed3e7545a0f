/**
 * Merging lake table files: several tables with the same columns, each sorted by signal then seq, into
 * one table sorted the same way, with one contiguous record batch and one signal dictionary.
 *
 * Design constraints:
 * - Linear in rows: inputs are already sorted, so rows are bucketed by signal (counting sort, stable)
 *   and only a bucket whose seqs are not ascending (inputs with interleaved seq ranges) is sorted.
 * - Exact: columns are copied buffer to buffer (int64 and timestamps never pass through a double,
 *   binary bytes stay bytes, nulls stay null); the output has the first input's schema (field order,
 *   types; a column is nullable when it is in any input), so a merged file and the files it replaced
 *   have equal columns.
 */
import { DataType, RecordBatch, Schema, Struct, Table, Utf8, makeData, vectorFromArray } from 'apache-arrow';
import type { Data, Dictionary, Field, Int32, Vector } from 'apache-arrow';
import { describe, receiveRange } from './part-files.js';

type Fixed = BigInt64Array | BigUint64Array | Float64Array | Float32Array | Int32Array;

/** The row order of the merge: (input row) indices into the concatenation of the inputs. */
function mergeOrder(tables: Table[]): { order: Uint32Array; signalIds: Int32Array; names: string[] } {
  const total = tables.reduce((n, t) => n + t.numRows, 0);
  const local: { names: string[]; indices: Int32Array }[] = [];
  const all = new Set<string>();
  for (const t of tables) {
    const vector = t.getChild('signal') as Vector<Dictionary<Utf8, Int32>> | null;
    if (!vector) throw new Error('table has no signal column');
    // each batch of a file may carry its own dictionary: map its indices to names per batch
    const indices = new Int32Array(t.numRows);
    const names: string[] = [];
    let row = 0;
    for (const data of vector.data) {
      const dict = [...(data.dictionary as Vector<Utf8>)] as string[];
      const base = names.length;
      names.push(...dict);
      const keys = data.values as Int32Array;
      for (let i = 0; i < data.length; i++) indices[row++] = base + keys[i]!;
    }
    for (const n of names) all.add(n);
    local.push({ names, indices });
  }
  const sorted = [...all].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const id = new Map(sorted.map((n, i) => [n, i]));
  const signalIds = new Int32Array(total);
  let offset = 0;
  for (const { names, indices } of local) {
    const toGlobal = Int32Array.from(names, (n) => id.get(n)!);
    for (let i = 0; i < indices.length; i++) signalIds[offset + i] = toGlobal[indices[i]!]!;
    offset += indices.length;
  }
  // stable counting sort by signal
  const counts = new Uint32Array(sorted.length + 1);
  for (let i = 0; i < total; i++) counts[signalIds[i]! + 1]!++;
  for (let s = 0; s < sorted.length; s++) counts[s + 1]! += counts[s]!;
  const starts = counts.slice();
  const order = new Uint32Array(total);
  for (let i = 0; i < total; i++) order[starts[signalIds[i]!]!++] = i;
  // within a signal, rows keep input order: ascending seq unless input seq ranges interleave
  const seqs = concatFixed(tables, 'seq') as BigInt64Array;
  for (let s = 0; s < sorted.length; s++) {
    const from = counts[s]!;
    const to = counts[s + 1]!;
    let ascending = true;
    for (let i = from + 1; i < to && ascending; i++) ascending = seqs[order[i - 1]!]! <= seqs[order[i]!]!;
    if (!ascending) {
      const bucket = Array.from(order.subarray(from, to));
      // stable: equal seqs (the samples of one block) keep their order
      bucket.sort((a, b) => (seqs[a]! < seqs[b]! ? -1 : seqs[a]! > seqs[b]! ? 1 : a - b));
      order.set(bucket, from);
    }
  }
  const mergedIds = new Int32Array(total);
  for (let i = 0; i < total; i++) mergedIds[i] = signalIds[order[i]!]!;
  return { order, signalIds: mergedIds, names: sorted };
}

function fixedArray(type: DataType, length: number): Fixed {
  if (DataType.isInt(type) && type.bitWidth === 64 && !type.isSigned) return new BigUint64Array(length);
  if (DataType.isTimestamp(type) || (DataType.isInt(type) && type.bitWidth === 64)) return new BigInt64Array(length);
  if (DataType.isInt(type) && type.bitWidth === 32) return new Int32Array(length);
  if (DataType.isFloat(type)) return type.precision === 2 ? new Float64Array(length) : new Float32Array(length);
  throw new Error(`cannot merge a column of type ${String(type)}`);
}

/** A fixed-width column of all inputs as one array (values only). */
function concatFixed(tables: Table[], name: string): Fixed {
  const first = tables[0]!.getChild(name)!;
  const out = fixedArray(
    first.type as DataType,
    tables.reduce((n, t) => n + t.numRows, 0),
  );
  let row = 0;
  for (const t of tables) {
    for (const data of t.getChild(name)!.data) {
      (out as Int32Array).set((data.values as Int32Array).subarray(0, data.length), row);
      row += data.length;
    }
  }
  return out;
}

/** Validity of every row of all inputs (1 = valid), or null when no input row is null. */
function concatValid(tables: Table[], name: string): Uint8Array | null {
  if (!tables.some((t) => t.getChild(name)!.nullCount > 0)) return null;
  const out = new Uint8Array(tables.reduce((n, t) => n + t.numRows, 0));
  let row = 0;
  for (const t of tables) {
    for (const data of t.getChild(name)!.data) {
      for (let i = 0; i < data.length; i++) out[row++] = data.getValid(i) ? 1 : 0;
    }
  }
  return out;
}

function bitmap(valid: Uint8Array | null, order: Uint32Array): { nullCount: number; nullBitmap?: Uint8Array } {
  if (!valid) return { nullCount: 0 };
  const bits = new Uint8Array(Math.ceil(order.length / 8));
  let nulls = 0;
  for (let i = 0; i < order.length; i++) {
    if (valid[order[i]!]) bits[i >> 3]! |= 1 << (i & 7);
    else nulls++;
  }
  return nulls > 0 ? { nullCount: nulls, nullBitmap: bits } : { nullCount: 0 };
}

function gatherFixed(tables: Table[], field: Field, order: Uint32Array): Data {
  const values = concatFixed(tables, field.name);
  const out = fixedArray(field.type as DataType, order.length);
  for (let i = 0; i < order.length; i++) (out as Int32Array)[i] = (values as Int32Array)[order[i]!]!;
  return makeData({ type: field.type, length: order.length, ...bitmap(concatValid(tables, field.name), order), data: out } as never);
}

/** bool: one bit per row, read through the column's own accessor (values are bit-packed). */
function gatherBool(tables: Table[], field: Field, order: Uint32Array): Data {
  const values = new Uint8Array(tables.reduce((n, t) => n + t.numRows, 0));
  let row = 0;
  for (const t of tables) for (const v of t.getChild(field.name)!) values[row++] = v ? 1 : 0;
  const bits = new Uint8Array(Math.ceil(order.length / 8));
  for (let i = 0; i < order.length; i++) if (values[order[i]!]) bits[i >> 3]! |= 1 << (i & 7);
  return makeData({ type: field.type, length: order.length, ...bitmap(concatValid(tables, field.name), order), data: bits } as never);
}

/** utf8 / binary: the bytes of each row, copied in the new order. */
function gatherVariable(tables: Table[], field: Field, order: Uint32Array): Data {
  const total = order.length;
  const inputRows = tables.reduce((n, t) => n + t.numRows, 0);
  const chunk = new Uint32Array(inputRows);
  const start = new Int32Array(inputRows);
  const end = new Int32Array(inputRows);
  const chunks: Uint8Array[] = [];
  let row = 0;
  for (const t of tables) {
    for (const data of t.getChild(field.name)!.data) {
      const offsets = data.valueOffsets as Int32Array;
      chunks.push(data.values as Uint8Array);
      for (let i = 0; i < data.length; i++, row++) {
        chunk[row] = chunks.length - 1;
        start[row] = offsets[i]!;
        end[row] = offsets[i + 1]!;
      }
    }
  }
  const valueOffsets = new Int32Array(total + 1);
  let size = 0;
  for (let i = 0; i < total; i++) {
    const r = order[i]!;
    size += end[r]! - start[r]!;
    valueOffsets[i + 1] = size;
  }
  const bytes = new Uint8Array(size);
  for (let i = 0; i < total; i++) {
    const r = order[i]!;
    if (end[r]! > start[r]!) bytes.set(chunks[chunk[r]!]!.subarray(start[r]!, end[r]!), valueOffsets[i]!);
  }
  return makeData({ type: field.type, length: total, ...bitmap(concatValid(tables, field.name), order), valueOffsets, data: bytes } as never);
}

/**
 * Merge tables with equal columns, each sorted by signal then seq, into one sorted table. Its schema
 * metadata states the receive-time range of all inputs.
 */
export function mergeSorted(tables: Table[]): Table {
  // a column is nullable when it is in any input (nullability follows each batch's data)
  const first = tables[0]!.schema;
  const schema = new Schema(
    first.fields.map((f, i) => (f.nullable || !tables.some((t) => t.schema.fields[i]!.nullable) ? f : f.clone({ nullable: true }))),
    first.metadata,
  );
  const { order, signalIds, names } = mergeOrder(tables);
  const children = schema.fields.map((field) => {
    const type = field.type as DataType;
    if (DataType.isDictionary(type)) {
      return makeData({ type, length: order.length, nullCount: 0, data: signalIds, dictionary: vectorFromArray(names, new Utf8()) } as never);
    }
    if (DataType.isUtf8(type) || DataType.isBinary(type)) return gatherVariable(tables, field, order);
    if (DataType.isBool(type)) return gatherBool(tables, field, order);
    return gatherFixed(tables, field, order);
  });
  const batch = new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: order.length, nullCount: 0, children }));
  const merged = new Table(new Schema(schema.fields, new Map(schema.metadata)), [batch]);
  const ranges = tables.map(receiveRange);
  if (ranges.some((r) => !r)) return merged;
  let min = ranges[0]!.min;
  let max = ranges[0]!.max;
  for (const r of ranges) {
    if (r!.min < min) min = r!.min;
    if (r!.max > max) max = r!.max;
  }
  return describe(merged, min, max);
}

/** The rows of `table` at `rows` (in that order), as one table with the same schema. */
export function selectRows(table: Table, rows: Uint32Array): Table {
  const schema = table.schema;
  const children = schema.fields.map((field) => {
    const type = field.type as DataType;
    if (DataType.isDictionary(type)) {
      const vector = table.getChild(field.name)!;
      if (vector.data.length !== 1) throw new Error('a dictionary column of one chunk is expected');
      const keys = vector.data[0]!.values as Int32Array;
      return makeData({
        type,
        length: rows.length,
        nullCount: 0,
        data: Int32Array.from(rows, (r) => keys[r]!),
        dictionary: vector.data[0]!.dictionary,
      } as never);
    }
    if (DataType.isUtf8(type) || DataType.isBinary(type)) return gatherVariable([table], field, rows);
    if (DataType.isBool(type)) return gatherBool([table], field, rows);
    return gatherFixed([table], field, rows);
  });
  const batch = new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: rows.length, nullCount: 0, children }));
  return new Table(schema, [batch]);
}
