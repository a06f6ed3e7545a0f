/**
 * The plugin interfaces. A plugin knows its protocol and nothing of the buffer's tables.
 *
 * Inputs (plugins/inputs/NAME) turn a protocol into `RecordDraft`s and hand them to `InputContext.emit`.
 * Delivery guarantee: `emit` resolves only after the records are committed to the on-disk buffer.
 * That commit is the acknowledgement: an input acknowledges to its source (MQTT PUBACK, releasing a
 * drop-folder file) only after `emit` resolves. If `emit` rejects, nothing was stored and the input
 * must not acknowledge (the source will redeliver, or the input retries). Under the buffer's `block`
 * policy `emit` waits for room instead of rejecting.
 * A draft the pipeline cannot store (a field out of the range every sink holds, classification
 * failing, the buffer refusing that one record) is quarantined and the rest of the emit committed;
 * the emit still resolves, with an `EmitResult` naming each quarantined draft by its index in the
 * array given and why. Redelivering such a draft would only quarantine it again, so an input may
 * acknowledge it; one that can set its source aside (the frames input's quarantine folder, an
 * upload's 400) reads the result and does so instead of releasing it as stored.
 *
 * Outputs (plugins/outputs/NAME) deliver batches. Delivery guarantee: at least once. The forwarder
 * calls `send` with records in ascending seq order; `send` resolves only once the sink has durably
 * accepted every record of the batch (the sink's own ack). Then, and only then, the sink's cursor
 * advances. A rejection makes the forwarder retry the same records later, with capped backoff, so a
 * sink may see a record twice after a failure or a crash; payloads carry `seq` for deduplication.
 * A send that has not settled within the sink's send timeout is retried the same way, unless the
 * output declares its send bounded local work, never to be abandoned (`OutputCapabilities.sendTimeoutMs`).
 * A refusal no retry can fix (authorisation, too large, policy) rejects with `SinkPermanentError`
 * (gateway/plugin-api/errors.ts), naming the refused seqs when the rest of the batch was delivered: the forwarder
 * then keeps those records in <dataDir>/quarantine/outputs/<sink>/, counts them and moves on.
 */
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Sealer } from '../crypto/sealer.js';
import type { PluginActions } from './actions.js';
import type { PluginCommands } from './commands.js';
import type { BlobRef, RecordInput, RecordKind, SensitivityClass, StoredRecord } from './record.js';

/** A record as an input sees it: not yet classified, routed or stored. */
export type RecordDraft = Omit<RecordInput, 'class' | 'routes' | 'source' | 'receiveTimeNs'> & {
  receiveTimeNs?: bigint;
  /** the input may propose a class (e.g. from its config); classification may only make it stricter */
  class?: SensitivityClass;
};

/**
 * What the gateway knows of the machine right now: followed by the input that watches the machine
 * (OPC-UA), shared by all inputs. Every record is stamped with it at ingest, so a melt-pool block or
 * a frame is findable by job and layer in every sink.
 */
export interface MachineContext {
  /** job / build id */
  build?: string;
  layer?: number;
  /** machine state, e.g. building, recoating, exposing, paused, finished */
  state?: string;
  material?: string;
  feedstockLot?: string;
  /**
   * How the machine (or the MES) marks the current job, as it gives it: a class name
   * (`confidential`, ...) or a flag (`true`/`false`). Set by an input configured to follow it (an
   * OPC-UA node, an MQTT topic); gateway/classify turns it into a class floor for every record of
   * that job (see `jobClassOf`).
   */
  jobClass?: string;
}

/** Why the pipeline quarantined a draft instead of storing it (the reason it is counted under). */
export type DraftQuarantineReason =
  /** a field out of the range every sink holds (./record-fields.ts) */
  | 'out-of-range'
  /** the classification policy threw on it */
  | 'unclassifiable'
  /** the buffer refused this one record inside the commit */
  | 'unstorable';

/** A draft of an emit that was quarantined, not stored. */
export interface QuarantinedDraft {
  /** its index in the array given to `emit` */
  index: number;
  reason: DraftQuarantineReason;
  /** what was wrong, as kept in the quarantine (e.g. `record out of range: layer 1e+20 ...`) */
  error: string;
}

/** What became of the drafts of one `emit` (see the delivery guarantee in the module header). */
export interface EmitResult {
  /** drafts committed to the buffer */
  stored: number;
  /** drafts quarantined instead, in ascending index order; empty when every draft was stored */
  quarantined: readonly QuarantinedDraft[];
}

