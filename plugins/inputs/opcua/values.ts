/**
 * OPC-UA values to record bodies: a DataValue's variant to the value model (wire/scalar-value.ts,
 * through the plugin API) by the variant's DataType, structures to JSON documents, and
 * source/server timestamps to ns.
 *
 *   OPC-UA DataType              value type      in the body ("v")
 *   Boolean                      bool            true / false
 *   SByte, Byte                  int8, uint8     number
 *   Int16, UInt16, Int32, UInt32 int16 .. uint32 number
 *   Int64, UInt64                int64, uint64   decimal string, exact (node-opcua's [hi, lo] words combined as a bigint)
 *   Float, Double                float32, float64  number; NaN and the infinities as "NaN", "Infinity", "-Infinity"
 *   String, XmlElement           string          the text (a null String: "")
 *   LocalizedText                string          its text (the locale is dropped)
 *   QualifiedName                string          "<ns>:<name>", or the name alone in namespace 0 (the browse-path form)
 *   NodeId, ExpandedNodeId       string          "ns=2;s=..." (the session's namespace index)
 *   StatusCode                   string          its name as node-opcua knows it ("BadNoCommunication")
 *   Guid                         string          8-4-4-4-12 hex digits, upper case as node-opcua decodes it
 *   DateTime                     datetime        RFC 3339 UTC, OPC-UA's 100 ns resolution (node-opcua's Date + picoseconds); edges below
 *   ByteString                   bytes           base64 (a null ByteString: empty)
 *   one-dimensional array        <type>[]        JSON array of the element forms (a null array: [])
 *   matrix                       <type>[]        flattened in OPC-UA's order (the last index varies fastest); the
 *                                                record's attribute `array_dimensions` is "2,3"
 *   ExtensionObject (scalar, array, matrix), Variant[]   a `document` record (application/json): see `documentJson`
 *   Null (no value: a bad status)  string        "" as before the value model, so the record stays a scalar
 *
 * DateTime edges (OPC-UA Part 6, 5.2.2.5): OPC-UA's DateTime runs from 1601 to Int64-max ticks of
 * 100 ns (year 30828), the value model's datetime is int64 ns since 1970 (1677-09-21T00:12:43.145224192Z
 * .. 2262-04-11T23:47:16.854775807Z). The spec has a decoder read the zero (OPC-UA's "no time") and
 * anything earlier than it can represent as the earliest time it can, and Int64 max ("the latest
 * time") and anything later as the latest: that is what the input stores (DATETIME_MIN,
 * DATETIME_MAX). A negative tick count, which node-opcua reads as unsigned (a date past 30828), is
 * earlier than 1601: the earliest time too.

 * Design constraints:
 * - Hot path (every value change, 50,000/s): the body is built as text without an intermediate
 *   object; the type, unit and quality tails are made once per item (per DataType seen) and status
 *   name; a scalar number goes to the body without conversion; repeated timestamps reuse one
 *   bigint and its decimal text (`TimeCache`).
 * - Exact: 64-bit integers never pass through a double; NaN and the infinities are values of a float
 *   sensor and are stored as such.
 * - A value that cannot be stored (a structure the server does not describe, a DataValue or
 *   DiagnosticInfo variant) throws `MalformedInputError`: the caller quarantines it with the node id.
 */
// first: node-opcua must not print to stdout (see the module)
import './node-opcua-log.js';
import { DataType, VariantArrayType, type Variant } from 'node-opcua';
import { DATETIME_MAX, DATETIME_MIN, MalformedInputError, valueJson } from '../../../gateway/plugin-api/index.js';
import type { ScalarType, ScalarValue, ValueType } from '../../../gateway/plugin-api/index.js';
import type { ResolvedItem } from './nodes.js';

/** the content type of the `document` records of structures */
export const DOCUMENT_CONTENT_TYPE = 'application/json';

