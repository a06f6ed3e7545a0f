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

// ---- gateway runtime (gateway/runtime, gateway/ingest) ---------------------------------
/** A configured plugin could not be created or started (its own error is the cause). */
export const PluginStartError = coded('LG_PLUGIN_START', 'PluginStartError');
/** The gateway is shutting down: an `emit` that was waiting for buffer room gave up (nothing stored). */
export const GatewayStoppingError = coded('LG_GATEWAY_STOPPING', 'GatewayStoppingError');

// ---- buffer ----------------------------------------------------------------------------------
/** The buffer is full and the record's class has the `block` policy: the input must wait. */
export const BufferFullError = coded('LG_BUFFER_FULL', 'BufferFullError');
/** A record names a sink the buffer does not know. */
export const UnknownSinkError = coded('LG_BUFFER_UNKNOWN_SINK', 'UnknownSinkError');
/** The SQLite file failed its integrity check; it was quarantined. */
export const BufferCorruptError = coded('LG_BUFFER_CORRUPT', 'BufferCorruptError');
/** A spooled blob a row refers to is missing or does not match its hash. */
export const BlobMissingError = coded('LG_BLOB_MISSING', 'BlobMissingError');
/** A record handed to the buffer is malformed (unknown class or kind, body not bytes, no receive time). */
export const InvalidRecordError = coded('LG_BUFFER_INVALID_RECORD', 'InvalidRecordError');

// ---- outputs ---------------------------------------------------------------------------------
/** A sink refused or failed a batch; the forwarder retries from the same cursor. */
export const SinkSendError = coded('LG_SINK_SEND', 'SinkSendError');
/** A send did not settle within the forwarder's send timeout; it counts as a failure and is retried. */
export const SinkTimeoutError = coded('LG_SINK_TIMEOUT', 'SinkTimeoutError');
/**
 * A sink refused records for a reason no retry can fix (authorisation, a record too large for the sink, a
 * bucket policy, a confidential record with no sealer configured). The forwarder keeps the refused records
 * under <dataDir>/quarantine/outputs/<sink>/ with the reason, counts them, logs at error and moves on instead
 * of retrying forever. `seqs` names the refused records when the sink took the rest of the batch (delivered
 * and acknowledged); without it the whole batch was refused. `reason` is a short kebab-case word for counting
 * (e.g. `not-authorized`, `too-large`, `no-sealer`).
 */
