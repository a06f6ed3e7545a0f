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
  /**
   * one process value with its exact type: JSON `{"v": .., "type": "int64", "unit"?: string, "quality"?: string}`
   * (ScalarBody; the types, their JSON forms and the reader/writer are in scalar-value.ts)
   */
  scalar: 'application/vnd.layergate.scalar+json',
  /**
   * a block of samples: interleaved float32 little-endian, one frame of `channels` values per sample.
   * attributes: `channels` (comma-separated names), `sample_rate_hz`, `first_sample` (index of the
   * block's first sample since the start of the layer or stream), optional `seq` (the sender's block
   * sequence, where the source has one: the MQTT melt-pool blocks).
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

/**
 * The body of a CONTENT_TYPES.scalar record as JSON.parse gives it. `v`'s JSON form depends on
 * `type` (64-bit integers and datetimes are strings, for one); read and write bodies with
 * scalar-value.ts (`parseScalarBody`, `encodeScalarBody`), which keep the value exact.
 */
export interface ScalarBody {
  v: unknown;
  /** absent in bodies written before the value model: read as float64, bool or string by `v`'s JSON type */
  type?: string;
  unit?: string;
  quality?: string;
}
