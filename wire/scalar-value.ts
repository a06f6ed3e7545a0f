/**
 * The value model of a scalar record: one process value with its exact type, as the protocols give it
 * (OPC-UA's built-in types, Sparkplug B's datatypes), carried unchanged from the input to every sink.
 *
 * The scalar body (CONTENT_TYPES.scalar) is JSON:
 *
 *   {"v": <value>, "type": "<value type>", "unit": "...", "quality": "..."}      unit, quality optional
 *
 *   type          "v" in JSON                     in memory (`ScalarValue`)
 *   bool          true / false                    boolean
 *   int8..int32   number (integer in range)       number
 *   uint8..uint32 number (integer in range)       number
 *   int64, uint64 decimal string "-9223372036854775808"   bigint
 *   float32       number (the float32's exact double); "NaN", "Infinity", "-Infinity"; -0 as -0   number
 *   float64       the same                        number
 *   string        string                          string
 *   datetime      RFC 3339 UTC, 0/3/6/9 fraction digits "2026-12-03T10:00:00.123456789Z"   bigint ns since the epoch
 *                 (int64: 1677-09-21 .. 2262-04-11, as every record time)
 *   bytes         base64 string                   Uint8Array
 *   <type>[]      JSON array of the element form  array of the element's in-memory form
 *
 * Design constraints:
 * - Exact: 64-bit integers are decimal strings (as in protobuf's JSON mapping), so a consumer's JSON
 *   parser can never round them silently; float32 is written as its exact double (parsing it and
 *   rounding to float32 gives the same bits); non-finite floats are strings JSON can carry.
 * - A body without "type" (written before the value model, or by a source that only knows JSON) is
 *   read by its JSON type: number -> float64, boolean -> bool, string -> string.
 * - Checked: a value outside its type's range, or of the wrong JSON type, is a `ValueFormatError`
 *   naming the type and the value, never clamped or rounded.
 */
import { WireError } from './errors.js';

export const SCALAR_TYPES = [
  'bool',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'float32',
  'float64',
  'string',
  'datetime',
  'bytes',
] as const;
export type ScalarType = (typeof SCALAR_TYPES)[number];
/** a scalar type or an array of one */
export type ValueType = ScalarType | `${ScalarType}[]`;

export type ScalarValue = boolean | number | bigint | string | Uint8Array | readonly ScalarValue[];

export interface TypedValue {
  type: ValueType;
  v: ScalarValue;
}

/** A scalar body as read: the typed value and its unit and quality when given. */
export interface ParsedScalarBody extends TypedValue {
  unit?: string;
  quality?: string;
}

/** A value that does not fit its type (out of range, wrong JSON type, malformed text). */
export class ValueFormatError extends WireError<'malformed'> {
  static readonly code = 'LG_WIRE_VALUE_INVALID';
  constructor(message: string) {
    super(ValueFormatError.code, 'malformed', message);
    this.name = 'ValueFormatError';
  }
}

const SMALL_INT_RANGES: Partial<Record<ScalarType, [number, number]>> = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
  uint8: [0, 255],
  uint16: [0, 65535],
  uint32: [0, 4294967295],
};
const BIG_INT_RANGES: Partial<Record<ScalarType, [bigint, bigint]>> = {
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
};

const TYPE_SET = new Set<string>(SCALAR_TYPES);
/** the range of a datetime: int64 ns since the epoch */
export const DATETIME_MIN = -(2n ** 63n);
export const DATETIME_MAX = 2n ** 63n - 1n;

export function isValueType(t: string): t is ValueType {
  return TYPE_SET.has(t.endsWith('[]') ? t.slice(0, -2) : t);
}

/** The element type of an array type, or undefined for a scalar type. */
export function elementType(t: ValueType): ScalarType | undefined {
  return t.endsWith('[]') ? (t.slice(0, -2) as ScalarType) : undefined;
}

export function isIntegerType(t: ValueType): boolean {
  return t in SMALL_INT_RANGES || t in BIG_INT_RANGES;
}

export function isUnsignedType(t: ValueType): boolean {
  return t.startsWith('uint');
}

// ---- datetime ----------------------------------------------------------------------------------

