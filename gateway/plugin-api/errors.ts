/**
 * One catalog of coded errors. Every error LayerGate raises on purpose has a stable code here, so
 * logs, the CLI, metrics and the APIs can name it, and tests can assert on it. Messages name what
 * was wrong and where (config path, source, signal, seq); they never carry secrets.
 *
 * Design constraints:
 * - One code per refusal: a code names one kind of failure, so an operator can look it up and act.
 *   A new kind of failure gets its own entry, even when an existing class would fit the message.
 * - Every entry says what it means and what to do (`meaning`, `action`); docs/errors.md is generated
 *   from them (`npm run docs:errors`) and a test fails when it is stale.
 * - Why an error happened, for counting (quarantine per reason, a sink's errors per kind), is the
 *   typed `reason` option: a short kebab-case word, never parsed out of the message.
 *
 * Add new codes in the section of the subsystem that raises them.
 */

/** What the catalog tells an operator about a code. */
export interface ErrorDoc {
  /** what happened, in the operator's words */
  meaning: string;
  /** what to do about it */
  action: string;
}

export interface CatalogEntry extends Partial<ErrorDoc> {
  code: string;
  /** the class name (`err.name`) */
  name: string;
}

export interface LayerGateErrorOptions {
  cause?: unknown;
  /**
   * Why, as one short kebab-case word that failures are counted under (`corrupt`, `too-large`,
   * `not-authorized`, ...). Without it they are counted under the code.
   */
  reason?: string;
}

export class LayerGateError extends Error {
  readonly code: string;
  declare readonly reason?: string;
  constructor(code: string, message: string, options?: LayerGateErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = 'LayerGateError';
    if (options?.reason !== undefined) (this as { reason?: string }).reason = options.reason;
  }
}

const catalog = new Map<string, CatalogEntry>();

/** Enter a code into the catalog; a code belongs to one class only. */
function register(code: string, name: string, doc?: ErrorDoc): void {
  const other = catalog.get(code);
  if (other) throw new Error(`error catalog: code ${code} is declared twice (${other.name}, ${name})`);
  catalog.set(code, { code, name, ...doc });
}

/** Every entry of the catalog, in declaration order (the order of docs/errors.md). */
export function errorCatalog(): CatalogEntry[] {
  return [...catalog.values()].map((e) => ({ ...e }));
}

function coded(code: string, name: string, doc?: ErrorDoc) {
  register(code, name, doc);
  return class extends LayerGateError {
    static readonly code = code;
    constructor(message: string, options?: LayerGateErrorOptions) {
      super(code, message, options);
      this.name = name;
    }
  };
}

// ---- config ----------------------------------------------------------------------------------
export const ConfigError = coded('LG_CONFIG_INVALID', 'ConfigError', {
  meaning:
    'The config file is missing, unreadable, not YAML, or does not match the schema (an unknown key, a wrong type, a missing required key, an environment variable that is not set, a routing policy that does not hold). The message lists every problem, one per line, each with its path.',
  action:
    "Fix each listed line in the config file (the README's configuration reference, or `layergate config schema`, lists every key), then run `layergate check-config FILE` until it prints OK.",
});

// ---- gateway runtime (gateway/runtime, gateway/ingest) ---------------------------------
export const PluginStartError = coded('LG_PLUGIN_START', 'PluginStartError', {
  meaning:
    'A configured input or output plugin could not be created or started; its own error is the cause (a server not reachable, a folder not writable, a bad certificate).',
  action: "Read the cause in the message and the log line before it; fix the plugin's settings or the system it connects to, then start the gateway again.",
});
export const GatewayStoppingError = coded('LG_GATEWAY_STOPPING', 'GatewayStoppingError', {
  meaning: 'The gateway is shutting down: an `emit` that was waiting for buffer room gave up; nothing of it was stored.',
  action:
    'Nothing, during a shutdown. An input that acknowledges its source only after the commit (MQTT QoS 1/2, the frames drop folder) delivers the data again after the restart.',
});

