/**
 * Values of every OPC-UA built-in type through a real node-opcua server (in-process,
 * test-support/typed-server.ts) into the opcua input, the real pipeline and SQLite buffer, read back
 * from the stored records with the value model's reader: bit-exact over each type's full range
 * (fast-check: min, max, 2^53 + 1, -1, 0, NaN and the infinities, ...), scalars and arrays. And the
 * values that are not scalars: a structure the server describes (stored as a JSON document, 64-bit
 * fields as strings), an array of them, a matrix, a Variant array. The same round trip against
 * Eclipse Milo is in opcua.milo.int.test.ts.
 */
import fc from 'fast-check';
import { DataType, VariantArrayType } from 'node-opcua';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTENT_TYPES, parseScalarBody } from '../../../gateway/plugin-api/record.js';
import type { StoredRecord } from '../../../gateway/plugin-api/record.js';
import { type OpcuaRig, OpcuaRigs } from '../../../test/support/opcua-input.js';
import { freePort, waitFor } from '../../../test/support/wait.js';
import { OPCUA_TYPES, type OpcuaTypeCase, roundTripThrough, ticksToDate } from './test-support/opcua-types.js';
import { type TypedServer, startTypedServer } from './test-support/typed-server.js';

let srv: TypedServer;
let rig: OpcuaRig;
const rigs = new OpcuaRigs();
/** what each variable holds now (the last value written), for the sentinels between equal values */
const current = new Map<string, unknown>();
const EXTRA = ['Record', 'Records', 'Matrix', 'Mixed'];
const records = (signal: string): StoredRecord[] => rig.buffer.read('lake', 1_000_000).filter((r) => r.signal === signal);

beforeAll(async () => {
  srv = await startTypedServer({ port: await freePort() });
  const names = [...OPCUA_TYPES.flatMap((c) => [c.name, `${c.name}Array`]), ...EXTRA];
  rig = rigs.open({
    endpoint: srv.endpoint,
    machine: { enabled: false },
    publishingInterval: '50ms',
    // every write reported (sampling interval 0: on change), none dropped from a queue
    samplingInterval: 0,
    queueSize: 1000,
    items: names.map((n) => ({ node: `ns=1;s=t.${n}`, signal: `t.${n}` })),
  });
  await rig.input.start(rig.pipeline.contextFor('opcua'));
  // each item reports its current value (none yet) first: after it, every record is a write
  await waitFor(
    'every item monitored and its first value',
    () => rig.input.stats().monitoredItems === names.length && names.every((n) => records(`t.${n}`).length >= 1),
  );
}, 120_000);

afterAll(async () => {
  await rigs.stopAll();
  await srv?.stop();
  rigs.removeAll();
});

function roundTrip(c: OpcuaTypeCase, array: boolean, values: unknown[]): Promise<void> {
  return roundTripThrough(rig, current, c, array, values, async (name, v) => {
    srv.set(
      name,
      c.dataType,
      array ? VariantArrayType.Array : VariantArrayType.Scalar,
      array ? (v as unknown[]).map((x) => c.toNodeOpcua(x)) : c.toNodeOpcua(v),
    );
    // one change per turn of the event loop, as a server's own writers make them
    await new Promise((r) => setImmediate(r));
  });
}

describe('opcua input: every built-in type through a node-opcua server, exact', () => {
  for (const c of OPCUA_TYPES) {
    it(`${c.name} -> ${c.valueType}`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(c.source, { minLength: 1, maxLength: 25 }), (values) => roundTrip(c, false, values)),
        { numRuns: 10 },
      );
    });
    it(`${c.name}[] -> ${c.valueType}[]`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.array(c.source, { maxLength: 8 }), { minLength: 1, maxLength: 6 }), (values) => roundTrip(c, true, values)),
        { numRuns: 6 },
      );
    });
  }

  it('the values of the integrator report: UInt64/Int64 counters above 2^53 stay exact; NaN of a Double is stored as NaN', async () => {
    const counter = OPCUA_TYPES.find((c) => c.name === 'UInt64')!;
    await roundTrip(counter, false, [2n ** 53n, 2n ** 53n + 1n, 2n ** 53n + 2n, 2n ** 53n + 3n, 2n ** 64n - 1n]);
    await roundTrip(OPCUA_TYPES.find((c) => c.name === 'Int64')!, false, [-(2n ** 63n), 2n ** 63n - 1n, -1n, 0n]);
    await roundTrip(OPCUA_TYPES.find((c) => c.name === 'Double')!, false, [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0]);
    expect(rig.input.stats().quarantined).toBe(0);
  });
});

