/**
 * A hand-written encoder for `layergate.v1.Record` (proto/layergate/v1/record.proto), the payload of
 * every Kafka message LayerGate writes.
 *
 * Why it exists: encoding sits on the Kafka output's hot path (tens of thousands of records a
 * second). Through protobufjs it cost about a quarter of the delivery thread plus much of its GC
 * time: a message object, a map copy and int64 objects per record, a Writer op per field. This
 * encoder measures the record, allocates one exactly sized Buffer and writes the fields into it;
 * its only allocation per record is that Buffer.
 *
 * It keeps no cache of the UTF-8 bytes of repeated strings: measured on records as the buffer hands
 * them out (interned stream strings, shared attributes) and on fresh strings, such a cache gained
 * nothing, as a Map lookup costs about what writing a short string's bytes does.
 *
 * Constraint: the output is byte-identical to protobufjs 8's encoding of the message `encodeRecord`
 * used to build (record-codec.test.ts and record-encoder.test.ts hold it to that):
 * - fields in field-number order; tags are one byte (every field number is below 16);
 * - proto3 defaults are left out: seq 0, empty source/signal/contentType/build, an int64 time whose
 *   64 bits are all zero (so also a missing sourceTimeNs); a known kind and class are always written;
 * - seq and blob.size (uint64, JS numbers) as protobufjs's `LongBits.fromNumber` splits them (a
 *   negative number as its two's complement); the int64 times as the two's complement of their low
 *   64 bits, so a negative time is a 10-byte varint;
 * - the oneof: body (field 9) is written whenever set, even with 0 bytes; blob (field 10) whenever
 *   set, its sha256 and size left out when empty / 0; both if a record has both, as protobufjs did;
 * - `optional uint32 layer` is written whenever defined, 0 included, as `layer >>> 0`;
 * - attributes: one map entry per key in `Object.keys` order (integer-like keys first, then
 *   insertion order), key as field 1 and `String(value)` as field 2, both written even when empty; a
 *   `__proto__` key is dropped, as the plain object the old code copied the map into dropped it.
 *   The keys are walked with `for…in` and `Object.hasOwn`: the same keys in the same order, without
 *   the array `Object.keys` makes (two per record, more than half of what was left to allocate);
 * - strings as protobufjs writes them in Node: below 40 UTF-16 units its own UTF-8 loop (a lone
 *   surrogate becomes its 3-byte form), from 40 on Node's UTF-8 (a lone surrogate becomes U+FFFD).
 *
 * What it does not do: decode. `decodeRecord` (record-codec.ts) stays with protobufjs.
 */
import type { layergate } from './generated/proto.js';
import type { BlobRef, RecordKind, SensitivityClass, StoredRecord } from './record.js';

/** the proto enum numbers of the classes and kinds (re-exported by record-codec.ts) */
export const CLASS_ENUM: Readonly<Record<SensitivityClass, layergate.v1.SensitivityClass>> = { public: 1, internal: 2, sensitive: 3, confidential: 4 };
export const KIND_ENUM: Readonly<Record<RecordKind, layergate.v1.RecordKind>> = { samples: 1, scalar: 2, event: 3, frame: 4, document: 5 };

/** field tags (field number << 3 | wire type): varint 0, length-delimited 2 */
const TAG_SEQ = (1 << 3) | 0;
const TAG_SOURCE = (2 << 3) | 2;
const TAG_SIGNAL = (3 << 3) | 2;
const TAG_KIND = (4 << 3) | 0;
const TAG_SOURCE_TIME = (5 << 3) | 0;
const TAG_RECEIVE_TIME = (6 << 3) | 0;
const TAG_CLASS = (7 << 3) | 0;
const TAG_CONTENT_TYPE = (8 << 3) | 2;
const TAG_BODY = (9 << 3) | 2;
const TAG_BLOB = (10 << 3) | 2;
const TAG_BUILD = (11 << 3) | 2;
const TAG_LAYER = (12 << 3) | 0;
const TAG_ATTRIBUTE = (13 << 3) | 2;
/** inside BlobRef */
const TAG_BLOB_SHA256 = (1 << 3) | 2;
const TAG_BLOB_SIZE = (2 << 3) | 0;
/** inside a map entry */
const TAG_MAP_KEY = (1 << 3) | 2;
const TAG_MAP_VALUE = (2 << 3) | 2;

