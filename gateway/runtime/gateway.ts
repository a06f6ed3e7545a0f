/**
 * Runtime assembly: from a validated config to a running gateway, and back down on a signal.
 *
 * Start order: key ring -> buffer (its sinks = the configured outputs) -> the audit entry of the
 * config load -> outputs and their forwarders -> inputs. Nothing reads from a source before there is
 * somewhere durable to put it. The buffer opens before anything else is written: on a 100 % full
 * data disk its open is what gives back the space reserved for that case (gateway/buffer/disk-full.ts),
 * and the audit entry, the outputs' and inputs' own start-up files come after it and need that space.
 *
 * Stop order (SIGTERM/SIGINT):
 *  1. stop the inputs (no new records; an input resolves `stop` when no emit is in flight). An emit
 *     still waiting for buffer room when the grace period ends is given up (nothing stored, the
 *     source was not acked, so it redelivers).
 *  2. let the forwarders deliver what they can until every sink's lag is zero or the grace period
 *     (`gateway.shutdownGraceMs`) is over, sending partial batches at once (no linger); what is
 *     left stays in the buffer for the next start.
 *  3. stop the forwarders, then the outputs; 4. close the buffer cleanly.
 * A failure in one step is logged and the next steps still run: the buffer is always closed.
 *
 * Threads: the outputs and their forwarders run on the delivery thread (./delivery-host.ts,
 * ./delivery-worker.ts) unless `gateway.deliveryThread` is false; the inputs, the pipeline and the
 * buffer (its appends, evictions and every cursor move) stay on the main thread. Start and stop order
 * are the same either way.
 *
 * Policy and protection at start, before any input runs: the key ring is loaded and checked against
 * the keys this gateway sealed with (a missing or wrong key stops the start with a coded error); the
 * buffer is wrapped so confidential bodies are sealed at rest (gateway/crypto/sealing-buffer.ts); the
 * classification and routing policy is built from the outputs' definitions (their capabilities for
 * this config: premises, accepts, kinds), exactly as `check-config` and `explain` build it, and a
 * config that routes sensitive data off premises is refused; each forwarder
 * knows its sink's premises and refuses such records again; the config load, job markings and
 * refused routes are written to the audit log.
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { openBuffer, seqOrigin } from '../buffer/index.js';
import type { BufferOptions, RecordBuffer } from '../buffer/types.js';
import { collectSecretValues, redactConfig } from '../config/report.js';
import { INPUT_ENVELOPE_KEYS, outputEnvelopeKeys, pluginSettings } from '../config/schema.js';
import type { Config } from '../config/schema.js';
import type { LoadedConfig } from '../config/load.js';
import { ConfigHistory, historyPath } from '../config/history.js';
import { AuditLog, defaultAuditPath } from '../audit/audit-log.js';
import { outputCapabilities, policyFromDefinitions } from '../classify/index.js';
import type { Policy } from '../classify/index.js';
import { openSealer } from '../crypto/keys.js';
import type { Sealer } from '../crypto/sealer.js';
import { SealingBuffer } from '../crypto/sealing-buffer.js';
import type { ForwarderStats } from '../forward/forwarder.js';
import type { OffPremisesRefusal } from '../forward/off-premises.js';
import { DeliveryHost } from './delivery-host.js';
import { createLogger } from './log.js';
import type { LoggerOptions } from './log.js';
import { Pipeline } from '../ingest/pipeline.js';
import type { InputPlugin, OutputCapabilities, PluginEnvironment } from '../plugin-api/contract.js';
import { type ForwarderSettings, type OutputToRun, type OutputsContext, type RunningOutput, replaceOutputs, startOutputs, stopOutputs } from './outputs.js';
import { type ApplyMeta, type ApplyResult, type ReloadTarget, applyConfig } from './reload.js';
import { wrapStart, wrapStartAsync } from './plugin-start.js';
import { REGISTRY_MODULE, loadDefinition, registry as defaultRegistry } from './registry.js';
import type { PluginRegistry } from './registry.js';

export type { ApplyMeta, ApplyResult } from './reload.js';

/**
 * Keep the configuration's text in its history (gateway/config/history.ts) when it changed since the
 * last version; returns the version in force. Never stops a start: without room for it (a full
 * disk) the gateway still runs, and says so.
 */
