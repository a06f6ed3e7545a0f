/**
 * values.ts on what node-opcua decodes from the wire: each Variant is encoded to OPC-UA binary and
 * decoded again by node-opcua (as the client does with a server's notification), then turned into
 * the scalar body the input stores and read back with the value model's reader. Every built-in type
 * over its full range, scalars, arrays and a matrix, bit-exact. The same path against real servers
 * is in opcua.values.int.test.ts.
 */
import fc from 'fast-check';
import { BinaryStream, DataType, LocalizedText, QualifiedName, StatusCodes, Variant, VariantArrayType, resolveNodeId } from 'node-opcua';
import { describe, expect, it } from 'vitest';
import { parseScalarBody } from '../../../gateway/plugin-api/index.js';
import { sameValue } from '../../../wire/test-support/value-arbitraries.js';
import type { ResolvedItem } from './nodes.js';
import { OPCUA_TYPES, ticksToDate } from './test-support/opcua-types.js';
import { dateTimeNs, itemShape, scalarBody, scalarJson } from './values.js';

/** a Variant as the client sees it after the wire: encoded and decoded by node-opcua */
function overTheWire(v: Variant): Variant {
  const s = new BinaryStream(v.binaryStoreSize());
  v.encode(s);
  s.rewind();
  const out = new Variant();
  out.decode(s);
  return out;
}

const item = (): ResolvedItem => ({
  nodeId: resolveNodeId('ns=1;s=x'),
  nodeIdText: 'ns=1;s=x',
  signal: 'x',
  samplingInterval: 0,
  queueSize: 1,
  deadband: undefined,
  class: undefined,
  unit: 'mm',
});

/** the body the input stores for this variant, as changes.ts makes it */
function bodyOf(it: ResolvedItem, v: Variant): string {
  const { shape, tail } = itemShape(it, v);
  if (shape.kind !== 'scalar') throw new Error(`not a scalar: ${shape.kind}`);
  return scalarBody(scalarJson(shape, v.value), tail, 'Good').toString('utf8');
}

