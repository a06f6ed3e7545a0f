/**
 * The `json` decoder's value types: by the mapping's `valueType`, else by the JSON type; a value that
 * does not fit its declared type is refused with the path and the reason (the input quarantines it).
 */
import { describe, expect, it } from 'vitest';
import { parseScalarBody } from '../../../gateway/plugin-api/index.js';
import { decodeJsonScalar } from './decoders.js';
import { jsonMappingSchema } from './schema.js';

const decode = (payload: unknown, mapping: Record<string, unknown> = {}) =>
  decodeJsonScalar(Buffer.from(JSON.stringify(payload)), jsonMappingSchema.parse({ value: 'v', ...mapping }), 'plc.counter', undefined);

describe('mqtt json decoder: value types', () => {
  it('types a value by its JSON type when the mapping declares none', () => {
    expect(parseScalarBody(decode({ v: 21.5 }).body)).toEqual({ type: 'float64', v: 21.5 });
    expect(parseScalarBody(decode({ v: 3 }).body)).toEqual({ type: 'float64', v: 3 });
    expect(parseScalarBody(decode({ v: true }).body)).toEqual({ type: 'bool', v: true });
    expect(parseScalarBody(decode({ v: 'RUNNING' }, { fixedUnit: 'state' }).body)).toEqual({ type: 'string', v: 'RUNNING', unit: 'state' });
  });

  it('keeps a declared 64-bit integer exact when it comes as a decimal string', () => {
    const body = parseScalarBody(decode({ v: '18446744073709551615' }, { valueType: 'uint64' }).body);
    expect(body).toEqual({ type: 'uint64', v: 18446744073709551615n });
    expect(parseScalarBody(decode({ v: -42 }, { valueType: 'int64' }).body)).toEqual({ type: 'int64', v: -42n });
  });

  it('refuses a 64-bit integer that JSON already rounded, and a value outside its declared type', () => {
    // the JSON text 9007199254740993 parses as 9007199254740992: refused, not stored off by one
    expect(() => decodeJsonScalar(Buffer.from('{"v":9007199254740993}'), jsonMappingSchema.parse({ value: 'v', valueType: 'int64' }), 's', undefined)).toThrow(
      /value at "v" is 9007199254740992, beyond 2\^53 as a JSON number \(not exact\): send int64 values beyond 2\^53 as decimal strings/,
    );
    expect(() => decode({ v: 40000 }, { valueType: 'int16' })).toThrow(/value at "v": int16 value 40000 is out of range -32768\.\.32767/);
    expect(() => decode({ v: 'x' }, { valueType: 'float32' })).toThrow(/value at "v": float32 value "x" is not a number/);
    expect(() => decode({ v: 1 }, { valueType: 'decimal' })).toThrow(/valueType/);
  });

  it('reads a datetime from RFC 3339 text to the nanosecond', () => {
    expect(parseScalarBody(decode({ v: '2026-12-03T10:00:00.123456789Z' }, { valueType: 'datetime' }).body)).toEqual({
      type: 'datetime',
      v: 1_796_292_000_123_456_789n,
    });
  });
});
