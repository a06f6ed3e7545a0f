/**
 * A batch of records in the form `send` hands to the batch worker (batch-worker.ts): a few typed
 * arrays and strings instead of one object per record, moved to the worker thread by transfer, not
 * copied field by field by the structured clone.
 *
 *   per record:  seq, receive/source time (int64), layer (int32) with validity bytes; ids of its
 *                signal, source, class, kind, content type and build in one table of distinct strings
 *   bodies:      one byte array, record i's body at [bodyOffsets[i], bodyOffsets[i + 1])
 *   attributes:  the records' attributes as JSON, `\u0000`-separated ('' = none); a scalar's are left
 *                out (its table has no attributes column): the worker asks for them (`attributesOf`)
 *                only when the scalar turns out malformed and goes to the raw table
 *   missing:     the records whose spooled body is gone, with the message for the raw table
 *
 * Design constraints:
 * - The main thread's share per record is what packing costs, so `add` does no parsing and almost no
 *   allocation: numbers into typed arrays, strings to ids (consecutive records mostly share source,
 *   class, kind, content type and build, so those are compared with the previous record first), the
 *   body copied once into the batch's byte array in `finish`.
 * - Every array has its own ArrayBuffer (never a slice of Node's Buffer pool, which transferring would
 *   detach under other Buffers): they are listed in `transfer` and the sender may not use them after.
 */
import type { StoredRecord } from '../../../gateway/plugin-api/index.js';
import { CONTENT_TYPES } from '../../../gateway/plugin-api/index.js';

export interface PackedBatch {
  count: number;
  seq: Float64Array;
  receiveTimeNs: BigInt64Array;
  sourceTimeNs: BigInt64Array;
  /** 1 where the record has a source time */
  hasSourceTime: Uint8Array;
  layer: Int32Array;
  /** 1 where the record has a layer */
  hasLayer: Uint8Array;
  /** ids into `strings` */
  signal: Int32Array;
  source: Int32Array;
  class: Int32Array;
  kind: Int32Array;
  contentType: Int32Array;
  /** -1: no build */
  build: Int32Array;
  strings: string[];
  bodies: Uint8Array;
  /** count + 1 offsets into `bodies` (float64: a batch may exceed 2 GiB of bodies in principle) */
  bodyOffsets: Float64Array;
  /**
   * the attributes of each record as JSON ('' when none, and for scalars: see `attributesOf`), joined
   * by `\u0000` (JSON escapes it inside strings)
   */
  attributes: string;
  /** [record index, message]: the record's spooled body is gone; it goes to the raw table with the message */
  missing: [number, string][];
}

const EMPTY = new Uint8Array(0);
const SCALAR = CONTENT_TYPES.scalar;

/** A string field's value in the previous record and its id in the batch's string table. */
interface LastId {
  value: string | undefined;
  id: number;
}

/** Collects records into a PackedBatch; `capacity` is the most records that will be added. */
export class BatchPacker {
  private count = 0;
  private readonly seq: Float64Array;
  private readonly receiveTimeNs: BigInt64Array;
  private readonly sourceTimeNs: BigInt64Array;
  private readonly hasSourceTime: Uint8Array;
  private readonly layer: Int32Array;
  private readonly hasLayer: Uint8Array;
  private readonly signal: Int32Array;
  private readonly source: Int32Array;
  private readonly klass: Int32Array;
  private readonly kind: Int32Array;
  private readonly contentType: Int32Array;
  private readonly build: Int32Array;
  private readonly records: StoredRecord[] = [];
  private readonly ids = new Map<string, number>();
  private readonly strings: string[] = [];
  private readonly bodies: Uint8Array[] = [];
  private bodyBytes = 0;
  private readonly attributes: string[] = [];
  private readonly missing: [number, string][] = [];
  // the previous record's strings and their ids (consecutive records mostly share them)
  private readonly lastSource: LastId = { value: undefined, id: -1 };
  private readonly lastClass: LastId = { value: undefined, id: -1 };
  private readonly lastKind: LastId = { value: undefined, id: -1 };
  private readonly lastContentType: LastId = { value: undefined, id: -1 };
  private readonly lastBuild: LastId = { value: undefined, id: -1 };
  private readonly lastSignal: LastId = { value: undefined, id: -1 };

