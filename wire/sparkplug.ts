/**
 * Sparkplug B (Eclipse Sparkplug 3.0, namespace spBv1.0): the payload codec, the topic namespace and
 * how a value is read by its datatype. Payloads are `org.eclipse.tahu.protobuf.Payload`
 * (proto/sparkplug_b/sparkplug_b.proto); a machine's edge node encodes NBIRTH/DBIRTH/NDATA/DDATA/NDEATH
 * with this, the MQTT input decodes them and encodes its rebirth NCMD with it. The edge-node behaviour
 * (aliases, births, report by exception) is the simulator's; sessions, alias tables, templates and
 * records on the receiving side are the MQTT input's.
 *
 * Constraints:
 * - Payload and metric types are derived from the types generated from the proto.
 * - Decoding is exact: every 64-bit value field (long_value, a DataSet's num_of_columns, metadata
 *   size/seq) is a bigint. Only the payload's timestamp and seq and a metric's alias and timestamp
 *   are JS numbers (ms times and small counters); one beyond 2^53 is refused, never rounded.
 * - The wire fields do not say how to read them, the datatype does (`readValue`): Int8..Int32 and
 *   UInt8..UInt32 travel in the uint32 int_value, Int64/UInt64/DateTime in the uint64 long_value,
 *   arrays packed little-endian in bytes_value (3.0 "Array Types"). A negative Int8/Int16 is taken
 *   both sign-extended to the field's width (Eclipse Tahu's form) and in its own width (0xFF for -1):
 *   the specification leaves that open and the two never mean different numbers. UInt32 is also
 *   taken from long_value, where both Tahu libraries put it. Anything that does not fit its datatype
 *   is a ValueFormatError naming the datatype and the value, never wrapped or truncated.
 */
import { SparkplugFormatError } from './errors.js';
import type { org } from './generated/proto.js';
import { protoTypeGetter, type PlainMessage } from './proto.js';
import {
  DATETIME_MAX,
  DATETIME_MIN,
  datetimeText,
  type ScalarType,
  type ScalarValue,
  type TypedValue,
  ValueFormatError,
  type ValueType,
} from './scalar-value.js';

export const NAMESPACE = 'spBv1.0';

type GeneratedDataType = typeof org.eclipse.tahu.protobuf.DataType;
/** The Sparkplug 3.0 DataType codes (checked against the proto's enum) */
export const DataType = {
  Unknown: 0,
  Int8: 1,
  Int16: 2,
  Int32: 3,
  Int64: 4,
  UInt8: 5,
  UInt16: 6,
  UInt32: 7,
  UInt64: 8,
  Float: 9,
  Double: 10,
  Boolean: 11,
  String: 12,
  DateTime: 13,
  Text: 14,
  UUID: 15,
  DataSet: 16,
  Bytes: 17,
  File: 18,
  Template: 19,
  PropertySet: 20,
  PropertySetList: 21,
  Int8Array: 22,
  Int16Array: 23,
  Int32Array: 24,
  Int64Array: 25,
  UInt8Array: 26,
  UInt16Array: 27,
  UInt32Array: 28,
  UInt64Array: 29,
  FloatArray: 30,
  DoubleArray: 31,
  BooleanArray: 32,
  StringArray: 33,
  DateTimeArray: 34,
} as const satisfies { [K in keyof GeneratedDataType]: GeneratedDataType[K] };
export type DataTypeName = keyof typeof DataType;

const DATATYPE_NAMES = new Map<number, DataTypeName>(Object.entries(DataType).map(([name, code]) => [code, name as DataTypeName]));

/** The datatype's name ("Int8"), or undefined for a code Sparkplug 3.0 does not define (0 is "Unknown"). */
export function dataTypeName(code: number): DataTypeName | undefined {
  return DATATYPE_NAMES.get(code);
}

/** A datatype as a message names it: "Int8 (1)", "datatype 99". */
export function describeDataType(code: number): string {
  const name = dataTypeName(code);
  return name === undefined ? `datatype ${code}` : `${name} (${code})`;
}

/**
 * The value model's type of each datatype that carries one value or one array of values (every one
 * but DataSet, Template, PropertySet and PropertySetList, which are structures, and Unknown).
 * File is bytes here; what a host makes of a file is its own choice.
 */