function recordVersion(loaded: LoadedConfig, log: Logger, meta: ApplyMeta = { author: 'file', comment: 'loaded at start' }): number | undefined {
  if (loaded.text === undefined) return undefined;
  let history: ConfigHistory | undefined;
  try {
    history = new ConfigHistory(historyPath(loaded.config.gateway.dataDir));
    return history.record(loaded.text, { ...meta, origin: loaded.origin }).n;
  } catch (err) {
    log.warn({ err }, 'the configuration could not be added to its history; the gateway runs with it all the same');
    return undefined;
  } finally {
    history?.close();
  }
}

/** The buffer's folder inside the data folder. */
export function bufferDir(config: Config): string {
  return path.join(config.gateway.dataDir, 'buffer');
}

/** The buffer options a config implies (also used by the `buffer` CLI commands). */
export function bufferOptions(config: Config): BufferOptions {
  const b = config.buffer;
  return {
    dir: bufferDir(config),
    maxBytes: b.maxBytes,
    ...(b.maxAge !== undefined ? { maxAgeMs: b.maxAge } : {}),
    inlineMaxBytes: b.inlineMaxBytes,
    fullPolicy: b.fullPolicy,
    sinks: Object.keys(config.outputs),
    synchronous: b.synchronous,
    // a buffer created again (a wiped data folder) must not hand out the seqs sinks already keyed on
    firstSeq: seqOrigin(),
  };
}

/** environment variables whose values are credentials wherever they show up (S3 outputs fall back to them) */
export const SECRET_ENV_VARS = ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'] as const;

/** A logger that hides the config's secrets (redaction paths and a scrub of their values). */
export function loggerFor(loaded: LoadedConfig, opts: { env?: NodeJS.ProcessEnv; destination?: LoggerOptions['destination'] } = {}): Logger {
  return createLogger({
    level: loaded.config.log.level,
    secrets: loggerSecrets(loaded, opts.env),
    ...(opts.destination ? { destination: opts.destination } : {}),
  });
}

/** The secret values every log line is scrubbed of: the config's secrets, the key ring and the S3 credentials. */
function loggerSecrets(loaded: LoadedConfig, env: NodeJS.ProcessEnv = process.env): string[] {
  // the key ring variable, whole and each key of it, is a secret too
  const ring = env[loaded.config.encryption.keyEnv];
  const ringKeys = ring ? [ring, ...ring.split(/[\n,]/).map((e) => e.slice(e.indexOf(':') + 1).trim())] : [];
  const fromEnv = [...SECRET_ENV_VARS.map((k) => env[k]), ...ringKeys].filter((v): v is string => !!v && v.length >= 4);
  return [...collectSecretValues(loaded.schema, loaded.config), ...loaded.secrets, ...fromEnv];
}

/** An output's forwarder settings: the config's keys win over the plugin's preferred ones. */
function forwarderSettings(entry: Config['outputs'][string], capabilities: OutputCapabilities): ForwarderSettings {
  const linger = entry.linger ?? capabilities.linger;
  const batchSize = entry.batchRecords ?? capabilities.batchRecords;
  const batchBytes = entry.batchBytes ?? capabilities.batchBytes;
  // whether a send may hang is the plugin's to know; the config has no key for it
  const sendTimeoutMs = capabilities.sendTimeoutMs;
  return {
    ...(linger !== undefined ? { linger } : {}),
    ...(batchSize !== undefined ? { batchSize } : {}),
    ...(batchBytes !== undefined ? { batchBytes } : {}),
    ...(sendTimeoutMs !== undefined ? { sendTimeoutMs } : {}),
  };
}

/** The outputs of `config` as the runtime starts them: plugin settings, premises from the policy, forwarder settings. */
function outputsToRun(config: Config, registry: PluginRegistry, policy: Policy): OutputToRun[] {
  return Object.entries(config.outputs).map(([name, entry]) => ({
    name,
    type: entry.type,
    settings: pluginSettings(entry, outputEnvelopeKeys(registry.outputs.get(entry.type)!.configSchema)),
    premises: policy.outputs.find((p) => p.name === name)!.premises,
    ...forwarderSettings(entry, outputCapabilities(entry, registry)!),
  }));
}

