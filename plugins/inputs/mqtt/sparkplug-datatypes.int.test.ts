/**
 * Every Sparkplug 3.0 datatype through the real Mosquitto into the mqtt input and the real buffer,
 * encoded by independent implementations: Eclipse Tahu's JavaScript payload library (npm
 * sparkplug-payload, pinned) and Eclipse Tahu's Java library (tahu-core, the reference
 * implementation, for the 3.0 arrays the JavaScript one lacks; test/support/tahu-java). Property
 * tests over each datatype's full range, its edges first (min, max, -1, 0, 2^53 + 1, NaN and the
 * infinities); every record body read back with parseScalarBody and compared bit-exactly (sameValue).
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import { get as sparkplugPayloadFor } from 'sparkplug-payload';
import type { UMetric, UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseScalarBody } from '../../../gateway/plugin-api/index.js';
import type { ScalarType, ScalarValue, StoredRecord } from '../../../gateway/plugin-api/index.js';
import { MQTT } from '../../../test/services/endpoints.js';
import { rig, waitFor } from '../../../test/support/mqtt-input.js';
import type { Rig } from '../../../test/support/mqtt-input.js';
import { startTahuEncoder, type TahuEncoder, type TahuMetric } from '../../../test/support/tahu-java/tahu-java.js';
import { DataType, type DataTypeName, encodeSparkplug } from '../../../wire/index.js';
import { arbitraryOf, sameValue } from '../../../wire/test-support/value-arbitraries.js';
import type { MqttInput } from './index.js';

const tahuJs = sparkplugPayloadFor('spBv1.0')!;

let publisher: MqttClient;
let java: TahuEncoder;
const started: { stop(): Promise<void> }[] = [];
const rigs: Rig[] = [];
let run = 0;

beforeAll(async () => {
  publisher = await mqtt.connectAsync(MQTT.url, { username: MQTT.username, password: MQTT.password, clientId: `lg-sp-types-pub-${process.pid}`, clean: true });
  java = await startTahuEncoder();
});
afterEach(async () => {
  for (const s of started.splice(0).reverse()) await s.stop().catch(() => undefined);
  for (const r of rigs.splice(0)) r.buffer.close();
});
afterAll(async () => {
  await publisher?.endAsync();
  await java?.close();
});

/** A Sparkplug group of its own per test, the input subscribed to it, signals named by the metric alone. */
async function start(): Promise<{ r: Rig; input: MqttInput; group: string }> {
  const r = rig('lg-sp-types-');
  rigs.push(r);
  const group = `LGTypes${process.pid}x${run++}`;
  const input = r.create({
    clientId: `lg-sp-types-${process.pid}-${run}`,
    cleanSession: true,
    subscriptions: [{ topic: `spBv1.0/${group}/#`, decoder: 'sparkplug', qos: 1, signal: '{metric}' }],
  });
  started.push(input);
  await input.start(r.pipeline.contextFor('sp'));
  await input.ready();
  return { r, input, group };
}

/** Publishes messages and returns the records each one made (read after the previous one's). */
function recorder(r: Rig) {
  let lastSeq = 0;
  return async (topic: string, payload: Uint8Array, count: number): Promise<Map<string, StoredRecord>> => {
    await publisher.publishAsync(topic, Buffer.from(payload), { qos: 1 });
    const recs = await waitFor(`${count} records of ${topic}`, () => {
      const x = r.buffer.read('lake', 10_000, 1 << 30, lastSeq);
      return x.length >= count ? x : undefined;
    });
    lastSeq = recs[recs.length - 1]!.seq;
    return new Map(recs.map((x) => [x.signal, x]));
  };
}

const show = (v: unknown): string => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? [...x] : x));

/** The record of each metric holds its value bit-exactly, with the value model's type. */
function expectExact(recs: Map<string, StoredRecord>, expected: { signal: string; type: string; v: ScalarValue }[]): void {
  for (const e of expected) {
    const rec = recs.get(e.signal);
    expect(rec, `no record for ${e.signal}`).toBeDefined();
    const got = parseScalarBody(rec!.body!);
    expect(got.type, e.signal).toBe(e.type);
    expect(sameValue(got.v, e.v), `${e.signal}: got ${show(got.v)}, sent ${show(e.v)}`).toBe(true);
  }
}

