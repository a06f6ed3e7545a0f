/**
 * The record model, in one place. Every input produces `RecordInput`s; the buffer stores them and
 * hands `StoredRecord`s (with a sequence number) to the forwarders. The wire form is the protobuf
 * message `layergate.v1.Record` in proto/layergate/v1/record.proto; `encodeRecord`/`decodeRecord`
 * convert between the two so that Kafka payloads and the gRPC API share one schema.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import protobuf from 'protobufjs';

export const SENSITIVITY_CLASSES = ['public', 'internal', 'sensitive', 'confidential'] as const;
export type SensitivityClass = (typeof SENSITIVITY_CLASSES)[number];

/** Strictness order: a class may only ever be raised downstream, never lowered. */
export function classRank(c: SensitivityClass): number {
  return SENSITIVITY_CLASSES.indexOf(c);
}

/** Only these classes may leave the premises (cloud sync, any off-site sink). */
export function mayLeavePremises(c: SensitivityClass): boolean {
  return c === 'public' || c === 'internal';
}

export const RECORD_KINDS = ['samples', 'scalar', 'event', 'frame', 'document'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

export interface BlobRef {
  /** lowercase hex SHA-256 of the bytes */
  sha256: string;
  size: number;
}

/** What an input hands to the gateway: classified, routed, not yet stored. */
export interface RecordInput {
  source: string;
  signal: string;
  kind: RecordKind;
  /** source timestamp, ns since the Unix epoch; undefined when the source gives none */
  sourceTimeNs?: bigint;
  /** gateway receive time, ns since the Unix epoch */
  receiveTimeNs: bigint;
  class: SensitivityClass;
  contentType: string;
  body: Buffer;
  build?: string;
  layer?: number;
  attributes?: Record<string, string>;
  /** names of the sinks this record must reach; a record with no routes is stored and counted only */
  routes: string[];
}

/** A record as the buffer returns it. Exactly one of body / blob is set. */
export interface StoredRecord extends Omit<RecordInput, 'body'> {
  seq: number;
  body?: Buffer;
  blob?: BlobRef;
}

export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
}

// ---- wire form -------------------------------------------------------------------------------

const here = path.dirname(fileURLToPath(import.meta.url));
/** proto/ from the source tree (gateway/) or from the build output (dist/gateway/) */
export const PROTO_DIR = [path.resolve(here, '../../proto'), path.resolve(here, '../../../proto')].find((p) =>
  existsSync(path.join(p, 'layergate/v1/record.proto')),
)!;

let root: protobuf.Root | undefined;
/** The loaded proto/ schemas (layergate.v1.*), shared by the gRPC API and the Kafka payloads. */
export function protoRoot(): protobuf.Root {
  root ??= protobuf.loadSync(path.join(PROTO_DIR, 'layergate/v1/record.proto'));
  return root;
}
let recordTypeCache: protobuf.Type | undefined;
/** looked up once: `lookupType` resolves the dotted path through the namespace tree on every call */
function recordType(): protobuf.Type {
  recordTypeCache ??= protoRoot().lookupType('layergate.v1.Record');
  return recordTypeCache;
}

const CLASS_ENUM: Record<SensitivityClass, number> = { public: 1, internal: 2, sensitive: 3, confidential: 4 };
const KIND_ENUM: Record<RecordKind, number> = { samples: 1, scalar: 2, event: 3, frame: 4, document: 5 };

/**
 * Encode a stored record as a `layergate.v1.Record` protobuf message. The message is handed to the
 * type's encoder as a plain object already in wire shape (enum numbers, int64 as decimal strings, a
 * fresh attributes map, int64 zeros left out), not built with `fromObject`: the same bytes, without a
 * message instance and Long objects per record on the forwarding hot path (Kafka payloads).
 */
export function encodeRecord(r: StoredRecord): Uint8Array {
  const msg: Record<string, unknown> = {
    seq: r.seq,
    source: r.source,
    signal: r.signal,
    kind: KIND_ENUM[r.kind],
    class: CLASS_ENUM[r.class],
    contentType: r.contentType,
    build: r.build ?? '',
    attributes: attributeMap(r.attributes),
  };
  // int64 zero is the proto3 default and not written; as a string it would be (the encoder compares with 0)
  if (r.sourceTimeNs !== undefined && r.sourceTimeNs !== 0n) msg.sourceTimeNs = r.sourceTimeNs.toString();
  if (r.receiveTimeNs !== 0n) msg.receiveTimeNs = r.receiveTimeNs.toString();
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

/** Decode a `layergate.v1.Record` message. Throws on malformed bytes or unknown enum values. */
export function decodeRecord(bytes: Uint8Array): StoredRecord {
  const T = recordType();
  const o = T.toObject(T.decode(bytes), { longs: String, bytes: Buffer, defaults: true }) as {
    seq: string; source: string; signal: string; kind: number; sourceTimeNs: string; receiveTimeNs: string;
    class: number; contentType: string; body?: Buffer; blob?: { sha256: string; size: string };
    build: string; layer?: number; attributes: Record<string, string>;
  };
  const cls = SENSITIVITY_CLASSES[o.class - 1];
  const kind = RECORD_KINDS[o.kind - 1];
  if (!cls) throw new Error(`layergate.v1.Record.class: expected 1..4, got ${o.class}`);
  if (!kind) throw new Error(`layergate.v1.Record.kind: expected 1..5, got ${o.kind}`);
  const sourceTimeNs = BigInt(o.sourceTimeNs);
  const out: StoredRecord = {
    seq: Number(o.seq),
    source: o.source,
    signal: o.signal,
    kind,
    receiveTimeNs: BigInt(o.receiveTimeNs),
    class: cls,
    contentType: o.contentType,
    routes: [],
    attributes: o.attributes,
  };
  if (sourceTimeNs !== 0n) out.sourceTimeNs = sourceTimeNs;
  if (o.blob && o.blob.sha256) out.blob = { sha256: o.blob.sha256, size: Number(o.blob.size) };
  else out.body = o.body ?? Buffer.alloc(0);
  if (o.build) out.build = o.build;
  if (o.layer !== undefined && o.layer !== null) out.layer = o.layer;
  return out;
}

// ---- body encodings --------------------------------------------------------------------------
// Inputs normalise what they receive into one of these so that outputs (the file lake's columns,
// Kafka consumers) need to know only three shapes. Anything else is carried as opaque bytes.

export const CONTENT_TYPES = {
  /** one process value: JSON `{"v": number | string | boolean, "unit"?: string, "quality"?: string}` */
  scalar: 'application/vnd.layergate.scalar+json',
  /**
   * a block of samples: interleaved float32 little-endian, one frame of `channels` values per sample.
   * attributes: `channels` (comma-separated names), `sample_rate_hz`, `first_sample` (index of the
   * block's first sample since the start of the layer or stream).
   */
  samplesF32: 'application/vnd.layergate.samples+f32le',
  /** an event: JSON object with at least `{"type": string}` */
  event: 'application/vnd.layergate.event+json',
} as const;

export interface ScalarBody {
  v: number | string | boolean;
  unit?: string;
  quality?: string;
}