export interface GatewayOptions {
  /**
   * The plugins to run (default: the gateway's registry). Outputs from a registry handed in as an
   * object run on the main thread; give `registryModule` too to run them on the delivery thread.
   */
  registry?: PluginRegistry;
  /** URL of a module exporting `registry`: what the delivery thread creates the outputs from */
  registryModule?: string;
  log?: Logger;
}

interface RunningInput {
  name: string;
  plugin: InputPlugin;
}

export class Gateway {
  /** the configuration in force (replaced by `apply`) */
  loaded: LoadedConfig;
  readonly log: Logger;
  readonly buffer: RecordBuffer;
  readonly pipeline: Pipeline;
  /** the classification and routing policy in force (for `explain` and the API) */
  policy!: Policy;
  audit!: AuditLog;
  /** seals confidential bodies at rest and opens them (for the API's reads of sealed quarantine items and bodies) */
  sealer!: Sealer;
  /** outputs and forwarders on the main thread (`gateway.deliveryThread: false`) */
  private readonly outputs: RunningOutput[] = [];
  /** or on the delivery thread */
  private delivery: DeliveryHost | undefined;
  private readonly inputs: RunningInput[] = [];
  private stopping: Promise<void> | undefined;
  private readonly registry: PluginRegistry;
  private readonly env: PluginEnvironment;
  /** what outputs on the main thread are started with */
  private outputsContext: OutputsContext | undefined;
  /** applies run one at a time, in the order asked */
  private applying: Promise<unknown> = Promise.resolve();

  private constructor(loaded: LoadedConfig, log: Logger, buffer: RecordBuffer, pipeline: Pipeline, registry: PluginRegistry, env: PluginEnvironment) {
    this.loaded = loaded;
    this.log = log;
    this.buffer = buffer;
    this.pipeline = pipeline;
    this.registry = registry;
    this.env = env;
  }

  /** the validated configuration in force */
  get config(): Config {
    return this.loaded.config;
  }