// ---- buffer ----------------------------------------------------------------------------------
export const BufferFullError = coded('LG_BUFFER_FULL', 'BufferFullError', {
  meaning:
    "The buffer is full and the record's class has the `block` policy (or the rest of the buffer holds undelivered records of block-policy classes): the input must wait for room.",
  action:
    'Find the sink that is not delivering (`layergate buffer stats`: lag per sink) and fix it; or raise `buffer.maxBytes`, or choose `drop-oldest` for the class (`buffer.fullPolicy`).',
});
export const UnknownSinkError = coded('LG_BUFFER_UNKNOWN_SINK', 'UnknownSinkError', {
  meaning: 'A record was routed to, or a cursor asked for, a sink the buffer does not know (not a configured output).',
  action: 'Check the output names in the config and in `routing.rules`; a programming error when raised with a valid config: report it with the message.',
});
export const BufferSinkListedError = coded('LG_BUFFER_SINK_LISTED', 'BufferSinkListedError', {
  meaning:
    'A buffer sink was asked to be dropped (its undelivered records written off to the loss ledger) while it is still a configured output; only a sink removed from the configuration can be dropped.',
  action: 'Remove the output from the configuration and reload first, or leave the sink: a configured output receives its backlog once it delivers again.',
});
export const BufferCorruptError = coded('LG_BUFFER_CORRUPT', 'BufferCorruptError', {
  meaning: "The buffer's SQLite file failed its integrity check; it was moved aside (quarantined) and a new buffer was started.",
  action: 'Check the disk (`dmesg`, SMART) and free space; keep the quarantined file for analysis.',
});
export const BlobMissingError = coded('LG_BLOB_MISSING', 'BlobMissingError', {
  meaning: 'A spooled body a buffer row refers to is missing, or its bytes do not match the size or hash the row records.',
  action:
    'Run `layergate buffer check`: it drops the rows into the loss ledger. Find out what removed or changed files under <dataDir>/buffer/spool (cleanup jobs, disk errors).',
});
export const InvalidRecordError = coded('LG_BUFFER_INVALID_RECORD', 'InvalidRecordError', {
  meaning: 'A record handed to the buffer is malformed (unknown class or kind, body not bytes, no receive time, routes not a list of sinks).',
  action: 'A programming error in the input that made the record: report it with the message (source and signal are named).',
});

// ---- outputs ---------------------------------------------------------------------------------
export const SinkSendError = coded('LG_SINK_SEND', 'SinkSendError', {
  meaning:
    'A sink refused or failed a batch for a reason a retry may fix (connection, timeout, leader change, a full store); the forwarder retries from the same cursor with back-off. Counted per reason (`errorsByKind`).',
  action: "Usually nothing: delivery resumes when the sink is back. If it lasts, check the sink's server and the network, and the reason in the log.",
});
export const SinkTimeoutError = coded('LG_SINK_TIMEOUT', 'SinkTimeoutError', {
  meaning:
    "A send did not settle within the forwarder's send timeout; it counts as a failure and is retried (a hanging sink: the forwarder waits before sending more). Not raised for an output whose send is bounded local work (the file lake): its sends are awaited, however long they take.",
  action: "Check the sink's server and the network; a sink that is slow but sound needs larger timeouts in its own settings.",
});
/**
 * A sink refused records on their own merit, for a reason no retry can fix (a record too large for the
 * sink, an invalid record, a policy, a confidential record with no sealer configured). A refusal of the
 * sink's configuration (credentials, permissions, a missing bucket or topic) is a `SinkConfigError`. The forwarder keeps the refused records
 * under <dataDir>/quarantine/outputs/<sink>/ with the reason, counts them, logs at error and moves on instead
 * of retrying forever. `seqs` names the refused records when the sink took the rest of the batch (delivered
 * and acknowledged); without it the whole batch was refused. `reason` is a short kebab-case word for counting
 * (e.g. `not-authorized`, `too-large`, `no-sealer`).
 */
