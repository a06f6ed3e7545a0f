/**
 * The record model as plugins see it: the shape, vocabularies, codec and body content types from
 * wire/ (re-exported, so plugins and the core keep one import), plus the gateway's own helpers:
 * the class policy (strictness order, what may leave the premises) and the receive clock.
 *
 * Every input produces `RecordInput`s; the buffer stores them and hands `StoredRecord`s (with a
 * sequence number) to the forwarders; `encodeRecord`/`decodeRecord` convert to and from the wire
 * form `layergate.v1.Record` so that Kafka payloads and the gRPC API share one schema.
 */
import { SENSITIVITY_CLASSES, type SensitivityClass } from '../../wire/record.js';

export { ACCESS_PATTERNS, ACCESS_PATTERN_ATTRIBUTE, RECORD_KINDS, SENSITIVITY_CLASSES, isAccessPattern } from '../../wire/record.js';
export type { AccessPattern, BlobRef, RecordInput, RecordKind, SensitivityClass, StoredRecord } from '../../wire/record.js';
export { decodeRecord, encodeRecord } from '../../wire/record-codec.js';
export { PROTO_DIR, protoRoot } from '../../wire/proto.js';
export { CONTENT_TYPES } from '../../wire/content-types.js';
export type { ScalarBody } from '../../wire/content-types.js';
export {
  DATETIME_MAX,
  DATETIME_MIN,
  SCALAR_TYPES,
  ValueFormatError,
  checkValue,
  datetimeText,
  elementType,
  encodeScalarBody,
  exactNumber,
  isIntegerType,
  isUnsignedType,
  isValueType,
  parseDatetime,
  parseScalarBody,
  scalarBodyText,
  valueFromJson,
  valueJson,
} from '../../wire/scalar-value.js';
export type { ParsedScalarBody, ScalarType, ScalarValue, TypedValue, ValueType } from '../../wire/scalar-value.js';

/** Strictness order: a class may only ever be raised downstream, never lowered. */
export function classRank(c: SensitivityClass): number {
  return SENSITIVITY_CLASSES.indexOf(c);
}

/** Only these classes may leave the premises (cloud sync, any off-site sink). */
export function mayLeavePremises(c: SensitivityClass): boolean {
  return c === 'public' || c === 'internal';
}

export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
}
