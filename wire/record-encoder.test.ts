/**
 * The hand-written record encoder against protobufjs: for any record, the same bytes protobufjs wrote
 * for the message the codec used to build (through the reflection encoder it used, and through the
 * static code pbjs generated into wire/generated/), decodable back to the record, exactly sized.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { layergate } from './generated/proto.js';
import { protoTypeGetter } from './proto.js';
import { RECORD_KINDS, SENSITIVITY_CLASSES, type StoredRecord } from './record.js';
import { decodeRecord } from './record-codec.js';
import { CLASS_ENUM, KIND_ENUM, encodeRecordBatch, encodeRecordInto, encodeRecordToBuffer, encodedRecordSize } from './record-encoder.js';

// ---- the reference: encodeRecord as it was before the hand-written encoder, verbatim but for names ----

interface Int64Bits {
  low: number;
  high: number;
  unsigned: boolean;
}
type EncodableRecord = Omit<layergate.v1.Record.$Properties, 'sourceTimeNs' | 'receiveTimeNs'> & { sourceTimeNs?: Int64Bits; receiveTimeNs?: Int64Bits };
const MASK_32 = 0xffffffffn;
function int64Bits(v: bigint): Int64Bits {
  return { low: Number(v & MASK_32) | 0, high: Number((v >> 32n) & MASK_32) | 0, unsigned: false };
}
function attributeMap(a: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (a) for (const k of Object.keys(a)) out[k] = String(a[k]);
  return out;
}
function oldMessage(r: StoredRecord): EncodableRecord {
  const msg: EncodableRecord = {
    seq: r.seq,
    source: r.source,
    signal: r.signal,
    kind: KIND_ENUM[r.kind],
    class: CLASS_ENUM[r.class],
    contentType: r.contentType,
    build: r.build ?? '',
    attributes: attributeMap(r.attributes),
  };
  if (r.sourceTimeNs !== undefined && r.sourceTimeNs !== 0n) msg.sourceTimeNs = int64Bits(r.sourceTimeNs);
  if (r.receiveTimeNs !== 0n) msg.receiveTimeNs = int64Bits(r.receiveTimeNs);
  if (r.body) msg.body = r.body;
  if (r.blob) msg.blob = { sha256: r.blob.sha256, size: r.blob.size };
  if (r.layer !== undefined) msg.layer = r.layer >>> 0;
  return msg;
}
const reflectedRecord = protoTypeGetter('layergate.v1.Record');
/** what the old encodeRecord returned: the message through the reflection encoder of the loaded proto/ */
function oldEncode(r: StoredRecord): Buffer {
  return Buffer.from(reflectedRecord().encode(oldMessage(r)).finish());
}
/** the same message through the static encoder pbjs generated */
function generatedEncode(r: StoredRecord): Buffer {
  return Buffer.from(layergate.v1.Record.encode(oldMessage(r) as unknown as layergate.v1.Record.$Properties).finish());
}

// ---- arbitraries ----

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const NS_NOW = 1_733_000_000_123_456_789n;

/** strings that recur across records, as sources, signals and attribute keys do */
const POOL = ['opcua', 'w1.opcua.v123', 'application/json', 'unit', 'mm', 'quality', 'good', 'JOB-7', 'Kammer-Sauerstoff-%', '层温度', '🔥melt', ''];

/** well-formed strings: empty, short, past protobufjs's switch to Node's UTF-8 at 40 units and past 128; astral characters included */
const wellFormed = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...POOL) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 35, maxLength: 160 }) },
);
/** any UTF-16: also lone surrogates, which protobufjs writes differently below and from 40 units */
const anyString = fc.oneof(
  { weight: 4, arbitrary: wellFormed },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom('a', 'é', '\ud800', '\udfff', '😀', '\udc00\ud800'), maxLength: 140 }) },
);
const attributeKey = fc.oneof(fc.constantFrom('unit', 'quality', '0', '7', '10', '__proto__', ''), anyString);

