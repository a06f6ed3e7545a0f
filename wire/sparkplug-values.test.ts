/**
 * Sparkplug B values read by their datatype (wire/sparkplug.ts `readValue`, `readArray`,
 * `readDataSet`): integers signed or unsigned by the datatype whatever field carries them, the 3.0
 * array layouts against a little-endian packer written here from the specification, DataSets, and
 * the refusals that name the datatype.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SparkplugFormatError } from './errors.js';
import { ValueFormatError } from './scalar-value.js';
import { DataType, decodeSparkplug, encodeSparkplug, readArray, readDataSet, readValue, VALUE_TYPES } from './sparkplug.js';
import { arbitraryOf, sameValue } from './test-support/value-arbitraries.js';

function refusal(f: () => unknown): Error {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ValueFormatError);
    return err as Error;
  }
  throw new Error('expected a ValueFormatError');
}

describe('readValue: integers by the datatype', () => {
  it('Int8/Int16/Int32 in int_value sign-extended (Tahu) or in their own width; Int64 in long_value as signed', () => {
    expect(readValue({ intValue: 0xffffffff }, DataType.Int8)).toEqual({ type: 'int8', v: -1 });
    expect(readValue({ intValue: 0xff }, DataType.Int8)).toEqual({ type: 'int8', v: -1 });
    expect(readValue({ intValue: 0x80 }, DataType.Int8)).toEqual({ type: 'int8', v: -128 });
    expect(readValue({ intValue: 127 }, DataType.Int8)).toEqual({ type: 'int8', v: 127 });
    expect(readValue({ intValue: 65236 }, DataType.Int16)).toEqual({ type: 'int16', v: -300 });
    expect(readValue({ intValue: 0xfffffed4 }, DataType.Int16)).toEqual({ type: 'int16', v: -300 });
    expect(readValue({ intValue: 4294967295 }, DataType.Int32)).toEqual({ type: 'int32', v: -1 });
    // protobufjs gives a uint32 >= 2^31 as a negative number when read as int32 elsewhere: same bits
    expect(readValue({ intValue: -1 }, DataType.Int32)).toEqual({ type: 'int32', v: -1 });
    expect(readValue({ longValue: 2n ** 64n - 1n }, DataType.Int64)).toEqual({ type: 'int64', v: -1n });
    expect(readValue({ longValue: 2n ** 63n }, DataType.Int64)).toEqual({ type: 'int64', v: -(2n ** 63n) });
    expect(readValue({ longValue: 2n ** 53n + 1n }, DataType.Int64)).toEqual({ type: 'int64', v: 2n ** 53n + 1n });
  });

  it('unsigned types as they are; UInt32 also from long_value (where both Tahu libraries put it); UInt64 beyond 2^53 exact', () => {
    expect(readValue({ intValue: 255 }, DataType.UInt8)).toEqual({ type: 'uint8', v: 255 });
    expect(readValue({ intValue: 65535 }, DataType.UInt16)).toEqual({ type: 'uint16', v: 65535 });
    expect(readValue({ intValue: 4294967295 }, DataType.UInt32)).toEqual({ type: 'uint32', v: 4294967295 });
    expect(readValue({ longValue: 4294967295n }, DataType.UInt32)).toEqual({ type: 'uint32', v: 4294967295 });
    expect(readValue({ longValue: 2n ** 64n - 1n }, DataType.UInt64)).toEqual({ type: 'uint64', v: 2n ** 64n - 1n });
    expect(readValue({ longValue: 2n ** 53n + 1n }, DataType.UInt64)).toEqual({ type: 'uint64', v: 2n ** 53n + 1n });
  });

  it('refuses an integer that fits neither form of its datatype, naming the datatype and the value', () => {
    expect(refusal(() => readValue({ intValue: 300 }, DataType.Int8)).message).toBe(
      "Int8 (1) value 300 (0x12c) in the 32-bit field is no 8-bit two's complement, plain or sign-extended",
    );
    expect(refusal(() => readValue({ intValue: 0xffffff7f }, DataType.Int8)).message).toContain('Int8 (1) value 4294967167');
    expect(refusal(() => readValue({ intValue: 256 }, DataType.UInt8)).message).toContain('is no unsigned 8-bit integer');
    expect(refusal(() => readValue({ intValue: 0xffffffff }, DataType.UInt16)).message).toContain('UInt16 (6)');
    expect(refusal(() => readValue({ longValue: 2n ** 32n }, DataType.UInt32)).message).toContain('UInt32 (7) value 4294967296');
    expect(refusal(() => readValue({ longValue: 2n ** 32n }, DataType.Int32)).message).toContain('Int32 (3)');
  });

  it('DateTime: ms since the epoch (signed) in long_value to ns; only within the datetime range (int64 ns, 1677..2262)', () => {
    expect(readValue({ longValue: 1_772_431_200_123n }, DataType.DateTime)).toEqual({ type: 'datetime', v: 1_772_431_200_123_000_000n });
    expect(readValue({ longValue: 2n ** 64n - 1000n }, DataType.DateTime)).toEqual({ type: 'datetime', v: -1_000_000_000n });
    expect(readValue({ longValue: 9_223_372_036_854n }, DataType.DateTime).v).toBe(9_223_372_036_854_000_000n);
    expect(readValue({ longValue: 2n ** 64n - 9_223_372_036_854n }, DataType.DateTime).v).toBe(-9_223_372_036_854_000_000n);
    expect(refusal(() => readValue({ longValue: 9_223_372_036_855n }, DataType.DateTime)).message).toBe(
      'DateTime (13) 9223372036855 ms since the epoch is outside the datetime range (int64 ns: 1677-09-21T00:12:43.145224192Z .. 2262-04-11T23:47:16.854775807Z)',
    );
  });
});

describe('readValue: the other datatypes', () => {
  it('Float as float32 (NaN, infinities and -0 kept), Double as float64, Boolean, String/Text/UUID, Bytes', () => {
    expect(readValue({ floatValue: 0.10000000149011612 }, DataType.Float)).toEqual({ type: 'float32', v: 0.10000000149011612 });
    expect(readValue({ floatValue: Number.NaN }, DataType.Float).v).toBeNaN();
    expect(readValue({ doubleValue: Number.NEGATIVE_INFINITY }, DataType.Double)).toEqual({ type: 'float64', v: Number.NEGATIVE_INFINITY });
    expect(Object.is(readValue({ doubleValue: -0 }, DataType.Double).v, -0)).toBe(true);
    expect(readValue({ booleanValue: false }, DataType.Boolean)).toEqual({ type: 'bool', v: false });
    for (const dt of [DataType.String, DataType.Text, DataType.UUID]) expect(readValue({ stringValue: 'ä' }, dt)).toEqual({ type: 'string', v: 'ä' });
    expect(readValue({ bytesValue: Buffer.from([0, 255]) }, DataType.Bytes)).toEqual({ type: 'bytes', v: new Uint8Array([0, 255]) });
  });

  it('refuses a value in a field its datatype does not use, a structure datatype and an unknown code', () => {
    expect(refusal(() => readValue({ doubleValue: 1 }, DataType.Int8)).message).toBe('Int8 (1) carries double_value; Sparkplug puts it in int_value');
    expect(refusal(() => readValue({ intValue: 1 }, DataType.Int64)).message).toBe('Int64 (4) carries int_value; Sparkplug puts it in long_value');
    expect(refusal(() => readValue({}, DataType.Float)).message).toBe('Float (9) has no value; Sparkplug puts it in float_value');
    expect(refusal(() => readValue({ intValue: 1 }, DataType.PropertySet)).message).toBe('PropertySet (20) is not a single value');
    expect(refusal(() => readValue({ intValue: 1 }, 99)).message).toBe('datatype 99 is not a Sparkplug 3.0 datatype (0..34)');
  });
});

/** Little-endian packing of a 3.0 array as the specification describes it, written independently of readArray. */
function pack(dt: number, values: readonly unknown[]): Buffer {
  const fixed: Record<number, [number, (b: Buffer, v: never, at: number) => void]> = {
    [DataType.Int8Array]: [1, (b, v: number, at) => b.writeInt8(v, at)],
    [DataType.Int16Array]: [2, (b, v: number, at) => b.writeInt16LE(v, at)],
    [DataType.Int32Array]: [4, (b, v: number, at) => b.writeInt32LE(v, at)],
    [DataType.Int64Array]: [8, (b, v: bigint, at) => b.writeBigInt64LE(v, at)],
    [DataType.UInt8Array]: [1, (b, v: number, at) => b.writeUInt8(v, at)],
    [DataType.UInt16Array]: [2, (b, v: number, at) => b.writeUInt16LE(v, at)],
    [DataType.UInt32Array]: [4, (b, v: number, at) => b.writeUInt32LE(v, at)],
    [DataType.UInt64Array]: [8, (b, v: bigint, at) => b.writeBigUInt64LE(v, at)],
    [DataType.FloatArray]: [4, (b, v: number, at) => b.writeFloatLE(v, at)],
    [DataType.DoubleArray]: [8, (b, v: number, at) => b.writeDoubleLE(v, at)],
    [DataType.DateTimeArray]: [8, (b, v: bigint, at) => b.writeBigInt64LE(v / 1_000_000n, at)],
  };
  if (dt === DataType.BooleanArray) {
    const b = Buffer.alloc(4 + Math.ceil(values.length / 8));
    b.writeUInt32LE(values.length, 0);
    values.forEach((v, i) => {
      if (v) b[4 + Math.floor(i / 8)]! |= 1 << (7 - (i % 8));
    });
    return b;
  }
  if (dt === DataType.StringArray) return Buffer.concat(values.map((s) => Buffer.from(`${s as string}\0`, 'utf8')));
  const [size, write] = fixed[dt]!;
  const b = Buffer.alloc(size * values.length);
  for (const [i, v] of values.entries()) write(b, v as never, i * size);
  return b;
}

