/**
 * fast-check arbitraries of the scalar value model (wire/scalar-value.ts) for round-trip tests: every
 * value of a type, biased to its edges (min, max, 0, 2^53 + 1, -0, NaN, infinities), and the
 * comparison that tells values apart as a bit-exact reader would (-0 is not 0, NaN equals NaN).
 */
import fc from 'fast-check';
import type { ParsedScalarBody, ScalarType } from '../scalar-value.js';

/** every in-memory value of a type, biased to its edges */
export function arbitraryOf(type: ScalarType): fc.Arbitrary<ParsedScalarBody['v']> {
  switch (type) {
    case 'bool':
      return fc.boolean();
    case 'int8':
      return fc.integer({ min: -128, max: 127 });
    case 'int16':
      return fc.integer({ min: -32768, max: 32767 });
    case 'int32':
      return fc.integer({ min: -2147483648, max: 2147483647 });
    case 'uint8':
      return fc.integer({ min: 0, max: 255 });
    case 'uint16':
      return fc.integer({ min: 0, max: 65535 });
    case 'uint32':
      return fc.integer({ min: 0, max: 4294967295 });
    case 'int64':
      return fc.oneof(
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        fc.constantFrom(-(2n ** 63n), 2n ** 63n - 1n, 2n ** 53n + 1n, -(2n ** 53n) - 1n, 0n),
      );
    case 'uint64':
      return fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.constantFrom(2n ** 64n - 1n, 2n ** 53n + 1n, 0n));
    case 'float32':
      return fc.float({ noDefaultInfinity: false, noNaN: false });
    case 'float64':
      return fc.double({ noDefaultInfinity: false, noNaN: false });
    case 'string':
      return fc.string({ unit: 'binary' });
    case 'datetime':
      // int64 ns since the epoch (1677..2262), the model's datetime range
      return fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.constantFrom(-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n));
    case 'bytes':
      return fc.uint8Array({ maxLength: 64 });
  }
}

/** equal as a bit-exact reader sees it: Object.is for numbers, bytes by content, arrays element-wise */
export function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return Object.is(a, b);
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.from(a).equals(Buffer.from(b));
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  return a === b;
}
