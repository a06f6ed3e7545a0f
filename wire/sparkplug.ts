/**
 * Sparkplug B (Eclipse Sparkplug 3.0, namespace spBv1.0): the payload codec and the topic namespace.
 * Payloads are `org.eclipse.tahu.protobuf.Payload` (proto/sparkplug_b/sparkplug_b.proto); a machine's
 * edge node encodes NBIRTH/DBIRTH/NDATA/DDATA/NDEATH with this, the MQTT input decodes them and
 * encodes its rebirth NCMD with it. The edge-node behaviour (aliases, births, report by exception)
 * is the simulator's; sessions and alias tables on the receiving side are the MQTT input's.
 *
 * Constraint: payload and metric types are derived from the types generated from the proto; decoded
 * 64-bit values (timestamps, aliases, seq, bdSeq) are JS numbers (Sparkplug's are ms times and
 * small counters, far below 2^53).
 */
import { SparkplugFormatError } from './errors.js';
import type { org } from './generated/proto.js';
import { protoTypeGetter, type PlainMessage } from './proto.js';

export const NAMESPACE = 'spBv1.0';

type GeneratedDataType = typeof org.eclipse.tahu.protobuf.DataType;
/** Sparkplug DataType codes LayerGate uses (checked against the proto's enum) */
export const DataType = { Int64: 4, UInt32: 7, UInt64: 8, Float: 9, Double: 10, Boolean: 11, String: 12 } as const satisfies {
  [K in keyof GeneratedDataType]?: GeneratedDataType[K];
};

/** A metric as decoded (longs as numbers) and as `encodeSparkplug` takes it. */
export type SparkplugMetric = PlainMessage<org.eclipse.tahu.protobuf.Payload.Metric, number>;
/** A payload as decoded (longs as numbers, `metrics` always there) and as `encodeSparkplug` takes it. */
export type SparkplugPayload = PlainMessage<org.eclipse.tahu.protobuf.Payload, number>;

const payloadType = protoTypeGetter('org.eclipse.tahu.protobuf.Payload');

export function encodeSparkplug(p: SparkplugPayload): Buffer {
  const T = payloadType();
  return Buffer.from(T.encode(T.fromObject(p)).finish());
}

/** Decode a Sparkplug B payload; throws a SparkplugFormatError (with the decoder's message) on bad bytes. */
export function decodeSparkplug(bytes: Uint8Array): SparkplugPayload {
  const T = payloadType();
  try {
    return T.toObject(T.decode(bytes), { longs: Number, arrays: true }) as SparkplugPayload;
  } catch (err) {
    throw new SparkplugFormatError((err as Error).message, { cause: err });
  }
}

/** The parts of a Sparkplug B topic: spBv1.0/<group>/<type>/<edge node>[/<device>]. */
export interface SparkplugTopic {
  group: string;
  /** NBIRTH, NDATA, NDEATH, NCMD, DBIRTH, DDATA, DDEATH, DCMD or STATE */
  type: string;
  node: string;
  device?: string;
}

/** Split a topic of the Sparkplug B namespace; undefined for any other topic. */
export function parseSparkplugTopic(topic: string): SparkplugTopic | undefined {
  const p = topic.split('/');
  if (p[0] !== NAMESPACE || p.length < 4 || p.length > 5) return undefined;
  return { group: p[1]!, type: p[2]!, node: p[3]!, ...(p[4] !== undefined ? { device: p[4] } : {}) };
}