  /** Open the buffer, start outputs + forwarders, then inputs. On failure everything started is stopped again. */
  static async start(loaded: LoadedConfig, opts: GatewayOptions = {}): Promise<Gateway> {
    const { config } = loaded;
    const registry = opts.registry ?? defaultRegistry;
    const log = opts.log ?? loggerFor(loaded);
    log.info({ config: redactConfig(loaded.schema, config, loaded.secrets), origin: loaded.origin }, 'starting layergate');
    mkdirSync(config.gateway.dataDir, { recursive: true });
    const audit = new AuditLog(config.audit.path ?? defaultAuditPath(config.gateway.dataDir), log.child({ component: 'audit' }));
    // a missing or wrong key stops the start here, before anything is read or stored
    const { sealer, source: keySource } = openSealer(config.encryption, config.gateway.dataDir);
    if (keySource.kind === 'generated' && keySource.created) {
      log.warn({ keyFile: keySource.where }, 'encryption key generated beside the data; set encryption.keyFile (or the key variable) to keep it apart');
    } else if (keySource.kind === 'generated') {
      // said on every start, but no longer claims a key was generated: it was read
      log.warn({ keyFile: keySource.where }, 'encryption key read from beside the data; set encryption.keyFile (or the key variable) to keep it apart');
    }
    // a removed output's sink keeps its records until an admin drops it (./reload.ts)
    const buffer = new SealingBuffer(openBuffer({ ...bufferOptions(config), holdUnlistedSinks: true }, log.child({ component: 'buffer' })), sealer);
    const env: PluginEnvironment = {
      dataDir: config.gateway.dataDir,
      machine: config.gateway.machine,
      // origin is the file's path as given, or '(defaults)' / '(text)' without one
      ...(loaded.origin.startsWith('(') ? {} : { configFile: path.resolve(loaded.origin) }),
      bufferStats: () => buffer.stats(),
      sealer,
    };

    const configured = Object.entries(config.outputs).map(([name, entry]) => ({ name, entry, capabilities: outputCapabilities(entry, registry)! }));
    // the delivery thread creates plugins from a module; a registry handed in as an object stays here
    const deliveryThread = config.gateway.deliveryThread && (opts.registry === undefined || opts.registryModule !== undefined);
    let gw: Gateway | undefined;
    try {
      // after the buffer's open: on a full disk the open gives back the buffer's reserve (the space set
      // aside for starting on a full disk, gateway/buffer/disk-full.ts), which this entry needs too
      const configHash = createHash('sha256')
        .update(JSON.stringify(redactConfig(loaded.schema, config, loaded.secrets)))
        .digest('hex');
      const lastLoad = audit.lastOf('config-loaded');
      const version = recordVersion(loaded, log);
      audit.append('config-loaded', {
        origin: loaded.origin,
        ...(version !== undefined ? { version } : {}),
        configHash,
        changed: lastLoad === undefined ? null : lastLoad.data.configHash !== configHash,
        ...(lastLoad ? { previousHash: lastLoad.data.configHash } : {}),
        activeKey: sealer.keyId,
        keySource: keySource.kind,
      });
      // the policy from the definitions' capabilities: the one `check-config` and `explain` build
      const policy = policyFromDefinitions(config, registry);
      const pipeline = new Pipeline({
        buffer,
        outputs: configured.map((o) => ({ name: o.name, plugin: o.capabilities, classes: o.entry.classes, kinds: o.entry.kinds })),
        dataDir: config.gateway.dataDir,
        quarantineMaxBytes: config.gateway.quarantineMaxBytes,
        log,
        classifier: policy.classifier,
        routes: policy.routes,
        onJobMarked: (m) => void audit.append('classification-override', { reason: 'job-marked', ...m }),
        sealer,
      });
      gw = new Gateway(loaded, log, buffer, pipeline, registry, env);
      gw.policy = policy;
      gw.audit = audit;
      gw.sealer = sealer;
      const onOffPremisesRefused = (refusal: OffPremisesRefusal): void => void audit.append('route-refused', { reason: 'off-premises', ...refusal });
      const stopTimeoutMs = Math.max(1000, config.gateway.shutdownGraceMs);
      const outputs = outputsToRun(config, registry, policy);
      if (deliveryThread) {
        gw.delivery = await DeliveryHost.start({
          buffer,
          log,
          onOffPremisesRefused,
          setup: {
            bufferDir: bufferDir(config),
            dataDir: config.gateway.dataDir,
            machine: config.gateway.machine,
            quarantineMaxBytes: config.gateway.quarantineMaxBytes,
            stopTimeoutMs,
            encryption: config.encryption,
            logLevel: log.level,
            logSecrets: loggerSecrets(loaded),
            registryModule: opts.registryModule ?? REGISTRY_MODULE,
            outputs,
          },
        });
      } else {
        const { dataDir, quarantineMaxBytes } = config.gateway;
        gw.outputsContext = { registry, env, buffer, log, dataDir, quarantineMaxBytes, stopTimeoutMs, sealer, onOffPremisesRefused };
        await startOutputs(outputs, gw.outputsContext, gw.outputs);
      }
      for (const [name, entry] of Object.entries(config.inputs)) gw.inputs.push(await gw.startInput(name, entry));
    } catch (err) {
      log.error({ err }, 'start failed; stopping what was started');
      if (gw) await gw.stop();
      else buffer.close();
      throw err;
    }
    log.info({ inputs: Object.keys(config.inputs), outputs: Object.keys(config.outputs), dataDir: config.gateway.dataDir }, 'layergate running');
    return gw;
  }

  private async startInput(name: string, entry: Config['inputs'][string]): Promise<RunningInput> {
    const def = await loadDefinition(this.registry.inputs.get(entry.type)!);
    const plugin = wrapStart(`input ${name} (${entry.type})`, () => def.create(pluginSettings(entry, INPUT_ENVELOPE_KEYS), this.env));
    await wrapStartAsync(`input ${name}`, () => plugin.start(this.pipeline.contextFor(name, entry.class, entry.accessPattern)));
    return { name, plugin };
  }

  /**
   * Apply `candidate` to the running gateway (the API's apply and rollback, SIGHUP): see
   * ./reload-plan.ts for what may change live and ./reload.ts for the order and the guarantees.
   * Resolves once every change runs; rejects with a ConfigApplyError (or the policy's ConfigError)
   * when nothing was changed. One apply at a time.
   */
  apply(candidate: LoadedConfig, meta: ApplyMeta): Promise<ApplyResult> {
    const run = this.applying.then(() => applyConfig(this.reloadTarget(), candidate, meta));
    this.applying = run.catch(() => undefined);
    return run;
  }