/** the DateTimes (ms since the epoch) the value model's datetime holds: int64 ns, 1677..2262 */
const DATETIME_MS_MIN = -9_223_372_036_854n;
const DATETIME_MS_MAX = 9_223_372_036_854n;
const dateTimeMs = fc.oneof(
  fc.bigInt({ min: DATETIME_MS_MIN, max: DATETIME_MS_MAX }),
  fc.constantFrom(0n, -1n, 1_772_431_200_123n, DATETIME_MS_MIN, DATETIME_MS_MAX),
);

interface Case {
  sp: DataTypeName;
  type: ScalarType;
  /** the value as the test draws it: the value model's, but ms for DateTime */
  arb: fc.Arbitrary<ScalarValue>;
  /** edge values, one per example run */
  edges: ScalarValue[];
}

const F32_MAX = 3.4028234663852886e38;
const F32_MIN_SUBNORMAL = 1.401298464324817e-45;
const FLOAT_EDGES = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0];

const SCALARS: Case[] = [
  { sp: 'Int8', type: 'int8', arb: arbitraryOf('int8'), edges: [-128, 127, -1, 0] },
  { sp: 'Int16', type: 'int16', arb: arbitraryOf('int16'), edges: [-32768, 32767, -1, 0, -300] },
  { sp: 'Int32', type: 'int32', arb: arbitraryOf('int32'), edges: [-2147483648, 2147483647, -1, 0] },
  { sp: 'Int64', type: 'int64', arb: arbitraryOf('int64'), edges: [-(2n ** 63n), 2n ** 63n - 1n, -1n, 0n, 2n ** 53n + 1n, -(2n ** 53n) - 1n] },
  { sp: 'UInt8', type: 'uint8', arb: arbitraryOf('uint8'), edges: [0, 255, 1] },
  { sp: 'UInt16', type: 'uint16', arb: arbitraryOf('uint16'), edges: [0, 65535, 1] },
  { sp: 'UInt32', type: 'uint32', arb: arbitraryOf('uint32'), edges: [0, 4294967295, 1, 2147483648] },
  { sp: 'UInt64', type: 'uint64', arb: arbitraryOf('uint64'), edges: [0n, 2n ** 64n - 1n, 2n ** 53n + 1n, 2n ** 63n] },
  { sp: 'Float', type: 'float32', arb: arbitraryOf('float32'), edges: [...FLOAT_EDGES, F32_MAX, -F32_MAX, F32_MIN_SUBNORMAL] },
  { sp: 'Double', type: 'float64', arb: arbitraryOf('float64'), edges: [...FLOAT_EDGES, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53 + 2] },
  { sp: 'Boolean', type: 'bool', arb: arbitraryOf('bool'), edges: [true, false] },
  { sp: 'String', type: 'string', arb: arbitraryOf('string'), edges: ['', 'Ø₂ 𝄞 \0 "quoted"'] },
  { sp: 'Text', type: 'string', arb: arbitraryOf('string'), edges: ['', 'a\nb'] },
  { sp: 'UUID', type: 'string', arb: fc.uuid(), edges: ['00000000-0000-0000-0000-000000000000'] },
  { sp: 'DateTime', type: 'datetime', arb: dateTimeMs, edges: [0n, -1n, DATETIME_MS_MIN, DATETIME_MS_MAX] },
  { sp: 'Bytes', type: 'bytes', arb: arbitraryOf('bytes'), edges: [new Uint8Array(0), new Uint8Array([0, 255, 128])] },
];

/** the value model's value of what the test drew (DateTime: ms to ns) */
const modelValue = (c: Case, v: ScalarValue): ScalarValue => (c.sp.startsWith('DateTime') ? toNs(v) : v);
const toNs = (v: ScalarValue): ScalarValue => (Array.isArray(v) ? v.map(toNs) : (v as bigint) * 1_000_000n);

/** fast-check examples: run k takes every case's k-th edge value (cycling), so each edge is sent */
function edgeExamples(cases: Case[]): [ScalarValue[]][] {
  const n = Math.max(...cases.map((c) => c.edges.length));
  return Array.from({ length: n }, (_, k) => [cases.map((c) => c.edges[k % c.edges.length]!)]);
}

