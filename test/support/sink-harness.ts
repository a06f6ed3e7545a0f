/**
 * Test and benchmark setup shared by the kafka, redis and minio outputs: the real SQLite buffer, the real
 * Pipeline (routing by class) and one real Forwarder per sink in front of the outputs, fed either by
 * hand-made records or by the simulator (melt-pool blocks and events over the harness's Mosquitto,
 * powder-bed frames through a drop folder) through the real mqtt and frames inputs; and the sink
 * outage scenario the three restart tests share (`sinkOutage`).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { Logger } from 'pino';
import { expect } from 'vitest';
import { openBuffer } from '../../gateway/buffer/index.js';
import type { RecordBuffer } from '../../gateway/buffer/types.js';
import { Forwarder } from '../../gateway/forward/forwarder.js';
import { outputContext } from '../../gateway/forward/output-context.js';
import type { ForwarderOptions } from '../../gateway/forward/forwarder.js';
import { Pipeline } from '../../gateway/ingest/pipeline.js';
import type { EmitResult, InputPlugin, OutputCapabilities, OutputPlugin, RecordDraft } from '../../gateway/plugin-api/contract.js';
import { CONTENT_TYPES } from '../../gateway/plugin-api/record.js';
import type { SensitivityClass, StoredRecord } from '../../gateway/plugin-api/record.js';
import { definition as framesInput } from '../../plugins/inputs/frames/index.js';
import { definition as mqttInput } from '../../plugins/inputs/mqtt/index.js';
import { makeConfig } from '../../simulator/config.js';
import { Simulator } from '../../simulator/engine.js';
import { MQTT } from '../services/endpoints.js';
import { sleep, waitFor } from './wait.js';

export const silent = pino({ level: process.env.LG_TEST_LOG ?? 'silent' });

/** A logger that keeps every line it writes (parsed), to assert what an operator would see. */
export function recordingLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

export interface SinkSpec {
  name: string;
  plugin: OutputPlugin;
  /** what the output's definition declares for its config (default: on premises, no linger, as kafka, redis and minio) */
  capabilities?: OutputCapabilities;
  /** route only these classes here (the config's `classes:`) */
  classes?: SensitivityClass[];
  forwarder?: Partial<ForwarderOptions>;
}

export interface SinkRig {
  dataDir: string;
  buffer: RecordBuffer;
  pipeline: Pipeline;
  forwarders: Map<string, Forwarder>;
  /** emit drafts as input `name` (classified, routed, committed) */
  emit(drafts: RecordDraft[], input?: string): Promise<EmitResult>;
  /** every record routed to `sink` (`all`: every record), acked or not */
  routed(sink: string): StoredRecord[];
  /** wait until the sink's cursor reached the newest record routed to it */
  drained(sink: string, timeoutMs?: number): Promise<void>;
  /**
   * Stop the sink's forwarder and output and start `plugin` in its place with a new forwarder on the same
   * cursor: what a gateway restarted with a corrected sink config does.
   */
  replaceOutput(sink: string, plugin: OutputPlugin): Promise<void>;
  close(): Promise<void>;
}

let rigCount = 0;

const capabilitiesOf = (s: SinkSpec): OutputCapabilities => s.capabilities ?? { premises: 'on' };