export class SinkPermanentError extends LayerGateError {
  static readonly code = 'LG_SINK_PERMANENT';
  declare readonly reason: string;
  readonly seqs?: readonly number[];
  constructor(reason: string, message: string, options?: { cause?: unknown; seqs?: readonly number[] }) {
    super('LG_SINK_PERMANENT', message, { ...(options?.cause === undefined ? {} : { cause: options.cause }), reason });
    this.name = 'SinkPermanentError';
    if (options?.seqs) this.seqs = options.seqs;
  }
}
register(SinkPermanentError.code, 'SinkPermanentError', {
  meaning:
    "A sink refused records on their own merit, for a reason no retry can fix (a record too large for the sink, an invalid record, a policy, a confidential record and no encryption key); a refusal of the sink's configuration (credentials, permissions) is LG_SINK_CONFIG instead. The records were kept under <dataDir>/quarantine/outputs/<sink>/ with the reason, counted, and the forwarder moved on.",
  action:
    "Fix the cause named by the reason (the sink's size limits, an encryption key, the producer of invalid records); the refused records and their sidecars stay in the quarantine folder for inspection.",
});
/**
 * A sink refuses everything for a reason that is its configuration, not the records: wrong credentials,
 * no permission, a bucket or topic that does not exist and is not created. Quarantining the records would
 * divert all data because of a typo in a password, so the forwarder keeps them in the buffer (lag grows,
 * `buffer stats` tells the truth), retries with its capped backoff, and logs at error with the reason and
 * `action` (what to fix), at most once per `failureLogIntervalMs`, until the sink takes records again.
 */
export class SinkConfigError extends LayerGateError {
  static readonly code = 'LG_SINK_CONFIG';
  declare readonly reason: string;
  /** what the operator should fix, in their words (logged with the error and shown in the forwarder's stats) */
  readonly action: string;
  constructor(reason: string, message: string, action: string, options?: { cause?: unknown }) {
    super('LG_SINK_CONFIG', message, { ...(options?.cause === undefined ? {} : { cause: options.cause }), reason });
    this.name = 'SinkConfigError';
    this.action = action;
  }
}
register(SinkConfigError.code, 'SinkConfigError', {
  meaning:
    'A sink refuses every record because of its configuration (authentication, authorisation, a missing bucket or topic that is not created). The records stay in the buffer: the forwarder retries with backoff (capped by `backoff.maxMs`), shows the sink failing (`state: backing-off`, `configFailure` in its stats, `layergate_sink_config_failing`), and logs at error with the reason and what to fix, at most once a minute. Nothing is quarantined.',
  action:
    "Fix the sink's settings named in the log (user, password or secret key, the user's permissions, the bucket or topic, or let the output create it) and restart or reload the gateway; the backlog is then delivered.",
});
export const LakeMalformedRecordError = coded('LG_LAKE_MALFORMED_RECORD', 'LakeMalformedRecordError', {
  meaning:
    'A record could not be written in its own table shape (a scalar body that is not JSON with a "v", samples attributes that do not fit the body); it was stored in the lake\'s raw table instead and counted.',
  action: 'Nothing is lost. Fix the input or decoder that made the record (source and signal are in the raw table), so later records land in their own table.',
});

export const ConfigApplyError = coded('LG_CONFIG_APPLY_FAILED', 'ConfigApplyError', {
  meaning:
    'A configuration applied to the running gateway (the API, SIGHUP) was not applied: it changes a key that only a restart can change (the message names each), its policy does not hold, or an input or output it adds or changes could not start. The gateway runs on with the configuration it had, every plugin as before.',
  action:
    'Fix what the message names and apply again; for keys outside inputs, outputs, classification and routing, edit the file and restart the gateway (`systemctl restart layergate`).',
});

