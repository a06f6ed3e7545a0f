/**
 * The columnar shapes of LayerGate records, shared by the outputs that write Apache Arrow / Parquet
 * (the file lake on disk, the MinIO output's batch objects), so both produce the same tables:
 *
 *   scalars: common columns + value (float64 where exact), value_int, value_uint, value_bool, value_time,
 *            value_bytes, value_text, value_type, unit, quality (scalarTable)
 *   samples: seq, sample_index, time_ns, layer, block_seq, sample_rate_hz + one float32 column per
 *            channel (one row per sample; the block's values repeated on each of its rows)
 *   events:  common columns + content_type, body (utf8), attributes (JSON)
 *   raw:     common columns + kind, content_type, body (binary), attributes, error
 *
 * Common columns: seq, source, source_time_ns, receive_time_ns (timestamp ns UTC), layer, class.
 * With `{ signal: true }` (the file lake, whose files hold many signals) every table also has a
 * `signal` column after `source` (samples: after `seq`), dictionary-encoded: Dictionary<Int32, Utf8>
 * with the sorted distinct names as its dictionary, so a reader filters by signal cheaply.
 * The parsers throw `LakeMalformedRecordError` when a body does not fit its content type; the caller
 * then puts the record in the raw table with the message in `error`.
 */
import {
  Binary,
  Bool,
  DataType,
  Dictionary,
  Field,
  Float64,
  Int32,
  Int64,
  Precision,
  RecordBatch,
  Schema,
  Struct,
  Table,
  TimestampNanosecond,
  Uint64,
  Utf8,
  makeData,
  makeVector,
  tableToIPC,
  vectorFromArray,
} from 'apache-arrow';
import * as parquet from 'parquet-wasm';
import type { Vector } from 'apache-arrow';
import { LakeMalformedRecordError, ValueFormatError, exactNumber, isUnsignedType, parseScalarBody, valueJson } from '../../../gateway/plugin-api/index.js';
import type { ParsedScalarBody, StoredRecord } from '../../../gateway/plugin-api/index.js';

export interface ParsedSamples {
  channels: string[];
  rateHz: number;
  firstSample: number;
  /** the sender's block sequence (attribute `seq`), null when the record has none */
  blockSeq: number | null;
  count: number;
  /** one Float32Array per channel, de-interleaved */
  columns: Float32Array[];
}

/** One record as the table builders take it: its body (read from the spool if needed), its parsed
 * samples block, and for the raw table the reason it did not fit its own table. */
export interface ColumnItem {
  record: StoredRecord;
  body: Buffer;
  samples?: ParsedSamples;
  /** scalars: the parsed body, when the caller parsed it already */
  scalar?: ParsedScalar;
  error?: string;
}

/** A scalar body as the scalars table takes it: the typed value (scalar-value.ts), unit and quality. */
export type ParsedScalar = ParsedScalarBody;

/** Read a scalar body; a body that does not fit the value model is a LakeMalformedRecordError (the raw table's reason). */
export function parseScalar(body: Buffer): ParsedScalar {
  try {
    return parseScalarBody(body);
  } catch (err) {
    if (err instanceof ValueFormatError) throw new LakeMalformedRecordError(err.message);
    throw err;
  }
}

/**
 * The columns of the samples table besides the channels (`signal` only with `{ signal: true }`): a
 * channel with one of these names would overwrite that column.
 */
const SAMPLES_FIXED_COLUMNS: ReadonlySet<string> = new Set(['seq', 'signal', 'sample_index', 'time_ns', 'layer', 'block_seq', 'sample_rate_hz']);