const time = fc.oneof(
  fc.constantFrom(0n, 1n, -1n, 127n, 128n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n + 1n, INT64_MIN, INT64_MAX, NS_NOW),
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
  fc.bigInt({ min: NS_NOW - 10n ** 12n, max: NS_NOW + 10n ** 12n }),
);
const uint64Number = fc.oneof(fc.constantFrom(0, 1, 127, 128, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER), fc.nat(), fc.maxSafeNat());
/** also what a number type lets through: negatives (two's complement), fractions, -0, NaN, infinities */
const anyNumber = fc.oneof({ weight: 4, arbitrary: uint64Number }, { weight: 1, arbitrary: fc.maxSafeInteger() }, { weight: 1, arbitrary: fc.double() });
/** a large body made from a length and a seed: fast-check builds a 16 kB array element by element, slowly */
const largeBody = fc.record({ length: fc.integer({ min: 16_000, max: 20_000 }), seed: fc.nat(255) }).map(({ length, seed }) => {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (seed + i * 31) & 255;
  return bytes;
});
const body = fc.oneof({ weight: 8, arbitrary: fc.uint8Array({ maxLength: 200 }) }, { weight: 1, arbitrary: largeBody });
const sha256 = fc.oneof(fc.stringMatching(/^[0-9a-f]{64}$/), anyString);
const layer = fc.oneof(fc.constantFrom(0, 1, 127, 128, 2 ** 32 - 1), fc.integer({ min: 0, max: 2 ** 32 - 1 }));

interface RecordShape {
  strings: fc.Arbitrary<string>;
  attributeKeys: fc.Arbitrary<string>;
  sha256: fc.Arbitrary<string>;
  /** what the record carries: the StoredRecord contract is body xor blob, the encoder must match protobufjs for any */
  payloads: ReadonlyArray<'body' | 'blob' | 'both' | 'neither'>;
  /** also sourceTimeNs 0n and build '' (which decode as missing) */
  defaults: boolean;
  /** also numbers outside their range: layers outside uint32 (written as `layer >>> 0`, as the old code did), seqs and blob sizes below 0 or fractional */
  wideNumbers: boolean;
}

function recordArbitrary(shape: RecordShape): fc.Arbitrary<StoredRecord> {
  const sourceTime = shape.defaults ? time : time.filter((t) => t !== 0n);
  const build = shape.defaults ? shape.strings : shape.strings.filter((s) => s !== '');
  const layers = shape.wideNumbers ? fc.oneof(layer, fc.integer({ min: -(2 ** 31), max: 2 ** 33 })) : layer;
  const uint64 = shape.wideNumbers ? anyNumber : uint64Number;
  return fc
    .record(
      {
        seq: uint64,
        source: shape.strings,
        signal: shape.strings,
        kind: fc.constantFrom(...RECORD_KINDS),
        sourceTimeNs: sourceTime,
        receiveTimeNs: time,
        class: fc.constantFrom(...SENSITIVITY_CLASSES),
        contentType: shape.strings,
        payload: fc.constantFrom(...shape.payloads),
        body,
        blob: fc.record({ sha256: shape.sha256, size: uint64 }),
        build,
        layer: layers,
        attributes: fc.dictionary(shape.attributeKeys, shape.strings, { maxKeys: 12, noNullPrototype: true }),
      },
      { requiredKeys: ['seq', 'source', 'signal', 'kind', 'receiveTimeNs', 'class', 'contentType', 'payload', 'body', 'blob', 'attributes'] },
    )
    .map(({ payload, body, blob, ...rest }) => {
      const r: StoredRecord = { ...rest, routes: [] };
      if (payload === 'body' || payload === 'both') r.body = Buffer.from(body);
      if (payload === 'blob' || payload === 'both') r.blob = blob;
      return r;
    });
}

/** anything the type allows, and the edges the old code had an answer for */
const anyRecord = recordArbitrary({
  strings: anyString,
  attributeKeys: attributeKey,
  sha256,
  payloads: ['body', 'blob', 'both', 'neither'],
  defaults: true,
  wideNumbers: true,
});
/** records that decode back to themselves: body xor blob, a non-empty sha256, no defaults that decode as missing */
const storableRecord = recordArbitrary({
  strings: wellFormed,
  attributeKeys: wellFormed.filter((k) => k !== '__proto__'),
  sha256: fc.stringMatching(/^[0-9a-f]{64}$/),
  payloads: ['body', 'blob'],
  defaults: false,
  wideNumbers: false,
});

const RUNS = 4000;

/** own keys only: an inherited enumerable key and an own non-enumerable one are no attributes (Object.keys) */
function inheritedAndHidden(): Record<string, string> {
  const a = Object.create({ inherited: 'no', protoOnly: 'no' }) as Record<string, string>;
  a.own = 'yes';
  Object.defineProperty(a, 'hidden', { value: 'no', enumerable: false });
  a.inherited = 'shadowed: yes';
  return a;
}

