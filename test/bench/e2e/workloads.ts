/**
 * The design workloads of shared/DOMAIN.md as the end-to-end benchmark offers them, and what one
 * offered unit becomes in the gateway: W1 process values (5,000 OPC-UA items at 10 Hz plus 200 MQTT
 * JSON scalars at 1 Hz), W2 melt pool (100 blocks/s of 4 x 1,000 float32 samples while the laser is
 * on: 60 s on, 10 s recoat), W3 frames (two 2048x2048 8-bit frames per 30 s layer, thumbnails on),
 * W12 (W1 and W2 at once, the memory target's load) and W123, all three at once. `--scale` multiplies each rate: W1 by more items and topics at the same
 * frequency, W2 by more blocks per second, W3 by shorter layers.
 */
import type { RecordKind } from '../../../gateway/plugin-api/record.js';

export const WORKLOADS = ['W1', 'W2', 'W3', 'W12', 'W123'] as const;
export type WorkloadName = (typeof WORKLOADS)[number];
export const SINKS = ['lake', 'kafka', 'redis', 'minio', 'cloud'] as const;
export type SinkName = (typeof SINKS)[number];

export const OPCUA_NS_URI = 'urn:layergate:bench-e2e';
/** W1's OPC-UA load server (`--opcua-server`): Eclipse Milo (Java, the default) or node-opcua (load.ts) */
export const OPCUA_SERVERS = ['milo', 'node-opcua'] as const;
export type OpcuaServerName = (typeof OPCUA_SERVERS)[number];
export const OPCUA_ITEMS = 5000;
export const OPCUA_HZ = 10;
export const MQTT_TOPICS = 200;
export const MQTT_HZ = 1;
export const BLOCKS_PER_S = 100;
export const BLOCK_SAMPLES = 1000;
export const BLOCK_CHANNELS = ['photodiode', 'pyrometer', 'photodiode_2', 'pyrometer_2'];
export const BLOCK_RATE_HZ = 100_000;
export const LASER_ON_MS = 60_000;
export const RECOAT_MS = 10_000;
/** a layer every 30 s, two frames per layer */
export const FRAME_PERIOD_MS = 15_000;

/** One load generator of a workload (a mode of load.ts) and what its units become. */
export interface LoadPart {
  /** a label: opcua, mqtt-scalars, mqtt-blocks, frames */
  part: 'opcua' | 'mqtt-scalars' | 'mqtt-blocks' | 'frames';
  /** records per offered unit (a frame file gives the frame and its thumbnail) */
  recordsPerUnit: number;
  /** samples per unit (all channels), for W2 */
  samplesPerUnit: number;
  /** the record kind these records have */
  kind: RecordKind;
  /** class of the records as the input proposes it (frames are sensitive: they show part geometry) */
  cls: 'internal' | 'sensitive';
  /** nominal units per second at scale 1 (W2: while the laser is on) */
  ratePerS: number;
}

export function partsOf(w: WorkloadName): LoadPart[] {
  const opcua: LoadPart = { part: 'opcua', recordsPerUnit: 1, samplesPerUnit: 0, kind: 'scalar', cls: 'internal', ratePerS: OPCUA_ITEMS * OPCUA_HZ };
  const scalars: LoadPart = { part: 'mqtt-scalars', recordsPerUnit: 1, samplesPerUnit: 0, kind: 'scalar', cls: 'internal', ratePerS: MQTT_TOPICS * MQTT_HZ };
  const blocks: LoadPart = {
    part: 'mqtt-blocks',
    recordsPerUnit: 1,
    samplesPerUnit: BLOCK_SAMPLES * BLOCK_CHANNELS.length,
    kind: 'samples',
    cls: 'internal',
    ratePerS: BLOCKS_PER_S,
  };
  const frames: LoadPart = { part: 'frames', recordsPerUnit: 2, samplesPerUnit: 0, kind: 'frame', cls: 'sensitive', ratePerS: 1000 / FRAME_PERIOD_MS };
  switch (w) {
    case 'W1':
      return [opcua, scalars];
    case 'W2':
      return [blocks];
    case 'W3':
      return [frames];
    case 'W12':
      return [opcua, scalars, blocks];
    case 'W123':
      return [opcua, scalars, blocks, frames];
  }
}

/** Whether a sink takes records of this class (the cloud is off premises: no sensitive records). */
export function sinkTakes(sink: SinkName, part: LoadPart): boolean {
  return !(sink === 'cloud' && part.cls === 'sensitive');
}

export function describeWorkload(w: WorkloadName, scale: number): string {
  const f = (x: number) => Math.round(x).toLocaleString('en-US');
  const d: Record<WorkloadName, string> = {
    W1: `W1 process values: ${f(OPCUA_ITEMS * scale)} OPC-UA items x ${OPCUA_HZ} Hz + ${f(MQTT_TOPICS * scale)} MQTT JSON topics x ${MQTT_HZ} Hz = ${f((OPCUA_ITEMS * OPCUA_HZ + MQTT_TOPICS * MQTT_HZ) * scale)} values/s`,
    W2: `W2 melt pool: ${f(BLOCKS_PER_S * scale)} blocks/s of ${BLOCK_CHANNELS.length} x ${f(BLOCK_SAMPLES)} float32 (${f(BLOCKS_PER_S * scale * BLOCK_SAMPLES * BLOCK_CHANNELS.length)} samples/s) while the laser is on (60 s on, 10 s recoat)`,
    W3: `W3 frames: a 2048x2048 8-bit PNG every ${(FRAME_PERIOD_MS / 1000 / scale).toFixed(1)} s, thumbnails on`,
    W12: 'W1+W2 together',
    W123: 'W1+W2+W3 together',
  };
  return d[w];
}