describe('opcua input: structures, matrices and Variant arrays', () => {
  it('a structure the server describes is a JSON document of its fields: 64-bit as strings, NaN and infinities as strings, DateTime RFC 3339', async () => {
    const before = records('t.Record').length;
    const at = ticksToDate(116_444_736_000_000_000n + 17_673_230_451_234_567n); // 2026-01-02T03:04:05.1234567Z
    srv.set(
      'Record',
      DataType.ExtensionObject,
      VariantArrayType.Scalar,
      srv.record({
        counter: [0xffffffff, 0xffffffff],
        offset: [0x80000000, 0],
        temperature: Number.NaN,
        label: 'Schicht "7"',
        samples: [1.5, -0, Number.POSITIVE_INFINITY],
        at,
        ok: true,
        duration: 12.5,
        stamp: new Date(Date.UTC(2026, 0, 2)),
      }),
    );
    const r = await waitFor('the structure record', () => records('t.Record')[before]);
    expect(r).toMatchObject({ kind: 'document', contentType: 'application/json', attributes: { status: 'Good', data_type: 'LayerRecord' } });
    expect(r.body!.toString('utf8')).toBe(
      '{"Counter":"18446744073709551615","Offset":"-9223372036854775808","Temperature":"NaN","Label":"Schicht \\"7\\"",' +
        '"Samples":[1.5,-0,"Infinity"],"At":"2026-01-02T03:04:05.123456700Z","Ok":true,"Duration":12.5,"Stamp":"2026-01-02T00:00:00Z"}',
    );
    expect(rig.input.stats().quarantined).toBe(0);
  });

  it('an array of structures is a JSON array of documents', async () => {
    const before = records('t.Records').length;
    const rec = (i: number) =>
      srv.record({ counter: [0, i], offset: [0xffffffff, 0xffffffff], temperature: i, label: `r${i}`, samples: [], at: new Date(0), ok: false, duration: 0 });
    srv.set('Records', DataType.ExtensionObject, VariantArrayType.Array, [rec(1), rec(2)]);
    const r = await waitFor('the structures record', () => records('t.Records')[before]);
    expect(r).toMatchObject({ kind: 'document', contentType: 'application/json', attributes: { data_type: 'LayerRecord' } });
    const doc = JSON.parse(r.body!.toString('utf8')) as { Counter: string; Offset: string; Label: string }[];
    expect(doc.map((d) => [d.Counter, d.Offset, d.Label])).toEqual([
      ['1', '-1', 'r1'],
      ['2', '-1', 'r2'],
    ]);
  });

  it('a matrix is a flat typed array with its dimensions as attribute; a Variant array a document of typed values', async () => {
    const m = records('t.Matrix').length;
    srv.set('Matrix', DataType.Int32, VariantArrayType.Matrix, new Int32Array([1, 2, 3, 4, 5, -2147483648]), [2, 3]);
    const matrix = await waitFor('the matrix record', () => records('t.Matrix')[m]);
    expect(matrix).toMatchObject({ kind: 'scalar', contentType: CONTENT_TYPES.scalar, attributes: { array_dimensions: '2,3' } });
    expect(parseScalarBody(matrix.body!)).toMatchObject({ type: 'int32[]', v: [1, 2, 3, 4, 5, -2147483648] });

    const x = records('t.Mixed').length;
    const { Variant } = await import('node-opcua');
    srv.set('Mixed', DataType.Variant, VariantArrayType.Array, [
      new Variant({ dataType: DataType.UInt64, arrayType: VariantArrayType.Scalar, value: [0x00200000, 1] }),
      new Variant({ dataType: DataType.String, value: 'x' }),
      new Variant({ dataType: DataType.Float, value: Number.NaN }),
    ]);
    const mixed = await waitFor('the Variant array record', () => records('t.Mixed')[x]);
    expect(mixed).toMatchObject({ kind: 'document', contentType: 'application/json' });
    expect(mixed.body!.toString('utf8')).toBe('[{"v":"9007199254740993","type":"uint64"},{"v":"x","type":"string"},{"v":"NaN","type":"float32"}]');
  });
});