const ARRAYS = Object.entries(DataType).filter(([name]) => name.endsWith('Array'));

describe('readArray: the 3.0 array layouts', () => {
  it('every array datatype reads back what the specification layout packs, across each element type', () => {
    for (const [name, dt] of ARRAYS) {
      const element = VALUE_TYPES[dt]!.slice(0, -2) as Parameters<typeof arbitraryOf>[0];
      const elements =
        element === 'datetime'
          ? fc.bigInt({ min: -9_223_372_036_854n, max: 9_223_372_036_854n }).map((ms) => ms * 1_000_000n)
          : element === 'string'
            ? fc.string({ unit: 'binary' }).filter((s) => !s.includes('\0'))
            : element === 'float32'
              ? fc.float({ noDefaultInfinity: false, noNaN: false })
              : arbitraryOf(element);
      fc.assert(
        fc.property(fc.array(elements, { maxLength: 40 }), (values) => {
          const back = readArray(pack(dt, values), dt);
          expect(sameValue(back, values), `${name} ${JSON.stringify(values, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))}`).toBe(true);
        }),
        { numRuns: 60 },
      );
    }
  });

  it('the layouts byte by byte: little-endian, BooleanArray count then bits most significant first, StringArray NUL-terminated', () => {
    expect(readArray(Buffer.from([0x34, 0x12, 0xff, 0xff]), DataType.Int16Array)).toEqual([0x1234, -1]);
    expect(readArray(Buffer.from([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), DataType.UInt64Array)).toEqual([2n ** 64n - 2n]);
    expect(readArray(Buffer.from([10, 0, 0, 0, 0b10100000, 0b01000000]), DataType.BooleanArray)).toEqual([
      true,
      false,
      true,
      false,
      false,
      false,
      false,
      false,
      false,
      true,
    ]);
    expect(readArray(Buffer.from([0, 0, 0, 0]), DataType.BooleanArray)).toEqual([]);
    expect(readArray(Buffer.from('ab\0\0c\0'), DataType.StringArray)).toEqual(['ab', '', 'c']);
    expect(readArray(Buffer.alloc(0), DataType.StringArray)).toEqual([]);
    expect(readArray(Buffer.from([0xe8, 0x03, 0, 0, 0, 0, 0, 0]), DataType.DateTimeArray)).toEqual([1_000_000_000n]);
  });

  it('refuses bytes that are not a whole array, naming the datatype', () => {
    expect(refusal(() => readArray(Buffer.alloc(6), DataType.Int32Array)).message).toBe('Int32Array (24) of 6 bytes is not a whole number of 4-byte elements');
    expect(refusal(() => readArray(Buffer.from([9, 0, 0, 0, 0xff]), DataType.BooleanArray)).message).toBe(
      'BooleanArray (32) counts 9 booleans (6 bytes with the count) but has 5 bytes',
    );
    expect(refusal(() => readArray(Buffer.from([1, 0]), DataType.BooleanArray)).message).toContain('has no 4-byte count');
    expect(refusal(() => readArray(Buffer.from('ab'), DataType.StringArray)).message).toBe('StringArray (33) of 2 bytes does not end with a NUL byte');
    expect(refusal(() => readArray(Buffer.from([0xc3, 0x28, 0]), DataType.StringArray)).message).toBe('StringArray (33) element 0 is not UTF-8');
    expect(refusal(() => readValue({ bytesValue: Buffer.alloc(3) }, DataType.DoubleArray)).message).toContain('DoubleArray (31) of 3 bytes');
  });
});

describe('readDataSet', () => {
  it('reads every cell by its column datatype, exactly; a cell without a value is null', () => {
    const ds = readDataSet({
      numOfColumns: 6n,
      columns: ['i8', 'u64', 'f', 's', 't', 'b'],
      types: [DataType.Int8, DataType.UInt64, DataType.Float, DataType.String, DataType.DateTime, DataType.Boolean],
      rows: [
        {
          elements: [
            { intValue: 0xffffffff },
            { longValue: 2n ** 64n - 1n },
            { floatValue: Number.NaN },
            { stringValue: 'a' },
            { longValue: 5n },
            { booleanValue: true },
          ],
        },
        { elements: [{}, { longValue: 2n ** 53n + 1n }, { floatValue: 1.5 }, {}, { longValue: 0n }, { booleanValue: false }] },
      ],
    });
    expect(ds.columns).toEqual(['i8', 'u64', 'f', 's', 't', 'b']);
    expect(ds.types).toEqual(['int8', 'uint64', 'float32', 'string', 'datetime', 'bool']);
    expect(sameValue(ds.rows[0], [-1, 2n ** 64n - 1n, Number.NaN, 'a', 5_000_000n, true])).toBe(true);
    expect(ds.rows[1]).toEqual([null, 2n ** 53n + 1n, 1.5, null, 0n, false]);
  });

  it('refuses a row of the wrong width, a cell that does not fit its column, a column type that is no basic type', () => {
    const base = { columns: ['a'], types: [DataType.Int8] };
    expect(refusal(() => readDataSet({ ...base, rows: [{ elements: [{ intValue: 1 }, { intValue: 2 }] }] })).message).toBe(
      'DataSet row 0 has 2 values for 1 columns',
    );
    expect(refusal(() => readDataSet({ ...base, rows: [{ elements: [{ intValue: 300 }] }] })).message).toContain(
      'DataSet row 0 column "a": Int8 (1) value 300',
    );
    expect(refusal(() => readDataSet({ columns: ['a'], types: [DataType.Int8Array], rows: [] })).message).toBe(
      'DataSet column "a" has Int8Array (22), not a basic type',
    );
    expect(refusal(() => readDataSet({ numOfColumns: 2n, ...base, rows: [] })).message).toBe('DataSet num_of_columns 2 but 1 column names');
  });
});

describe('decodeSparkplug: exact 64-bit values', () => {
  it('long_value beyond 2^53 exact as a bigint; an alias or timestamp beyond 2^53 refused, not rounded', () => {
    const p = decodeSparkplug(encodeSparkplug({ timestamp: 1, metrics: [{ alias: 2, datatype: DataType.Int64, longValue: 2n ** 53n + 1n }] }));
    expect(p.metrics[0]).toEqual({ alias: 2, datatype: DataType.Int64, longValue: 2n ** 53n + 1n });
    expect(() => decodeSparkplug(encodeSparkplug({ metrics: [{ alias: 2n ** 53n + 1n, doubleValue: 1 }] }))).toThrow(SparkplugFormatError);
    expect(() => decodeSparkplug(encodeSparkplug({ timestamp: 2n ** 60n, metrics: [] }))).toThrow('payload timestamp 1152921504606846976 is beyond 2^53');
  });
});
