/**
 * The running gateway as the API sees it: its status figures and its Prometheus metrics, read from
 * the counters the gateway keeps (pipeline, forwarders, buffer); the API holds no counters of its own.
 *
 * Metric labels are bounded by the configuration: `input`, `sink`, `source` (an input), `class`,
 * `kind` (an error kind); never a signal, a build or a value.
 */
import { recordSources } from '../config/sources.js';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { registerForwarderMetrics } from '../forward/metrics.js';
import { type Gateway, bufferDir } from '../runtime/gateway.js';
import type { GatewayData } from './gateway-data.js';
import type { GatewayIngest } from './grpc/deps.js';
import { outputStatusSections } from './plugin-actions.js';
import type { StatusSource } from './status.js';
import { ControlPlane } from './server.js';
import { type LoadedConfig, loadConfig } from '../config/load.js';
import { configFileWritable, writeConfigFile } from '../config/config-file.js';
import { ConfigHistory, historyPath } from '../config/history.js';
import { ApiNotFoundError } from '../plugin-api/errors.js';
import type { ApplyMeta } from '../runtime/gateway.js';
import type { AppliedConfig, GatewayControl } from './deps.js';
import type { Logger } from 'pino';

/** `loaded`: the config the gateway runs with, for the outputs' status sections (cloud sync progress, ./plugin-actions.ts) */
export function statusSourceOf(gw: Gateway, startedAtMs: number, loaded?: LoadedConfig): StatusSource {
  return {
    machine: gw.config.gateway.machine,
    startedAtMs,
    machineContext: () => gw.pipeline.machineContext(),
    inputs: () => gw.stats().inputs,
    buffer: () => gw.buffer.stats(),
    outputs: () => gw.stats().forwarders,
    ready: () => gw.running,
    removedSinks: () =>
      gw.buffer
        .knownSinks()
        .filter((k) => !k.listed && k.held && k.lagRecords > 0)
        .map((k) => ({ name: k.name, lagRecords: k.lagRecords })),
    ...(loaded ? { outputSections: () => outputStatusSections(gw.loaded) } : {}),
  };
}

/** A registry with the gateway's metrics (and the process's: CPU, memory, event loop lag). */
export function gatewayMetrics(gw: Gateway): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'layergate_' });
  registerForwarderMetrics(() => gw.stats().forwarders.map((s) => ({ stats: () => s })), registry);
  const inputs = () => Object.entries(gw.stats().inputs);
  const inputCounter = (name: string, help: string, value: (c: ReturnType<Gateway['stats']>['inputs'][string]) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['input'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [input, c] of inputs()) this.inc({ input }, value(c));
      },
    });
  inputCounter('layergate_input_records_total', 'records the input stored in the buffer', (c) => c.records);
  inputCounter('layergate_input_bytes_total', 'body bytes the input stored in the buffer', (c) => c.bytes);
  new Counter({
    name: 'layergate_input_quarantined_total',
    help: 'items the input could not turn into records (counted whether or not the quarantine folder had room to keep them), by reason',
    labelNames: ['input', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [input, c] of inputs()) for (const [reason, n] of Object.entries(c.quarantinedByReason)) this.inc({ input, reason }, n);
    },
  });
  inputCounter('layergate_input_failed_emits_total', 'emits the buffer refused (nothing stored; the source redelivers)', (c) => c.failedEmits);
  const buffer = () => gw.buffer.stats();
  const bufferGauge = (name: string, help: string, value: (s: ReturnType<typeof buffer>) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(value(buffer()));
      },
    });
  bufferGauge('layergate_buffer_records', 'records in the buffer', (s) => s.records);
  bufferGauge('layergate_buffer_bytes', 'bytes the records take (rows and spooled blobs)', (s) => s.bytes);
  bufferGauge('layergate_buffer_limit_bytes', 'what the records may take: buffer.maxBytes less the WAL and reserve share', (s) => s.recordBytesLimit);
  bufferGauge('layergate_buffer_fill_ratio', 'bytes / limit', (s) => s.fill);
  bufferGauge('layergate_buffer_oldest_record_age_seconds', 'age of the oldest record in the buffer', (s) =>
    s.oldestReceiveTimeNs === null ? 0 : Math.max(0, Date.now() / 1000 - Number(s.oldestReceiveTimeNs / 1_000_000n) / 1000),
  );
  new Counter({
    name: 'layergate_buffer_evicted_records_total',
    help: 'undelivered records evicted (lost) to make room or by age, per source and class',
    labelNames: ['source', 'class'],
    registers: [registry],
    collect() {
      this.reset();
      for (const e of buffer().evictions) this.inc({ source: e.source, class: e.class }, e.records);
    },
  });
  return registry;
}