// ---- inputs ----------------------------------------------------------------------------------
export const MalformedInputError = coded('LG_INPUT_MALFORMED', 'MalformedInputError', {
  meaning:
    'An input received something it cannot parse (a corrupt frame, an OPC-UA structure the server does not describe, a bad payload); the raw bytes were quarantined under <dataDir>/quarantine/inputs/<input>/ and counted per reason.',
  action:
    "Look at the quarantined item and its sidecar (`layergate buffer stats` lists the counts per reason); fix the source or the input's settings (decoder, mapping).",
});
export const OpcuaUntrustedServerError = coded('LG_OPCUA_UNTRUSTED_SERVER', 'OpcuaUntrustedServerError', {
  meaning: "OPC-UA: the server's certificate is not in the gateway's trust list; it was put in <pki>/rejected. The message names its thumbprint.",
  action:
    "Check the thumbprint against the server's certificate, then trust it with the command the message and the log give: `layergate pki trust <thumbprint> -c <config>`. The input connects at its next attempt.",
});
export const OpcuaClientRejectedError = coded('LG_OPCUA_CLIENT_REJECTED', 'OpcuaClientRejectedError', {
  meaning:
    "OPC-UA: the server refused the gateway's application certificate (BadCertificateUntrusted, BadSecurityChecksFailed, BadCertificateUriInvalid): the server does not trust it. The message names its thumbprint and file.",
  action:
    "On the server, move the gateway's certificate from its rejected to its trusted certificates (`layergate pki list -c <config>` shows it as `own`). The input connects at its next attempt.",
});
export const OpcuaAccessDeniedError = coded('LG_OPCUA_ACCESS_DENIED', 'OpcuaAccessDeniedError', {
  meaning:
    'OPC-UA: the server refused the session: the user name or password (or anonymous login) is not accepted (BadUserAccessDenied, BadIdentityTokenRejected).',
  action:
    "Check the user on the server and the input's `username`/`password`; the message names the environment variable the password comes from. Restart the gateway after changing a variable.",
});
export const OpcuaTimeoutError = coded('LG_OPCUA_TIMEOUT', 'OpcuaTimeoutError', {
  meaning: 'OPC-UA: a connect or disconnect did not finish in time; the input backs off and tries again.',
  action: 'Check that the server is up and reachable at the endpoint; raise `connectTimeout` for a slow server.',
});

// ---- inputs: mqtt (plugins/inputs/mqtt) -------------------------------------------------------
export const MqttPayloadError = coded('LG_MQTT_PAYLOAD', 'MqttPayloadError', {
  meaning:
    'An MQTT message could not be turned into records (bad payload, unknown Sparkplug alias, oversized, no matching subscription); it was quarantined, counted per reason and acknowledged.',
  action:
    "Check the reason and the quarantined message; fix the publisher or the subscription's decoder and mapping. An unknown alias heals itself after the rebirth the gateway requests.",
});

// ---- wire formats (wire/errors.ts) -----------------------------------------------------------------
// Raised by the codecs in wire/ (melt-pool blocks, records, Sparkplug B, the proto loader), which import
// nothing of ours and so have their own base class with the same `code` and `reason`; listed here so
// this catalog names every code the gateway can raise. The simulator's own codes are in simulator/errors.ts.
import { MeltPoolFormatError, ProtoNotFoundError, RecordFormatError, SparkplugFormatError, WireError } from '../../wire/errors.js';
export { MeltPoolFormatError, ProtoNotFoundError, RecordFormatError, SparkplugFormatError, WireError };
register(MeltPoolFormatError.code, 'MeltPoolFormatError', {
  meaning: 'A melt-pool block (JSON, binary or protobuf) does not decode; the message names the field or offset.',
  action: 'Check the producer of the block against the block format (wire/meltpool-block.ts); the block is quarantined by the MQTT input.',
});
register(RecordFormatError.code, 'RecordFormatError', {
  meaning: 'A `layergate.v1.Record` message does not decode (bad bytes, or an enum value the schema does not have).',
  action: 'Check that the producer and the reader use the same proto/ (a newer writer may use a class or kind this build does not know).',
});
register(SparkplugFormatError.code, 'SparkplugFormatError', {
  meaning: 'A Sparkplug B payload does not decode as the Sparkplug B protobuf.',
  action: 'Check the edge node publishing on that topic; the message is quarantined by the MQTT input.',
});
register(ProtoNotFoundError.code, 'ProtoNotFoundError', {
  meaning: 'proto/ was found neither next to the source tree nor next to the build output.',
  action: 'Reinstall the package: proto/ ships beside dist/ and must stay there.',
});

