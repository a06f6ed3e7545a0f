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

// ---- gateway runtime (gateway/gateway.ts, gateway/pipeline.ts) ---------------------------------
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

// ---- simulator (simulator/) --------------------------------------------------------------------
/** A melt-pool block (JSON, binary or protobuf) does not decode; the message names the field or offset. */
export const MeltPoolFormatError = coded('LG_SIM_BLOCK_MALFORMED', 'MeltPoolFormatError');
/** The simulator's CLI flags or control API got an unknown fault/defect, a bad parameter or a bad request body. */
export const SimulatorRequestError = coded('LG_SIM_BAD_REQUEST', 'SimulatorRequestError');

// ---- demo ------------------------------------------------------------------------------------
/** The demo config lacks what the simulator needs (e.g. an explicit port). */
export const DemoConfigError = coded('LG_DEMO_CONFIG', 'DemoConfigError');
/** The demo's simulator did not come up; the message carries its log tail. */
export const DemoSimulatorError = coded('LG_DEMO_SIMULATOR', 'DemoSimulatorError');
