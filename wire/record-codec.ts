/**
 * The record codec: a `StoredRecord` to and from the protobuf message `layergate.v1.Record`, the
 * payload of every Kafka message LayerGate writes, the cloud output's staged records and the gRPC
 * API's record type.
 *
 * Constraints:
 * - Encoding is on the forwarding hot path: the message goes to the type's encoder as a plain object
 *   already in wire shape (enum numbers, int64 as decimal strings, a fresh attributes map, int64
 *   zeros left out), not built with `fromObject`: the same bytes, without a message instance and
 *   Long objects per record.
 * - Decoding refuses enum values the schema does not have, and bytes that are not a Record, with a
 *   RecordFormatError.
 */
import type { layergate } from './generated/proto.js';
import { RecordFormatError } from './errors.js';
import { protoTypeGetter } from './proto.js';
import { RECORD_KINDS, SENSITIVITY_CLASSES, type RecordKind, type SensitivityClass, type StoredRecord } from './record.js';

/** An int64 as its two 32-bit halves: what the protobuf writer takes without parsing a string. */
interface Int64Bits {
  low: number;
  high: number;
  unsigned: boolean;
}

/**
 * What `encodeRecord` hands the encoder: the generated message properties, with the int64 times as
 * their halves (a number would lose ns precision).
 */
type EncodableRecord = Omit<layergate.v1.Record.$Properties, 'sourceTimeNs' | 'receiveTimeNs'> & { sourceTimeNs?: Int64Bits; receiveTimeNs?: Int64Bits };

const MASK_32 = 0xffffffffn;

/** A signed int64 as two's-complement halves (a string cost a parse per field per record). */
function int64Bits(v: bigint): Int64Bits {
  return { low: Number(v & MASK_32) | 0, high: Number((v >> 32n) & MASK_32) | 0, unsigned: false };
}

/** the proto enum numbers of the classes and kinds */
export const CLASS_ENUM: Readonly<Record<SensitivityClass, layergate.v1.SensitivityClass>> = { public: 1, internal: 2, sensitive: 3, confidential: 4 };
export const KIND_ENUM: Readonly<Record<RecordKind, layergate.v1.RecordKind>> = { samples: 1, scalar: 2, event: 3, frame: 4, document: 5 };

const recordType = protoTypeGetter('layergate.v1.Record');

/** Encode a stored record as a `layergate.v1.Record` protobuf message. */
export function encodeRecord(r: StoredRecord): Uint8Array {
  const msg: EncodableRecord = {
    seq: r.seq,
    source: r.source,
    signal: r.signal,
    kind: KIND_ENUM[r.kind],
    class: CLASS_ENUM[r.class],
    contentType: r.contentType,
    build: r.build ?? '',
    attributes: attributeMap(r.attributes),
  };
  // int64 zero is the proto3 default and not written; as an object it would be (the encoder compares with 0)
  if (r.sourceTimeNs !== undefined && r.sourceTimeNs !== 0n) msg.sourceTimeNs = int64Bits(r.sourceTimeNs);
  if (r.receiveTimeNs !== 0n) msg.receiveTimeNs = int64Bits(r.receiveTimeNs);
  if (r.body) msg.body = r.body;
  if (r.blob) msg.blob = { sha256: r.blob.sha256, size: r.blob.size };
  if (r.layer !== undefined) msg.layer = r.layer >>> 0;
  return recordType().encode(msg).finish();
}

/** map<string, string> values as the wire needs them (strings), like `fromObject` converts them */
function attributeMap(a: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (a) for (const k of Object.keys(a)) out[k] = String(a[k]);
  return out;
}

/** An int64/uint64 field as the protobuf reader hands it out: a Long (the `long` package is present). */
interface LongBits {
  low: number;
  high: number;
  unsigned: boolean;
}

/** The decoded message as the reader builds it: set fields as own properties, defaults on the prototype. */
interface DecodedRecord {
  seq: LongBits | number;
  source: string;
  signal: string;
  kind: number;
  sourceTimeNs: LongBits | number;
  receiveTimeNs: LongBits | number;
  class: number;
  contentType: string;
  payload?: 'body' | 'blob';
  body?: Uint8Array | null;
  blob?: { sha256: string; size: LongBits | number } | null;
  build: string;
  layer?: number | null;
  attributes: Record<string, string>;
}

function bigOf(v: LongBits | number): bigint {
  if (typeof v === 'number') return BigInt(v);
  const bits = (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
  return v.unsigned ? bits : BigInt.asIntN(64, bits);
}

function numberOf(v: LongBits | number): number {
  return typeof v === 'number' ? v : v.high === 0 && v.low >= 0 ? v.low : Number(bigOf(v));
}

/**
 * Decode a `layergate.v1.Record` message. Throws a RecordFormatError on malformed bytes or unknown enum
 * values. Reads the decoded message's fields directly: converting it with `toObject` (and int64s through
 * decimal strings) was most of the cost of decoding.
 */
export function decodeRecord(bytes: Uint8Array): StoredRecord {
  const T = recordType();
  let m: DecodedRecord;
  try {
    m = T.decode(bytes) as unknown as DecodedRecord;
  } catch (err) {
    throw new RecordFormatError('malformed', (err as Error).message, { cause: err });
  }
  const cls = SENSITIVITY_CLASSES[m.class - 1];
  const kind = RECORD_KINDS[m.kind - 1];
  if (!cls) throw new RecordFormatError('unknown-enum', `layergate.v1.Record.class: expected 1..4, got ${m.class}`);
  if (!kind) throw new RecordFormatError('unknown-enum', `layergate.v1.Record.kind: expected 1..5, got ${m.kind}`);
  const sourceTimeNs = bigOf(m.sourceTimeNs);
  const out: StoredRecord = {
    seq: numberOf(m.seq),
    source: m.source,
    signal: m.signal,
    kind,
    receiveTimeNs: bigOf(m.receiveTimeNs),
    class: cls,
    contentType: m.contentType,
    routes: [],
    attributes: { ...m.attributes },
  };
  if (sourceTimeNs !== 0n) out.sourceTimeNs = sourceTimeNs;
  if (m.payload === 'blob' && m.blob?.sha256) out.blob = { sha256: m.blob.sha256, size: numberOf(m.blob.size) };
  else out.body = m.body ? (Buffer.isBuffer(m.body) ? m.body : Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength)) : Buffer.alloc(0);
  if (m.build) out.build = m.build;
  if (m.layer !== undefined && m.layer !== null) out.layer = m.layer;
  return out;
}