/** Tahu JS's value for a datatype: 64-bit integers as decimal strings (its protobufjs parses them exactly), DateTime ms as a number */
function tahuJsValue(c: Case, v: ScalarValue): UMetric['value'] {
  if (c.sp === 'Int64' || c.sp === 'UInt64') return String(v);
  if (c.sp === 'DateTime') return Number(v);
  return v as UMetric['value'];
}

describe('Sparkplug datatypes from Eclipse Tahu JavaScript (npm sparkplug-payload)', () => {
  it('every scalar datatype arrives bit-exact across its range: NBIRTH with names, then NDATA by alias', async () => {
    const { r, group } = await start();
    const send = recorder(r);
    const topic = (type: string) => `spBv1.0/${group}/${type}/tahu-js`;
    const metric = (c: Case, i: number, v: ScalarValue, birth: boolean): UMetric => ({
      ...(birth ? { name: `JS/${c.sp}` } : {}),
      alias: i + 1,
      type: c.sp as UMetric['type'],
      value: tahuJsValue(c, v),
    });
    const expected = (values: ScalarValue[]) => SCALARS.map((c, i) => ({ signal: `JS/${c.sp}`.replace('/', '.'), type: c.type, v: modelValue(c, values[i]!) }));
    const first = SCALARS.map((c) => c.edges[0]!);
    const birth: UPayload = {
      timestamp: Date.now(),
      seq: 0,
      metrics: [{ name: 'bdSeq', type: 'UInt64', value: 0 }, ...SCALARS.map((c, i) => metric(c, i, first[i]!, true))],
    };
    expectExact(await send(topic('NBIRTH'), tahuJs.encodePayload(birth), SCALARS.length + 1), expected(first));
    let seq = 0;
    await fc.assert(
      fc.asyncProperty(fc.tuple(...SCALARS.map((c) => c.arb)), async (values) => {
        seq = (seq + 1) % 256;
        const payload = tahuJs.encodePayload({ timestamp: Date.now(), seq, metrics: SCALARS.map((c, i) => metric(c, i, values[i]!, false)) });
        expectExact(await send(topic('NDATA'), payload, SCALARS.length), expected(values));
      }),
      { numRuns: 150, examples: edgeExamples(SCALARS) },
    );
  });

  it('DataSet, Template and property sets as Tahu JS writes them', async () => {
    const { r, group } = await start();
    const send = recorder(r);
    const birth = tahuJs.encodePayload({
      timestamp: 1_772_431_200_000,
      seq: 0,
      metrics: [
        { name: 'bdSeq', type: 'UInt64', value: 0 },
        {
          name: 'Motor',
          type: 'Template',
          value: {
            isDefinition: true,
            metrics: [
              { name: 'Speed', type: 'Int32', value: 0 },
              { name: 'Current', type: 'Float', value: 0 },
            ],
            parameters: [{ name: 'Serial', type: 'String', value: '' }],
          },
        },
        {
          name: 'Recoater/Motor',
          alias: 2,
          type: 'Template',
          value: {
            isDefinition: false,
            templateRef: 'Motor',
            metrics: [
              { name: 'Speed', type: 'Int32', value: -1200 },
              { name: 'Current', type: 'Float', value: 1.5 },
            ],
            parameters: [{ name: 'Serial', type: 'String', value: 'M-77' }],
          },
        },
        {
          name: 'Recipe',
          alias: 3,
          type: 'DataSet',
          value: {
            numOfColumns: 3,
            columns: ['layer', 'offset', 'name'],
            types: ['UInt32', 'Int64', 'String'],
            rows: [
              [4294967295, '-9223372036854775808', 'first'],
              [0, '9007199254740993', ''],
            ],
          },
        },
        {
          name: 'Chamber/O2',
          alias: 4,
          type: 'Double',
          value: 61.5,
          properties: {
            engUnit: { type: 'String', value: 'ppm' },
            Quality: { type: 'Int32', value: 192 },
            engHigh: { type: 'Double', value: 1000 },
          },
        },
      ],
    });
    const recs = await send(`spBv1.0/${group}/NBIRTH/tahu-js`, birth, 5);
    expect([...recs.keys()].sort()).toEqual(['Chamber.O2', 'Recipe', 'Recoater.Motor.Current', 'Recoater.Motor.Speed', 'bdSeq']);
    expect(parseScalarBody(recs.get('Recoater.Motor.Speed')!.body!)).toEqual({ type: 'int32', v: -1200 });
    // (the pipeline adds attributes of its own, the machine context)
    expect(recs.get('Recoater.Motor.Speed')!.attributes).toMatchObject({ template: 'Motor', 'parameter.Serial': 'M-77' });
    expect(parseScalarBody(recs.get('Recoater.Motor.Current')!.body!)).toEqual({ type: 'float32', v: 1.5 });
    const ds = recs.get('Recipe')!;
    expect(ds).toMatchObject({ kind: 'document', contentType: 'application/json' });
    expect(ds.body!.toString()).toBe(
      '{"columns":["layer","offset","name"],"types":["uint32","int64","string"],"rows":[[4294967295,"-9223372036854775808","first"],[0,"9007199254740993",""]]}',
    );
    expect(recs.get('Chamber.O2')!.body!.toString()).toBe('{"v":61.5,"type":"float64","unit":"ppm","quality":"Good"}');
    expect(recs.get('Chamber.O2')!.attributes).toMatchObject({ 'property.engHigh': '1000' });
  });
});

