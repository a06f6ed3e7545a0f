/**
 * The Kafka messages the output writes, and their sizes in a record batch: one message per record
 * (`grouping: record`) or one `layergate.v1.RecordBatch` message per signal or per partition of a
 * request (`grouping: signal | partition`); `auto`, the default, groups the scalar topic by partition
 * and writes one message per record on the others (samples, events, frames, documents).
 *
 * Design constraints:
 * - Hot path (tens of thousands of records per second): a record's value is encoded once, its size is
 *   computed from lengths already known, header values that repeat (class, source, signal, content
 *   type) are Buffers made once and reused, and the partition of a signal comes from a cache.
 * - The wire contract of the one-record messages is unchanged: key = signal, value = the
 *   `layergate.v1.Record` (or its JSON form), the six headers with the same names and values.
 * - A grouped message holds records of one partition in seq order, so order per signal is kept and
 *   consumers decode the group into the same records (see README.md).
 */
import type { Message } from 'kafkajs';
import type { RecordKind, SensitivityClass, StoredRecord } from '../../../gateway/plugin-api/index.js';
import { classRank, encodeRecord } from '../../../gateway/plugin-api/index.js';
import { CLASS_KEY, SEQ_KEY, recordJson } from '../shared/sink.js';
import { encodeRecordBatch } from '../../../wire/index.js';
import { headerBytes, recordBytes, varintBytes } from './batch-size.js';
import type { Sized } from './batch-size.js';

export const CONTENT_TYPE_PROTOBUF = 'application/x-protobuf; messageType=layergate.v1.Record';
export const CONTENT_TYPE_JSON = 'application/json';
export const CONTENT_TYPE_PROTOBUF_BATCH = 'application/x-protobuf; messageType=layergate.v1.RecordBatch';
export const CONTENT_TYPE_JSON_BATCH = 'application/json; messageType=layergate.v1.RecordBatch';
/** headers of a grouped message besides content type, class and seq (= its first record's seq) */
export const SEQ_LAST_KEY = 'layergate-seq-last';
export const RECORDS_KEY = 'layergate-records';

export type Grouping = 'record' | 'signal' | 'partition';
/** the setting: a grouping for every topic, or `auto` (scalars by partition, everything else by record) */
export type GroupingSetting = Grouping | 'auto';

/**
 * What one message carries for records of a kind. `auto` groups only the scalar topic: scalars are the
 * records that come by the tens of thousands per second (W1), where kafkajs's cost per message is the
 * limit; blocks, events, frames and documents are few and large enough to stay one message each.
 */
export function groupingFor(setting: GroupingSetting, kind: RecordKind): Grouping {
  if (setting !== 'auto') return setting;
  return kind === 'scalar' ? 'partition' : 'record';
}

/** A record on its way: where it goes, its encoded value, its size in a batch. */
export interface Outgoing extends Sized {
  readonly record: StoredRecord;
  readonly topic: string;
  readonly partition: number;
  readonly value: Buffer;
}

/** what one record's headers add besides the variable seq: the six header keys, fixed lengths */
const RECORD_HEADER_KEYS = ['content-type', CLASS_KEY, SEQ_KEY, 'layergate-signal', 'layergate-source', 'layergate-content-type'];
/** the most bytes a grouped message adds besides its records: key, headers, record framing */
export const GROUP_OVERHEAD_BYTES = 1024;
const MAX_CACHED_VALUES = 50_000;

export class MessageBuilder {
  private readonly values = new Map<string, Buffer>();
  private readonly contentType: Buffer;
  private readonly groupContentType: Buffer;

  constructor(
    private readonly payload: 'protobuf' | 'json',
    readonly grouping: GroupingSetting,
  ) {
    this.contentType = Buffer.from(payload === 'json' ? CONTENT_TYPE_JSON : CONTENT_TYPE_PROTOBUF);
    this.groupContentType = Buffer.from(payload === 'json' ? CONTENT_TYPE_JSON_BATCH : CONTENT_TYPE_PROTOBUF_BATCH);
  }

  /** A repeated header value (class, source, signal, content type) as a Buffer made once. */
  private bytes(s: string): Buffer {
    let b = this.values.get(s);
    if (!b) {
      if (this.values.size >= MAX_CACHED_VALUES) this.values.clear();
      b = Buffer.from(s);
      this.values.set(s, b);
    }
    return b;
  }

