/**
 * The gateway config of one benchmark case: the workload's inputs (OPC-UA against the bench server,
 * MQTT against the shared Mosquitto, the frames drop folder) and exactly one output, the sink under
 * test, against the shared servers of test/services/endpoints.ts under names of its own (topic
 * prefix, key prefix, bucket) so cases never see each other's data. Everything else is the default a
 * plant would run with (buffer synchronous FULL, default batch sizes and lingers), except the log
 * level (warn).
 * Written as JSON, which the YAML loader reads as is.
 */
import { outputEnvelopeSchema } from '../../../gateway/config/schema.js';
import { registry } from '../../../gateway/runtime/registry.js';
import { KAFKA, MINIO_CLOUD, MINIO_LOCAL, MQTT, REDIS } from '../../services/endpoints.js';
import { MQTT_TOPICS, OPCUA_ITEMS, OPCUA_NS_URI, partsOf } from './workloads.js';
import type { SinkName, WorkloadName } from './workloads.js';

export const MACHINE = 'bench-e2e';

/** The names a case writes under on the shared servers (also what the cleanup removes). */
export interface CaseNames {
  /** unique per case: letters, digits and '-' */
  id: string;
  kafkaPrefix: string;
  redisPrefix: string;
  bucket: string;
  mqttBase: string;
  mqttClientId: string;
}

export function caseNames(id: string): CaseNames {
  return {
    id,
    kafkaPrefix: `lge2e-${id}`,
    redisPrefix: `lge2e:${id}`,
    bucket: `lge2e-${id}`.toLowerCase(),
    mqttBase: `lg-e2e/${id}`,
    mqttClientId: `lg-e2e-gw-${id}`,
  };
}

/** Settings given with `--set <sink>.<key>=<value>`, laid over a sink's defaults (e.g. kafka.grouping=partition). */
const overrides = new Map<SinkName, Record<string, unknown>>();

export function setOutputOverride(sink: SinkName, key: string, value: unknown): void {
  overrides.set(sink, { ...overrides.get(sink), [key]: value });
}

export function outputConfig(sink: SinkName, names: CaseNames): Record<string, unknown> {
  return { ...defaultOutputConfig(sink, names), ...overrides.get(sink) };
}

function defaultOutputConfig(sink: SinkName, names: CaseNames): Record<string, unknown> {
  switch (sink) {
    case 'lake':
      return { type: 'file-lake' };
    case 'kafka':
      return { type: 'kafka', brokers: [...KAFKA.brokers], topicPrefix: names.kafkaPrefix };
    case 'redis':
      return { type: 'redis', url: REDIS.url, keyPrefix: names.redisPrefix };
    case 'minio':
      return {
        type: 'minio',
        endPoint: MINIO_LOCAL.endPoint,
        port: MINIO_LOCAL.port,
        tls: false,
        accessKey: MINIO_LOCAL.accessKey,
        secretKey: MINIO_LOCAL.secretKey,
        bucket: names.bucket,
      };
    case 'cloud':
      return {
        type: 'cloud',
        endpoint: `http://${MINIO_CLOUD.endPoint}:${MINIO_CLOUD.port}`,
        bucket: names.bucket,
        accessKey: MINIO_CLOUD.accessKey,
        secretKey: MINIO_CLOUD.secretKey,
      };
  }
}

export interface CaseEndpoints {
  opcuaEndpoint?: string;
  dropDir?: string;
}

export function gatewayConfig(
  workload: WorkloadName,
  sink: SinkName,
  scale: number,
  dataDir: string,
  names: CaseNames,
  ep: CaseEndpoints,
): Record<string, unknown> {
  const parts = new Set(partsOf(workload).map((p) => p.part));
  const inputs: Record<string, unknown> = {};
  if (parts.has('opcua')) {
    const n = Math.round(OPCUA_ITEMS * scale);
    inputs.opcua = {
      type: 'opcua',
      endpoint: ep.opcuaEndpoint,
      namespaces: { B: OPCUA_NS_URI },
      // report by exception: the items change at exactly 10 Hz, and the server need not poll 5,000 timers
      samplingInterval: 0,
      // the bench server is not a machine model: nothing to follow
      machine: { enabled: false },
      items: Array.from({ length: n }, (_, i) => ({ node: `ns=B;s=v${i}`, signal: `w1.opcua.v${i}` })),
    };
  }
  const subscriptions: Record<string, unknown>[] = [];
  if (parts.has('mqtt-scalars')) {
    // <base>/scalars/<i>: segment 3 is the topic number
    subscriptions.push({ topic: `${names.mqttBase}/scalars/+`, decoder: 'json', signal: 'w1.mqtt.{3}', json: { value: 'value', timestamp: 'ts' } });
  }
  if (parts.has('mqtt-blocks')) subscriptions.push({ topic: `${names.mqttBase}/meltpool`, decoder: 'binary-block', signal: 'meltpool' });
  if (subscriptions.length > 0) {
    inputs.mqtt = { type: 'mqtt', url: MQTT.url, username: MQTT.username, password: MQTT.password, clientId: names.mqttClientId, subscriptions };
  }
  if (parts.has('frames')) inputs.camera = { type: 'frames', dropDir: ep.dropDir };
  return {
    gateway: { machine: MACHINE, dataDir },
    log: { level: 'warn' },
    inputs,
    outputs: { [sink]: outputConfig(sink, names) },
  };
}

/**
 * The forwarder settings the gateway will use for this sink (the plugin's preferences, as
 * `Gateway.start` resolves them): a partial batch younger than the linger is waiting by design, not behind.
 */
export function forwarderSettings(sink: SinkName, names: CaseNames): { lingerMs: number; batchRecords: number } {
  // the forwarder keys (`--set kafka.batchRecords=2000`) are the gateway's and win over the plugin's preference
  const { type, linger, batchRecords, batchBytes: _, ...settings } = outputConfig(sink, names);
  const forwarder = outputEnvelopeSchema.pick({ linger: true, batchRecords: true }).parse({ linger, batchRecords });
  const def = registry.outputs.get(type as string)!;
  const caps = def.capabilities(def.configSchema.parse(settings));
  return { lingerMs: forwarder.linger ?? caps.linger ?? 0, batchRecords: forwarder.batchRecords ?? caps.batchRecords ?? 500 };
}

/** the MQTT topic count of W1 at this scale */
export const mqttTopics = (scale: number): number => Math.max(1, Math.round(MQTT_TOPICS * scale));