// ---- demo ------------------------------------------------------------------------------------
export const DemoConfigError = coded('LG_DEMO_CONFIG', 'DemoConfigError', {
  meaning: 'The demo config lacks what the simulator needs (e.g. an explicit port in an endpoint URL).',
  action: 'Give the named URL an explicit port in config/demo.yaml.',
});
export const DemoSimulatorError = coded('LG_DEMO_SIMULATOR', 'DemoSimulatorError', {
  meaning: "The demo's machine simulator did not come up; the message carries the tail of its log.",
  action: 'Read the log tail: usually a port already in use (another demo or simulator running); stop it and start the demo again.',
});

// ---- cloud sync (plugins/outputs/cloud/sync, plugins/outputs/cloud) -------------------------------------------
export const SyncUploadError = coded('LG_SYNC_UPLOAD', 'SyncUploadError', {
  meaning:
    'An upload request failed or stalled (link down, store unreachable, request rejected); the uploader backs off and resumes from the last confirmed part.',
  action: 'Usually nothing: uploads resume when the link is back (`layergate sync status`). If it lasts, check the endpoint, the credentials and the bucket.',
});
export const SyncLocalCopyMissingError = coded('LG_SYNC_LOCAL_MISSING', 'SyncLocalCopyMissingError', {
  meaning: 'An object queued for upload has no local copy any more in the sync store, so it cannot be uploaded.',
  action:
    "Find out what removed files from the cloud output's sync store under <dataDir> (cleanup jobs, disk errors); `layergate sync status` shows the failing object.",
});
export const SyncOffPremisesError = coded('LG_SYNC_OFF_PREMISES', 'SyncOffPremisesError', {
  meaning: 'A sensitive or confidential record reached the cloud output; it was refused (counted, never queued or uploaded).',
  action: 'Check `classes`/`routing.rules` for the cloud output: the routing policy should not send these classes there.',
});
export const SyncStoreFullError = coded('LG_SYNC_STORE_FULL', 'SyncStoreFullError', {
  meaning: 'The local sync store is full of data not yet in the cloud; the batch stays in the buffer and is offered again.',
  action: 'Check that uploads progress (`layergate sync status`); raise `local.maxBytes` or the bandwidth cap if the link is slower than the data.',
});
export const SyncIntegrityError = coded('LG_SYNC_INTEGRITY', 'SyncIntegrityError', {
  meaning: "After an upload, the cloud's copy does not match (size, ETag or SHA-256); the object is uploaded again.",
  action: 'Nothing when it is rare. If it repeats, check for a proxy between the gateway and the store that alters bodies.',
});
export const SyncVerifyError = coded('LG_SYNC_VERIFY', 'SyncVerifyError', {
  meaning: '`layergate sync verify`: the build has no readable manifest yet (or no sync store), or the cloud does not match it.',
  action: "A build's manifest is written once it is complete and synced (`manifestAfter`); wait for it, or inspect the listed objects.",
});
export const SyncNoCloudOutputError = coded('LG_SYNC_NO_OUTPUT', 'SyncNoCloudOutputError', {
  meaning: 'A `layergate sync` command found no cloud output in the config (or none of the name given with --output).',
  action: 'Pass the config that has the cloud output (`-c FILE` or $LAYERGATE_CONFIG), and check the name given with --output.',
});