  constructor(capacity: number) {
    this.seq = new Float64Array(capacity);
    this.receiveTimeNs = new BigInt64Array(capacity);
    this.sourceTimeNs = new BigInt64Array(capacity);
    this.hasSourceTime = new Uint8Array(capacity);
    this.layer = new Int32Array(capacity);
    this.hasLayer = new Uint8Array(capacity);
    this.signal = new Int32Array(capacity);
    this.source = new Int32Array(capacity);
    this.klass = new Int32Array(capacity);
    this.kind = new Int32Array(capacity);
    this.contentType = new Int32Array(capacity);
    this.build = new Int32Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** `value`'s id, remembered in `last` for the next record; an absent value (a record without a build) is -1. */
  private idOf(last: LastId, value: string | undefined): number {
    if (value !== last.value) {
      last.value = value;
      last.id = value === undefined ? -1 : this.id(value);
    }
    return last.id;
  }

  private id(s: string): number {
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.strings.length;
      this.strings.push(s);
      this.ids.set(s, id);
    }
    return id;
  }

  /** Add a record with its body (read from the spool if it was spooled); `missing`: why it has none. */
  add(r: StoredRecord, body: Uint8Array | undefined, missing?: string): void {
    const i = this.count++;
    this.seq[i] = r.seq;
    this.receiveTimeNs[i] = r.receiveTimeNs;
    if (r.sourceTimeNs !== undefined) {
      this.sourceTimeNs[i] = r.sourceTimeNs;
      this.hasSourceTime[i] = 1;
    }
    if (r.layer !== undefined) {
      this.layer[i] = r.layer;
      this.hasLayer[i] = 1;
    }
    this.signal[i] = this.idOf(this.lastSignal, r.signal);
    this.source[i] = this.idOf(this.lastSource, r.source);
    this.klass[i] = this.idOf(this.lastClass, r.class);
    this.kind[i] = this.idOf(this.lastKind, r.kind);
    this.contentType[i] = this.idOf(this.lastContentType, r.contentType);
    this.build[i] = this.idOf(this.lastBuild, r.build);
    const b = body ?? EMPTY;
    this.bodies.push(b);
    this.bodyBytes += b.length;
    this.records.push(r);
    // JSON.stringify is a third of packing: a scalar's attributes are only wanted if its body is malformed
    this.attributes.push(r.contentType === SCALAR && missing === undefined ? '' : attributesText(r.attributes));
    if (missing !== undefined) this.missing.push([i, missing]);
  }

  /** The attributes of the records at `indices` as JSON ('' when none): for scalars the worker found malformed. */
  attributesOf(indices: readonly number[]): string[] {
    return indices.map((i) => attributesText(this.records[i]?.attributes));
  }

  /** The packed batch and the buffers to transfer with it. */
  finish(): { batch: PackedBatch; transfer: ArrayBuffer[] } {
    const n = this.count;
    const bodies = new Uint8Array(this.bodyBytes);
    const bodyOffsets = new Float64Array(n + 1);
    let at = 0;
    for (let i = 0; i < n; i++) {
      const b = this.bodies[i]!;
      if (b.length > 0) bodies.set(b, at);
      at += b.length;
      bodyOffsets[i + 1] = at;
    }
    const batch: PackedBatch = {
      count: n,
      seq: this.seq.subarray(0, n),
      receiveTimeNs: this.receiveTimeNs.subarray(0, n),
      sourceTimeNs: this.sourceTimeNs.subarray(0, n),
      hasSourceTime: this.hasSourceTime.subarray(0, n),
      layer: this.layer.subarray(0, n),
      hasLayer: this.hasLayer.subarray(0, n),
      signal: this.signal.subarray(0, n),
      source: this.source.subarray(0, n),
      class: this.klass.subarray(0, n),
      kind: this.kind.subarray(0, n),
      contentType: this.contentType.subarray(0, n),
      build: this.build.subarray(0, n),
      strings: this.strings,
      bodies,
      bodyOffsets,
      attributes: this.attributes.join('\u0000'),
      missing: this.missing,
    };
    const transfer = [
      batch.seq,
      batch.receiveTimeNs,
      batch.sourceTimeNs,
      batch.hasSourceTime,
      batch.layer,
      batch.hasLayer,
      batch.signal,
      batch.source,
      batch.class,
      batch.kind,
      batch.contentType,
      batch.build,
      bodies,
      bodyOffsets,
    ].map((a) => a.buffer as ArrayBuffer);
    return { batch, transfer };
  }
}

/** Attributes as JSON ('' when none or empty), as the tables store them (attributesJson). */
function attributesText(a: Record<string, string> | undefined): string {
  if (a === undefined) return '';
  for (const _ in a) return JSON.stringify(a);
  return '';
}
