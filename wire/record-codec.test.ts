/**
 * The record codec: round trips, and agreement with a second, independent implementation of the
 * schema (the static code pbjs generated from proto/ into wire/generated/, which never goes through
 * the proto loader or the codec): same bytes when encoding, same fields when decoding.
 */
import { describe, expect, it } from 'vitest';
import { layergate } from './generated/proto.js';
import { RecordFormatError } from './errors.js';
import { CLASS_ENUM, KIND_ENUM, decodeRecord, encodeRecord } from './record-codec.js';
import type { StoredRecord } from './record.js';

const Generated = layergate.v1.Record;

const inline: StoredRecord = {
  seq: 9_007_199_254_740_000, // near 2^53: seq is uint64 on the wire
  source: 'meltpool-mqtt',
  signal: 'meltpool.binary',
  kind: 'samples',
  sourceTimeNs: 1_733_000_000_123_456_789n, // beyond 2^53: must survive as an exact int64
  receiveTimeNs: 1_733_000_000_987_654_321n,
  class: 'sensitive',
  contentType: 'application/vnd.layergate.samples+f32le',
  body: Buffer.from([0, 1, 2, 254, 255]),
  build: 'B-17',
  layer: 0, // proto3 optional: a layer 0 is still carried
  attributes: { channels: 'photodiode,pyrometer', sample_rate_hz: '50000', first_sample: '0' },
  routes: [],
};
const spooled: StoredRecord = {
  seq: 1,
  source: 'frames',
  signal: 'camera.powder-bed',
  kind: 'frame',
  receiveTimeNs: 1n,
  class: 'confidential',
  contentType: 'image/png',
  blob: { sha256: 'ab'.repeat(32), size: 5_000_000_000 },
  attributes: {},
  routes: [],
};
const bare: StoredRecord = {
  seq: 0,
  source: 's',
  signal: 'x',
  kind: 'event',
  receiveTimeNs: 0n,
  class: 'public',
  contentType: 'application/json',
  body: Buffer.alloc(0),
  attributes: {},
  routes: [],
};

/** The fields of a message decoded by the generated code, in the record's terms. */
function viaGenerated(bytes: Uint8Array): Record<string, unknown> {
  const m = Generated.decode(bytes);
  return {
    seq: String(m.seq),
    source: m.source,
    signal: m.signal,
    kind: m.kind,
    sourceTimeNs: String(m.sourceTimeNs),
    receiveTimeNs: String(m.receiveTimeNs),
    class: m.class,
    contentType: m.contentType,
    body: m.body === null ? null : Buffer.from(m.body),
    blob: m.blob === null ? null : { sha256: m.blob.sha256, size: String(m.blob.size) },
    build: m.build,
    layer: m.layer,
    attributes: { ...m.attributes },
  };
}

