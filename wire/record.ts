/**
 * The record model: what every input produces (`RecordInput`), what the buffer stores and hands to
 * the forwarders (`StoredRecord`, with a sequence number), and the class, kind and access-pattern
 * vocabularies. The wire form is `layergate.v1.Record` (proto/layergate/v1/record.proto; codec in
 * record-codec.ts).
 *
 * Constraint: the const lists are in the order of the proto enums (index + 1 = enum number), and the
 * class list is in strictness order; the gateway's policy helpers rely on both.
 */

/** Sensitivity as a plant sees it, least strict first. Only public and internal may leave the premises. */
export const SENSITIVITY_CLASSES = ['public', 'internal', 'sensitive', 'confidential'] as const;
export type SensitivityClass = (typeof SENSITIVITY_CLASSES)[number];

export const RECORD_KINDS = ['samples', 'scalar', 'event', 'frame', 'document'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

/**
 * How the data of a record will be read (`layergate.v1.AccessPattern`): routing rules may match it
 * (`accessPatterns`). Optional: a record carries one in its `ACCESS_PATTERN_ATTRIBUTE` attribute or
 * none; an attribute value outside this list is refused at ingest, never routed as if absent.
 */
export const ACCESS_PATTERNS = ['realtime', 'batch', 'ml_training', 'research', 'archive'] as const;
export type AccessPattern = (typeof ACCESS_PATTERNS)[number];

/** the record attribute (`attributes`) that carries its access pattern */
export const ACCESS_PATTERN_ATTRIBUTE = 'access_pattern';

export function isAccessPattern(v: unknown): v is AccessPattern {
  return typeof v === 'string' && (ACCESS_PATTERNS as readonly string[]).includes(v);
}

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