/** The value type of each OPC-UA built-in type that is a scalar value (the table in the header). */
const SCALAR_OF: Partial<Record<DataType, ScalarType>> = {
  [DataType.Boolean]: 'bool',
  [DataType.SByte]: 'int8',
  [DataType.Byte]: 'uint8',
  [DataType.Int16]: 'int16',
  [DataType.UInt16]: 'uint16',
  [DataType.Int32]: 'int32',
  [DataType.UInt32]: 'uint32',
  [DataType.Int64]: 'int64',
  [DataType.UInt64]: 'uint64',
  [DataType.Float]: 'float32',
  [DataType.Double]: 'float64',
  [DataType.String]: 'string',
  [DataType.XmlElement]: 'string',
  [DataType.LocalizedText]: 'string',
  [DataType.QualifiedName]: 'string',
  [DataType.NodeId]: 'string',
  [DataType.ExpandedNodeId]: 'string',
  [DataType.StatusCode]: 'string',
  [DataType.Guid]: 'string',
  [DataType.DateTime]: 'datetime',
  [DataType.ByteString]: 'bytes',
};

/** What a variant of one DataType and array type becomes. */
export type VariantShape =
  | { kind: 'scalar'; type: ValueType; dataType: DataType; array: boolean }
  | { kind: 'document' }
  | { kind: 'none' }
  | { kind: 'unsupported'; why: string };

const NONE: VariantShape = { kind: 'none' };
const DOCUMENT: VariantShape = { kind: 'document' };

export function variantShape(dataType: DataType, arrayType: VariantArrayType): VariantShape {
  if (dataType === DataType.Null) return NONE;
  if (dataType === DataType.ExtensionObject) return DOCUMENT;
  const array = arrayType !== VariantArrayType.Scalar;
  // a Variant only occurs inside an array (a scalar Variant is the variant itself): mixed types, a document
  if (dataType === DataType.Variant) return array ? DOCUMENT : { kind: 'unsupported', why: 'a Variant inside a Variant' };
  const t = SCALAR_OF[dataType];
  if (t === undefined) return { kind: 'unsupported', why: `OPC-UA ${DataType[dataType] ?? dataType} values are not process values the input stores` };
  return { kind: 'scalar', type: array ? `${t}[]` : t, dataType, array };
}

// ---- elements ----------------------------------------------------------------------------------

/** the ms node-opcua gives for Int64-max ticks: a larger one was a negative tick count read as unsigned */
const INT64_MAX_TICKS_MS = 910_692_730_085_477;

/** A DateTime as node-opcua decodes it (a Date, sub-ms ticks in `picoseconds`) to ns since the epoch; see the header for the edges. */
export function dateTimeNs(d: Date | null | undefined): bigint {
  if (!d) return DATETIME_MIN;
  const ms = d.getTime();
  if (!(ms <= INT64_MAX_TICKS_MS)) return DATETIME_MIN;
  const ns = BigInt(ms) * 1_000_000n + BigInt(Math.floor(((d as { picoseconds?: number }).picoseconds ?? 0) / 1000));
  return ns < DATETIME_MIN ? DATETIME_MIN : ns > DATETIME_MAX ? DATETIME_MAX : ns;
}

/** node-opcua's Int64/UInt64 [high, low] words (or a number or bigint, which a future version may give) as a bigint */
export function int64(x: unknown, signed: boolean): bigint {
  let u: bigint;
  if (Array.isArray(x)) u = (BigInt(x[0] as number) << 32n) | BigInt(x[1] as number);
  else if (typeof x === 'bigint') u = x;
  else u = BigInt(x as number);
  return signed ? BigInt.asIntN(64, u) : BigInt.asUintN(64, u);
}

const EMPTY_BYTES = new Uint8Array(0);

/** One element of a variant of `dataType` (a scalar type) in the value model's in-memory form. */
function elementValue(dataType: DataType, x: unknown): ScalarValue {
  switch (dataType) {
    case DataType.Boolean:
    case DataType.SByte:
    case DataType.Byte:
    case DataType.Int16:
    case DataType.UInt16:
    case DataType.Int32:
    case DataType.UInt32:
    case DataType.Float:
    case DataType.Double:
      return x as number | boolean;
    case DataType.Int64:
      return int64(x, true);
    case DataType.UInt64:
      return int64(x, false);
    case DataType.DateTime:
      return dateTimeNs(x as Date | null);
    case DataType.ByteString:
      // a Buffer is a Uint8Array: no copy
      return (x as Uint8Array | null) ?? EMPTY_BYTES;
    case DataType.LocalizedText:
      return (x as { text?: string | null } | null)?.text ?? '';
    case DataType.StatusCode:
      return (x as { name: string }).name;
    case DataType.String:
    case DataType.XmlElement:
      return (x as string | null) ?? '';
    default:
      // Guid (a string already), NodeId, ExpandedNodeId, QualifiedName: their text form
      return x === null || x === undefined ? '' : String(x);
  }
}

