/**
 * The OPC-UA built-in types the input maps to the value model, for round-trip tests through a server:
 * per type an arbitrary of source values over the type's full range (edges included), the value a
 * node-opcua Variant carries for it, the text the Milo test server's `set` command takes, and the
 * value the record must hold (wire/scalar-value.ts's in-memory form).
 *
 * DateTime sources are OPC-UA tick counts (100 ns since 1601, 0 .. Int64 max): a server encodes them
 * as they are, and the expected value follows the input's rule for what the value model cannot hold
 * (values.ts: before 1677-09-21 the earliest time, after 2262-04-11 the latest).
 */
import fc from 'fast-check';
import { DataType } from 'node-opcua';
import type { ScalarType, ScalarValue } from '../../../../gateway/plugin-api/index.js';
import { type OpcuaRig, checkTypedRoundTrip } from '../../../../test/support/opcua-input.js';
import { arbitraryOf, sameValue } from '../../../../wire/test-support/value-arbitraries.js';

export interface OpcuaTypeCase {
  /** the OPC-UA built-in type's name, also the Milo server's variable name (`<name>` and `<name>Array`) */
  name: string;
  dataType: DataType;
  valueType: ScalarType;
  source: fc.Arbitrary<unknown>;
  /** the value of a node-opcua Variant of this type */
  toNodeOpcua(src: unknown): unknown;
  /** one element as the Milo server's `set` command reads it (MiloBenchServer.java `parseElement`) */
  toMilo(src: unknown): string;
  /** the value the record's body must hold */
  expected(src: unknown): ScalarValue;
  /** a value that differs from every source value by the servers' change filters (see `withSentinels`) */
  sentinels: [unknown, unknown];
}

/** 1601-01-01 in ms since 1970 */
const EPOCH_1601_MS = -11_644_473_600_000n;
const INT64_MAX = 2n ** 63n - 1n;
/** the value model's datetime range (DATETIME_MIN, DATETIME_MAX) */
const MODEL_MIN = -(2n ** 63n);
const MODEL_MAX = 2n ** 63n - 1n;
/** the ticks of the model's range: 1677-09-21T00:12:43.145224200Z .. 2262-04-11T23:47:16.854775800Z */
const TICKS_OF_MODEL_MIN = (MODEL_MIN - EPOCH_1601_MS * 1_000_000n + 99n) / 100n;
const TICKS_OF_MODEL_MAX = (MODEL_MAX - EPOCH_1601_MS * 1_000_000n) / 100n;

/** DateTime ticks (100 ns since 1601) as node-opcua's Date + picoseconds */
export function ticksToDate(ticks: bigint): Date {
  const ms = ticks / 10_000n + EPOCH_1601_MS;
  const d = new Date(Number(ms)) as Date & { picoseconds?: number };
  d.picoseconds = Number(ticks % 10_000n) * 100_000;
  return d;
}
export function ticksToNs(ticks: bigint): bigint {
  const ns = EPOCH_1601_MS * 1_000_000n + ticks * 100n;
  return ns < MODEL_MIN ? MODEL_MIN : ns > MODEL_MAX ? MODEL_MAX : ns;
}

const words = (v: bigint): [number, number] => {
  const u = BigInt.asUintN(64, v);
  return [Number(u >> 32n), Number(u & 0xffffffffn)];
};
const same = (x: unknown) => x as ScalarValue;
const decimal = (x: unknown) => String(x);

function numeric(name: string, dataType: DataType, valueType: ScalarType, sentinels: [unknown, unknown]): OpcuaTypeCase {
  return { name, dataType, valueType, source: arbitraryOf(valueType), toNodeOpcua: same, toMilo: decimal, expected: same, sentinels };
}

function float(name: string, dataType: DataType, valueType: 'float32' | 'float64'): OpcuaTypeCase {
  return {
    name,
    dataType,
    valueType,
    source: fc.oneof(arbitraryOf(valueType), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0)),
    toNodeOpcua: same,
    // the bits, so that -0, NaN and every float survive the text
    toMilo: (x) => {
      const b = Buffer.alloc(8);
      if (valueType === 'float32') {
        b.writeFloatBE(x as number);
        return b.readUInt32BE(0).toString(16);
      }
      b.writeDoubleBE(x as number);
      return b.readBigUInt64BE(0).toString(16);
    },
    expected: same,
    // 1.5 and 2.5 are float32 too
    sentinels: [1.5, 2.5],
  };
}

