/**
 * The columnar shapes of LayerGate records, shared by the outputs that write Apache Arrow / Parquet
 * (the file lake on disk, the MinIO output's batch objects), so both produce the same tables:
 *
 *   scalars: common columns + value (float64), value_text, unit, quality
 *   samples: seq, sample_index, time_ns, layer + one float32 column per channel (one row per sample)
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
  DataType,
  Dictionary,
  Float64,
  Int32,
  Precision,
  Table,
  TimestampNanosecond,
  Utf8,
  makeData,
  makeVector,
  tableToIPC,
  vectorFromArray,
} from 'apache-arrow';
import * as parquet from 'parquet-wasm';
import type { Vector } from 'apache-arrow';
import { LakeMalformedRecordError } from '../../../gateway/plugin-api/index.js';
import type { StoredRecord } from '../../../gateway/plugin-api/index.js';

export interface ParsedSamples {
  channels: string[];
  rateHz: number;
  firstSample: number;
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

export interface ParsedScalar {
  value: number | null;
  text: string | null;
  unit: string | null;
  quality: string | null;
}

export function parseScalar(body: Buffer): ParsedScalar {
  let o: unknown;
  try {
    o = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new LakeMalformedRecordError(`scalar body is not JSON (${(err as Error).message})`);
  }
  if (typeof o !== 'object' || o === null || !('v' in o)) throw new LakeMalformedRecordError('scalar body has no "v"');
  const { v, unit, quality } = o as { v: unknown; unit?: unknown; quality?: unknown };
  const str = (x: unknown) => (typeof x === 'string' ? x : null);
  if (typeof v === 'number') return { value: v, text: null, unit: str(unit), quality: str(quality) };
  if (typeof v === 'boolean') return { value: v ? 1 : 0, text: String(v), unit: str(unit), quality: str(quality) };
  if (typeof v === 'string') return { value: null, text: v, unit: str(unit), quality: str(quality) };
  throw new LakeMalformedRecordError(`scalar "v" must be a number, string or boolean, got ${v === null ? 'null' : typeof v}`);
}

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
  return { channels, rateHz, firstSample, count, columns };
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

export function scalarTable(items: ColumnItem[], options: TableOptions = {}): Table {
  const parsed = items.map((i) => i.scalar ?? parseScalar(i.body));
  return new Table({
    ...commonColumns(items, options),
    value: float64Vector(parsed.map((p) => p.value)),
    value_text: utf8Vector(parsed.map((p) => p.text)),
    unit: utf8Vector(parsed.map((p) => p.unit)),
    quality: utf8Vector(parsed.map((p) => p.quality)),
  });
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
    for (let i = 0; i < s.count; i++, row++) {
      setInt64(seqWords, row, sHi, sLo, 0);
      setInt64(indexWords, row, iHi, iLo, i);
      setInt64(timeWords, row, tHi, tLo, Math.round(i * periodNs));
      if (layer !== undefined) layerValid[row >> 3]! |= 1 << (row & 7);
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