export const VALUE_TYPES: Readonly<Partial<Record<number, ValueType>>> = {
  [DataType.Int8]: 'int8',
  [DataType.Int16]: 'int16',
  [DataType.Int32]: 'int32',
  [DataType.Int64]: 'int64',
  [DataType.UInt8]: 'uint8',
  [DataType.UInt16]: 'uint16',
  [DataType.UInt32]: 'uint32',
  [DataType.UInt64]: 'uint64',
  [DataType.Float]: 'float32',
  [DataType.Double]: 'float64',
  [DataType.Boolean]: 'bool',
  [DataType.String]: 'string',
  [DataType.DateTime]: 'datetime',
  [DataType.Text]: 'string',
  [DataType.UUID]: 'string',
  [DataType.Bytes]: 'bytes',
  [DataType.File]: 'bytes',
  [DataType.Int8Array]: 'int8[]',
  [DataType.Int16Array]: 'int16[]',
  [DataType.Int32Array]: 'int32[]',
  [DataType.Int64Array]: 'int64[]',
  [DataType.UInt8Array]: 'uint8[]',
  [DataType.UInt16Array]: 'uint16[]',
  [DataType.UInt32Array]: 'uint32[]',
  [DataType.UInt64Array]: 'uint64[]',
  [DataType.FloatArray]: 'float32[]',
  [DataType.DoubleArray]: 'float64[]',
  [DataType.BooleanArray]: 'bool[]',
  [DataType.StringArray]: 'string[]',
  [DataType.DateTimeArray]: 'datetime[]',
};

type Proto = typeof org.eclipse.tahu.protobuf;
type ProtoPayload = InstanceType<Proto['Payload']>;
type ProtoMetric = InstanceType<Proto['Payload']['Metric']>;
type ProtoTemplate = InstanceType<Proto['Payload']['Template']>;

/** A plain message as protobufjs's `fromObject` takes it: repeated fields may be left out, at every depth. */
type EncodeInput<T> = T extends Uint8Array
  ? T
  : T extends readonly (infer E)[]
    ? EncodeInput<E>[]
    : T extends object
      ? { [K in keyof T as NonNullable<T[K]> extends readonly unknown[] ? never : K]: EncodeInput<T[K]> } & {
          [K in keyof T as NonNullable<T[K]> extends readonly unknown[] ? K : never]?: EncodeInput<T[K]>;
        }
      : T;
/** A metric as `encodeSparkplug` takes it: 64-bit fields as numbers (exact below 2^53) or bigints. */
export type SparkplugMetric = EncodeInput<PlainMessage<ProtoMetric, number | bigint>>;
/** A payload as `encodeSparkplug` takes it (see SparkplugMetric). */
export type SparkplugPayload = EncodeInput<PlainMessage<ProtoPayload, number | bigint>>;

/** A metric as `decodeSparkplug` gives it: value fields exact (64-bit ones as bigint), alias and timestamp numbers. */
export type DecodedMetric = Omit<PlainMessage<ProtoMetric, bigint>, 'alias' | 'timestamp' | 'templateValue'> & {
  alias?: number;
  timestamp?: number;
  templateValue?: DecodedTemplate;
};
/** A template (definition or instance) as decoded: its member metrics like any metric. */
export type DecodedTemplate = Omit<PlainMessage<ProtoTemplate, bigint>, 'metrics'> & { metrics: DecodedMetric[] };
/** A payload as decoded: `metrics` always there, timestamp and seq numbers, values exact. */
export type DecodedPayload = Omit<PlainMessage<ProtoPayload, bigint>, 'timestamp' | 'seq' | 'metrics'> & {
  timestamp?: number;
  seq?: number;
  metrics: DecodedMetric[];
};
export type DecodedDataSet = NonNullable<DecodedMetric['datasetValue']>;
export type DecodedPropertySet = NonNullable<DecodedMetric['properties']>;

const payloadType = protoTypeGetter('org.eclipse.tahu.protobuf.Payload');

export function encodeSparkplug(p: SparkplugPayload): Buffer {
  const T = payloadType();
  return Buffer.from(T.encode(T.fromObject(p)).finish());
}

