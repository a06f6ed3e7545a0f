/**
 * The record codec: a `StoredRecord` to and from the protobuf message `layergate.v1.Record`, the
 * payload of every Kafka message LayerGate writes, the cloud output's staged records and the gRPC
 * API's record type.
 *
 * Constraints:
 * - Encoding is on the forwarding hot path: it goes through the hand-written encoder in
 *   record-encoder.ts, which writes the bytes protobufjs wrote for the same record without a
 *   message object, a Writer or int64 objects per record.
 * - Decoding stays with protobufjs. It refuses enum values the schema does not have, and bytes
 *   that are not a Record, with a RecordFormatError.
 */
import { RecordFormatError } from './errors.js';
import { protoTypeGetter } from './proto.js';
import { RECORD_KINDS, SENSITIVITY_CLASSES, type StoredRecord } from './record.js';
import { CLASS_ENUM, KIND_ENUM, encodeRecordToBuffer } from './record-encoder.js';

export { encodeRecordBatch } from './record-encoder.js';

/** the proto enum numbers of the classes and kinds */
export { CLASS_ENUM, KIND_ENUM };

const recordType = protoTypeGetter('layergate.v1.Record');

/** Encode a stored record as a `layergate.v1.Record` protobuf message (one exactly sized Buffer). */
export function encodeRecord(r: StoredRecord): Uint8Array {
  return encodeRecordToBuffer(r);
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
