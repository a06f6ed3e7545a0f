/**
 * The wire package's coded errors: what fails to decode or encode on the wire, and a missing proto/.
 * Each carries a stable `code` (logs and tests match on it) and a typed `reason`, one short
 * kebab-case word an input can count or quarantine by without parsing the message.
 *
 * Constraints: wire/ imports nothing of ours, so these do not extend the gateway's LayerGateError;
 * they have the same shape (`code`, `reason`, `cause`) so the gateway treats them alike. Codes of
 * errors that moved here keep their strings (LG_SIM_BLOCK_MALFORMED predates this package).
 */

/** Why a wire operation failed, as the word an input counts it by. */
export type WireErrorReason =
  /** the bytes do not decode as the format (truncated, bad magic, wrong type, bad length) */
  | 'malformed'
  /** a value does not fit the format (a name or id longer than its length field allows) */
  | 'too-large'
  /** a decoded enum value is outside the schema's range */
  | 'unknown-enum'
  /** proto/ is not where the package looks for it */
  | 'proto-not-found';

export class WireError<R extends WireErrorReason = WireErrorReason> extends Error {
  readonly code: string;
  readonly reason: R;
  constructor(code: string, reason: R, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.reason = reason;
    this.name = 'WireError';
  }
}

/** A melt-pool block (JSON, binary or protobuf) does not decode or encode; the message names the field or offset. */
export class MeltPoolFormatError extends WireError<'malformed' | 'too-large'> {
  static readonly code = 'LG_SIM_BLOCK_MALFORMED';
  constructor(reason: 'malformed' | 'too-large', message: string, options?: { cause?: unknown }) {
    super(MeltPoolFormatError.code, reason, message, options);
    this.name = 'MeltPoolFormatError';
  }
}

/** A `layergate.v1.Record` message does not decode (bad bytes, an enum value the schema does not have). */
export class RecordFormatError extends WireError<'malformed' | 'unknown-enum'> {
  static readonly code = 'LG_WIRE_RECORD_MALFORMED';
  constructor(reason: 'malformed' | 'unknown-enum', message: string, options?: { cause?: unknown }) {
    super(RecordFormatError.code, reason, message, options);
    this.name = 'RecordFormatError';
  }
}

/** A Sparkplug B payload does not decode. */
export class SparkplugFormatError extends WireError<'malformed'> {
  static readonly code = 'LG_WIRE_SPARKPLUG_MALFORMED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(SparkplugFormatError.code, 'malformed', message, options);
    this.name = 'SparkplugFormatError';
  }
}

/** proto/ was found neither next to the source tree nor next to the build output. */
export class ProtoNotFoundError extends WireError<'proto-not-found'> {
  static readonly code = 'LG_WIRE_PROTO_NOT_FOUND';
  constructor(message: string) {
    super(ProtoNotFoundError.code, 'proto-not-found', message);
    this.name = 'ProtoNotFoundError';
  }
}