export async function sinkRig(sinks: SinkSpec[]): Promise<SinkRig> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lg-sinks-'));
  // ledger sinks are never forwarded: `ledger:<sink>` keeps every record routed to <sink>, `ledger:all` every record
  const ledgers = [...sinks.map((s) => `ledger:${s.name}`), 'ledger:all'];
  const buffer = openBuffer({ dir: path.join(dataDir, 'buffer'), maxBytes: 1024 * 1024 * 1024, sinks: [...sinks.map((s) => s.name), ...ledgers] }, silent);
  const pipeline = new Pipeline({
    buffer,
    dataDir,
    quarantineMaxBytes: 16 << 20,
    log: silent,
    outputs: [
      ...sinks.map((s) => ({ name: s.name, plugin: capabilitiesOf(s), classes: s.classes })),
      ...sinks.map((s) => ({ name: `ledger:${s.name}`, plugin: capabilitiesOf(s), classes: s.classes })),
      // an on-premises ledger, so routing gives it every class
      { name: 'ledger:all', plugin: { premises: 'on' as const } },
    ],
  });
  const forwarders = new Map<string, Forwarder>();
  const startSink = async (s: SinkSpec): Promise<void> => {
    await s.plugin.start(outputContext(s.name, buffer, silent));
    const f = new Forwarder({
      buffer,
      output: s.plugin,
      name: s.name,
      log: silent,
      dataDir,
      premises: capabilitiesOf(s).premises,
      backoff: { initialMs: 100, maxMs: 1000 },
      sendTimeoutMs: 20_000,
      ...(s.capabilities?.linger !== undefined ? { linger: s.capabilities.linger } : {}),
      ...s.forwarder,
    });
    f.start();
    forwarders.set(s.name, f);
  };
  for (const s of sinks) await startSink(s);
  rigCount++;
  return {
    dataDir,
    buffer,
    pipeline,
    forwarders,
    emit: (drafts, input = 'test') => pipeline.contextFor(input).emit(drafts),
    routed: (sink) => buffer.read(`ledger:${sink}`, 10_000_000, Number.MAX_SAFE_INTEGER),
    drained: async (sink, timeoutMs = 60_000) => {
      await waitFor(
        `sink ${sink} drained`,
        () => {
          const s = buffer.stats().sinks.find((x) => x.sink === sink);
          return s !== undefined && s.lagRecords === 0;
        },
        timeoutMs,
        50,
      );
    },
    replaceOutput: async (sink, plugin) => {
      const i = sinks.findIndex((s) => s.name === sink);
      const old = sinks[i]!;
      await forwarders.get(sink)!.stop();
      await old.plugin.stop().catch(() => undefined);
      sinks[i] = { ...old, plugin };
      await startSink(sinks[i]!);
    },
    close: async () => {
      await Promise.all([...forwarders.values()].map((f) => f.stop()));
      for (const s of sinks) await s.plugin.stop().catch(() => undefined);
      buffer.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

let value = 0;
/** n scalar drafts of one signal, class as given */
export function scalarDrafts(n: number, signal: string, cls: SensitivityClass = 'internal', extra: Partial<RecordDraft> = {}): RecordDraft[] {
  return Array.from({ length: n }, () => {
    const v = value++;
    return {
      signal,
      kind: 'scalar' as const,
      class: cls,
      contentType: CONTENT_TYPES.scalar,
      build: 'JOB-7',
      layer: 1 + (v % 5),
      sourceTimeNs: 1_764_000_000_000_000_000n + BigInt(v) * 1_000_000n,
      body: Buffer.from(JSON.stringify({ v, unit: 'ppm' })),
      ...extra,
    };
  });
}

/** a melt-pool-like samples block draft: `frames` samples of 2 channels */
export function samplesDraft(signal: string, first: number, frames: number, cls: SensitivityClass = 'internal'): RecordDraft {
  const body = Buffer.alloc(frames * 8);
  for (let i = 0; i < frames; i++) {
    body.writeFloatLE(Math.sin((first + i) / 10), i * 8);
    body.writeFloatLE(1500 + ((first + i) % 100), i * 8 + 4);
  }
  return {
    signal,
    kind: 'samples',
    class: cls,
    contentType: CONTENT_TYPES.samplesF32,
    build: 'JOB-7',
    layer: 3,
    sourceTimeNs: 1_764_000_000_000_000_000n + BigInt(first) * 100_000n,
    body,
    attributes: { channels: 'photodiode,pyrometer', sample_rate_hz: '10000', first_sample: String(first) },
  };
}

export interface SimulatedSource {
  sim: Simulator;
  inputs: InputPlugin[];
  /** wait until every message and frame the simulator published is committed to the buffer */
  committed(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The simulator as the source: melt-pool blocks as binary (class internal) and JSON (class sensitive)
 * over MQTT, machine events, and powder-bed frames into a drop folder, read by the real mqtt and frames
 * inputs into the rig's pipeline. Topics are unique per call, so parallel test files never meet.
 */
export async function simulatorSource(r: SinkRig, opts: { layers?: number; frames?: boolean } = {}): Promise<SimulatedSource> {
  const id = `${process.pid}-${rigCount}-${Date.now() % 100000}`;
  const prefix = `lg-outputs/${id}`;
  const dropDir = path.join(r.dataDir, 'camera-drop');
  const inputs: InputPlugin[] = [];
  const mqtt = mqttInput.create(
    mqttInput.configSchema.parse({
      url: MQTT.url,
      username: MQTT.username,
      password: MQTT.password,
      clientId: `lg-outputs-in-${id}`,
      cleanSession: true,
      subscriptions: [
        { topic: `${prefix}/meltpool/binary`, decoder: 'binary-block', signal: 'meltpool.{3}' },
        { topic: `${prefix}/meltpool/json`, decoder: 'json-block', signal: 'meltpool.{3}', class: 'sensitive' },
        { topic: `${prefix}/events`, decoder: 'event' },
      ],
    }),
    { dataDir: r.dataDir, machine: 'pbf-sim' },
  ) as InputPlugin & { ready(): Promise<void>; stats(): { records: number } };
  await mqtt.start(r.pipeline.contextFor('mqtt'));
  await mqtt.ready();
  inputs.push(mqtt);
  let frames: InputPlugin | undefined;
  if (opts.frames) {
    frames = framesInput.create(
      framesInput.configSchema.parse({
        dropDir,
        release: 'delete',
        stableFor: 200,
        thumbnail: { enabled: false },
      }),
      { dataDir: r.dataDir, machine: 'pbf-sim' },
    );
    await frames.start(r.pipeline.contextFor('camera'));
    inputs.push(frames);
  }
  const sim = new Simulator({
    cfg: makeConfig({
      seed: 11,
      job: { totalLayers: opts.layers ?? 2 },
      timing: { idleS: 0, inertingS: 0.2, layerS: 0.5, recoatS: 0.1, speed: 2 },
      meltPool: { rateHz: 10_000, blockSize: 250 },
    }),
    dataDir: r.dataDir,
    log: silent,
    mqtt: {
      url: MQTT.url,
      username: MQTT.username,
      password: MQTT.password,
      clientId: `lg-outputs-sim-${id}`,
      topicPrefix: prefix,
      formats: ['binary', 'json'],
      sparkplugGroup: null,
      sparkplugRateHz: 10,
    },
    ...(opts.frames ? { camera: { dropDir } } : {}),
    controlPort: null,
  });
  await sim.start();
  return {
    sim,
    inputs,
    committed: async () => {
      await sim.finished;
      const published = sim.state().counters.mqttPublished;
      await waitFor(`${published} MQTT messages committed`, () => mqtt.stats().records >= published, 60_000);
      if (frames) {
        const written = sim.state().counters.framesWritten;
        await waitFor(`${written} frames committed`, () => r.routed('all').filter((x) => x.kind === 'frame').length >= written, 60_000);
      }
    },
    stop: async () => {
      await sim.stop().catch(() => undefined);
      for (const i of inputs.reverse()) await i.stop().catch(() => undefined);
    },
  };
}

/** A steady stream into the rig: `burst()` emitted, then `pauseMs` of rest, until `stop()`. */
export function steadyStream(r: SinkRig, burst: () => RecordDraft[], pauseMs: number): { stop(): Promise<void> } {
  let streaming = true;
  const running = (async () => {
    while (streaming) {
      await r.emit(burst());
      await sleep(pauseMs);
    }
  })();
  return {
    stop: async () => {
      streaming = false;
      await running;
    },
  };
}

export interface SinkOutage {
  /** names the run in the printed line, e.g. `redis restart` */
  label: string;
  r: SinkRig;
  /** the sink whose server goes down, and the other sink that must keep delivering meanwhile */
  sink: string;
  other: string;
  /** the server as the printed line names it (`broker`, `Redis`) and how it went down, if worth saying */
  server: string;
  downHow?: string;
  /** what the duplicates are counted in, for the printed line */
  duplicatesIn: string;
  /** the stream while the server goes down: one burst of records, then a pause */
  burst: () => RecordDraft[];
  pauseMs: number;
  /** the sink must have sent this many records (within the time) before the server is stopped */
  deliveringBefore: number;
  deliveringTimeoutMs: number;
  /** how long the server stays down while the stream goes on */
  downMs: number;
  /** while down: the other sink delivered more than this, its lag stayed below this; the sink's lag grew above this */
  otherDeliveredAbove: number;
  otherLagBelow: number;
  sinkLagAbove: number;
  stopServer(): Promise<void>;
  startServer(): Promise<void>;
  drainTimeoutMs: number;
  /** after the backlog drained, before the accounting (e.g. a second, harder outage) */
  afterDrain?: () => Promise<void>;
  /** every seq the sink's server holds, read back without the gateway (repeats included), given the routed records */
  readBack(routed: StoredRecord[]): Promise<number[]>;
}

/**
 * The outage scenario of the sink restart tests: stream records, stop the sink's server, check that
 * the other sink keeps delivering while this one lags and fails, stop the stream, start the server,
 * wait for the backlog to drain, then account for every seq routed to the sink in what its server
 * holds, and print the drain rate.
 */
export async function sinkOutage(o: SinkOutage): Promise<void> {
  const { r } = o;
  const stream = steadyStream(r, o.burst, o.pauseMs);
  let downAt: number;
  try {
    await waitFor(`${o.sink} delivering`, () => r.forwarders.get(o.sink)!.stats().sentRecords >= o.deliveringBefore, o.deliveringTimeoutMs);
    await o.stopServer();
    downAt = Date.now();
    const otherBefore = r.forwarders.get(o.other)!.stats().sentRecords;
    await sleep(o.downMs);
    const during = r.forwarders.get(o.sink)!.stats();
    const otherDuring = r.forwarders.get(o.other)!.stats();
    // the other sink kept delivering while this one's server was down; this one's lag grew
    expect(otherDuring.sentRecords - otherBefore).toBeGreaterThan(o.otherDeliveredAbove);
    expect(otherDuring.lagRecords).toBeLessThan(o.otherLagBelow);
    expect(during.lagRecords).toBeGreaterThan(o.sinkLagAbove);
    expect(during.failures).toBeGreaterThan(0);
  } finally {
    // a failed expectation must not leave the stream emitting into a rig the test closes
    await stream.stop();
  }
  const backlog = r.forwarders.get(o.sink)!.stats().lagRecords;
  const upAt = Date.now();
  await o.startServer();
  const readyAt = Date.now();
  await r.drained(o.sink, o.drainTimeoutMs);
  const drainS = (Date.now() - readyAt) / 1000;
  const startS = (readyAt - upAt) / 1000;
  await o.afterDrain?.();
  const routed = r.routed(o.sink);
  const seqs = await o.readBack(routed);
  expect([...new Set(seqs)].sort((a, b) => a - b)).toEqual(routed.map((x) => x.seq));
  const stats = r.forwarders.get(o.sink)!.stats();
  console.log(
    `[${o.label}] ${routed.length} records, ${o.server} down ${((upAt - downAt) / 1000).toFixed(1)} s${o.downHow ? ` (${o.downHow})` : ''}, backlog ${backlog} records drained in ${drainS.toFixed(1)} s after ${o.server} answered (${startS.toFixed(1)} s to start) ` +
      `(${Math.round(backlog / drainS)} records/s, first retry after backoff included), duplicates ${o.duplicatesIn}: ${seqs.length - new Set(seqs).size}, retries ${stats.retries}, errors ${JSON.stringify(stats.errorsByKind)}`,
  );
}

/**
 * The sink refuses everything because of its configuration (wrong credentials, no permission, a missing
 * bucket or topic): wait for a few retries, then check that it shows as a failing sink and nothing was
 * diverted. The `n` records stay in the buffer (lag says so), nothing is quarantined, and the reason and
 * what to fix were logged at error once, not at every retry (failureLogIntervalMs is 60 s by default).
 */
export async function expectSinkConfigFailing(rig: SinkRig, sink: string, n: number, reason: string, lines: Record<string, unknown>[]): Promise<void> {
  const f = rig.forwarders.get(sink)!;
  await waitFor(`sink ${sink} retried ${reason}`, () => (f.stats().errorsByKind[reason] ?? 0) >= 3, 60_000, 50);
  const stats = f.stats();
  expect(stats).toMatchObject({ sentRecords: 0, quarantinedRecords: 0, permanentFailures: 0, lagRecords: n, cursor: 0 });
  expect(stats.configFailure).toMatchObject({ reason });
  expect(stats.configFailure!.action.length).toBeGreaterThan(0);
  expect(rig.buffer.stats().sinks.find((x) => x.sink === sink)).toMatchObject({ lagRecords: n });
  expect(existsSync(path.join(rig.dataDir, 'quarantine', 'outputs', sink))).toBe(false);
  const errors = lines.filter((l) => l.level === 50 && l.sink === sink);
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatchObject({ reason, action: stats.configFailure!.action, lagRecords: n });
  expect(String(errors[0]!.msg)).toContain(`configuration (${reason})`);
}