/** Buffer equality without an element-by-element deep compare; hex on failure to show where */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  if (!Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected)) {
    expect(Buffer.from(actual).toString('hex')).toBe(Buffer.from(expected).toString('hex'));
  }
}

describe('record encoder', () => {
  it('writes the bytes protobufjs wrote for the old message, for any record', () => {
    fc.assert(
      fc.property(anyRecord, (r) => {
        const expected = oldEncode(r);
        expectSameBytes(encodeRecordToBuffer(r), expected);
        expectSameBytes(generatedEncode(r), expected);
      }),
      { numRuns: RUNS },
    );
  });

  it('round-trips: decodeRecord gives back the record', () => {
    fc.assert(
      fc.property(storableRecord, (r) => {
        const { body: decodedBody, ...decoded } = decodeRecord(encodeRecordToBuffer(r));
        const { body, ...fields } = r;
        expect(decoded).toEqual(fields);
        // bodies apart: a deep compare of a 16 kB Buffer goes byte by byte
        expect(decodedBody === undefined).toBe(body === undefined);
        if (body && decodedBody) expectSameBytes(decodedBody, body);
      }),
      { numRuns: RUNS },
    );
  });

  it('a RecordBatch of encoded records: the bytes protobufjs writes for the batch message, the records in order', () => {
    const batchType = protoTypeGetter('layergate.v1.RecordBatch');
    fc.assert(
      fc.property(fc.array(anyRecord, { maxLength: 8 }), (rs) => {
        const expected = Buffer.from(
          batchType()
            .encode({ records: rs.map(oldMessage) })
            .finish(),
        );
        expectSameBytes(encodeRecordBatch(rs.map(encodeRecordToBuffer)), expected);
      }),
      { numRuns: RUNS / 4 },
    );
  });

  it('the size is exact, and encodeRecordInto writes only its own range of a larger buffer', () => {
    fc.assert(
      fc.property(anyRecord, fc.nat(64), fc.nat(64), (r, before, after) => {
        const size = encodedRecordSize(r);
        const encoded = encodeRecordToBuffer(r);
        expect(encoded.length).toBe(size);
        const out = Buffer.alloc(before + size + after, 0xa5);
        expect(encodeRecordInto(r, out, before)).toBe(before + size);
        expectSameBytes(out.subarray(before, before + size), encoded);
        expect(out.subarray(0, before).every((b) => b === 0xa5)).toBe(true);
        expect(out.subarray(before + size).every((b) => b === 0xa5)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('the edges: an empty body, a blob of 0 bytes without a hash, layer 0 and 2^32-1, extreme times, odd attribute objects', () => {
    const base: StoredRecord = {
      seq: 0,
      source: '',
      signal: '',
      kind: 'event',
      receiveTimeNs: 0n,
      class: 'public',
      contentType: '',
      routes: [],
    };
    const cases: StoredRecord[] = [
      base,
      { ...base, body: Buffer.alloc(0) },
      { ...base, blob: { sha256: '', size: 0 } },
      { ...base, layer: 0 },
      { ...base, layer: 2 ** 32 - 1 },
      { ...base, seq: Number.MAX_SAFE_INTEGER, sourceTimeNs: INT64_MIN, receiveTimeNs: INT64_MAX },
      { ...base, sourceTimeNs: -1n, receiveTimeNs: 2n ** 64n }, // 2^64 has 64 zero low bits: left out, as before
      { ...base, attributes: { '': '', 10: 'ten', 2: 'two', z: 'zed' } },
      { ...base, attributes: JSON.parse('{"__proto__":"dropped","kept":"yes"}') as Record<string, string> },
      { ...base, attributes: Object.freeze({ unit: 'mm', 1: 'one' }) },
      { ...base, attributes: inheritedAndHidden() },
    ];
    for (const r of cases) expectSameBytes(encodeRecordToBuffer(r), oldEncode(r));
    expect([...encodeRecordToBuffer({ ...base, layer: 0 })]).toEqual([0x20, 3, 0x38, 1, 0x60, 0]);
    expect([...encodeRecordToBuffer({ ...base, body: Buffer.alloc(0) })]).toEqual([0x20, 3, 0x38, 1, 0x4a, 0]);
  });
});