// ---- classification, routing policy, encryption at rest, audit (gateway/classify, crypto, audit) ---
export const RoutingPolicyError = coded('LG_ROUTING_POLICY', 'RoutingPolicyError', {
  meaning:
    'The routing policy cannot be built: a rule names an unknown output, requires an output that cannot take the records, or sends sensitive/confidential records to an off-premises output. Raised at load.',
  action: 'Fix the named rule or output in `routing`/`outputs`; `layergate explain` shows where a record would go.',
});
export const OffPremisesRefusedError = coded('LG_OFF_PREMISES_REFUSED', 'OffPremisesRefusedError', {
  meaning:
    'A sensitive or confidential record was handed to the forwarder of an off-premises output; it was refused (not sent), counted and audited, and the cursor moved past it.',
  action: "Nothing leaked. Check the routing policy and the output's `premises`; the audit log names the records.",
});
export const KeyMissingError = coded('LG_KEY_MISSING', 'KeyMissingError', {
  meaning: 'No encryption key: the configured key file or environment variable is missing or empty.',
  action: 'Restore the key file (`encryption.keyFile`) or set the variable (`encryption.keyEnv`); `layergate keys generate` makes a new key ring.',
});
export const KeyPermissionsError = coded('LG_KEY_PERMISSIONS', 'KeyPermissionsError', {
  meaning: 'The key file is readable by others than its owner (it must be mode 0600 or 0400).',
  action: 'chmod 600 the key file (the message names it).',
});
export const KeyInvalidError = coded('LG_KEY_INVALID', 'KeyInvalidError', {
  meaning: 'The key file or variable is malformed (line format, key id, key length, a repeated id, no key in it).',
  action: 'Fix the named entry: one `id:base64-key` per line, 32-byte keys; `layergate keys generate` prints a valid entry.',
});
export const KeyCheckFileError = coded('LG_KEY_CHECK_FILE', 'KeyCheckFileError', {
  meaning: 'The key check file (<dataDir>/keys/keycheck.json, which proves the key ring is the one that sealed the data) is not readable JSON.',
  action: 'Restore it from a backup; delete it only if no sealed data is left (it is written again at the next start).',
});
export const KeyUnknownError = coded('LG_KEY_UNKNOWN', 'KeyUnknownError', {
  meaning: 'Sealed bytes name a key id the key ring does not have.',
  action: 'Restore the named key to the key ring (keep old keys after a rotation).',
});
export const KeyWrongError = coded('LG_KEY_WRONG', 'KeyWrongError', {
  meaning:
    "The key ring's key for an id is not the key that sealed data with that id, or a key used before is missing from the ring (found at start by the key check).",
  action: 'Use the right key file or variable; restore the named key (keep old keys after a rotation).',
});
export const SealedDataError = coded('LG_SEALED_DATA', 'SealedDataError', {
  meaning: 'Sealed bytes failed authentication (altered, truncated, or sealed with another key of the same id).',
  action: 'Check the disk and whether the file was changed; with the wrong key of that id, restore the right one.',
});
export const AuditWriteError = coded('LG_AUDIT_WRITE', 'AuditWriteError', {
  meaning: 'The audit log cannot be written (the event is also logged at error).',
  action: "Check free space and permissions of the audit log's folder (`audit.path`, default <dataDir>/audit).",
});

