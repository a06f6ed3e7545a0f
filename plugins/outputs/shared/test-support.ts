/**
 * Test and benchmark setup shared by the kafka, redis and minio outputs: the real SQLite buffer, the real
 * Pipeline (routing by class) and one real Forwarder per sink in front of the outputs, fed either by
 * hand-made records or by the simulator (melt-pool blocks and events over the harness's Mosquitto,
 * powder-bed frames through a drop folder) through the real mqtt and frames inputs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { openBuffer } from '../../../gateway/buffer/index.js';
import type { RecordBuffer } from '../../../gateway/buffer/types.js';
import { Forwarder, outputContext } from '../../../gateway/forwarder.js';
import type { ForwarderOptions } from '../../../gateway/forwarder.js';
import { Pipeline } from '../../../gateway/pipeline.js';
import type { InputPlugin, OutputPlugin, RecordDraft } from '../../../gateway/plugin.js';
import { CONTENT_TYPES } from '../../../gateway/record.js';
import type { SensitivityClass, StoredRecord } from '../../../gateway/record.js';
import { definition as framesInput } from '../../inputs/frames/index.js';
import { definition as mqttInput } from '../../inputs/mqtt/index.js';
import { makeConfig } from '../../../simulator/config.js';
import { Simulator } from '../../../simulator/engine.js';
import { MQTT } from '../../../test/services/endpoints.js';
import { waitFor } from '../../../test/support/wait.js';

export const silent = pino({ level: process.env.LG_TEST_LOG ?? 'silent' });

export interface SinkSpec {
  name: string;
  plugin: OutputPlugin;
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
  emit(drafts: RecordDraft[], input?: string): Promise<void>;
  /** every record routed to `sink` (`all`: every record), acked or not */
  routed(sink: string): StoredRecord[];
  /** wait until the sink's cursor reached the newest record routed to it */
  drained(sink: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

let rigCount = 0;

export async function sinkRig(sinks: SinkSpec[]): Promise<SinkRig> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lg-sinks-'));
  // ledger sinks are never forwarded: `ledger:<sink>` keeps every record routed to <sink>, `ledger:all` every record
  const ledgers = [...sinks.map((s) => `ledger:${s.name}`), 'ledger:all'];
  const buffer = openBuffer({ dir: path.join(dataDir, 'buffer'), maxBytes: 1024 * 1024 * 1024, sinks: [...sinks.map((s) => s.name), ...ledgers] }, silent);
  const pipeline = new Pipeline({
    buffer, dataDir, quarantineMaxBytes: 16 << 20, log: silent,
    outputs: [
      ...sinks.map((s) => ({ name: s.name, plugin: s.plugin, classes: s.classes })),
      ...sinks.map((s) => ({ name: `ledger:${s.name}`, plugin: s.plugin, classes: s.classes })),
      // an on-premises ledger, so routing gives it every class
      { name: 'ledger:all', plugin: { premises: 'on' as const } },
    ],
  });
  const forwarders = new Map<string, Forwarder>();
  for (const s of sinks) {
    await s.plugin.start(outputContext(s.name, buffer, silent));
    const f = new Forwarder({
      buffer, output: s.plugin, name: s.name, log: silent, dataDir,
      backoff: { initialMs: 100, maxMs: 1000 }, sendTimeoutMs: 20_000, ...(s.plugin.linger !== undefined ? { linger: s.plugin.linger } : {}),
      ...s.forwarder,
    });
    f.start();
    forwarders.set(s.name, f);
  }
  rigCount++;
  return {
    dataDir, buffer, pipeline, forwarders,
    emit: (drafts, input = 'test') => pipeline.contextFor(input).emit(drafts),
    routed: (sink) => buffer.read(`ledger:${sink}`, 10_000_000, Number.MAX_SAFE_INTEGER),
    drained: async (sink, timeoutMs = 60_000) => {
      await waitFor(`sink ${sink} drained`, () => {
        const s = buffer.stats().sinks.find((x) => x.sink === sink);
        return s !== undefined && s.lagRecords === 0;
      }, timeoutMs, 50);
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
      signal, kind: 'scalar' as const, class: cls, contentType: CONTENT_TYPES.scalar, build: 'JOB-7', layer: 1 + (v % 5),
      sourceTimeNs: 1_764_000_000_000_000_000n + BigInt(v) * 1_000_000n, body: Buffer.from(JSON.stringify({ v, unit: 'ppm' })), ...extra,
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
    signal, kind: 'samples', class: cls, contentType: CONTENT_TYPES.samplesF32, build: 'JOB-7', layer: 3,
    sourceTimeNs: 1_764_000_000_000_000_000n + BigInt(first) * 100_000n, body,
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
  const mqtt = mqttInput.create(mqttInput.configSchema.parse({
    url: MQTT.url, username: MQTT.username, password: MQTT.password, clientId: `lg-outputs-in-${id}`, cleanSession: true,
    subscriptions: [
      { topic: `${prefix}/meltpool/binary`, decoder: 'binary-block', signal: 'meltpool.{3}' },
      { topic: `${prefix}/meltpool/json`, decoder: 'json-block', signal: 'meltpool.{3}', class: 'sensitive' },
      { topic: `${prefix}/events`, decoder: 'event' },
    ],
  }), { dataDir: r.dataDir, machine: 'pbf-sim' }) as InputPlugin & { ready(): Promise<void>; stats(): { records: number } };
  await mqtt.start(r.pipeline.contextFor('mqtt'));
  await mqtt.ready();
  inputs.push(mqtt);
  let frames: InputPlugin | undefined;
  if (opts.frames) {
    frames = framesInput.create(framesInput.configSchema.parse({
      dropDir, release: 'delete', stableFor: 200, thumbnail: { enabled: false },
    }), { dataDir: r.dataDir, machine: 'pbf-sim' });
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
    mqtt: { url: MQTT.url, username: MQTT.username, password: MQTT.password, clientId: `lg-outputs-sim-${id}`, topicPrefix: prefix, formats: ['binary', 'json'], sparkplugGroup: null, sparkplugRateHz: 10 },
    ...(opts.frames ? { camera: { dropDir } } : {}),
    controlPort: null,
  });
  await sim.start();
  return {
    sim, inputs,
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