  /** What ./reload.ts works on: this gateway's parts, each change made through them. */
  private reloadTarget(): ReloadTarget {
    return {
      loaded: this.loaded,
      policy: this.policy,
      registry: this.registry,
      log: this.log,
      buffer: this.buffer,
      audit: this.audit,
      running: () => this.running,
      setLoaded: (loaded, policy) => {
        this.loaded = loaded;
        this.policy = policy;
      },
      setPolicy: (policy) => this.pipeline.setPolicy(policy.classifier, policy.routes),
      outputsToRun: (config, policy) => outputsToRun(config, this.registry, policy),
      reconfigureOutputs: (stop, start) => this.reconfigureOutputs(stop, start),
      stopInputs: (names) => this.stopInputs(names),
      startInputs: (config, names) => this.startInputs(config, names),
      forgetInput: (name) => this.pipeline.forgetInput(name),
      recordVersion: (loaded, m) => recordVersion(loaded, this.log, m),
    };
  }

  private reconfigureOutputs(stop: readonly string[], start: readonly OutputToRun[]): Promise<void> {
    if (this.delivery) return this.delivery.reconfigure(stop, start);
    return replaceOutputs(this.outputs, stop, start, this.outputsContext!);
  }

  private async stopInputs(names: readonly string[]): Promise<void> {
    const leaving = this.inputs.filter((i) => names.includes(i.name));
    await Promise.all(leaving.map((i) => i.plugin.stop().catch((err: unknown) => this.log.error({ err, input: i.name }, 'input stop failed'))));
    const staying = this.inputs.filter((i) => !names.includes(i.name));
    this.inputs.splice(0, this.inputs.length, ...staying);
  }

  /** Start the inputs `names` of `config`; on a failure the ones started here are stopped again and it rethrows. */
  private async startInputs(config: Config, names: readonly string[]): Promise<void> {
    const started: string[] = [];
    try {
      for (const name of names) {
        this.inputs.push(await this.startInput(name, config.inputs[name]!));
        started.push(name);
      }
    } catch (err) {
      await this.stopInputs(started);
      throw err;
    }
  }

  /** Started (buffer open, outputs and inputs running) and not stopping: what /readyz answers. */
  get running(): boolean {
    return this.stopping === undefined;
  }

  /** Per-input pipeline counters and per-sink forwarder state. */
  stats(): { inputs: ReturnType<Pipeline['stats']>; forwarders: ForwarderStats[] } {
    return { inputs: this.pipeline.stats(), forwarders: this.delivery?.stats() ?? this.outputs.map((o) => o.forwarder.stats()) };
  }

  /** The orderly shutdown described in the module header. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const graceMs = this.config.gateway.shutdownGraceMs;
    const deadline = Date.now() + graceMs;
    const log = this.log;
    log.info({ graceMs }, 'stopping: inputs first');

    // 1. inputs; blocked emits give up when the grace period ends
    const abortTimer = setTimeout(() => this.pipeline.abortBlocked(), graceMs);
    await this.stopInputs(this.inputs.map((i) => i.name));
    clearTimeout(abortTimer);
    this.pipeline.abortBlocked();

    // 2. let the forwarders deliver what they can, lingering no more
    for (const o of this.outputs) o.forwarder.drain();
    this.delivery?.drain();
    const lagAtStop = await this.drain(deadline);
    if (lagAtStop > 0) log.warn({ lagRecords: lagAtStop }, 'grace period over: undelivered records stay in the buffer');

    // 3. forwarders, then outputs (the delivery thread does the same in its stop)
    await this.delivery?.stop().catch((err: unknown) => log.error({ err }, 'delivery thread stop failed'));
    await stopOutputs(this.outputs, log);
    await this.pipeline.flush();

    // 4. the buffer
    try {
      this.buffer.close();
    } catch (err) {
      log.error({ err }, 'buffer close failed');
    }
    log.info({ inputs: this.pipeline.stats() }, 'layergate stopped');
  }

  /** Wait until no sink lags or the deadline passes; returns the records still undelivered. */
  private async drain(deadline: number): Promise<number> {
    const lag = (): number => {
      try {
        return this.buffer.stats().sinks.reduce((n, s) => n + s.lagRecords, 0);
      } catch (err) {
        this.log.error({ err }, 'buffer stats failed while draining');
        return 0;
      }
    };
    let left = lag();
    while (left > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(100, Math.max(1, deadline - Date.now()))));
      left = lag();
    }
    return left;
  }
}