/** Tahu Java's exact JSON form of a value (TahuEncoder.java): 64-bit as decimal strings, floats as their bits, bytes base64 */
function tahuJavaValue(sp: DataTypeName, v: ScalarValue): unknown {
  if (Array.isArray(v)) return v.map((x) => tahuJavaValue(sp.replace('Array', '') as DataTypeName, x));
  const view = new DataView(new ArrayBuffer(8));
  switch (sp) {
    case 'Int64':
    case 'UInt64':
    case 'DateTime':
      return String(v);
    case 'Float':
      view.setFloat32(0, v as number);
      return view.getInt32(0);
    case 'Double':
      view.setFloat64(0, v as number);
      return String(view.getBigInt64(0));
    case 'Bytes':
      return Buffer.from(v as Uint8Array).toString('base64');
    default:
      return v;
  }
}

/** Tahu Java sizes a StringArray's buffer by UTF-16 length while writing UTF-8: only ASCII fits; NUL ends an element */
const asciiString = fc.string({ unit: fc.integer({ min: 1, max: 0x7f }).map((c) => String.fromCharCode(c)) });

const array = (sp: DataTypeName, type: ScalarType, element: fc.Arbitrary<ScalarValue>, edges: ScalarValue[]): Case => ({
  sp,
  type: `${type}[]` as ScalarType,
  arb: fc.array(element, { maxLength: 24 }),
  edges: [[], edges],
});

const ARRAYS: Case[] = [
  array('Int8Array', 'int8', arbitraryOf('int8'), [-128, 127, -1, 0]),
  array('Int16Array', 'int16', arbitraryOf('int16'), [-32768, 32767, -1, 0]),
  array('Int32Array', 'int32', arbitraryOf('int32'), [-2147483648, 2147483647, -1, 0]),
  array('Int64Array', 'int64', arbitraryOf('int64'), [-(2n ** 63n), 2n ** 63n - 1n, -1n, 2n ** 53n + 1n]),
  array('UInt8Array', 'uint8', arbitraryOf('uint8'), [0, 255, 128]),
  array('UInt16Array', 'uint16', arbitraryOf('uint16'), [0, 65535, 32768]),
  array('UInt32Array', 'uint32', arbitraryOf('uint32'), [0, 4294967295, 2147483648]),
  array('UInt64Array', 'uint64', arbitraryOf('uint64'), [0n, 2n ** 64n - 1n, 2n ** 53n + 1n]),
  array('FloatArray', 'float32', arbitraryOf('float32'), [...FLOAT_EDGES, F32_MAX, F32_MIN_SUBNORMAL]),
  array('DoubleArray', 'float64', arbitraryOf('float64'), [...FLOAT_EDGES, Number.MAX_VALUE, Number.MIN_VALUE]),
  array('BooleanArray', 'bool', fc.boolean(), [true, false, true, true, false, false, false, true, true]),
  array('StringArray', 'string', asciiString, ['', 'a', 'Layer 12']),
  array('DateTimeArray', 'datetime', dateTimeMs, [0n, -1n, DATETIME_MS_MIN, DATETIME_MS_MAX]),
];

