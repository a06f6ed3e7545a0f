/**
 * The scalar value model: every type's JSON form round-trips exactly across its whole range (min,
 * max, 2^53 + 1, -0, NaN, infinities), bodies without "type" keep their old meaning, and a value
 * outside its type is refused with a message naming the type and the value.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ParsedScalarBody,
  SCALAR_TYPES,
  ValueFormatError,
  checkValue,
  datetimeText,
  encodeScalarBody,
  exactNumber,
  parseDatetime,
  parseScalarBody,
} from './scalar-value.js';
import { arbitraryOf, sameValue } from './test-support/value-arbitraries.js';

describe('scalar value model', () => {
  for (const type of SCALAR_TYPES) {
    it(`${type}: body -> JSON text -> body is the same value (property)`, () => {
      fc.assert(
        fc.property(arbitraryOf(type), fc.option(fc.string(), { nil: undefined }), (v, unit) => {
          const body: ParsedScalarBody = { type, v, ...(unit !== undefined ? { unit } : {}), quality: 'Good' };
          const back = parseScalarBody(encodeScalarBody(body));
          expect(back.type).toBe(type);
          expect(sameValue(back.v, v)).toBe(true);
          expect(back.unit).toBe(unit);
          expect(back.quality).toBe('Good');
        }),
        { numRuns: 300 },
      );
    });
    it(`${type}[]: arrays round-trip (property)`, () => {
      fc.assert(
        fc.property(fc.array(arbitraryOf(type), { maxLength: 8 }), (v) => {
          const back = parseScalarBody(encodeScalarBody({ type: `${type}[]`, v }));
          expect(back.type).toBe(`${type}[]`);
          expect(sameValue(back.v, v)).toBe(true);
        }),
        { numRuns: 100 },
      );
    });
  }

  it('writes 64-bit integers as decimal strings, so a plain JSON parser cannot round them', () => {
    const text = encodeScalarBody({ type: 'uint64', v: 2n ** 53n + 1n }).toString();
    expect(text).toBe('{"v":"9007199254740993","type":"uint64"}');
    expect(JSON.parse(text).v).toBe('9007199254740993');
  });

  it('writes non-finite floats and -0 in forms JSON carries', () => {
    expect(encodeScalarBody({ type: 'float64', v: Number.NaN }).toString()).toBe('{"v":"NaN","type":"float64"}');
    expect(encodeScalarBody({ type: 'float32', v: Number.NEGATIVE_INFINITY }).toString()).toBe('{"v":"-Infinity","type":"float32"}');
    expect(encodeScalarBody({ type: 'float64', v: -0 }).toString()).toBe('{"v":-0,"type":"float64"}');
  });

  it('reads a body without "type" by its JSON type (bodies written before the value model)', () => {
    expect(parseScalarBody('{"v":21.5,"unit":"°C","quality":"Good"}')).toEqual({ type: 'float64', v: 21.5, unit: '°C', quality: 'Good' });
    expect(parseScalarBody('{"v":true}')).toEqual({ type: 'bool', v: true });
    expect(parseScalarBody('{"v":"RUNNING"}')).toEqual({ type: 'string', v: 'RUNNING' });
  });

  it('refuses a value outside its type, naming the type and the value', () => {
    expect(() => parseScalarBody('{"v":300,"type":"int8"}')).toThrow(/int8 value 300 is out of range -128\.\.127/);
    expect(() => parseScalarBody('{"v":-1,"type":"uint32"}')).toThrow(/uint32 value -1 is out of range 0\.\.4294967295/);
    expect(() => parseScalarBody('{"v":"18446744073709551616","type":"uint64"}')).toThrow(/uint64 value 18446744073709551616 is out of range/);
    expect(() => parseScalarBody('{"v":0.1,"type":"float32"}')).toThrow(/float32 value 0\.1 is not a float32 value/);
    expect(() => parseScalarBody('{"v":1.5,"type":"int32"}')).toThrow(/int32 value 1\.5 is not an integer/);
    expect(() => parseScalarBody('{"v":1,"type":"decimal"}')).toThrow(/"decimal" is not a value type/);
    expect(() => parseScalarBody('{"v":"yesterday","type":"datetime"}')).toThrow(ValueFormatError);
    expect(() => checkValue('int16[]', [1, 40000])).toThrow(/int16 value 40000 is out of range/);
    expect(() => parseScalarBody('{"v":"2300-01-01T00:00:00Z","type":"datetime"}')).toThrow(
      /datetime value 10413792000000000000 is out of range \(int64 ns since the epoch: 1677-09-21T00:12:43.145224192Z .. 2262-04-11T23:47:16.854775807Z\)/,
    );
  });

  it('datetime text has 0, 3, 6 or 9 fraction digits and reads back to the ns', () => {
    expect(datetimeText(1_764_756_000_000_000_000n)).toBe('2025-12-03T10:00:00Z');
    expect(datetimeText(1_764_756_000_123_000_000n)).toBe('2025-12-03T10:00:00.123Z');
    expect(datetimeText(1_764_756_000_123_456_000n)).toBe('2025-12-03T10:00:00.123456Z');
    expect(datetimeText(1_764_756_000_123_456_789n)).toBe('2025-12-03T10:00:00.123456789Z');
    expect(datetimeText(-1n)).toBe('1969-12-31T23:59:59.999999999Z');
    expect(parseDatetime('2025-12-03T11:00:00.5+01:00')).toBe(1_764_756_000_500_000_000n);
  });

  it('exactNumber gives a float64 only where it is exact', () => {
    expect(exactNumber({ type: 'int64', v: 2n ** 53n })).toBe(2 ** 53);
    expect(exactNumber({ type: 'int64', v: 2n ** 53n + 1n })).toBeNull();
    expect(exactNumber({ type: 'uint64', v: 2n ** 64n - 1n })).toBeNull();
    expect(exactNumber({ type: 'bool', v: true })).toBe(1);
    expect(exactNumber({ type: 'datetime', v: 5n })).toBeNull();
    expect(exactNumber({ type: 'string', v: '1' })).toBeNull();
  });
});