describe('record codec', () => {
  it('round-trips records with an inline body, a blob reference, and nothing optional', () => {
    for (const r of [inline, spooled, bare]) expect(decodeRecord(encodeRecord(r))).toEqual(r);
  });

  it('int64 times keep their exact value at the edges: negative (before 1970), past 2^53, and the int64 limits', () => {
    for (const t of [-1n, -1_000_000_000_123n, 2n ** 32n, 2n ** 32n - 1n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n)]) {
      const r: StoredRecord = { ...inline, sourceTimeNs: t, receiveTimeNs: t };
      const bytes = encodeRecord(r);
      expect(decodeRecord(bytes)).toEqual(r);
      const g = viaGenerated(bytes);
      expect([g.sourceTimeNs, g.receiveTimeNs]).toEqual([String(t), String(t)]);
    }
  });

  it('a record encoded by the codec decodes with the generated code to identical fields', () => {
    expect(viaGenerated(encodeRecord(inline))).toEqual({
      seq: '9007199254740000',
      source: 'meltpool-mqtt',
      signal: 'meltpool.binary',
      kind: KIND_ENUM.samples,
      sourceTimeNs: '1733000000123456789',
      receiveTimeNs: '1733000000987654321',
      class: CLASS_ENUM.sensitive,
      contentType: 'application/vnd.layergate.samples+f32le',
      body: Buffer.from([0, 1, 2, 254, 255]),
      blob: null,
      build: 'B-17',
      layer: 0,
      attributes: { channels: 'photodiode,pyrometer', sample_rate_hz: '50000', first_sample: '0' },
    });
    expect(viaGenerated(encodeRecord(spooled))).toMatchObject({
      seq: '1',
      kind: layergate.v1.RecordKind.RECORD_KIND_FRAME,
      class: layergate.v1.SensitivityClass.SENSITIVITY_CLASS_CONFIDENTIAL,
      sourceTimeNs: '0',
      receiveTimeNs: '1',
      body: null,
      blob: { sha256: 'ab'.repeat(32), size: '5000000000' },
      build: '',
      layer: null,
      attributes: {},
    });
  });

  it('writes the same bytes as the generated encoder given the same message', () => {
    const message = Generated.fromObject({
      seq: inline.seq,
      source: inline.source,
      signal: inline.signal,
      kind: KIND_ENUM[inline.kind],
      class: CLASS_ENUM[inline.class],
      sourceTimeNs: inline.sourceTimeNs!.toString(),
      receiveTimeNs: inline.receiveTimeNs.toString(),
      contentType: inline.contentType,
      body: inline.body,
      build: inline.build,
      layer: inline.layer,
      attributes: inline.attributes,
    });
    expect(Buffer.from(encodeRecord(inline))).toEqual(Buffer.from(Generated.encode(message).finish()));
  });

  it('decodes what the generated encoder wrote', () => {
    const bytes = Generated.encode(
      Generated.fromObject({
        seq: 42,
        source: 'opcua',
        signal: 'ns=2;s=Chamber.O2',
        kind: 2,
        class: 2,
        sourceTimeNs: '1733000000000000001',
        receiveTimeNs: '1733000000000000002',
        contentType: 'application/vnd.layergate.scalar+json',
        body: Buffer.from('{"v":0.1}'),
        layer: 7,
        attributes: { unit: '%' },
      }),
    ).finish();
    expect(decodeRecord(bytes)).toEqual({
      seq: 42,
      source: 'opcua',
      signal: 'ns=2;s=Chamber.O2',
      kind: 'scalar',
      class: 'internal',
      sourceTimeNs: 1_733_000_000_000_000_001n,
      receiveTimeNs: 1_733_000_000_000_000_002n,
      contentType: 'application/vnd.layergate.scalar+json',
      body: Buffer.from('{"v":0.1}'),
      layer: 7,
      attributes: { unit: '%' },
      routes: [],
    });
  });

  it('the enum maps follow the proto enums, in the order of the const lists', () => {
    expect(CLASS_ENUM).toEqual({
      public: layergate.v1.SensitivityClass.SENSITIVITY_CLASS_PUBLIC,
      internal: layergate.v1.SensitivityClass.SENSITIVITY_CLASS_INTERNAL,
      sensitive: layergate.v1.SensitivityClass.SENSITIVITY_CLASS_SENSITIVE,
      confidential: layergate.v1.SensitivityClass.SENSITIVITY_CLASS_CONFIDENTIAL,
    });
    expect(KIND_ENUM).toEqual({
      samples: layergate.v1.RecordKind.RECORD_KIND_SAMPLES,
      scalar: layergate.v1.RecordKind.RECORD_KIND_SCALAR,
      event: layergate.v1.RecordKind.RECORD_KIND_EVENT,
      frame: layergate.v1.RecordKind.RECORD_KIND_FRAME,
      document: layergate.v1.RecordKind.RECORD_KIND_DOCUMENT,
    });
  });

  it('refuses unknown enum values and bytes that are not a record with a coded RecordFormatError', () => {
    const unspecified = Generated.encode(Generated.fromObject({ seq: 1, kind: 1, class: 0 })).finish();
    const err = (() => {
      try {
        decodeRecord(unspecified);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(RecordFormatError);
    expect(err).toMatchObject({ code: 'LG_WIRE_RECORD_MALFORMED', reason: 'unknown-enum', message: 'layergate.v1.Record.class: expected 1..4, got 0' });
    expect(() => decodeRecord(Generated.encode(Generated.fromObject({ kind: 6, class: 1 })).finish())).toThrow(
      'layergate.v1.Record.kind: expected 1..5, got 6',
    );

    const truncated = encodeRecord(inline).subarray(0, 20);
    const bad = (() => {
      try {
        decodeRecord(truncated);
      } catch (e) {
        return e;
      }
    })();
    expect(bad).toBeInstanceOf(RecordFormatError);
    expect(bad).toMatchObject({ code: 'LG_WIRE_RECORD_MALFORMED', reason: 'malformed' });
  });
});
