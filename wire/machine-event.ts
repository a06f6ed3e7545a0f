/**
 * The machine event: a state change of the machine (layer start and end, job state) as a machine
 * publishes it over MQTT, one JSON object per message. The MQTT input reads any JSON object with a
 * string `type` (its `event` decoder); this is the shape the simulator writes.
 */

export interface MachineEvent {
  /** "layer-start", "layer-end" or "state" */
  type: string;
  build: string;
  layer: number;
  state: string;
  /** per-message sequence number of the event stream */
  seq: number;
  /** source time, ms since the epoch */
  timestampMs: number;
}

export function encodeEvent(e: MachineEvent): Buffer {
  return Buffer.from(JSON.stringify(e));
}