/** ns since the epoch as RFC 3339 UTC with 0, 3, 6 or 9 fraction digits (as protobuf's JSON mapping). */
export function datetimeText(ns: bigint): string {
  let secs = ns / 1_000_000_000n;
  let frac = ns % 1_000_000_000n;
  if (frac < 0n) {
    frac += 1_000_000_000n;
    secs -= 1n;
  }
  const base = new Date(Number(secs) * 1000).toISOString().slice(0, 19);
  if (frac === 0n) return `${base}Z`;
  let digits = frac.toString().padStart(9, '0');
  if (digits.endsWith('000000')) digits = digits.slice(0, 3);
  else if (digits.endsWith('000')) digits = digits.slice(0, 6);
  return `${base}.${digits}Z`;
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i;

/** RFC 3339 text (any offset, up to 9 fraction digits) to ns since the epoch. */
export function parseDatetime(text: string): bigint {
  const m = RFC3339.exec(text);
  const ms = m ? Date.parse(`${m[1]}${m[3]!.toUpperCase()}`) : Number.NaN;
  if (!m || !Number.isFinite(ms)) throw new ValueFormatError(`datetime ${JSON.stringify(text)} is not RFC 3339 (e.g. 2026-12-03T10:00:00.123Z)`);
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

// ---- checking ----------------------------------------------------------------------------------

function fail(type: ValueType, v: unknown, why: string): never {
  const shown = typeof v === 'bigint' ? `${v}` : v instanceof Uint8Array ? `${v.length} bytes` : JSON.stringify(v);
  throw new ValueFormatError(`${type} value ${shown} ${why}`);
}

/** Check an in-memory value against its type; returns it. Throws ValueFormatError naming both. */
export function checkValue(type: ValueType, v: ScalarValue): ScalarValue {
  const element = elementType(type);
  if (element !== undefined) {
    if (!Array.isArray(v)) fail(type, v, 'is not an array');
    for (const x of v as readonly ScalarValue[]) checkValue(element, x);
    return v;
  }
  const small = SMALL_INT_RANGES[type as ScalarType];
  if (small) {
    if (typeof v !== 'number' || !Number.isInteger(v)) fail(type, v, 'is not an integer');
    if ((v as number) < small[0] || (v as number) > small[1]) fail(type, v, `is out of range ${small[0]}..${small[1]}`);
    return v;
  }
  const big = BIG_INT_RANGES[type as ScalarType];
  if (big) {
    if (typeof v !== 'bigint') fail(type, v, 'is not a bigint');
    if ((v as bigint) < big[0] || (v as bigint) > big[1]) fail(type, v, `is out of range ${big[0]}..${big[1]}`);
    return v;
  }
  switch (type) {
    case 'bool':
      if (typeof v !== 'boolean') fail(type, v, 'is not a boolean');
      return v;
    case 'float32':
      if (typeof v !== 'number') fail(type, v, 'is not a number');
      if (!Number.isNaN(v) && Math.fround(v as number) !== v) fail(type, v, 'is not a float32 value');
      return v;
    case 'float64':
      if (typeof v !== 'number') fail(type, v, 'is not a number');
      return v;
    case 'string':
      if (typeof v !== 'string') fail(type, v, 'is not a string');
      return v;
    case 'datetime':
      if (typeof v !== 'bigint') fail(type, v, 'is not a bigint of ns since the epoch');
      // int64 ns, as every time of a record: 1677-09-21 .. 2262-04-11, far wider than any process time
      if ((v as bigint) < DATETIME_MIN || (v as bigint) > DATETIME_MAX)
        fail(type, v, `is out of range (int64 ns since the epoch: ${datetimeText(DATETIME_MIN)} .. ${datetimeText(DATETIME_MAX)})`);
      return v;
    case 'bytes':
      if (!(v instanceof Uint8Array)) fail(type, v, 'is not bytes');
      return v;
    default:
      throw new ValueFormatError(`unknown value type ${JSON.stringify(type)} (one of ${SCALAR_TYPES.join(', ')}, or an array of one as "<type>[]")`);
  }
}

// ---- JSON --------------------------------------------------------------------------------------

function floatJson(v: number): string {
  if (Number.isNaN(v)) return '"NaN"';
  if (v === Number.POSITIVE_INFINITY) return '"Infinity"';
  if (v === Number.NEGATIVE_INFINITY) return '"-Infinity"';
  return Object.is(v, -0) ? '-0' : String(v);
}

/**
 * The JSON text of "v" for a value of `type` (see the table above). The value is not checked
 * (inputs check once with `checkValue` where the source could be wrong; this runs per value).
 */
export function valueJson(type: ValueType, v: ScalarValue): string {
  const element = elementType(type);
  if (element !== undefined) return `[${(v as readonly ScalarValue[]).map((x) => valueJson(element, x)).join(',')}]`;
  switch (type) {
    case 'float32':
    case 'float64':
      return floatJson(v as number);
    case 'int64':
    case 'uint64':
      return `"${v}"`;
    case 'datetime':
      return `"${datetimeText(v as bigint)}"`;
    case 'bytes':
      return `"${Buffer.from(v as Uint8Array).toString('base64')}"`;
    default:
      return JSON.stringify(v);
  }
}

/** The scalar body's JSON text: `{"v":..,"type":..,"unit":..,"quality":..}` (unit and quality when given). */
export function scalarBodyText(b: ParsedScalarBody): string {
  const unit = b.unit !== undefined ? `,"unit":${JSON.stringify(b.unit)}` : '';
  const quality = b.quality !== undefined ? `,"quality":${JSON.stringify(b.quality)}` : '';
  return `{"v":${valueJson(b.type, b.v)},"type":"${b.type}"${unit}${quality}}`;
}

export function encodeScalarBody(b: ParsedScalarBody): Buffer {
  return Buffer.from(scalarBodyText(b));
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** "v" as parsed by JSON.parse to the in-memory value of `type`; checked. */
export function valueFromJson(type: ValueType, j: unknown): ScalarValue {
  const element = elementType(type);
  if (element !== undefined) {
    if (!Array.isArray(j)) fail(type, j, 'is not a JSON array');
    return (j as unknown[]).map((x) => valueFromJson(element, x));
  }
  switch (type) {
    case 'float32':
    case 'float64': {
      if (typeof j === 'string') {
        if (j === 'NaN') return Number.NaN;
        if (j === 'Infinity') return Number.POSITIVE_INFINITY;
        if (j === '-Infinity') return Number.NEGATIVE_INFINITY;
      }
      return checkValue(type, j as number);
    }
    case 'int64':
    case 'uint64':
      // a JSON number is accepted when it is exact (a writer that did not quote a small 64-bit value)
      if (typeof j === 'number' && Number.isSafeInteger(j)) return checkValue(type, BigInt(j));
      if (typeof j !== 'string' || !/^-?\d{1,20}$/.test(j)) fail(type, j, 'is not a decimal integer string');
      return checkValue(type, BigInt(j as string));
    case 'datetime':
      if (typeof j !== 'string') fail(type, j, 'is not an RFC 3339 string');
      return checkValue(type, parseDatetime(j as string));
    case 'bytes':
      if (typeof j !== 'string' || !BASE64.test(j)) fail(type, j, 'is not base64');
      return new Uint8Array(Buffer.from(j as string, 'base64'));
    default:
      return checkValue(type, j as ScalarValue);
  }
}

/**
 * Read a scalar body. A body without "type" is read by its JSON type (number -> float64,
 * boolean -> bool, string -> string). Throws ValueFormatError naming what is wrong.
 */
export function parseScalarBody(body: Uint8Array | string): ParsedScalarBody {
  let o: unknown;
  try {
    o = JSON.parse(typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch (err) {
    throw new ValueFormatError(`scalar body is not JSON (${(err as Error).message})`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o) || !('v' in o)) throw new ValueFormatError('scalar body has no "v"');
  const { v, type, unit, quality } = o as { v: unknown; type?: unknown; unit?: unknown; quality?: unknown };
  let t: ValueType;
  if (type === undefined) {
    if (typeof v === 'number') t = 'float64';
    else if (typeof v === 'boolean') t = 'bool';
    else if (typeof v === 'string') t = 'string';
    else throw new ValueFormatError(`scalar "v" without "type" must be a number, string or boolean, got ${v === null ? 'null' : typeof v}`);
  } else if (typeof type === 'string' && isValueType(type)) t = type;
  else throw new ValueFormatError(`scalar "type" ${JSON.stringify(type)} is not a value type (one of ${SCALAR_TYPES.join(', ')}, or "<type>[]")`);
  const parsed: ParsedScalarBody = { type: t, v: valueFromJson(t, v) };
  if (typeof unit === 'string') parsed.unit = unit;
  if (typeof quality === 'string') parsed.quality = quality;
  return parsed;
}

/** A value as a float64 when that is exact (every float, bool as 0/1, integers a double holds exactly); else null. */
export function exactNumber(t: TypedValue): number | null {
  const v = t.v;
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'bigint' && t.type !== 'datetime') {
    const n = Number(v);
    return BigInt(n) === v ? n : null;
  }
  return null;
}