  /** The record's value: the `layergate.v1.Record` protobuf or its JSON form. */
  encode(r: StoredRecord): Buffer {
    return this.payload === 'json' ? Buffer.from(JSON.stringify(recordJson(r))) : asBuffer(encodeRecord(r));
  }

  /** What one message carries for this record's kind (see `groupingFor`). */
  groupingOf(r: Pick<StoredRecord, 'kind'>): Grouping {
    return groupingFor(this.grouping, r.kind);
  }

  /**
   * The record's bytes in a partition's batch, an upper bound: as its own message (record grouping,
   * and signal grouping, where a record may be alone in its group), or as one element of a
   * RecordBatch value (partition grouping; the group's own overhead is kept out of the budget).
   */
  size(r: StoredRecord, value: Buffer): number {
    if (this.groupingOf(r) === 'partition') return 1 + varintBytes(value.length) + value.length;
    const signal = this.bytes(r.signal).length;
    const hb =
      headerBytes(12, this.contentType.length) +
      headerBytes(CLASS_KEY.length, this.bytes(r.class).length) +
      headerBytes(SEQ_KEY.length, 16) +
      headerBytes(16, signal) +
      headerBytes(16, this.bytes(r.source).length) +
      headerBytes(22, this.bytes(r.contentType).length);
    // a group carries three more short headers (seq-last, record count) than a record; counted in GROUP_OVERHEAD_BYTES
    return recordBytes(signal, value.length, RECORD_HEADER_KEYS.length, hb);
  }

  /** The messages of one request's records (in order), with their partitions set. */
  messages(items: readonly Outgoing[]): { topic: string; messages: Message[] }[] {
    const byTopic = new Map<string, Message[]>();
    const out = (topic: string): Message[] => {
      let m = byTopic.get(topic);
      if (!m) {
        m = [];
        byTopic.set(topic, m);
      }
      return m;
    };
    // a topic holds one kind, so one grouping: records of a group in their order, groups in the
    // order of their first record
    const groups = new Map<string, Outgoing[]>();
    for (const it of items) {
      const grouping = this.groupingOf(it.record);
      if (grouping === 'record') {
        out(it.topic).push(this.recordMessage(it));
        continue;
      }
      const id = grouping === 'signal' ? `${it.lane}\u0000${it.record.signal}` : it.lane;
      const g = groups.get(id);
      if (g) g.push(it);
      else groups.set(id, [it]);
    }
    for (const g of groups.values()) out(g[0]!.topic).push(this.groupMessage(g));
    return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
  }

  private recordMessage(it: Outgoing): Message {
    const r = it.record;
    const signal = this.bytes(r.signal);
    return {
      key: signal,
      value: it.value,
      partition: it.partition,
      headers: {
        'content-type': this.contentType,
        [CLASS_KEY]: this.bytes(r.class),
        [SEQ_KEY]: String(r.seq),
        'layergate-signal': signal,
        'layergate-source': this.bytes(r.source),
        'layergate-content-type': this.bytes(r.contentType),
      },
    };
  }

  /** One message for records of one partition (and, with signal grouping, one signal). */
  private groupMessage(g: readonly Outgoing[]): Message {
    const first = g[0]!;
    let strictest: SensitivityClass = first.record.class;
    for (const it of g) if (classRank(it.record.class) > classRank(strictest)) strictest = it.record.class;
    const headers: Record<string, Buffer | string> = {
      'content-type': this.groupContentType,
      [CLASS_KEY]: this.bytes(strictest),
      [SEQ_KEY]: String(first.record.seq),
      [SEQ_LAST_KEY]: String(g[g.length - 1]!.record.seq),
      [RECORDS_KEY]: String(g.length),
    };
    const bySignal = this.groupingOf(first.record) === 'signal';
    if (bySignal) headers['layergate-signal'] = this.bytes(first.record.signal);
    return {
      key: bySignal ? this.bytes(first.record.signal) : null,
      value: this.payload === 'json' ? jsonArray(g) : encodeRecordBatch(g.map((it) => it.value)),
      partition: first.partition,
      headers,
    };
  }
}

/** A JSON array of the records' JSON forms. */
function jsonArray(g: readonly Outgoing[]): Buffer {
  const parts: Buffer[] = [Buffer.from('[')];
  for (const [i, it] of g.entries()) {
    if (i > 0) parts.push(Buffer.from(','));
    parts.push(it.value);
  }
  parts.push(Buffer.from(']'));
  return Buffer.concat(parts);
}

/** The encoded message as a Buffer without copying it (`encodeRecord` hands out a Buffer already). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