/** Below this many UTF-16 units protobufjs writes strings with its own loop instead of Node's UTF-8. */
const PROTOBUFJS_OWN_UTF8_BELOW = 40;

const TWO_POW_32 = 4294967296;

/**
 * The two 32-bit halves (unsigned) of the 64-bit value being sized or written: one object reused
 * for every field, so a 64-bit value costs no allocation.
 */
const halves = { lo: 0, hi: 0 };

/** `halves` from a number, exactly as protobufjs's `LongBits.fromNumber` (negatives as two's complement). */
function setHalvesFromNumber(value: number): void {
  const negative = value < 0;
  const magnitude = negative ? -value : value;
  let lo = magnitude >>> 0;
  let hi = ((magnitude - lo) / TWO_POW_32) >>> 0;
  if (negative) {
    hi = ~hi >>> 0;
    lo = ~lo >>> 0;
    if (++lo > 0xffffffff) {
      lo = 0;
      if (++hi > 0xffffffff) hi = 0;
    }
  }
  halves.lo = lo;
  halves.hi = hi;
}

/**
 * Converts a bigint to its 64-bit two's complement without allocating: a store into a BigInt64Array
 * wraps to 64 bits, and the Uint32Array over the same memory reads the halves (6x faster than `>>`
 * and `BigInt.asUintN`, which make a bigint each).
 */