/** A variant of a scalar shape as the value model's in-memory value. */
export function variantValue(shape: { dataType: DataType; array: boolean }, value: unknown): ScalarValue {
  const dt = shape.dataType;
  if (!shape.array) return elementValue(dt, value);
  if (value === null || value === undefined) return [];
  // typed arrays (Float64Array, Int32Array, ...) become plain arrays: valueJson maps them to text
  const out: ScalarValue[] = new Array((value as ArrayLike<unknown>).length);
  for (let i = 0; i < out.length; i++) out[i] = elementValue(dt, (value as ArrayLike<unknown>)[i]);
  return out;
}

// ---- scalar bodies (hot path) ------------------------------------------------------------------

/** `,"quality":"<status name>"}`, the end of a scalar body, per status name */
const qualityTail = new Map<string, string>();

/** What an item's values of one DataType and array type become, and the `,"type":"<type>","unit":"<unit>"` of their bodies. */
export interface ItemShape {
  /** dataType * 4 + arrayType of the variant it was made for */
  key: number;
  shape: VariantShape;
  tail: string;
}

/** The item's shape for this variant: made once and kept on the item while its DataType and array type stay the same. */
export function itemShape(it: ResolvedItem, variant: Variant): ItemShape {
  const key = variant.dataType * 4 + variant.arrayType;
  let t = it.typeTail as ItemShape | undefined;
  if (t === undefined || t.key !== key) {
    const shape = variantShape(variant.dataType, variant.arrayType);
    const type = shape.kind === 'scalar' ? shape.type : 'string';
    it.unitJson ??= it.unit ? `,"unit":${JSON.stringify(it.unit)}` : '';
    t = { key, shape, tail: `,"type":"${type}"${it.unitJson}` };
    it.typeTail = t;
  }
  return t;
}

/**
 * The scalar body `{"v":..,"type":..,"unit":..,"quality":..}` (the text `scalarBodyText` writes, in
 * its key order) from the "v" text and the item's type tail: this runs for every value change.
 */
export function scalarBody(vJson: string, typeTail: string, status: string): Buffer {
  let tail = qualityTail.get(status);
  if (tail === undefined) qualityTail.set(status, (tail = `,"quality":${JSON.stringify(status)}}`));
  return Buffer.from(`{"v":${vJson}${typeTail}${tail}`);
}

/** The JSON text of "v" for a variant of a scalar shape (numbers, the common case, without conversion). */
export function scalarJson(shape: { type: ValueType; dataType: DataType; array: boolean }, value: unknown): string {
  if (!shape.array && typeof value === 'number') return valueJson(shape.type, value);
  return valueJson(shape.type, variantValue(shape, value));
}

// ---- documents ---------------------------------------------------------------------------------

/** A decoded structure as node-opcua gives it: its fields as properties, described by its schema. */
interface Structure {
  schema: {
    name: string;
    fields: readonly {
      name: string;
      originalName?: string;
      isArray?: boolean;
      fieldType: string;
      basicDataType?: number;
    }[];
  };
  [field: string]: unknown;
}

function isStructure(x: unknown): x is Structure {
  return typeof x === 'object' && x !== null && 'schema' in x && Array.isArray((x as Structure).schema?.fields) && !isOpaque(x);
}

/** node-opcua's OpaqueStructure (not exported by node-opcua): the undecoded body of a structure it has no description of */
function isOpaque(x: object): boolean {
  return x.constructor?.name === 'OpaqueStructure' && (x as { buffer?: unknown }).buffer instanceof Uint8Array;
}

/**
 * The JSON document of an ExtensionObject variant (scalar, array or matrix, flattened) or of an array
 * of Variants. A structure is an object of its fields by the names the server's DataTypeDefinition
 * gives them ("Counter", not node-opcua's "counter"), each in the scalar body's JSON form of its
 * type (64-bit integers as decimal strings, NaN as "NaN", DateTime as RFC 3339, ByteString as
 * base64), nested structures as objects, arrays as arrays, enumerations as their integer; an
 * optional field that is absent is left out. A Variant (a BaseDataType field, an element of a
 * Variant array) is `{"v":..,"type":..}` as in a scalar body, or the structure's object.
 * Throws MalformedInputError for a structure the server does not describe.
 */