// ---- control-plane API ---------------------------------------------------------------------------
export const ApiUnauthenticatedError = coded('LG_API_UNAUTHENTICATED', 'ApiUnauthenticatedError', {
  meaning: 'A request to the HTTPS API carried no valid credential: no session cookie or API token, or one that expired or was revoked (HTTP 401).',
  action: 'Log in again, or use a current API token (`Authorization: Bearer ...`); an admin lists and issues tokens.',
});
export const ApiForbiddenError = coded('LG_API_FORBIDDEN', 'ApiForbiddenError', {
  meaning: "The caller is known, but its role is below the route's minimum (viewer < operator < admin) (HTTP 403).",
  action: 'Ask an admin for a user or token with the role the message names.',
});
export const ApiCsrfError = coded('LG_API_CSRF', 'ApiCsrfError', {
  meaning: 'A state-changing request with a session cookie came without the matching `x-csrf-token` header (HTTP 403): it may come from another site.',
  action: 'Send the `csrfToken` the login answered in the `x-csrf-token` header; scripts use an API token instead of a cookie.',
});
export const ApiLockedOutError = coded('LG_API_LOCKED_OUT', 'ApiLockedOutError', {
  meaning: 'Too many failed logins for this user (or from this address): logins are refused until the lockout ends (HTTP 429).',
  action: 'Wait for the time the message names; an admin can reset the password with `layergate users passwd`. The audit log lists the failed attempts.',
});
export const ApiSetupError = coded('LG_API_SETUP', 'ApiSetupError', {
  meaning: 'Creating the first admin was refused: the setup token is wrong, or an admin exists already (then the token is void) (HTTP 403).',
  action: 'Use the token from <dataDir>/api/setup-token or `layergate admin setup`; once an admin exists, log in as that admin.',
});
export const ApiConflictError = coded('LG_API_CONFLICT', 'ApiConflictError', {
  meaning: 'The user or token named exists already, or the change would leave the gateway without an admin (HTTP 409).',
  action: 'Choose another name, or keep at least one admin.',
});
export const ApiNotFoundError = coded('LG_API_NOT_FOUND', 'ApiNotFoundError', {
  meaning: 'The user, token or resource named in the request does not exist (HTTP 404).',
  action: 'Check the name or id; list them first.',
});
export const ApiInvalidRequestError = coded('LG_API_INVALID', 'ApiInvalidRequestError', {
  meaning:
    'A request to the API was malformed: a field missing, of the wrong type, unknown, or out of range (the message names it), a body too large (413) or of a content type the route does not take (415); nothing was changed.',
  action: 'Fix the request as the message says; `/api/v1/openapi.json` describes every route.',
});
export const ApiInternalError = coded('LG_API_INTERNAL', 'ApiInternalError', {
  meaning: 'The API failed on a request for a reason of its own (HTTP 500); the gateway logged the error with the route.',
  action: "Look for 'api: request failed' in the gateway's log and report it with that entry.",
});
export const ApiStreamLagError = coded('LG_API_STREAM_LAG', 'ApiStreamLagError', {
  meaning:
    'A gRPC StreamRecords consumer fell more records behind the newest than `api.grpc.maxStreamLag` and was cancelled (RESOURCE_EXHAUSTED); the message says how far behind it was. The records stay in the buffer as long as it keeps them.',
  action:
    'Resume the stream from the last seq received (`after_seq`) with a narrower filter, read faster, or raise `api.grpc.maxStreamLag`; use QueryRecords for history.',
});
export const ApiPayloadTooLargeError = coded('LG_API_PAYLOAD_TOO_LARGE', 'ApiPayloadTooLargeError', {
  meaning: 'A payload sent to Store, StoreStream or UploadFrame is larger than `api.grpc.maxStoreBytes` (RESOURCE_EXHAUSTED); nothing was stored.',
  action: 'Send it through a drop folder, split it, or raise `api.grpc.maxStoreBytes`.',
});
export const ApiTlsError = coded('LG_API_TLS', 'ApiTlsError', {
  meaning:
    "The API's certificate or key could not be read or made, or plain HTTP was asked for on a non-loopback address without `api.allowPlainHttpOnNetwork`.",
  action:
    'Fix `api.tls.certFile`/`api.tls.keyFile` (PEM, readable by the gateway), or remove them to use the generated certificate; keep plain HTTP on loopback.',
});