const int64Scratch = new BigInt64Array(1);
const int64ScratchHalves = new Uint32Array(int64Scratch.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LOW_HALF = LITTLE_ENDIAN ? 0 : 1;
const HIGH_HALF = LITTLE_ENDIAN ? 1 : 0;

/** `halves` from a bigint: the two's complement of its low 64 bits. */
function setHalvesFromBigInt(value: bigint): void {
  int64Scratch[0] = value;
  halves.lo = int64ScratchHalves[LOW_HALF]!;
  halves.hi = int64ScratchHalves[HIGH_HALF]!;
}

/** bytes of `halves` as a varint (1..10), as protobufjs's `LongBits.length` */
function varint64Size(): number {
  const { lo, hi } = halves;
  const part1 = ((lo >>> 28) | (hi << 4)) >>> 0;
  const part2 = hi >>> 24;
  if (part2 !== 0) return part2 < 128 ? 9 : 10;
  if (part1 !== 0) return part1 < 16384 ? (part1 < 128 ? 5 : 6) : part1 < 2097152 ? 7 : 8;
  return lo < 16384 ? (lo < 128 ? 1 : 2) : lo < 2097152 ? 3 : 4;
}

function writeVarint64(out: Buffer, pos: number): number {
  let { lo, hi } = halves;
  while (hi !== 0) {
    out[pos++] = (lo & 127) | 128;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  while (lo > 127) {
    out[pos++] = (lo & 127) | 128;
    lo >>>= 7;
  }
  out[pos++] = lo;
  return pos;
}

/** bytes of an unsigned 32-bit value as a varint (1..5) */
function varint32Size(value: number): number {
  return value < 128 ? 1 : value < 16384 ? 2 : value < 2097152 ? 3 : value < 268435456 ? 4 : 5;
}

function writeVarint32(out: Buffer, pos: number, value: number): number {
  while (value > 127) {
    out[pos++] = (value & 127) | 128;
    value >>>= 7;
  }
  out[pos++] = value;
  return pos;
}

/** UTF-8 length of a string, as protobufjs's `utf8.length` (a lone surrogate counts 3 bytes, as U+FFFD does) */
function utf8Length(s: string): number {
  if (s.length >= PROTOBUFJS_OWN_UTF8_BELOW) return Buffer.byteLength(s, 'utf8');
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if ((c & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      i++;
      n += 4;
    } else n += 3;
  }
  return n;
}

/** tag, length and bytes of a string field */
function stringSize(s: string): number {
  const n = utf8Length(s);
  return 1 + varint32Size(n) + n;
}

function writeString(out: Buffer, pos: number, tag: number, s: string): number {
  out[pos++] = tag;
  if (s.length >= PROTOBUFJS_OWN_UTF8_BELOW) {
    const n = Buffer.byteLength(s, 'utf8');
    pos = writeVarint32(out, pos, n);
    return pos + out.write(s, pos, n, 'utf8');
  }
  // below 40 UTF-16 units the UTF-8 is at most 117 bytes, so its length is one varint byte: write
  // the bytes first and the length after, in one pass over the string
  const lengthAt = pos++;
  // protobufjs's utf8.write: well-formed strings come out as UTF-8, a lone surrogate as its 3-byte form
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) out[pos++] = c;
    else if (c < 0x800) {
      out[pos++] = (c >> 6) | 0xc0;
      out[pos++] = (c & 63) | 0x80;
    } else if ((c & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      c = 0x10000 + ((c & 0x3ff) << 10) + (s.charCodeAt(++i) & 0x3ff);
      out[pos++] = (c >> 18) | 0xf0;
      out[pos++] = ((c >> 12) & 63) | 0x80;
      out[pos++] = ((c >> 6) & 63) | 0x80;
      out[pos++] = (c & 63) | 0x80;
    } else {
      out[pos++] = (c >> 12) | 0xe0;
      out[pos++] = ((c >> 6) & 63) | 0x80;
      out[pos++] = (c & 63) | 0x80;
    }
  }
  out[lengthAt] = pos - lengthAt - 1;
  return pos;
}

/** a string field of the record: left out when empty (the proto3 default) or missing */
function stringFieldSize(s: string | undefined): number {
  return s ? stringSize(s) : 0;
}

function writeStringField(out: Buffer, pos: number, tag: number, s: string | undefined): number {
  return s ? writeString(out, pos, tag, s) : pos;
}

/** tag, length and bytes of a bytes field */
function bytesFieldSize(bytes: Uint8Array): number {
  return 1 + varint32Size(bytes.length) + bytes.length;
}

function writeBytesField(out: Buffer, pos: number, tag: number, bytes: Uint8Array): number {
  out[pos] = tag;
  pos = writeVarint32(out, pos + 1, bytes.length);
  out.set(bytes, pos);
  return pos + bytes.length;
}

/** an int64 time field: left out when its 64 bits are all zero (0n, or missing) */
function timeFieldSize(ns: bigint | undefined): number {
  if (ns === undefined) return 0;
  setHalvesFromBigInt(ns);
  return halves.lo === 0 && halves.hi === 0 ? 0 : 1 + varint64Size();
}

function writeTimeField(out: Buffer, pos: number, tag: number, ns: bigint | undefined): number {
  if (ns === undefined) return pos;
  setHalvesFromBigInt(ns);
  if (halves.lo === 0 && halves.hi === 0) return pos;
  out[pos] = tag;
  return writeVarint64(out, pos + 1);
}

/** BlobRef's length: sha256 unless empty, size unless 0 */
function blobSize(blob: BlobRef): number {
  let n = stringFieldSize(blob.sha256);
  if (blob.size !== 0) {
    setHalvesFromNumber(blob.size);
    n += 1 + varint64Size();
  }
  return n;
}

/** `__proto__` is no attribute on the wire: it never reached the plain object the old code copied the map into. */
const DROPPED_KEY = '__proto__';

/** a map entry's length: key and value are always written, even when empty */
function attributeEntrySize(key: string, value: string): number {
  return stringSize(key) + stringSize(value);
}

/** The exact length of the record's encoding. */
export function encodedRecordSize(r: StoredRecord): number {
  let n = 0;
  if (r.seq !== 0) {
    setHalvesFromNumber(r.seq);
    n += 1 + varint64Size();
  }
  n += stringFieldSize(r.source) + stringFieldSize(r.signal);
  if (KIND_ENUM[r.kind] !== undefined) n += 2;
  n += timeFieldSize(r.sourceTimeNs) + timeFieldSize(r.receiveTimeNs);
  if (CLASS_ENUM[r.class] !== undefined) n += 2;
  n += stringFieldSize(r.contentType);
  if (r.body) n += bytesFieldSize(r.body);
  if (r.blob) {
    const blobLength = blobSize(r.blob);
    n += 1 + varint32Size(blobLength) + blobLength;
  }
  n += stringFieldSize(r.build);
  if (r.layer !== undefined) n += 1 + varint32Size(r.layer >>> 0);
  const attributes = r.attributes;
  if (attributes) {
    for (const key in attributes) {
      if (!Object.hasOwn(attributes, key) || key === DROPPED_KEY) continue;
      const entryLength = attributeEntrySize(key, String(attributes[key]));
      n += 1 + varint32Size(entryLength) + entryLength;
    }
  }
  return n;
}

/**
 * Writes the record into `out` from `offset` and returns the offset after it. The caller makes room:
 * `encodedRecordSize(r)` bytes; nothing outside them is touched.
 */
export function encodeRecordInto(r: StoredRecord, out: Buffer, offset: number): number {
  let pos = offset;
  if (r.seq !== 0) {
    out[pos++] = TAG_SEQ;
    setHalvesFromNumber(r.seq);
    pos = writeVarint64(out, pos);
  }
  pos = writeStringField(out, pos, TAG_SOURCE, r.source);
  pos = writeStringField(out, pos, TAG_SIGNAL, r.signal);
  const kind = KIND_ENUM[r.kind];
  if (kind !== undefined) {
    out[pos++] = TAG_KIND;
    out[pos++] = kind;
  }
  pos = writeTimeField(out, pos, TAG_SOURCE_TIME, r.sourceTimeNs);
  pos = writeTimeField(out, pos, TAG_RECEIVE_TIME, r.receiveTimeNs);
  const cls = CLASS_ENUM[r.class];
  if (cls !== undefined) {
    out[pos++] = TAG_CLASS;
    out[pos++] = cls;
  }
  pos = writeStringField(out, pos, TAG_CONTENT_TYPE, r.contentType);
  if (r.body) pos = writeBytesField(out, pos, TAG_BODY, r.body);
  if (r.blob) {
    out[pos++] = TAG_BLOB;
    pos = writeVarint32(out, pos, blobSize(r.blob));
    pos = writeStringField(out, pos, TAG_BLOB_SHA256, r.blob.sha256);
    if (r.blob.size !== 0) {
      out[pos++] = TAG_BLOB_SIZE;
      setHalvesFromNumber(r.blob.size);
      pos = writeVarint64(out, pos);
    }
  }
  pos = writeStringField(out, pos, TAG_BUILD, r.build);
  if (r.layer !== undefined) {
    out[pos++] = TAG_LAYER;
    pos = writeVarint32(out, pos, r.layer >>> 0);
  }
  const attributes = r.attributes;
  if (attributes) {
    for (const key in attributes) {
      if (!Object.hasOwn(attributes, key) || key === DROPPED_KEY) continue;
      const value = String(attributes[key]);
      out[pos++] = TAG_ATTRIBUTE;
      pos = writeVarint32(out, pos, attributeEntrySize(key, value));
      pos = writeString(out, pos, TAG_MAP_KEY, key);
      pos = writeString(out, pos, TAG_MAP_VALUE, value);
    }
  }
  return pos;
}

/** The record as one exactly sized Buffer. */
export function encodeRecordToBuffer(r: StoredRecord): Buffer {
  const out = Buffer.allocUnsafe(encodedRecordSize(r));
  const end = encodeRecordInto(r, out, 0);
  // allocUnsafe memory is reused: an unwritten tail would send whatever it held
  if (end !== out.length) throw new Error(`record encoder: sized ${out.length} bytes, wrote ${end}`);
  return out;
}

/** field 1 of `layergate.v1.RecordBatch`: `repeated Record records`, length-delimited */
const TAG_BATCH_RECORD = (1 << 3) | 2;

/** A `layergate.v1.RecordBatch` of records already encoded (e.g. by `encodeRecordToBuffer`), in their order. */
export function encodeRecordBatch(records: readonly Uint8Array[]): Buffer {
  let size = 0;
  for (const r of records) size += bytesFieldSize(r);
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const r of records) pos = writeBytesField(out, pos, TAG_BATCH_RECORD, r);
  return out;
}