describe('OPC-UA values to the value model (node-opcua binary codec)', () => {
  for (const c of OPCUA_TYPES) {
    it(`${c.name} -> ${c.valueType}: every value over the full range, exact`, () => {
      const it = item();
      fc.assert(
        fc.property(c.source, (src) => {
          const body = parseScalarBody(
            bodyOf(it, overTheWire(new Variant({ dataType: c.dataType, arrayType: VariantArrayType.Scalar, value: c.toNodeOpcua(src) }))),
          );
          expect(body.type).toBe(c.valueType);
          expect(body.unit).toBe('mm');
          expect(body.quality).toBe('Good');
          if (!sameValue(body.v, c.expected(src))) throw new Error(`${String(src)}: got ${String(body.v)}, expected ${String(c.expected(src))}`);
        }),
        { numRuns: 300 },
      );
    });

    it(`${c.name}[] -> ${c.valueType}[]: arrays (typed arrays where node-opcua uses them), the empty one included`, () => {
      const it = item();
      fc.assert(
        fc.property(fc.array(c.source, { maxLength: 20 }), (srcs) => {
          const v = overTheWire(new Variant({ dataType: c.dataType, arrayType: VariantArrayType.Array, value: srcs.map((s) => c.toNodeOpcua(s)) }));
          const body = parseScalarBody(bodyOf(it, v));
          expect(body.type).toBe(`${c.valueType}[]`);
          const want = srcs.map((s) => c.expected(s));
          if (!sameValue(body.v, want)) throw new Error(`got ${String(body.v)}, expected ${String(want)}`);
        }),
        { numRuns: 100 },
      );
    });
  }

  it('Int64/UInt64 above 2^53 are exact (the integrator report: a counter off by one)', () => {
    const it = item();
    for (const [dataType, n] of [
      [DataType.UInt64, 2n ** 53n + 1n],
      [DataType.UInt64, 2n ** 64n - 1n],
      [DataType.Int64, -(2n ** 63n)],
      [DataType.Int64, -1n],
    ] as const) {
      const u = BigInt.asUintN(64, n);
      const v = overTheWire(new Variant({ dataType, arrayType: VariantArrayType.Scalar, value: [Number(u >> 32n), Number(u & 0xffffffffn)] }));
      expect(bodyOf(it, v)).toBe(`{"v":"${n}","type":"${dataType === DataType.Int64 ? 'int64' : 'uint64'}","unit":"mm","quality":"Good"}`);
    }
  });

  it('a matrix is its flattened elements in wire order', () => {
    const v = overTheWire(
      new Variant({ dataType: DataType.Int32, arrayType: VariantArrayType.Matrix, dimensions: [2, 3], value: new Int32Array([1, 2, 3, 4, 5, -6]) }),
    );
    expect(v.dimensions).toEqual([2, 3]);
    expect(parseScalarBody(bodyOf(item(), v))).toMatchObject({ type: 'int32[]', v: [1, 2, 3, 4, 5, -6] });
  });

  it('text-like types: LocalizedText its text, QualifiedName ns:name, NodeId its text, StatusCode its name, null String and ByteString empty', () => {
    const cases: [Variant, string, unknown][] = [
      [new Variant({ dataType: DataType.LocalizedText, value: new LocalizedText({ text: 'Kammer', locale: 'de' }) }), 'string', 'Kammer'],
      [new Variant({ dataType: DataType.QualifiedName, value: new QualifiedName({ namespaceIndex: 2, name: 'Temp' }) }), 'string', '2:Temp'],
      [new Variant({ dataType: DataType.QualifiedName, value: new QualifiedName({ namespaceIndex: 0, name: 'Temp' }) }), 'string', 'Temp'],
      [new Variant({ dataType: DataType.NodeId, value: resolveNodeId('ns=3;s=pbf.layer') }), 'string', 'ns=3;s=pbf.layer'],
      [new Variant({ dataType: DataType.StatusCode, value: StatusCodes.BadNoCommunication }), 'string', 'BadNoCommunication'],
      [new Variant({ dataType: DataType.String, value: null }), 'string', ''],
      [new Variant({ dataType: DataType.ByteString, value: null }), 'bytes', new Uint8Array(0)],
      [new Variant({ dataType: DataType.String, arrayType: VariantArrayType.Array, value: ['a', null, 'c'] }), 'string[]', ['a', '', 'c']],
    ];
    for (const [variant, type, want] of cases) {
      const body = parseScalarBody(bodyOf(item(), overTheWire(variant)));
      expect(body.type).toBe(type);
      expect(sameValue(body.v, want), `${variant.toString()}: ${String(body.v)}`).toBe(true);
    }
  });

  it("DateTime edges: OPC-UA's zero and what is earlier than the model holds are the earliest time, Int64 max and later the latest", () => {
    expect(dateTimeNs(ticksToDate(0n))).toBe(-(2n ** 63n));
    expect(dateTimeNs(ticksToDate(2n ** 63n - 1n))).toBe(2n ** 63n - 1n);
    // what node-opcua makes of the tick count -1 (it reads the words as unsigned)
    const v = new Variant({ dataType: DataType.DateTime, value: new Date(0) });
    const s = new BinaryStream(v.binaryStoreSize());
    v.encode(s);
    s.buffer.writeBigInt64LE(-1n, 1);
    s.rewind();
    const read = new Variant();
    read.decode(s);
    expect(dateTimeNs(read.value as Date)).toBe(-(2n ** 63n));
    // 100 ns resolution kept
    expect(dateTimeNs(ticksToDate(116_444_736_000_000_001n))).toBe(100n);
  });

  it("the item's type tail follows the DataType the server sends (a BaseDataType variable may change it)", () => {
    const it = item();
    expect(bodyOf(it, overTheWire(new Variant({ dataType: DataType.Double, value: 1.5 })))).toBe('{"v":1.5,"type":"float64","unit":"mm","quality":"Good"}');
    expect(bodyOf(it, overTheWire(new Variant({ dataType: DataType.Int32, value: 2 })))).toBe('{"v":2,"type":"int32","unit":"mm","quality":"Good"}');
    expect(bodyOf(it, overTheWire(new Variant({ dataType: DataType.Double, value: Number.NaN })))).toBe(
      '{"v":"NaN","type":"float64","unit":"mm","quality":"Good"}',
    );
  });
});