export class SinkPermanentError extends LayerGateError {
  static readonly code = 'LG_SINK_PERMANENT';
  readonly reason: string;
  readonly seqs?: readonly number[];
  constructor(reason: string, message: string, options?: { cause?: unknown; seqs?: readonly number[] }) {
    super('LG_SINK_PERMANENT', message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SinkPermanentError';
    this.reason = reason;
    if (options?.seqs) this.seqs = options.seqs;
  }
}
/** A record could not be written in its own table shape (bad scalar JSON, samples attributes); it was
 * stored in the lake's raw table instead and counted. */
export const LakeMalformedRecordError = coded('LG_LAKE_MALFORMED_RECORD', 'LakeMalformedRecordError');

// ---- inputs ----------------------------------------------------------------------------------
/** An input received something it cannot parse; the raw bytes are quarantined and counted. */
export const MalformedInputError = coded('LG_INPUT_MALFORMED', 'MalformedInputError');
/** OPC-UA: the server's certificate is not in the trust list (it was put in <pki>/rejected); the message names
 * its thumbprint and where to move it. */
export const OpcuaUntrustedServerError = coded('LG_OPCUA_UNTRUSTED_SERVER', 'OpcuaUntrustedServerError');
/** OPC-UA: a connect or disconnect did not finish in time; the input backs off and tries again. */
export const OpcuaTimeoutError = coded('LG_OPCUA_TIMEOUT', 'OpcuaTimeoutError');

// ---- inputs: mqtt (plugins/inputs/mqtt) -------------------------------------------------------
/** An MQTT message could not be turned into records (bad payload, unknown alias, oversized); it is quarantined. */
export const MqttPayloadError = coded('LG_MQTT_PAYLOAD', 'MqttPayloadError');

// ---- wire formats (wire/errors.ts) -----------------------------------------------------------------
// Raised by the codecs in wire/ (melt-pool blocks, records, Sparkplug B, the proto loader), which import
// nothing of ours and so have their own base class with the same `code` and `reason`; listed here so
// this catalog names every code the gateway can raise. The simulator's own codes are in simulator/errors.ts.
export { MeltPoolFormatError, ProtoNotFoundError, RecordFormatError, SparkplugFormatError, WireError } from '../../wire/errors.js';

// ---- demo ------------------------------------------------------------------------------------
/** The demo config lacks what the simulator needs (e.g. an explicit port). */
export const DemoConfigError = coded('LG_DEMO_CONFIG', 'DemoConfigError');
/** The demo's simulator did not come up; the message carries its log tail. */
export const DemoSimulatorError = coded('LG_DEMO_SIMULATOR', 'DemoSimulatorError');

// ---- cloud sync (plugins/outputs/cloud/sync, plugins/outputs/cloud) -------------------------------------------
/** An upload request failed or stalled (link down, store unreachable, rejected); the uploader backs off and resumes. */
export const SyncUploadError = coded('LG_SYNC_UPLOAD', 'SyncUploadError');
/** A sensitive or confidential record reached the cloud output; it was refused (counted, never queued or uploaded). */
export const SyncOffPremisesError = coded('LG_SYNC_OFF_PREMISES', 'SyncOffPremisesError');
/** The local sync store is full of data not yet in the cloud; the batch stays in the buffer and is offered again. */
export const SyncStoreFullError = coded('LG_SYNC_STORE_FULL', 'SyncStoreFullError');
/** After an upload, the cloud's copy does not match (size, ETag or SHA-256); the object is uploaded again. */
export const SyncIntegrityError = coded('LG_SYNC_INTEGRITY', 'SyncIntegrityError');
/** `layergate sync verify`: the build has no manifest yet, or the cloud does not match it. */
export const SyncVerifyError = coded('LG_SYNC_VERIFY', 'SyncVerifyError');

// ---- classification, routing policy, encryption at rest, audit (gateway/classify, crypto, audit) ---
/** The routing policy cannot be built: a rule names an unknown output, requires an output that cannot take
 * the records, or sends sensitive/confidential records to an off-premises output. Raised at load. */
export const RoutingPolicyError = coded('LG_ROUTING_POLICY', 'RoutingPolicyError');
/** A sensitive or confidential record was handed to the forwarder of an off-premises output; it was
 * refused (not sent), counted and audited, and the cursor moved past it. */
export const OffPremisesRefusedError = coded('LG_OFF_PREMISES_REFUSED', 'OffPremisesRefusedError');
/** No encryption key: the configured key file or variable is missing or empty. */
export const KeyMissingError = coded('LG_KEY_MISSING', 'KeyMissingError');
/** The key file is readable by others than its owner (must be mode 0600 or 0400). */
export const KeyPermissionsError = coded('LG_KEY_PERMISSIONS', 'KeyPermissionsError');
/** The key file or variable is malformed (line format, key id, key length). */
export const KeyInvalidError = coded('LG_KEY_INVALID', 'KeyInvalidError');
/** Sealed bytes name a key id the key ring does not have. */
export const KeyUnknownError = coded('LG_KEY_UNKNOWN', 'KeyUnknownError');
/** The key ring's key for an id is not the key that sealed data with that id (found at start by the key check). */
export const KeyWrongError = coded('LG_KEY_WRONG', 'KeyWrongError');
/** Sealed bytes failed authentication (altered, truncated, or sealed with another key of the same id). */
export const SealedDataError = coded('LG_SEALED_DATA', 'SealedDataError');
/** The audit log cannot be written (the event is also logged at error). */
export const AuditWriteError = coded('LG_AUDIT_WRITE', 'AuditWriteError');