/** What the data reads (audit, quarantine, signals) need of the running gateway (./gateway-data.ts). */
export function gatewayDataOf(gw: Gateway): GatewayData {
  return {
    dataDir: gw.config.gateway.dataDir,
    bufferDir: bufferDir(gw.config),
    explain: (source, signal, kind) => {
      const e = gw.policy.explain({ source, signal, kind });
      return { class: e.classification.class, rule: e.classification.rule, routes: e.routing.routes };
    },
    unseal: (sealed) => gw.sealer.open(sealed),
    policy: () => gw.policy,
    get inputs() {
      return recordSources(gw.config);
    },
    jobMark: (build) => gw.pipeline.jobMark(build),
  };
}

/**
 * The control plane of a running gateway, wired one way for `layergate run`, the tests and the
 * benchmarks: status, metrics, buffer, data reads and configuration all read from `gw`. Throws
 * when it cannot start (the caller decides: `layergate run` logs it and runs on without the API).
 */
export function startControlPlane(gw: Gateway, loaded: LoadedConfig, log: Logger = gw.log): Promise<ControlPlane> {
  const registry = gatewayMetrics(gw);
  return ControlPlane.start({
    config: gw.config.api,
    dataDir: gw.config.gateway.dataDir,
    log,
    audit: gw.audit,
    source: statusSourceOf(gw, Date.now(), loaded),
    metrics: async () => ({ contentType: registry.contentType, text: await registry.metrics() }),
    buffer: () => gw.buffer,
    data: gatewayDataOf(gw),
    loaded: () => gw.loaded,
    control: gatewayControlOf(gw),
    ingest: gatewayIngestOf(gw),
  });
}

/** The data path as the gRPC API's Store and StreamRecords use it. */
export function gatewayIngestOf(gw: Gateway): GatewayIngest {
  return {
    context: (name) => gw.pipeline.contextFor(name),
    onAppend: (listener) => {
      gw.buffer.on('append', listener);
      return () => gw.buffer.off('append', listener);
    },
  };
}

/**
 * The API's changes to the running gateway: a candidate text loads as the file would (from the
 * file's place, so relative paths mean the same), is applied (`Gateway.apply`), and is then written
 * to the file the gateway started from when it may write it (gateway/config/config-file.ts).
 */
export function gatewayControlOf(gw: Gateway): GatewayControl {
  const apply = async (text: string, meta: ApplyMeta): Promise<AppliedConfig> => {
    const origin = gw.loaded.origin;
    const file = origin.startsWith('(') ? undefined : origin;
    const candidate = loadConfig({ text, ...(file ? { file } : {}) });
    const cannotWrite = file ? configFileWritable(file) : undefined;
    const result = await gw.apply(candidate, meta);
    if (!file) return { ...result, file: null };
    if (cannotWrite) {
      gw.log.warn(
        { file, version: result.version, reason: cannotWrite },
        'the applied configuration runs, but its file still holds the one before: a restart goes back to it',
      );
      return { ...result, file: { path: file, written: false, reason: cannotWrite } };
    }
    try {
      writeConfigFile(file, text);
      return { ...result, file: { path: file, written: true } };
    } catch (err) {
      const reason = `${file}: ${(err as Error).message}`;
      gw.log.warn({ err, file, version: result.version }, 'the applied configuration runs, but its file could not be written: a restart goes back to it');
      return { ...result, file: { path: file, written: false, reason } };
    }
  };
  return {
    apply,
    rollback: async (version, meta) => {
      const history = new ConfigHistory(historyPath(gw.config.gateway.dataDir));
      let text: string | undefined;
      try {
        text = history.text(version);
      } finally {
        history.close();
      }
      if (text === undefined) throw new ApiNotFoundError(`no configuration version ${version}`);
      return apply(text, meta);
    },
    sinks: () => gw.buffer.knownSinks(),
    dropSink: (name, by) => {
      const dropped = gw.buffer.dropSink(name);
      gw.audit.append('sink-dropped', { sink: name, by, ...dropped });
      gw.log.warn({ sink: name, by, ...dropped }, "a removed output's sink was dropped: its undelivered records are in the loss ledger");
      return dropped;
    },
  };
}
