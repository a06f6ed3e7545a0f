import { describe, expect, it } from 'vitest';
import { CONTENT_TYPES, decodeRecord, protoRoot } from '../../../gateway/plugin-api/index.js';
import type { StoredRecord } from '../../../gateway/plugin-api/index.js';
import { CONTENT_TYPE_PROTOBUF_BATCH, MessageBuilder, RECORDS_KEY, SEQ_LAST_KEY } from './messages.js';
import type { Outgoing } from './messages.js';
import type { Message } from 'kafkajs';

/** the messages of a request whose records all go to topic `t` */
const only = (b: MessageBuilder, its: Outgoing[]): Message[] => {
  const topics = b.messages(its);
  expect(topics.map((t) => t.topic)).toEqual(['t']);
  return topics[0]!.messages;
};

const rec = (seq: number, signal: string, cls: StoredRecord['class'] = 'internal'): StoredRecord => ({
  seq,
  source: 'opcua',
  signal,
  kind: 'scalar',
  class: cls,
  contentType: CONTENT_TYPES.scalar,
  receiveTimeNs: 1_764_000_000_000_000_000n + BigInt(seq),
  body: Buffer.from(`{"v":${seq}}`),
  routes: [],
});

function outgoing(b: MessageBuilder, r: StoredRecord, partition: number): Outgoing {
  const value = b.encode(r);
  return { lane: `t/${partition}`, bytes: b.size(r, value), budget: 1e6, record: r, topic: 't', partition, value };
}

describe('MessageBuilder', () => {
  it('record grouping: one message per record, the six headers, partition set, size bound above the encoded bytes', () => {
    const b = new MessageBuilder('protobuf', 'record');
    const its = [outgoing(b, rec(1, 's.a'), 0), outgoing(b, rec(2, 's.b'), 1)];
    const messages = only(b, its);
    expect(messages).toHaveLength(2);
    const m = messages[0]!;
    expect(String(m.key)).toBe('s.a');
    expect(m.partition).toBe(0);
    expect(Object.fromEntries(Object.entries(m.headers!).map(([k, v]) => [k, String(v)]))).toEqual({
      'content-type': 'application/x-protobuf; messageType=layergate.v1.Record',
      'layergate-class': 'internal',
      'layergate-seq': '1',
      'layergate-signal': 's.a',
      'layergate-source': 'opcua',
      'layergate-content-type': CONTENT_TYPES.scalar,
    });
    expect(decodeRecord(m.value as Buffer).seq).toBe(1);
    const headerBytes = Object.entries(m.headers!).reduce((n, [k, v]) => n + k.length + String(v).length, 0);
    expect(its[0]!.bytes).toBeGreaterThan((m.value as Buffer).length + 3 + headerBytes);
  });

  it('partition grouping: one RecordBatch per partition, records in order, strictest class, seq range', () => {
    const b = new MessageBuilder('protobuf', 'partition');
    const its = [outgoing(b, rec(1, 's.a'), 0), outgoing(b, rec(2, 's.b', 'public'), 1), outgoing(b, rec(3, 's.c', 'sensitive'), 0)];
    const messages = only(b, its);
    expect(messages).toHaveLength(2);
    const m = messages[0]!;
    expect(m.partition).toBe(0);
    expect(m.key).toBeNull();
    expect(String(m.headers!['content-type'])).toBe(CONTENT_TYPE_PROTOBUF_BATCH);
    expect(String(m.headers!['layergate-class'])).toBe('sensitive');
    expect(String(m.headers!['layergate-seq'])).toBe('1');
    expect(String(m.headers![SEQ_LAST_KEY])).toBe('3');
    expect(String(m.headers![RECORDS_KEY])).toBe('2');
    const batch = protoRoot().lookupType('layergate.v1.RecordBatch');
    const decoded = batch.decode(m.value as Buffer) as unknown as { records: unknown[] };
    const inner = decoded.records.map((r) =>
      decodeRecord(
        protoRoot()
          .lookupType('layergate.v1.Record')
          .encode(r as never)
          .finish(),
      ),
    );
    expect(inner.map((r) => [r.seq, r.signal])).toEqual([
      [1, 's.a'],
      [3, 's.c'],
    ]);
  });

  it('auto grouping (the default): the scalar topic by partition, every other kind one message per record, in one request', () => {
    const b = new MessageBuilder('protobuf', 'auto');
    const block = (seq: number): StoredRecord => ({
      ...rec(seq, 'meltpool.a'),
      kind: 'samples',
      contentType: CONTENT_TYPES.samplesF32,
      body: Buffer.alloc(64),
    });
    const at = (r: StoredRecord, topic: string): Outgoing => {
      const value = b.encode(r);
      return { lane: `${topic}/0`, bytes: b.size(r, value), budget: 1e6, record: r, topic, partition: 0, value };
    };
    const topics = b.messages([at(rec(1, 's.a'), 'scalar'), at(block(2), 'samples'), at(rec(3, 's.b'), 'scalar'), at(block(4), 'samples')]);
    const byTopic = Object.fromEntries(topics.map((t) => [t.topic, t.messages]));
    expect(byTopic.scalar).toHaveLength(1);
    expect(String(byTopic.scalar![0]!.headers!['content-type'])).toBe(CONTENT_TYPE_PROTOBUF_BATCH);
    expect(String(byTopic.scalar![0]!.headers![RECORDS_KEY])).toBe('2');
    const batch = protoRoot()
      .lookupType('layergate.v1.RecordBatch')
      .decode(byTopic.scalar![0]!.value as Buffer) as unknown as { records: { seq: unknown }[] };
    expect(batch.records.map((x) => Number(x.seq))).toEqual([1, 3]);
    expect(byTopic.samples!.map((m) => decodeRecord(m.value as Buffer).seq)).toEqual([2, 4]);
    expect(byTopic.samples!.map((m) => String(m.key))).toEqual(['meltpool.a', 'meltpool.a']);
    // the sizes follow the kind: a grouped element is the bare value plus its framing, a message has headers
    expect(at(rec(5, 's.c'), 'scalar').bytes).toBeLessThan(at({ ...rec(5, 's.c'), kind: 'event' }, 'event').bytes);
  });

  it('signal grouping: one message per signal, keyed by it', () => {
    const b = new MessageBuilder('protobuf', 'signal');
    const its = [outgoing(b, rec(1, 's.a'), 0), outgoing(b, rec(2, 's.b'), 0), outgoing(b, rec(3, 's.a'), 0)];
    const messages = only(b, its);
    expect(messages.map((m) => [String(m.key), String(m.headers![RECORDS_KEY])])).toEqual([
      ['s.a', '2'],
      ['s.b', '1'],
    ]);
  });

  it('JSON grouping: an array of the records as JSON', () => {
    const b = new MessageBuilder('json', 'partition');
    const messages = only(b, [outgoing(b, rec(1, 's.a'), 0), outgoing(b, rec(2, 's.b'), 0)]);
    const arr = JSON.parse(String(messages[0]!.value)) as { seq: number }[];
    expect(arr.map((x) => x.seq)).toEqual([1, 2]);
  });
});