export interface EmitOptions {
  /** false: do not wait for a full disk to get space again; drop (into the loss ledger) instead. Default true. */
  wait?: boolean;
  /**
   * false: a buffer full under its `block` policy fails the emit at once (`BufferFullError`) instead of
   * waiting for room: a caller that can tell its client to come back later (an API call) rather than
   * hold it. Default true.
   */
  waitForRoom?: boolean;
  /**
   * Called after each commit with the records committed (classified and routed) and the seq of the
   * first: the records' seqs are `firstSeq + index`. For callers that answer with what was stored.
   */
  onCommitted?: (records: readonly RecordInput[], firstSeq: number) => void;
}

export interface InputContext {
  /** the input instance name (config key); becomes `source` on every record */
  readonly name: string;
  readonly log: Logger;
  /**
   * Classify, route and commit. Resolves after the buffer commit (the ack point). While the buffer's
   * filesystem is full it waits and retries (the source keeps the data until the ack), unless
   * `opts.wait` is false: an input that cannot wait (it samples, nothing redelivers) then has the
   * records counted in the loss ledger (reason 'disk-full') and the emit rejects with the disk error.
   * A draft whose fields are out of the range every sink holds (./record-fields.ts), that
   * classification throws on, or that the buffer refuses on its own, is quarantined through
   * `quarantine` (where = its signal) and the rest committed; the emit still resolves, with the
   * quarantined drafts' indices and reasons in its result, so the input may acknowledge them like
   * any input it quarantined, or set its source aside as bad.
   */
  emit(drafts: RecordDraft[], opts?: EmitOptions): Promise<EmitResult>;
  /**
   * Report input that could not be turned into records: counted per input, logged with `where`
   * (topic, node id, file) and the raw bytes kept in the quarantine folder. Never throws.
   * Counted per reason (`layergate buffer stats`): the error's `reason` (pass it as an option:
   * `new MalformedInputError(message, { reason: 'corrupt' })`), else its catalog code. (A leading
   * `kebab-word:` of the message of an error without a reason still counts, for older plugins.)
   */
  quarantine(where: string, error: Error, raw?: Buffer): void;
  /** Merge an update into the shared machine context (only the input that follows the machine calls it). */
  setMachineContext(update: Partial<MachineContext>): void;
  /** The shared machine context as it is now. */
  machineContext(): Readonly<MachineContext>;
}

export interface InputPlugin {
  readonly type: string;
  start(ctx: InputContext): Promise<void>;
  /** Stop reading; resolve when no `emit` is in flight. */
  stop(): Promise<void>;
}

export interface BlobReader {
  /** the whole blob; for large frames prefer `path` and stream it */
  read(ref: BlobRef): Promise<Buffer>;
  /** absolute path of the spooled file (read-only) */
  path(ref: BlobRef): string;
}

export interface OutputContext {
  /** the output instance name (config key) = the sink name records are routed to */
  readonly name: string;
  readonly log: Logger;
  readonly blobs: BlobReader;
}

/**
 * What an output can take, declared once by its definition (`OutputDefinition.capabilities`), computed
 * from the output's config where it depends on it. Routing at load (`check-config`, `explain`), the
 * running gateway's routing and its forwarders all read this one declaration.
 */
export interface OutputCapabilities {
  /**
   * Whether the sink is on the plant's premises. An off-premises sink never receives a sensitive or
   * confidential record: routing leaves it out, the config is rejected when a rule names it for such
   * a class, and the forwarder refuses such records again before `send`. An output's config may set
   * `premises: off` but never raise an 'off' sink to 'on'.
   */
  premises: 'on' | 'off';
  /** the classes this sink may receive (default: all); routing never sends it anything else */
  accepts?: readonly SensitivityClass[];
  /** the record kinds this sink wants (default: all) */
  kinds?: readonly RecordKind[];
  /**
   * The sink's preferred forwarder linger in ms (default 0): a partial batch waits until its oldest
   * record is this old, or a full batch is there, before it is sent. A sink that makes one object or
   * file per batch sets it to get fewer, larger ones. The `linger` key of the output's config
   * overrides it. It delays delivery only; records are committed to the buffer on arrival.
   */
  linger?: number;
  /**
   * The sink's preferred most records per batch (the forwarder's default is 500). A sink whose cost is
   * per batch (a file, an object, a request) asks for more; the `batchRecords` key of the output's
   * config overrides it. The records of a batch are held in memory while it is sent.
   */
  batchRecords?: number;
  /** The sink's preferred most body bytes per batch (default 8 MiB); the `batchBytes` key overrides it. */
  batchBytes?: number;
  /**
   * How long the forwarder waits for one `send` before it counts it as failed and sends the same
   * records again, in ms (default 30 s). The timeout is for sinks that can hang for ever (a broker, a
   * server, a link): the timed-out send is abandoned, not cancelled, so it keeps running in the plugin
   * and holding its batch until it settles, its late result ignored. A number sets this sink's own
   * timeout.
   *
   * `null`: the send is bounded local work (encoding, writing and fsyncing files on the gateway's own
   * disk) that always ends, only later when the gateway is busy. The forwarder then waits for it
   * however long it takes and never sends the same records beside it: abandoning such a send would
   * only start the same work again while the first still runs, so a sink that falls behind under load
   * would do its work several times over and fall further behind. A send that fails is still retried,
   * and `stop()` still gives up on a send after its stop timeout.
   */
  sendTimeoutMs?: number | null;
}