export function parseSamples(r: StoredRecord, body: Buffer): ParsedSamples {
  const a = r.attributes ?? {};
  const channels = (a.channels ?? '').split(',').map((c) => c.trim());
  if (!a.channels || channels.some((c) => c === '')) throw new LakeMalformedRecordError('samples attribute "channels" is missing or has an empty name');
  if (new Set(channels).size !== channels.length) throw new LakeMalformedRecordError(`samples attribute "channels" repeats a name: ${a.channels}`);
  const rateHz = Number(a.sample_rate_hz);
  if (!(rateHz > 0) || !Number.isFinite(rateHz))
    throw new LakeMalformedRecordError(`samples attribute "sample_rate_hz" must be a positive number, got ${JSON.stringify(a.sample_rate_hz)}`);
  const firstSample = a.first_sample === undefined ? 0 : Number(a.first_sample);
  if (!Number.isSafeInteger(firstSample) || firstSample < 0)
    throw new LakeMalformedRecordError(`samples attribute "first_sample" must be a non-negative integer, got ${JSON.stringify(a.first_sample)}`);
  const clash = channels.find((c) => SAMPLES_FIXED_COLUMNS.has(c));
  if (clash !== undefined) throw new LakeMalformedRecordError(`samples channel "${clash}" has the name of a samples table column`);
  const blockSeq = a.seq === undefined ? null : /^\d{1,16}$/.test(a.seq) ? Number(a.seq) : Number.NaN;
  if (blockSeq !== null && !Number.isSafeInteger(blockSeq))
    throw new LakeMalformedRecordError(`samples attribute "seq" must be a non-negative integer, got ${JSON.stringify(a.seq)}`);
  const frameBytes = 4 * channels.length;
  if (body.length % frameBytes !== 0)
    throw new LakeMalformedRecordError(`samples body of ${body.length} bytes is not a whole number of ${channels.length}-channel float32 frames`);
  const count = body.length / frameBytes;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const columns = channels.map((_, c) => {
    const col = new Float32Array(count);
    for (let i = 0; i < count; i++) col[i] = view.getFloat32(i * frameBytes + c * 4, true);
    return col;
  });
  return { channels, rateHz, firstSample, blockSeq, count, columns };
}

export function isTextual(contentType: string): boolean {
  const base = contentType.split(';')[0]!.trim().toLowerCase();
  return base.endsWith('json') || base.startsWith('text/');
}

// ---- arrow -----------------------------------------------------------------------------------

function validity(length: number, isNull: (i: number) => boolean): { nullCount: number; nullBitmap?: Uint8Array } {
  const bitmap = new Uint8Array(Math.ceil(length / 8));
  let nulls = 0;
  for (let i = 0; i < length; i++) {
    if (isNull(i)) nulls++;
    else bitmap[i >> 3]! |= 1 << (i & 7);
  }
  return nulls > 0 ? { nullCount: nulls, nullBitmap: bitmap } : { nullCount: 0 };
}

/**
 * A utf8 column, built straight into its offsets and bytes (vectorFromArray takes some 10 µs per
 * string, seconds for a batch of 100,000 rows). Repeated values (units, classes) are encoded once.
 */
export function utf8Vector(values: readonly (string | null | undefined)[]): Vector<Utf8> {
  const encoded = new Map<string, Buffer>();
  const parts: (Buffer | null)[] = new Array(values.length);
  const valueOffsets = new Int32Array(values.length + 1);
  let size = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    let b: Buffer | null = null;
    if (v !== null && v !== undefined) {
      b = encoded.get(v) ?? null;
      if (!b) {
        b = Buffer.from(v, 'utf8');
        if (encoded.size < 4096) encoded.set(v, b);
      }
      size += b.length;
    }
    parts[i] = b;
    valueOffsets[i + 1] = size;
  }
  const data = new Uint8Array(size);
  for (let i = 0; i < parts.length; i++) if (parts[i]) data.set(parts[i]!, valueOffsets[i]!);
  const valid = validity(values.length, (i) => values[i] === null || values[i] === undefined);
  return makeVector(makeData({ type: new Utf8(), length: values.length, ...valid, valueOffsets, data }));
}

/** A float64 column with nulls, built straight into its buffers. */
export function float64Vector(values: readonly (number | null)[]): Vector<Float64> {
  const data = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = values[i] ?? 0;
  return makeVector(makeData({ type: new Float64(), length: values.length, ...validity(values.length, (i) => values[i] === null), data }));
}

/** An int32 column with nulls, built straight into its buffers. */
export function int32Vector(values: readonly (number | null | undefined)[]): Vector<Int32> {
  const data = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = values[i] ?? 0;
  return makeVector(
    makeData({ type: new Int32(), length: values.length, ...validity(values.length, (i) => values[i] === null || values[i] === undefined), data }),
  );
}

export function timestampVector(values: (bigint | undefined)[]): Vector {
  const data = new BigInt64Array(values.length);
  const bitmap = new Uint8Array(Math.ceil(values.length / 8));
  let nulls = 0;
  values.forEach((v, i) => {
    if (v === undefined) {
      nulls++;
      return;
    }
    data[i] = v;
    bitmap[i >> 3]! |= 1 << (i & 7);
  });
  return makeVector(
    makeData({
      type: new TimestampNanosecond('UTC'),
      length: values.length,
      nullCount: nulls,
      ...(nulls > 0 ? { nullBitmap: bitmap } : {}),
      data,
    }),
  );
}

