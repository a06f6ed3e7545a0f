/**
 * How the records of one `send` are cut into produce requests so that no partition's record batch
 * exceeds what the broker accepts (the topic's `max.message.bytes`, which defaults to the broker's
 * `message.max.bytes`; it caps one record batch per partition, not one message). Pure functions, no I/O.
 *
 * Design constraints:
 * - Order per partition is kept: a partition's records are cut into consecutive chunks, chunk k of
 *   every partition goes into request k, requests are sent one after the other.
 * - Sizes are upper bounds of the uncompressed record batch (Kafka record format v2: varint lengths
 *   taken at their largest plausible size, the 61-byte batch header counted once per partition), so a
 *   packed request is never refused for size when the limit is right. With compression the broker
 *   checks the compressed batch, which is smaller for anything but incompressible bytes; the headroom
 *   below covers the few bytes gzip adds to those.
 * - The fewest requests: a request holds as much of every partition as the limit allows (one request
 *   when everything fits), because each request is a round trip waiting for acks=all.
 */

/** the v2 record batch header: baseOffset .. recordCount */
export const RECORD_BATCH_OVERHEAD = 61;

/** what the budget keeps free below the broker's limit: gzip framing on incompressible data, rounding */
export const HEADROOM_BYTES = 1024;

/** the broker's default `message.max.bytes` (1 MiB + 12 bytes of log overhead) */
export const BROKER_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

/** Bytes of a zigzag varint of a non-negative length (Kafka v2 record fields). */
export function varintBytes(n: number): number {
  let z = n * 2; // zigzag of a non-negative number
  let bytes = 1;
  while (z >= 0x80) {
    z = Math.floor(z / 128);
    bytes++;
  }
  return bytes;
}

/**
 * Upper bound of one record's bytes in a v2 record batch: length, attributes, timestamp delta (up
 * to 5 bytes: deltas within a batch stay under ~9 hours), offset delta (up to 3 bytes: < 1M records
 * per batch), key, value and headers (`headerBytes` = sum over headers of varint+key+varint+value).
 */
export function recordBytes(keyBytes: number, valueBytes: number, headerCount: number, headerBytes: number): number {
  const body = 1 + 5 + 3 + varintBytes(keyBytes) + keyBytes + varintBytes(valueBytes) + valueBytes + varintBytes(headerCount) + headerBytes;
  return varintBytes(body) + body;
}

/** Bytes one header adds to a record: varint key length, key, varint value length, value. */
export function headerBytes(keyBytes: number, valueBytes: number): number {
  return varintBytes(keyBytes) + keyBytes + varintBytes(valueBytes) + valueBytes;
}

/**
 * The most record bytes a partition's batch may carry: the limit learned from the cluster (or
 * configured lower), less the batch header and the headroom. Never below 1 KiB, so a misread limit
 * cannot make every record "too large".
 */
export function batchBudget(limitBytes: number): number {
  return Math.max(1024, limitBytes - RECORD_BATCH_OVERHEAD - HEADROOM_BYTES);
}

/** One record to place: its lane (topic + partition), its bytes in a batch, and its lane's budget. */
export interface Sized {
  /** topic and partition; records of one lane form one record batch in a request */
  readonly lane: string;
  readonly bytes: number;
  readonly budget: number;
}

export interface Packed<T> {
  /** in sending order; each keeps its lanes' records in their original order */
  requests: T[][];
  /** records that alone exceed their lane's budget: refused, never sent */
  oversized: T[];
}

/**
 * Cut `items` (in send order) into requests: each lane's records into consecutive chunks of at most
 * `budget` bytes, chunk k of every lane into request k. Lanes keep their first-seen order in a request.
 */
export function packRequests<T extends Sized>(items: readonly T[]): Packed<T> {
  const oversized: T[] = [];
  const lanes = new Map<string, { chunks: T[][]; bytes: number }>();
  for (const item of items) {
    if (item.bytes > item.budget) {
      oversized.push(item);
      continue;
    }
    let lane = lanes.get(item.lane);
    if (!lane) {
      lane = { chunks: [[]], bytes: 0 };
      lanes.set(item.lane, lane);
    }
    if (lane.bytes + item.bytes > item.budget) {
      lane.chunks.push([]);
      lane.bytes = 0;
    }
    lane.chunks[lane.chunks.length - 1]!.push(item);
    lane.bytes += item.bytes;
  }
  const requests: T[][] = [];
  for (const { chunks } of lanes.values()) {
    for (const [k, chunk] of chunks.entries()) {
      if (chunk.length === 0) continue;
      (requests[k] ??= []).push(...chunk);
    }
  }
  return { requests, oversized };
}

/**
 * Split a request the broker refused for size into two. A request of several lanes is split by
 * lanes, each lane's records unchanged: a lane the broker did accept goes again as the very same
 * batch, which the idempotent producer's sequence numbers let the broker recognise as a duplicate.
 * A request of one lane is split into halves of its records. A single record cannot be split (`[]`).
 */
export function splitInTwo<T extends Sized>(request: readonly T[]): T[][] {
  if (request.length < 2) return [];
  const laneOrder = [...new Set(request.map((r) => r.lane))];
  if (laneOrder.length > 1) {
    const first = new Set(laneOrder.slice(0, Math.ceil(laneOrder.length / 2)));
    return [request.filter((r) => first.has(r.lane)), request.filter((r) => !first.has(r.lane))];
  }
  const half = Math.ceil(request.length / 2);
  return [request.slice(0, half), request.slice(half)];
}