describe('Sparkplug datatypes from Eclipse Tahu Java (tahu-core, the reference implementation)', () => {
  it('every 3.0 array datatype and every scalar arrives bit-exact: DBIRTH with datatypes, DDATA by alias with the datatypes stripped (read by the birth)', async () => {
    const { r, group } = await start();
    const send = recorder(r);
    // the scalars too: the reference implementation's own encoding of each (UInt32 in long_value, as Tahu JS)
    const cases = [...ARRAYS, ...SCALARS];
    const topic = (type: string) => `spBv1.0/${group}/${type}/tahu-java${type.startsWith('D') ? '/Device' : ''}`;
    const metrics = (values: ScalarValue[], birth: boolean): TahuMetric[] =>
      cases.map((c, i) => ({ ...(birth ? { name: `Java/${c.sp}` } : {}), alias: i + 1, datatype: DataType[c.sp], value: tahuJavaValue(c.sp, values[i]!) }));
    const expected = (values: ScalarValue[]) => cases.map((c, i) => ({ signal: `Java.${c.sp}`, type: c.type, v: modelValue(c, values[i]!) }));
    await send(topic('NBIRTH'), await java.encode({ timestamp: Date.now(), seq: 0, metrics: [{ name: 'bdSeq', datatype: DataType.UInt64, value: '0' }] }), 1);
    const first = cases.map((c) => c.edges[1 % c.edges.length]!);
    expectExact(
      await send(topic('DBIRTH'), await java.encode({ timestamp: Date.now(), seq: 1, metrics: metrics(first, true) }), cases.length),
      expected(first),
    );
    let seq = 1;
    await fc.assert(
      fc.asyncProperty(fc.tuple(...cases.map((c) => c.arb)), async (values) => {
        seq = (seq + 1) % 256;
        const payload = await java.encode({ timestamp: Date.now(), seq, strip: true, metrics: metrics(values, false) });
        expectExact(await send(topic('DDATA'), payload, cases.length), expected(values));
      }),
      { numRuns: 120, examples: edgeExamples(cases) },
    );
  });
});

describe('a metric that does not fit its datatype', () => {
  it('is quarantined with the message, naming metric, topic and datatype; its siblings of the same message are stored', async () => {
    const { r, input, group } = await start();
    const send = recorder(r);
    const topic = `spBv1.0/${group}/NBIRTH/bad-node`;
    const payload = encodeSparkplug({
      timestamp: 1_772_431_200_000,
      seq: 0,
      metrics: [
        { name: 'bdSeq', datatype: DataType.UInt64, longValue: 0 },
        { name: 'Before', alias: 1, datatype: DataType.Int16, intValue: 0xffff },
        { name: 'Broken', alias: 2, datatype: DataType.Int8, intValue: 300 },
        { name: 'Odd', alias: 3, datatype: 99, intValue: 1 },
        { name: 'After', alias: 4, datatype: DataType.Double, doubleValue: 21.5 },
      ],
    });
    const recs = await send(topic, payload, 3);
    expect([...recs.keys()]).toEqual(['bdSeq', 'Before', 'After']);
    expect(parseScalarBody(recs.get('Before')!.body!)).toEqual({ type: 'int16', v: -1 });
    await waitFor('two quarantined metrics (the input quarantines SparkplugResult.badMetrics)', () =>
      r.pipeline.stats().sp!.quarantineKept === 2 ? true : undefined,
    );
    expect(input.stats().quarantined).toEqual({ 'bad-value': 1, 'unknown-datatype': 1 });
    const qdir = path.join(r.dataDir, 'quarantine', 'inputs', 'sp');
    const sidecars = readdirSync(qdir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(path.join(qdir, f), 'utf8')) as { where: string; error: { message: string } });
    expect(sidecars.map((s) => s.where)).toEqual([topic, topic]);
    expect(sidecars.map((s) => s.error.message).sort()).toEqual([
      `bad-value: Sparkplug metric "Broken" (Int8 (1)) on ${topic}: Int8 (1) value 300 (0x12c) in the 32-bit field is no 8-bit two's complement, plain or sign-extended`,
      `unknown-datatype: Sparkplug metric "Odd" (datatype 99) on ${topic}: datatype 99 is not a Sparkplug 3.0 datatype (0..34)`,
    ]);
  });
});
