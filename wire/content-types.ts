/**
 * Every content type LayerGate writes or reads on the wire, in one table: the three record body
 * encodings inputs normalise to (so outputs, the file lake's columns and Kafka consumers need to
 * know only three shapes; anything else is carried as opaque bytes with its own type) and the three
 * melt-pool block formats a machine publishes over MQTT.
 *
 * Constraint: values are part of the wire contract (stored in records, Kafka headers, lake
 * columns); a value never changes, a new encoding gets a new key.
 */
export const CONTENT_TYPES = {
  // ---- record bodies ----
  /** one process value: JSON `{"v": number | string | boolean, "unit"?: string, "quality"?: string}` (ScalarBody) */
  scalar: 'application/vnd.layergate.scalar+json',
  /**
   * a block of samples: interleaved float32 little-endian, one frame of `channels` values per sample.
   * attributes: `channels` (comma-separated names), `sample_rate_hz`, `first_sample` (index of the
   * block's first sample since the start of the layer or stream).
   */
  samplesF32: 'application/vnd.layergate.samples+f32le',
  /** an event: JSON object with at least `{"type": string}` */
  event: 'application/vnd.layergate.event+json',

  // ---- melt-pool blocks (MQTT payloads; wire/meltpool-block.ts) ----
  /** a melt-pool block as JSON (channels with their samples, NaN as null) */
  meltPoolBlockJson: 'application/json',
  /** a melt-pool block in the compact binary layout ("LGMP" header + float32 LE samples) */
  meltPoolBlockBinary: 'application/vnd.layergate.meltpool-block',
  /** a melt-pool block as protobuf layergate.v1.MeltPoolBlock */
  meltPoolBlockProtobuf: 'application/x-protobuf; messageType=layergate.v1.MeltPoolBlock',
} as const;

/** The body of a CONTENT_TYPES.scalar record. */
export interface ScalarBody {
  v: number | string | boolean;
  unit?: string;
  quality?: string;
}