export interface OutputPlugin {
  readonly type: string;
  start(ctx: OutputContext): Promise<void>;
  /** Deliver; resolve only on the sink's ack for every record of the batch. */
  send(batch: StoredRecord[]): Promise<void>;
  stop(): Promise<void>;
}

/** Runtime facts a plugin factory may need. */
export interface PluginEnvironment {
  /** the gateway's data folder (buffer, spool, file lake, quarantine live below it) */
  dataDir: string;
  /** the machine this gateway serves (config `gateway.machine`); used in partition paths and keys */
  machine: string;
  /**
   * The config file the gateway was started with (absolute path), for the commands an operator is
   * told to run (`layergate pki trust ... -c <file>`); undefined when it runs on the built-in
   * defaults or a config given as text.
   */
  configFile?: string;
  /**
   * The buffer's current figures, for inputs that report on the gateway itself (gateway-health).
   * A function, so a plugin reads numbers without knowing the buffer or its tables.
   */
  bufferStats?: () => BufferHealth;
  /**
   * Seals confidential bodies for sinks that store them at rest on premises (the local object store).
   * Absent when no encryption key is configured; an output must then refuse confidential records.
   */
  sealer?: Sealer;
}

/** What a plugin may learn about the buffer: fill and per-sink lag. `BufferStats` satisfies it. */
export interface BufferHealth {
  records: number;
  bytes: number;
  maxBytes: number;
  /** bytes / what the records may take (maxBytes less the WAL's and the reserve's share), 0..1 */
  fill: number;
  oldestReceiveTimeNs: bigint | null;
  sinks: readonly { sink: string; lagRecords: number; lagBytes: number }[];
}

/**
 * Config keys a plugin renamed: old key path (dotted, relative to the instance entry) -> what to
 * write instead. A config that still uses an old key is refused at load with one line naming both
 * (`outputs.lake.accepts: renamed to classes`), never silently ignored or half applied.
 */
export type RenamedKeys = Readonly<Record<string, string>>;

/**
 * What a plugin folder exports as `definition`: its type name, its config schema (declared once,
 * validated at load as part of the whole config), a factory and, optionally, its own `layergate`
 * subcommands (./commands.ts). The registry in gateway/runtime/registry.ts lists them.
 */
export interface InputDefinition<C = unknown> {
  type: string;
  configSchema: z.ZodType<C>;
  renamedKeys?: RenamedKeys;
  commands?: PluginCommands<C>;
  /** operations the control-plane API serves for each instance (./actions.ts) */
  actions?: PluginActions<C>;
  create(config: C, env: PluginEnvironment): InputPlugin;
}

export interface OutputDefinition<C = unknown> {
  type: string;
  configSchema: z.ZodType<C>;
  renamedKeys?: RenamedKeys;
  commands?: PluginCommands<C>;
  /** operations the control-plane API serves for each instance (./actions.ts) */
  actions?: PluginActions<C>;
  /**
   * What the output takes, from its config (the plugin's own settings, as `create` gets them): the one
   * declaration `check-config`, `explain` and the running gateway read.
   */
  capabilities(config: C): OutputCapabilities;
  create(config: C, env: PluginEnvironment): OutputPlugin;
}

/**
 * A definition whose code is loaded only when a config names the plugin: everything the config, the
 * routing and the CLI read (schema, capabilities, commands) without the plugin's implementation and
 * its client libraries, and `load` for the full definition. A gateway then holds in memory only the
 * plugins it runs (the OPC-UA stack alone is about 90 MB).
 */
export interface LazyInputDefinition<C = unknown> extends Omit<InputDefinition<C>, 'create'> {
  load(): Promise<InputDefinition<C>>;
}

/** See LazyInputDefinition. */
export interface LazyOutputDefinition<C = unknown> extends Omit<OutputDefinition<C>, 'create'> {
  load(): Promise<OutputDefinition<C>>;
}