export const OPCUA_TYPES: OpcuaTypeCase[] = [
  { ...numeric('Boolean', DataType.Boolean, 'bool', [false, true]), toMilo: (x) => String(x) },
  numeric('SByte', DataType.SByte, 'int8', [1, 2]),
  numeric('Byte', DataType.Byte, 'uint8', [1, 2]),
  numeric('Int16', DataType.Int16, 'int16', [1, 2]),
  numeric('UInt16', DataType.UInt16, 'uint16', [1, 2]),
  numeric('Int32', DataType.Int32, 'int32', [1, 2]),
  numeric('UInt32', DataType.UInt32, 'uint32', [1, 2]),
  { ...numeric('Int64', DataType.Int64, 'int64', [1, 2]), source: arbitraryOf('int64'), toNodeOpcua: (x) => words(x as bigint), sentinels: [1n, 2n] },
  { ...numeric('UInt64', DataType.UInt64, 'uint64', [1, 2]), source: arbitraryOf('uint64'), toNodeOpcua: (x) => words(x as bigint), sentinels: [1n, 2n] },
  float('Float', DataType.Float, 'float32'),
  float('Double', DataType.Double, 'float64'),
  {
    name: 'String',
    dataType: DataType.String,
    valueType: 'string',
    source: fc.string({ unit: 'binary', maxLength: 40 }),
    toNodeOpcua: same,
    toMilo: (x) => Buffer.from(x as string, 'utf8').toString('base64'),
    expected: same,
    sentinels: ['\u0001sentinel-a', '\u0001sentinel-b'],
  },
  {
    name: 'DateTime',
    dataType: DataType.DateTime,
    valueType: 'datetime',
    source: fc.oneof(
      fc.bigInt({ min: 0n, max: INT64_MAX }),
      // within the value model's range, and its edges
      fc.bigInt({ min: TICKS_OF_MODEL_MIN, max: TICKS_OF_MODEL_MAX }),
      fc.constantFrom(0n, 1n, INT64_MAX, TICKS_OF_MODEL_MIN, TICKS_OF_MODEL_MIN - 1n, TICKS_OF_MODEL_MAX, TICKS_OF_MODEL_MAX + 1n, 116_444_736_000_000_000n),
    ),
    toNodeOpcua: (x) => ticksToDate(x as bigint),
    toMilo: decimal,
    expected: (x) => ticksToNs(x as bigint),
    // a whole millisecond apart from each other: the server sees DateTime changes by the millisecond
    sentinels: [116_444_736_010_000_000n, 116_444_736_020_000_000n],
  },
  {
    name: 'ByteString',
    dataType: DataType.ByteString,
    valueType: 'bytes',
    source: fc.uint8Array({ maxLength: 64 }),
    toNodeOpcua: (x) => Buffer.from(x as Uint8Array),
    toMilo: (x) => Buffer.from(x as Uint8Array).toString('hex'),
    expected: same,
    sentinels: [Uint8Array.of(0xfe, 1), Uint8Array.of(0xfe, 2)],
  },
  {
    name: 'Guid',
    dataType: DataType.Guid,
    valueType: 'string',
    source: fc.uuid({ version: [1, 2, 3, 4, 5] }),
    toNodeOpcua: same,
    toMilo: decimal,
    // node-opcua decodes a Guid to its canonical text in upper case
    expected: (x) => (x as string).toUpperCase(),
    sentinels: ['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002'],
  },
];

export const typeCase = (name: string): OpcuaTypeCase => {
  const c = OPCUA_TYPES.find((t) => t.name === name);
  if (!c) throw new Error(`no OPC-UA type case ${name}`);
  return c;
};

/**
 * Whether a server may take two source values for the same value and report no change: 0 and -0,
 * NaN and NaN, equal bytes or elements, and DateTimes in the same millisecond (a filter may compare
 * the Date alone). Erring towards "equal" only costs a sentinel.
 */
export function mayBeSameForServer(c: OpcuaTypeCase, a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => mayBeSameForServer(c, x, b[i]));
  if (c.name === 'DateTime') return typeof a === 'bigint' && typeof b === 'bigint' && a / 10_000n === b / 10_000n;
  if (typeof a === 'number' && typeof b === 'number') return a === b || (Number.isNaN(a) && Number.isNaN(b));
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.from(a).equals(Buffer.from(b));
  return a === b;
}

/**
 * The values to write one after the other so that each one is a change the server reports: a
 * server's data change filter drops a value equal to the one before (node-opcua's takes -0 for 0),
 * so where a value may equal the one before, a sentinel that differs from it goes between them.
 * `current` is the server's value before the first. Returns the sequence and the indexes of the
 * values under test in it.
 */
export function withSentinels(
  c: OpcuaTypeCase,
  current: unknown,
  values: readonly unknown[],
  sentinels: readonly [unknown, unknown] = c.sentinels,
): { sequence: unknown[]; tested: number[] } {
  const sequence: unknown[] = [];
  const tested: number[] = [];
  let prev = current;
  for (const v of values) {
    if (mayBeSameForServer(c, prev, v)) sequence.push(mayBeSameForServer(c, v, sentinels[0]) ? sentinels[1] : sentinels[0]);
    tested.push(sequence.length);
    sequence.push(v);
    prev = v;
  }
  return { sequence, tested };
}

/**
 * One round trip of `values` of a type case through a server's variable `t.<name>` (`t.<name>Array`
 * for arrays) into the rig's records: sentinels between values the server would not report as a
 * change, then every record checked bit-exact. `current` keeps what each variable holds between
 * calls; `write` sets the variable on the server, given the source value (an array's elements are
 * source values too).
 */
export function roundTripThrough(
  rig: OpcuaRig,
  current: Map<string, unknown>,
  c: OpcuaTypeCase,
  array: boolean,
  values: unknown[],
  write: (name: string, src: unknown) => Promise<void> | void,
): Promise<void> {
  const name = array ? `${c.name}Array` : c.name;
  const sentinels: [unknown, unknown] = array ? [[c.sentinels[0]], [c.sentinels[1]]] : c.sentinels;
  const { sequence, tested } = withSentinels(c, current.get(name), values, sentinels);
  current.set(name, sequence.at(-1));
  return checkTypedRoundTrip(
    rig,
    {
      signal: `t.${name}`,
      valueType: array ? `${c.valueType}[]` : c.valueType,
      sequence,
      tested,
      expected: array ? (xs) => (xs as unknown[]).map((x) => c.expected(x)) : c.expected,
      write: (v) => write(name, v),
    },
    sameValue,
  );
}