/** Whether the table gets a `signal` column (the file lake's tables hold many signals per file). */
export interface TableOptions {
  signal?: boolean;
}

/**
 * A dictionary-encoded column of names: Dictionary<Int32, Utf8> whose dictionary is the sorted
 * distinct names, so that rows sorted by name have ascending indices. `names[i]` fills `repeat[i]`
 * rows (default 1: one row per name).
 */
export function dictionaryVector(names: readonly string[], repeat?: readonly number[]): Vector {
  const distinct = [...new Set(names)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const index = new Map(distinct.map((n, i) => [n, i]));
  const length = repeat ? repeat.reduce((a, b) => a + b, 0) : names.length;
  const indices = new Int32Array(length);
  let row = 0;
  names.forEach((n, i) => {
    const count = repeat ? repeat[i]! : 1;
    indices.fill(index.get(n)!, row, row + count);
    row += count;
  });
  return makeVector(
    makeData({
      // a fixed dictionary id: the same rows must give the same bytes (redelivery), and arrow counts ids up per type otherwise
      type: new Dictionary(new Utf8(), new Int32(), 0),
      length,
      nullCount: 0,
      data: indices,
      dictionary: utf8Vector(distinct),
    }),
  );
}

export function commonColumns(items: ColumnItem[], options: TableOptions = {}): Record<string, Vector> {
  return {
    seq: makeVector(BigInt64Array.from(items, (i) => BigInt(i.record.seq))),
    source: utf8Vector(items.map((i) => i.record.source)),
    ...(options.signal ? { signal: dictionaryVector(items.map((i) => i.record.signal)) } : {}),
    source_time_ns: timestampVector(items.map((i) => i.record.sourceTimeNs)),
    receive_time_ns: timestampVector(items.map((i) => i.record.receiveTimeNs)),
    layer: int32Vector(items.map((i) => i.record.layer)),
    class: utf8Vector(items.map((i) => i.record.class)),
  };
}

export function attributesJson(r: StoredRecord): string | null {
  return r.attributes && Object.keys(r.attributes).length > 0 ? JSON.stringify(r.attributes) : null;
}

/**
 * The scalars table: the value in the column of its type, so every value reads back exact and typed.
 * `value` (float64) holds every value a double holds exactly (floats, integers up to 2^53 and the
 * larger ones that happen to be exact, bools as 0/1) for plotting and aggregates; the exact columns:
 * `value_int` (int64: int8..int64), `value_uint` (uint64: uint8..uint64), `value_bool`, `value_time`
 * (timestamp ns UTC: datetime), `value_bytes` (binary), `value_text` (string; arrays as their JSON
 * form in the scalar body); `value_type` names the source type (scalar-value.ts).
 */
export function scalarTable(items: ColumnItem[], options: TableOptions = {}): Table {
  const parsed = items.map((i) => i.scalar ?? parseScalar(i.body));
  const n = parsed.length;
  const numbers: (number | null)[] = new Array(n);
  const ints = new BigInt64Array(n);
  const uints = new BigUint64Array(n);
  const times = new BigInt64Array(n);
  const intValid = new Uint8Array(n);
  const uintValid = new Uint8Array(n);
  const timeValid = new Uint8Array(n);
  const bools: (boolean | null)[] = new Array(n).fill(null);
  const bytes: (Uint8Array | null)[] = new Array(n).fill(null);
  const texts: (string | null)[] = new Array(n).fill(null);
  for (let i = 0; i < n; i++) {
    const p = parsed[i]!;
    const v = p.v;
    numbers[i] = exactNumber(p);
    if (p.type.endsWith('[]')) texts[i] = valueJson(p.type, v);
    else if (typeof v === 'string') texts[i] = v;
    else if (typeof v === 'boolean') bools[i] = v;
    else if (v instanceof Uint8Array) bytes[i] = v;
    else if (p.type === 'datetime') {
      times[i] = v as bigint;
      timeValid[i] = 1;
    } else if (isUnsignedType(p.type)) {
      uints[i] = BigInt(v as number | bigint);
      uintValid[i] = 1;
    } else if (p.type.startsWith('int')) {
      ints[i] = BigInt(v as number | bigint);
      intValid[i] = 1;
    }
  }
  return new Table({
    ...commonColumns(items, options),
    value: float64Vector(numbers),
    value_int: fixedVector(new Int64(), ints, intValid),
    value_uint: fixedVector(new Uint64(), uints, uintValid),
    value_bool: boolVector(bools),
    value_time: fixedVector(new TimestampNanosecond('UTC'), times, timeValid),
    value_bytes: binaryVector(bytes),
    value_text: utf8Vector(texts),
    value_type: utf8Vector(parsed.map((p) => p.type)),
    unit: utf8Vector(parsed.map((p) => p.unit ?? null)),
    quality: utf8Vector(parsed.map((p) => p.quality ?? null)),
  });
}

/** A bool column with nulls, built straight into its bitmaps (most scalars tables have no bool at all). */
function boolVector(values: readonly (boolean | null)[]): Vector<Bool> {
  const data = new Uint8Array(Math.ceil(values.length / 8));
  for (let i = 0; i < values.length; i++) if (values[i] === true) data[i >> 3]! |= 1 << (i & 7);
  return makeVector(makeData({ type: new Bool(), length: values.length, ...validity(values.length, (i) => values[i] === null), data }));
}

/** A binary column with nulls, built straight into its offsets and bytes. */
function binaryVector(values: readonly (Uint8Array | null)[]): Vector<Binary> {
  const valueOffsets = new Int32Array(values.length + 1);
  let size = 0;
  for (let i = 0; i < values.length; i++) {
    size += values[i]?.length ?? 0;
    valueOffsets[i + 1] = size;
  }
  const data = new Uint8Array(size);
  for (let i = 0; i < values.length; i++) if (values[i]) data.set(values[i]!, valueOffsets[i]!);
  return makeVector(makeData({ type: new Binary(), length: values.length, ...validity(values.length, (i) => values[i] === null), valueOffsets, data }));
}

/** A 64-bit column from its values and a validity byte per row (1 = a value). */
function fixedVector<T extends Int64 | Uint64 | TimestampNanosecond>(type: T, data: BigInt64Array | BigUint64Array, valid: Uint8Array): Vector<T> {
  return makeVector(makeData({ type, length: data.length, ...validity(data.length, (i) => valid[i] === 0), data } as never)) as unknown as Vector<T>;
}

const TWO_32 = 2 ** 32;

/**
 * Write `base + offset` (int64, base a bigint, 0 <= offset < 2^53 - 2^32) into an int64 column as its
 * two 32-bit halves: no bigint per row, which made one row per sample the slowest part of a batch.
 */
function setInt64(words: Int32Array | Uint32Array, row: number, hi: number, lo: number, offset: number): void {
  const low = lo + offset;
  const carry = Math.floor(low / TWO_32);
  words[2 * row] = low - carry * TWO_32;
  words[2 * row + 1] = hi + carry;
}

function halves(v: bigint): [hi: number, lo: number] {
  return [Number(BigInt.asIntN(32, v >> 32n)), Number(BigInt.asUintN(32, v))];
}

/**
 * The samples columns that tables written before them lack (the part files of an older file lake),
 * right after `layer`: such a table reads as having them all null (withSamplesBlockColumns).
 */
const SAMPLES_BLOCK_COLUMNS: readonly { name: string; type: Int64 | Float64 }[] = [
  { name: 'block_seq', type: new Int64() },
  { name: 'sample_rate_hz', type: new Float64() },
];

/**
 * A samples table as samplesTable writes it now: one written before `block_seq` and `sample_rate_hz`
 * existed gets them as all-null columns in their place, so it merges with and compares to newer files.
 * Any other table (scalars, events, ..., or samples that have them) is returned as it is.
 */
export function withSamplesBlockColumns(table: Table): Table {
  const names = new Set(table.schema.fields.map((f) => f.name));
  const missing = SAMPLES_BLOCK_COLUMNS.filter((c) => !names.has(c.name));
  if (!names.has('sample_index') || !names.has('time_ns') || !names.has('layer') || missing.length === 0) return table;
  const fields: Field[] = [];
  /** per output column: the index of the input column, or the type of an all-null column */
  const sources: (number | Int64 | Float64)[] = [];
  table.schema.fields.forEach((f, i) => {
    fields.push(f);
    sources.push(i);
    if (f.name === 'layer') {
      for (const c of missing) {
        fields.push(new Field(c.name, c.type, true));
        sources.push(c.type);
      }
    }
  });
  const schema = new Schema(fields, table.schema.metadata);
  const batches = table.batches.map((batch) => {
    const length = batch.numRows;
    const children = sources.map((source) =>
      typeof source === 'number'
        ? batch.data.children[source]!
        : makeData({ type: source, length, nullCount: length, nullBitmap: new Uint8Array(Math.ceil(length / 8)), data: new source.ArrayType(length) } as never),
    );
    return new RecordBatch(schema, makeData({ type: new Struct(fields), length, nullCount: 0, children }));
  });
  return new Table(schema, batches);
}

/**
 * A scalars table as scalarTable writes it now. One written before the typed value columns (`value`,
 * `value_text`, `unit`, `quality` only) is read into them: a row with a number and the text
 * `true`/`false` was a bool (`value_bool`), one with a number a float64, one with text only a string;
 * the other typed columns are null. So an older file merges with and compares to newer ones, and the
 * merged file says each old value's type. Any other table is returned as it is.
 */
export function withScalarValueColumns(table: Table): Table {
  const names = table.schema.fields.map((f) => f.name);
  if (!names.includes('value') || !names.includes('value_text') || names.includes('value_type')) return table;
  const n = table.numRows;
  const value = table.getChild('value')!;
  const text = table.getChild('value_text')!;
  const numbers: (number | null)[] = new Array(n);
  const bools: (boolean | null)[] = new Array(n).fill(null);
  const texts: (string | null)[] = new Array(n).fill(null);
  const types: (string | null)[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const v = value.get(i) as number | null;
    const t = text.get(i) as string | null;
    numbers[i] = v;
    if (v !== null && (t === 'true' || t === 'false')) {
      bools[i] = t === 'true';
      types[i] = 'bool';
    } else if (v !== null) types[i] = 'float64';
    else {
      texts[i] = t;
      types[i] = t === null ? null : 'string';
    }
  }
  const none = new Uint8Array(n);
  const columns: Record<string, Vector> = {};
  for (const name of names) {
    if (name === 'value') {
      columns.value = float64Vector(numbers);
      columns.value_int = fixedVector(new Int64(), new BigInt64Array(n), none);
      columns.value_uint = fixedVector(new Uint64(), new BigUint64Array(n), none);
      columns.value_bool = boolVector(bools);
      columns.value_time = fixedVector(new TimestampNanosecond('UTC'), new BigInt64Array(n), none);
      columns.value_bytes = binaryVector(new Array(n).fill(null));
    } else if (name === 'value_text') {
      columns.value_text = utf8Vector(texts);
      columns.value_type = utf8Vector(types);
    } else columns[name] = table.getChild(name)!;
  }
  const current = new Table(columns);
  return new Table(new Schema(current.schema.fields, table.schema.metadata), current.batches);
}

export function samplesTable(items: ColumnItem[], channels: string[], options: TableOptions = {}): Table {
  const rows = items.reduce((n, i) => n + i.samples!.count, 0);
  const seq = new BigInt64Array(rows);
  const index = new BigInt64Array(rows);
  const time = new BigInt64Array(rows);
  // little-endian views of the int64 columns (x86, ARM: every platform Node runs on here)
  const seqWords = new Uint32Array(seq.buffer);
  const indexWords = new Uint32Array(index.buffer);
  const timeWords = new Uint32Array(time.buffer);
  const layers = new Int32Array(rows);
  const layerValid = new Uint8Array(Math.ceil(rows / 8));
  let layerNulls = 0;
  // the block's own values, the same on each of its rows (Parquet's dictionary/RLE stores a run once)
  const blockSeqs = new BigInt64Array(rows);
  const blockSeqValid = new Uint8Array(Math.ceil(rows / 8));
  let blockSeqNulls = 0;
  const rates = new Float64Array(rows);
  const cols = channels.map(() => new Float32Array(rows));
  let row = 0;
  for (const { record, samples } of items) {
    const s = samples!;
    // the block's source time is the time of its first sample; later samples follow at the sample rate
    const [tHi, tLo] = halves(record.sourceTimeNs ?? record.receiveTimeNs);
    const [sHi, sLo] = halves(BigInt(record.seq));
    const [iHi, iLo] = halves(BigInt(s.firstSample));
    const periodNs = 1e9 / s.rateHz;
    const layer = record.layer;
    if (layer === undefined) layerNulls += s.count;
    else layers.fill(layer, row, row + s.count);
    const blockSeq = s.blockSeq;
    if (blockSeq === null) blockSeqNulls += s.count;
    else blockSeqs.fill(BigInt(blockSeq), row, row + s.count);
    rates.fill(s.rateHz, row, row + s.count);
    for (let i = 0; i < s.count; i++, row++) {
      setInt64(seqWords, row, sHi, sLo, 0);
      setInt64(indexWords, row, iHi, iLo, i);
      setInt64(timeWords, row, tHi, tLo, Math.round(i * periodNs));
      if (layer !== undefined) layerValid[row >> 3]! |= 1 << (row & 7);
      if (blockSeq !== null) blockSeqValid[row >> 3]! |= 1 << (row & 7);
    }
    s.columns.forEach((c, ci) => {
      cols[ci]!.set(c, row - s.count);
    });
  }
  const columns: Record<string, Vector> = {
    seq: makeVector(seq),
    ...(options.signal
      ? {
          signal: dictionaryVector(
            items.map((i) => i.record.signal),
            items.map((i) => i.samples!.count),
          ),
        }
      : {}),
    sample_index: makeVector(index),
    time_ns: makeVector(makeData({ type: new TimestampNanosecond('UTC'), length: rows, nullCount: 0, data: time })),
    layer: makeVector(
      makeData({ type: new Int32(), length: rows, nullCount: layerNulls, ...(layerNulls > 0 ? { nullBitmap: layerValid } : {}), data: layers }),
    ),
    block_seq: makeVector(
      makeData({
        type: new Int64(),
        length: rows,
        nullCount: blockSeqNulls,
        ...(blockSeqNulls > 0 ? { nullBitmap: blockSeqValid } : {}),
        data: blockSeqs,
      }),
    ),
    sample_rate_hz: makeVector(rates),
  };
  channels.forEach((name, ci) => {
    columns[name] = makeVector(cols[ci]!);
  });
  return new Table(columns);
}

export function eventsTable(items: ColumnItem[], options: TableOptions = {}): Table {
  return new Table({
    ...commonColumns(items, options),
    content_type: utf8Vector(items.map((i) => i.record.contentType)),
    body: utf8Vector(items.map((i) => i.body.toString('utf8'))),
    attributes: utf8Vector(items.map((i) => attributesJson(i.record))),
  });
}

export function rawTable(items: ColumnItem[], options: TableOptions = {}): Table {
  return new Table({
    ...commonColumns(items, options),
    kind: utf8Vector(items.map((i) => i.record.kind)),
    content_type: utf8Vector(items.map((i) => i.record.contentType)),
    body: vectorFromArray(
      items.map((i) => new Uint8Array(i.body.buffer, i.body.byteOffset, i.body.byteLength)),
      new Binary(),
    ),
    attributes: utf8Vector(items.map((i) => attributesJson(i.record))),
    error: utf8Vector(items.map((i) => i.error ?? null)),
  });
}

/** `file`: the image's path relative to the lake root, with `/` separators */
/**
 * Parquet through parquet-wasm (the Rust `parquet` crate): zstd for every column, and float32 sensor
 * columns BYTE_STREAM_SPLIT-encoded without a dictionary, which compresses noisy float data far better
 * than zstd alone. The Arrow schema is embedded, so readers get the same types as from the Arrow files.
 * A dictionary column (the lake's `signal`) stays dictionary-encoded.
 */
export function toParquet(table: Table, options: { rowGroupRows?: number } = {}): Uint8Array {
  let props = new parquet.WriterPropertiesBuilder().setCompression(parquet.Compression.ZSTD);
  // smaller row groups let readers skip more by their statistics (the lake sorts rows by signal)
  if (options.rowGroupRows) props = props.setMaxRowGroupSize(options.rowGroupRows);
  for (const field of table.schema.fields) {
    if (DataType.isFloat(field.type) && field.type.precision === Precision.SINGLE) {
      props = props.setColumnDictionaryEnabled(field.name, false).setColumnEncoding(field.name, parquet.Encoding.BYTE_STREAM_SPLIT);
    }
  }
  return parquet.writeParquet(parquet.Table.fromIPCStream(tableToIPC(table, 'stream')), props.build());
}
