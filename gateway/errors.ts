/**
 * One catalog of coded errors. Every error LayerGate raises on purpose has a stable code here, so
 * logs, the CLI, metrics and the APIs can name it, and tests can assert on it. Messages name what
 * was wrong and where (config path, source, signal, seq); they never carry secrets.
 *
 * Add new codes in the section of the subsystem that raises them.
 */
export class LayerGateError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'LayerGateError';
  }
}

function coded(code: string, name: string) {
  return class extends LayerGateError {
    static readonly code = code;
    constructor(message: string, options?: { cause?: unknown }) {
      super(code, message, options);
      this.name = name;
    }
  };
}

// ---- config ----------------------------------------------------------------------------------
/** The config file is missing, unreadable, not YAML, or does not match the schema. */
export const ConfigError = coded('LG_CONFIG_INVALID', 'ConfigError');

// ---- buffer ----------------------------------------------------------------------------------
/** The buffer is full and the record's class has the `block` policy: the input must wait. */
export const BufferFullError = coded('LG_BUFFER_FULL', 'BufferFullError');
/** A record names a sink the buffer does not know. */
export const UnknownSinkError = coded('LG_BUFFER_UNKNOWN_SINK', 'UnknownSinkError');
/** The SQLite file failed its integrity check; it was quarantined. */
export const BufferCorruptError = coded('LG_BUFFER_CORRUPT', 'BufferCorruptError');
/** A spooled blob a row refers to is missing or does not match its hash. */
export const BlobMissingError = coded('LG_BLOB_MISSING', 'BlobMissingError');

// ---- outputs ---------------------------------------------------------------------------------
/** A sink refused or failed a batch; the forwarder retries from the same cursor. */
export const SinkSendError = coded('LG_SINK_SEND', 'SinkSendError');

// ---- inputs ----------------------------------------------------------------------------------
/** An input received something it cannot parse; the raw bytes are quarantined and counted. */
export const MalformedInputError = coded('LG_INPUT_MALFORMED', 'MalformedInputError');