/** A ms time or counter as a number; one beyond 2^53 is refused (it would be rounded). */
function smallNumber(v: bigint, what: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new SparkplugFormatError(`${what} ${v} is beyond 2^53`);
  return n;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function smallMetricFields(metrics: Mutable<DecodedMetric>[], where: string): void {
  for (const m of metrics) {
    const name = m.name ?? `alias ${m.alias}`;
    if (typeof m.alias === 'bigint') m.alias = smallNumber(m.alias, `${where}metric alias`);
    if (typeof m.timestamp === 'bigint') m.timestamp = smallNumber(m.timestamp, `timestamp of ${where}metric "${name}"`);
    if (m.templateValue) smallMetricFields(m.templateValue.metrics, `${where}${name}/`);
  }
}

/**
 * Decode a Sparkplug B payload, values exact (see the module header); throws a SparkplugFormatError
 * (with the decoder's message) on bad bytes.
 */
export function decodeSparkplug(bytes: Uint8Array): DecodedPayload {
  const T = payloadType();
  let p: Mutable<DecodedPayload>;
  try {
    p = T.toObject(T.decode(bytes), { longs: BigInt, arrays: true }) as DecodedPayload;
  } catch (err) {
    throw new SparkplugFormatError((err as Error).message, { cause: err });
  }
  if (typeof p.timestamp === 'bigint') p.timestamp = smallNumber(p.timestamp, 'payload timestamp');
  if (typeof p.seq === 'bigint') p.seq = smallNumber(p.seq, 'payload seq');
  smallMetricFields(p.metrics, '');
  return p;
}

// ---- values by datatype ------------------------------------------------------------------------

/** The value fields a metric, a property value, a DataSet value and a template parameter share. */
export interface ValueFields {
  intValue?: number | null;
  longValue?: bigint | null;
  floatValue?: number | null;
  doubleValue?: number | null;
  booleanValue?: boolean | null;
  stringValue?: string | null;
  bytesValue?: Uint8Array | null;
}

const FIELD_NAMES = {
  intValue: 'int_value',
  longValue: 'long_value',
  floatValue: 'float_value',
  doubleValue: 'double_value',
  booleanValue: 'boolean_value',
  stringValue: 'string_value',
  bytesValue: 'bytes_value',
} as const;
type FieldKey = keyof typeof FIELD_NAMES;

/** The value field that is set, or undefined when none is (a metric without a value). */
export function valueField(m: ValueFields): FieldKey | undefined {
  for (const k of Object.keys(FIELD_NAMES) as FieldKey[]) if (m[k] !== undefined && m[k] !== null) return k;
  return undefined;
}

/**
 * The datatype a value field implies when a metric has none (neither in itself nor in its birth),
 * where the field allows one reading only; int_value and long_value are signed or unsigned by the
 * datatype alone, so they imply none.
 */
export function impliedDataType(field: FieldKey): number | undefined {
  switch (field) {
    case 'floatValue':
      return DataType.Float;
    case 'doubleValue':
      return DataType.Double;
    case 'booleanValue':
      return DataType.Boolean;
    case 'stringValue':
      return DataType.String;
    case 'bytesValue':
      return DataType.Bytes;
    default:
      return undefined;
  }
}

function wrongField(dt: number, field: FieldKey | undefined, expected: string): never {
  throw new ValueFormatError(
    `${describeDataType(dt)} ${field === undefined ? 'has no value' : `carries ${FIELD_NAMES[field]}`}; Sparkplug puts it in ${expected}`,
  );
}

/**
 * An integer of `bits` from a wire field `width` bits wide: unsigned types must fit; signed types are
 * taken in their own width (two's complement) or sign-extended to the field's (see the module header).
 */
function integerFrom(raw: bigint, width: 32 | 64, bits: 8 | 16 | 32 | 64, signed: boolean, dt: number): bigint {
  if (!signed) {
    if (raw < 1n << BigInt(bits)) return raw;
  } else if (raw < 1n << BigInt(bits) || raw >= (1n << BigInt(width)) - (1n << BigInt(bits - 1))) return BigInt.asIntN(bits, raw);
  const hex = `0x${raw.toString(16)}`;
  throw new ValueFormatError(
    `${describeDataType(dt)} value ${raw} (${hex}) in the ${width}-bit field is no ${signed ? `${bits}-bit two's complement, plain or sign-extended` : `unsigned ${bits}-bit integer`}`,
  );
}

const INT_BITS: Partial<Record<number, [bits: 8 | 16 | 32, signed: boolean]>> = {
  [DataType.Int8]: [8, true],
  [DataType.Int16]: [16, true],
  [DataType.Int32]: [32, true],
  [DataType.UInt8]: [8, false],
  [DataType.UInt16]: [16, false],
  [DataType.UInt32]: [32, false],
};

/** Sparkplug DateTime (ms since the epoch, signed) to the model's datetime (int64 ns since the epoch: 1677..2262). */
function datetimeNs(ms: bigint, dt: number): bigint {
  const ns = ms * 1_000_000n;
  if (ns < DATETIME_MIN || ns > DATETIME_MAX)
    throw new ValueFormatError(
      `${describeDataType(dt)} ${ms} ms since the epoch is outside the datetime range (int64 ns: ${datetimeText(DATETIME_MIN)} .. ${datetimeText(DATETIME_MAX)})`,
    );
  return ns;
}

/**
 * The typed value of a metric (or property value, DataSet value, template parameter) of datatype
 * `dt`, read from the field that datatype uses. Throws ValueFormatError when the value is in the
 * wrong field or does not fit the datatype, and for datatypes that are no single value (DataSet,
 * Template, PropertySet, PropertySetList, Unknown, undefined codes).
 */
export function readValue(m: ValueFields, dt: number): TypedValue {
  const field = valueField(m);
  const type = VALUE_TYPES[dt];
  if (type === undefined) {
    if (dataTypeName(dt) === undefined) throw new ValueFormatError(`datatype ${dt} is not a Sparkplug 3.0 datatype (0..34)`);
    throw new ValueFormatError(`${describeDataType(dt)} is not a single value`);
  }
  const ints = INT_BITS[dt];
  if (ints) {
    const [bits, signed] = ints;
    let v: bigint;
    if (field === 'intValue') v = integerFrom(BigInt(m.intValue! >>> 0), 32, bits, signed, dt);
    else if (field === 'longValue') v = integerFrom(m.longValue!, 64, bits, signed, dt);
    else wrongField(dt, field, 'int_value');
    return { type, v: Number(v) };
  }
  switch (dt) {
    case DataType.Int64:
    case DataType.UInt64:
    case DataType.DateTime: {
      if (field !== 'longValue') wrongField(dt, field, 'long_value');
      const raw = m.longValue!;
      if (dt === DataType.UInt64) return { type, v: raw };
      const signed = integerFrom(raw, 64, 64, true, dt);
      return { type, v: dt === DataType.DateTime ? datetimeNs(signed, dt) : signed };
    }
    case DataType.Float:
      if (field !== 'floatValue') wrongField(dt, field, 'float_value');
      return { type, v: m.floatValue! };
    case DataType.Double:
      if (field !== 'doubleValue') wrongField(dt, field, 'double_value');
      return { type, v: m.doubleValue! };
    case DataType.Boolean:
      if (field !== 'booleanValue') wrongField(dt, field, 'boolean_value');
      return { type, v: m.booleanValue! };
    case DataType.String:
    case DataType.Text:
    case DataType.UUID:
      if (field !== 'stringValue') wrongField(dt, field, 'string_value');
      return { type, v: m.stringValue! };
    default:
      // Bytes, File and the arrays
      if (field !== 'bytesValue') wrongField(dt, field, 'bytes_value');
      return { type, v: dt === DataType.Bytes || dt === DataType.File ? new Uint8Array(m.bytesValue!) : readArray(m.bytesValue!, dt) };
  }
}

/** element size and reader of the fixed-width arrays, little-endian */
const FIXED_ARRAYS: Partial<Record<number, [size: number, read: (d: DataView, at: number) => ScalarValue]>> = {
  [DataType.Int8Array]: [1, (d, at) => d.getInt8(at)],
  [DataType.Int16Array]: [2, (d, at) => d.getInt16(at, true)],
  [DataType.Int32Array]: [4, (d, at) => d.getInt32(at, true)],
  [DataType.Int64Array]: [8, (d, at) => d.getBigInt64(at, true)],
  [DataType.UInt8Array]: [1, (d, at) => d.getUint8(at)],
  [DataType.UInt16Array]: [2, (d, at) => d.getUint16(at, true)],
  [DataType.UInt32Array]: [4, (d, at) => d.getUint32(at, true)],
  [DataType.UInt64Array]: [8, (d, at) => d.getBigUint64(at, true)],
  [DataType.FloatArray]: [4, (d, at) => d.getFloat32(at, true)],
  [DataType.DoubleArray]: [8, (d, at) => d.getFloat64(at, true)],
  [DataType.DateTimeArray]: [8, (d, at) => datetimeNs(d.getBigInt64(at, true), DataType.DateTimeArray)],
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A 3.0 array from bytes_value: fixed-width elements packed little-endian; BooleanArray a uint32 LE
 * count, then the booleans as bits, most significant bit first, the last byte padded; StringArray
 * UTF-8 strings each ended by a NUL byte (Eclipse Tahu's layouts).
 */
export function readArray(bytes: Uint8Array, dt: number): ScalarValue[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fixed = FIXED_ARRAYS[dt];
  if (fixed) {
    const [size, read] = fixed;
    if (bytes.length % size !== 0)
      throw new ValueFormatError(`${describeDataType(dt)} of ${bytes.length} bytes is not a whole number of ${size}-byte elements`);
    const out: ScalarValue[] = new Array(bytes.length / size);
    for (let i = 0; i < out.length; i++) out[i] = read(view, i * size);
    return out;
  }
  if (dt === DataType.BooleanArray) {
    if (bytes.length < 4) throw new ValueFormatError(`${describeDataType(dt)} of ${bytes.length} bytes has no 4-byte count`);
    const count = view.getUint32(0, true);
    const expected = 4 + Math.ceil(count / 8);
    if (bytes.length !== expected)
      throw new ValueFormatError(`${describeDataType(dt)} counts ${count} booleans (${expected} bytes with the count) but has ${bytes.length} bytes`);
    const out: boolean[] = new Array(count);
    for (let i = 0; i < count; i++) out[i] = (bytes[4 + (i >> 3)]! & (0x80 >> (i & 7))) !== 0;
    return out;
  }
  if (dt === DataType.StringArray) {
    if (bytes.length === 0) return [];
    if (bytes[bytes.length - 1] !== 0) throw new ValueFormatError(`${describeDataType(dt)} of ${bytes.length} bytes does not end with a NUL byte`);
    const out: string[] = [];
    for (let start = 0; start < bytes.length; ) {
      const end = bytes.indexOf(0, start);
      try {
        out.push(utf8.decode(bytes.subarray(start, end)));
      } catch {
        throw new ValueFormatError(`${describeDataType(dt)} element ${out.length} is not UTF-8`);
      }
      start = end + 1;
    }
    return out;
  }
  throw new ValueFormatError(`${describeDataType(dt)} is not an array datatype`);
}

/** A DataSet read by its column types: values exact, a cell without a value null. */
export interface SparkplugDataSet {
  columns: string[];
  /** the value model's type of each column */
  types: ScalarType[];
  rows: (ScalarValue | null)[][];
}

/**
 * Read a DataSet: its columns, their datatypes (basic types only, as the 3.0 DataSetValue carries)
 * and every row, each cell by its column's datatype. Throws ValueFormatError naming the column and
 * row of the first cell that does not fit, or a column count that disagrees.
 */
export function readDataSet(ds: DecodedDataSet): SparkplugDataSet {
  const columns = ds.columns ?? [];
  const codes = ds.types ?? [];
  if (ds.numOfColumns !== undefined && ds.numOfColumns !== null && ds.numOfColumns !== BigInt(columns.length))
    throw new ValueFormatError(`DataSet num_of_columns ${ds.numOfColumns} but ${columns.length} column names`);
  if (codes.length !== columns.length) throw new ValueFormatError(`DataSet has ${columns.length} column names but ${codes.length} types`);
  const types = codes.map((dt, c) => {
    const t = VALUE_TYPES[dt];
    if (t === undefined || t.endsWith('[]') || dt === DataType.Bytes || dt === DataType.File)
      throw new ValueFormatError(`DataSet column "${columns[c]}" has ${describeDataType(dt)}, not a basic type`);
    return t as ScalarType;
  });
  const rows = (ds.rows ?? []).map((row, r) => {
    const cells = row.elements ?? [];
    if (cells.length !== columns.length) throw new ValueFormatError(`DataSet row ${r} has ${cells.length} values for ${columns.length} columns`);
    return cells.map((cell, c) => {
      if (valueField(cell) === undefined) return null;
      try {
        return readValue(cell, codes[c]!).v;
      } catch (err) {
        throw new ValueFormatError(`DataSet row ${r} column "${columns[c]}": ${(err as Error).message}`);
      }
    });
  });
  return { columns, types, rows };
}

// ---- topics ------------------------------------------------------------------------------------

/** The parts of a Sparkplug B topic: spBv1.0/<group>/<type>/<edge node>[/<device>]. */
export interface SparkplugTopic {
  group: string;
  /** NBIRTH, NDATA, NDEATH, NCMD, DBIRTH, DDATA, DDEATH, DCMD or STATE */
  type: string;
  node: string;
  device?: string;
}

/** Split a topic of the Sparkplug B namespace; undefined for any other topic. */
export function parseSparkplugTopic(topic: string): SparkplugTopic | undefined {
  const p = topic.split('/');
  if (p[0] !== NAMESPACE || p.length < 4 || p.length > 5) return undefined;
  return { group: p[1]!, type: p[2]!, node: p[3]!, ...(p[4] !== undefined ? { device: p[4] } : {}) };
}