export function documentJson(variant: Variant): string {
  if (variant.dataType === DataType.Variant) return jsonArray(variant.value as readonly Variant[], variantJson);
  if (variant.arrayType === VariantArrayType.Scalar) return structureJson(variant.value);
  return jsonArray(variant.value as readonly unknown[] | null, structureJson);
}

/** the structure's type name, for the record's `data_type` attribute */
export function documentTypeName(variant: Variant): string | undefined {
  const v: unknown = variant.value;
  const first = variant.arrayType === VariantArrayType.Scalar ? v : (v as unknown[] | null)?.[0];
  return isStructure(first) ? first.schema.name : undefined;
}

function jsonArray<T>(xs: ArrayLike<T> | null | undefined, each: (x: T) => string): string {
  if (xs === null || xs === undefined) return '[]';
  const parts = new Array<string>(xs.length);
  for (let i = 0; i < xs.length; i++) parts[i] = each(xs[i]!);
  return `[${parts.join(',')}]`;
}

function structureJson(o: unknown): string {
  if (o === null || o === undefined) return 'null';
  if (!isStructure(o)) {
    const id = (o as { nodeId?: unknown }).nodeId;
    throw new MalformedInputError(
      `a structure the server does not describe (encoding ${String(id ?? 'unknown')}): no DataTypeDefinition or dictionary to decode it by`,
    );
  }
  const parts: string[] = [];
  for (const f of o.schema.fields) {
    const x = o[f.name];
    if (x === undefined) continue;
    const json = f.isArray ? jsonArray(x as ArrayLike<unknown> | null, (e) => fieldJson(f, e)) : fieldJson(f, x);
    parts.push(`${JSON.stringify(f.originalName || f.name)}:${json}`);
  }
  return `{${parts.join(',')}}`;
}

function fieldJson(f: Structure['schema']['fields'][number], x: unknown): string {
  if (isStructure(x)) return structureJson(x);
  const dt = (f.basicDataType ?? DataType[f.fieldType as keyof typeof DataType]) as DataType | undefined;
  if (dt === DataType.Variant) return variantJson(x as Variant);
  if (dt === DataType.ExtensionObject) return structureJson(x);
  const t = dt === undefined ? undefined : SCALAR_OF[dt];
  // an enumeration (or another type node-opcua decodes to a number) as its integer
  if (t === undefined) return typeof x === 'number' ? valueJson('float64', x) : x === null ? 'null' : JSON.stringify(String(x));
  return valueJson(t, elementValue(dt!, x));
}

function variantJson(v: Variant | null): string {
  if (v === null || v === undefined) return 'null';
  const shape = variantShape(v.dataType, v.arrayType);
  if (shape.kind === 'scalar') return `{"v":${valueJson(shape.type, variantValue(shape, v.value))},"type":"${shape.type}"}`;
  if (shape.kind === 'document') return documentJson(v);
  if (shape.kind === 'none') return 'null';
  throw new MalformedInputError(`a Variant field: ${shape.why}`);
}

// ---- timestamps --------------------------------------------------------------------------------

function timeNs(d: Date | null | undefined, picoseconds: number | undefined): bigint | undefined {
  if (!d) return undefined;
  const ms = d.getTime();
  if (!Number.isFinite(ms) || ms <= 0) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt(Math.floor((picoseconds ?? 0) / 1000));
}

/**
 * `timeNs` for a stream of timestamps that mostly repeat (the values of one publish usually share
 * their source and server timestamps): the bigint and its decimal text are made once per distinct
 * time, not per value.
 */
export class TimeCache {
  private ms = Number.NaN;
  private pico: number | undefined = undefined;
  private ns: bigint | undefined = undefined;
  private text: string | undefined = undefined;

  of(d: Date | null | undefined, picoseconds: number | undefined): bigint | undefined {
    if (!d) return undefined;
    const ms = d.getTime();
    if (ms !== this.ms || picoseconds !== this.pico) {
      this.ms = ms;
      this.pico = picoseconds;
      this.ns = timeNs(d, picoseconds);
      this.text = undefined;
    }
    return this.ns;
  }

  /** the decimal text of the time `of` returned last */
  lastText(): string | undefined {
    if (this.ns === undefined) return undefined;
    return (this.text ??= this.ns.toString());
  }
}

export function safeJson(v: unknown): string {
  try {
    return (
      JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : typeof x === 'bigint' ? x.toString() : x)) ?? String(v)
    );
  } catch {
    return String(v);
  }
}
