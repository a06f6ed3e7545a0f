/**
 * The mqtt input's Sparkplug B host decoding (SparkplugState in decoders.ts), without a broker: each
 * metric read by its datatype (its own, else its birth's), the records DataSets, Templates, Files and
 * property sets become, and a metric that cannot be read reported alone, its siblings kept.
 * (The same through Mosquitto with payloads of Eclipse Tahu's libraries: sparkplug-datatypes.int.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { parseScalarBody } from '../../../gateway/plugin-api/index.js';
import type { RecordDraft } from '../../../gateway/plugin-api/index.js';
import { DataType, encodeSparkplug, type SparkplugMetric } from '../../../wire/index.js';
import { sameValue } from '../../../wire/test-support/value-arbitraries.js';
import { SparkplugState } from './decoders.js';

const T0 = 1_772_431_200_000;
const topic = (type: string, device?: string) => `spBv1.0/G/${type}/edge1${device ? `/${device}` : ''}`;

/** one message through the decoder; signals by the template `{metric}` (the default's group and node prefix is not tested here) */
function feed(s: SparkplugState, type: string, metrics: SparkplugMetric[], seq: number, device?: string) {
  return s.decode(topic(type, device), encodeSparkplug({ timestamp: T0 + seq, seq, metrics }), '{metric}', undefined);
}
function birth(s: SparkplugState, metrics: SparkplugMetric[]) {
  return feed(s, 'NBIRTH', [{ name: 'bdSeq', datatype: DataType.Int64, longValue: 0 }, ...metrics], 0);
}
const bySignal = (drafts: RecordDraft[]) => new Map(drafts.map((d) => [d.signal, d]));
const scalar = (d: RecordDraft | undefined) => parseScalarBody(d!.body);

describe('Sparkplug metrics read by their datatype', () => {
  it("negative Int8/Int16/Int32/Int64 in DATA without a datatype are read as signed by the birth's datatype (the integrator's bug)", () => {
    const s = new SparkplugState();
    birth(s, [
      { name: 'i8', alias: 1, datatype: DataType.Int8, intValue: 0 },
      { name: 'i16', alias: 2, datatype: DataType.Int16, intValue: 0 },
      { name: 'i32', alias: 3, datatype: DataType.Int32, intValue: 0 },
      { name: 'i64', alias: 4, datatype: DataType.Int64, longValue: 0 },
      { name: 'u64', alias: 5, datatype: DataType.UInt64, longValue: 0 },
      { name: 'dt', alias: 6, datatype: DataType.DateTime, longValue: 0 },
    ]);
    const r = feed(
      s,
      'NDATA',
      [
        { alias: 1, intValue: 0xffffff80 },
        { alias: 2, intValue: 65236 },
        { alias: 3, intValue: 4294967295 },
        { alias: 4, longValue: 2n ** 64n - 1n },
        { alias: 5, longValue: 2n ** 53n + 1n },
        { alias: 6, longValue: 1_772_431_200_123n },
      ],
      1,
    );
    const d = bySignal(r.drafts);
    expect(r.badMetrics).toBeUndefined();
    expect(scalar(d.get('i8'))).toEqual({ type: 'int8', v: -128 });
    expect(scalar(d.get('i16'))).toEqual({ type: 'int16', v: -300 });
    expect(scalar(d.get('i32'))).toEqual({ type: 'int32', v: -1 });
    expect(scalar(d.get('i64'))).toEqual({ type: 'int64', v: -1n });
    expect(scalar(d.get('u64'))).toEqual({ type: 'uint64', v: 2n ** 53n + 1n });
    expect(scalar(d.get('dt'))).toEqual({ type: 'datetime', v: 1_772_431_200_123_000_000n });
    expect(d.get('dt')!.body.toString()).toBe('{"v":"2026-03-02T06:00:00.123Z","type":"datetime"}');
  });

  it("a metric's own datatype wins over its birth's; a DATA metric by name finds its birth's datatype; births per device", () => {
    const s = new SparkplugState();
    birth(s, [{ name: 'x', alias: 1, datatype: DataType.UInt32, intValue: 0 }]);
    feed(s, 'DBIRTH', [{ name: 'x', alias: 1, datatype: DataType.Int16, intValue: 0 }], 1, 'D1');
    const node = feed(s, 'NDATA', [{ name: 'x', intValue: 0xffff }], 2);
    const dev = feed(s, 'DDATA', [{ alias: 1, intValue: 0xffff }], 3, 'D1');
    const own = feed(s, 'DDATA', [{ alias: 1, datatype: DataType.UInt16, intValue: 0xffff }], 4, 'D1');
    expect(scalar(node.drafts[0])).toEqual({ type: 'uint32', v: 65535 });
    expect(scalar(dev.drafts[0])).toEqual({ type: 'int16', v: -1 });
    expect(scalar(own.drafts[0])).toEqual({ type: 'uint16', v: 65535 });
  });

  it('Float NaN and ±Infinity are kept (float32 and float64), -0 too', () => {
    const s = new SparkplugState();
    const r = birth(s, [
      { name: 'f', datatype: DataType.Float, floatValue: Number.NaN },
      { name: 'd+', datatype: DataType.Double, doubleValue: Number.POSITIVE_INFINITY },
      { name: 'd-', datatype: DataType.Double, doubleValue: Number.NEGATIVE_INFINITY },
      { name: 'z', datatype: DataType.Float, floatValue: -0 },
    ]);
    const d = bySignal(r.drafts);
    expect(d.get('f')!.body.toString()).toBe('{"v":"NaN","type":"float32"}');
    expect(scalar(d.get('d+'))).toEqual({ type: 'float64', v: Number.POSITIVE_INFINITY });
    expect(scalar(d.get('d-'))).toEqual({ type: 'float64', v: Number.NEGATIVE_INFINITY });
    expect(Object.is(scalar(d.get('z')).v, -0)).toBe(true);
  });

  it('3.0 arrays become <type>[] values', () => {
    const s = new SparkplugState();
    const r = birth(s, [
      { name: 'a16', datatype: DataType.Int16Array, bytesValue: Buffer.from([0x34, 0x12, 0xff, 0xff]) },
      { name: 'bits', datatype: DataType.BooleanArray, bytesValue: Buffer.from([3, 0, 0, 0, 0b01100000]) },
      { name: 'names', datatype: DataType.StringArray, bytesValue: Buffer.from('a\0b\0') },
      { name: 'u64', datatype: DataType.UInt64Array, bytesValue: Buffer.alloc(8, 0xff) },
    ]);
    const d = bySignal(r.drafts);
    expect(scalar(d.get('a16'))).toEqual({ type: 'int16[]', v: [0x1234, -1] });
    expect(scalar(d.get('bits'))).toEqual({ type: 'bool[]', v: [false, true, true] });
    expect(scalar(d.get('names'))).toEqual({ type: 'string[]', v: ['a', 'b'] });
    expect(d.get('u64')!.body.toString()).toBe('{"v":["18446744073709551615"],"type":"uint64[]"}');
  });

  it('without a datatype anywhere, float/double/boolean/string/bytes are read by their field; an integer is quarantined', () => {
    const s = new SparkplugState();
    const r = feed(
      s,
      'NDATA',
      [
        { name: 'd', doubleValue: 1.5 },
        { name: 's', stringValue: 'on' },
        { name: 'n', intValue: 4294967295 },
      ],
      1,
    );
    expect(r.drafts.map((x) => [x.signal, scalar(x)])).toEqual([
      ['d', { type: 'float64', v: 1.5 }],
      ['s', { type: 'string', v: 'on' }],
    ]);
    expect(r.badMetrics?.map((e) => [e.reason, e.message])).toEqual([
      ['unknown-datatype', 'Sparkplug metric "n" (no datatype) on spBv1.0/G/NDATA/edge1: intValue without a datatype in the metric or its birth'],
    ]);
  });
});

describe('Sparkplug structures and properties', () => {
  it('a DataSet is one document record (application/json): columns, value-model types, rows with exact values', () => {
    const s = new SparkplugState();
    const r = birth(s, [
      {
        name: 'Recipe/Layers',
        alias: 7,
        datatype: DataType.DataSet,
        datasetValue: {
          numOfColumns: 3,
          columns: ['layer', 'energy', 'ok'],
          types: [DataType.UInt64, DataType.Float, DataType.Boolean],
          rows: [
            { elements: [{ longValue: 2n ** 64n - 1n }, { floatValue: Number.NaN }, { booleanValue: true }] },
            { elements: [{ longValue: 2 }, { floatValue: 0.5 }, {}] },
          ],
        },
      },
    ]);
    expect(r.drafts).toHaveLength(2); // bdSeq and the DataSet
    const doc = r.drafts.find((x) => x.signal === 'Recipe.Layers')!;
    expect(doc).toMatchObject({ kind: 'document', contentType: 'application/json', sourceTimeNs: BigInt(T0) * 1_000_000n });
    expect(doc.body.toString()).toBe(
      '{"columns":["layer","energy","ok"],"types":["uint64","float32","bool"],"rows":[["18446744073709551615","NaN",true],["2",0.5,null]]}',
    );
  });

  it('Template: definitions are not data; an instance is flattened into <metric>/<member> records, member datatypes from the definition, template_ref and parameters as attributes', () => {
    const s = new SparkplugState();
    const definition = birth(s, [
      {
        name: 'Motor',
        datatype: DataType.Template,
        templateValue: {
          isDefinition: true,
          metrics: [
            { name: 'Speed', datatype: DataType.Int16, intValue: 0 },
            { name: 'Running', datatype: DataType.Boolean, booleanValue: false },
            { name: 'Bearing', datatype: DataType.Template, templateValue: { isDefinition: false, templateRef: 'Bearing', metrics: [], parameters: [] } },
          ],
          parameters: [{ name: 'Serial', type: DataType.String, stringValue: '' }],
        },
      },
      {
        name: 'Bearing',
        datatype: DataType.Template,
        templateValue: { isDefinition: true, metrics: [{ name: 'Temp', datatype: DataType.Float, floatValue: 0 }], parameters: [] },
      },
    ]);
    expect(definition.drafts.map((d) => d.signal)).toEqual(['bdSeq']);
    feed(
      s,
      'DBIRTH',
      [
        {
          name: 'Recoater/Motor',
          alias: 1,
          datatype: DataType.Template,
          templateValue: {
            isDefinition: false,
            templateRef: 'Motor',
            parameters: [{ name: 'Serial', type: DataType.String, stringValue: 'M-77' }],
            metrics: [
              { name: 'Speed', datatype: DataType.Int16, intValue: 5 },
              { name: 'Running', datatype: DataType.Boolean, booleanValue: true },
            ],
          },
        },
      ],
      1,
      'D1',
    );
    // DATA: changed members only, their datatypes left out (read by the definition), a nested instance
    const r = feed(
      s,
      'DDATA',
      [
        {
          alias: 1,
          timestamp: T0 + 50,
          templateValue: {
            isDefinition: false,
            templateRef: 'Motor',
            parameters: [],
            metrics: [
              { name: 'Speed', intValue: 0xfffffff6 },
              { name: 'Bearing', templateValue: { isDefinition: false, metrics: [{ name: 'Temp', floatValue: 61.5 }], parameters: [] } },
            ],
          },
        },
      ],
      2,
      'D1',
    );
    expect(r.badMetrics).toBeUndefined();
    expect(r.drafts.map((d) => [d.signal, scalar(d), d.attributes, d.sourceTimeNs])).toEqual([
      ['Recoater.Motor.Speed', { type: 'int16', v: -10 }, { template: 'Motor' }, BigInt(T0 + 50) * 1_000_000n],
      ['Recoater.Motor.Bearing.Temp', { type: 'float32', v: 61.5 }, { template: 'Bearing' }, BigInt(T0 + 50) * 1_000_000n],
    ]);
    const born = feed(
      s,
      'DBIRTH',
      [
        {
          name: 'M2',
          datatype: DataType.Template,
          templateValue: {
            templateRef: 'Motor',
            parameters: [{ name: 'Serial', type: DataType.String, stringValue: 'M-78' }],
            metrics: [{ name: 'Running', booleanValue: true }],
          },
        },
      ],
      3,
      'D2',
    );
    expect(born.drafts.map((d) => [d.signal, scalar(d), d.attributes])).toEqual([
      ['M2.Running', { type: 'bool', v: true }, { template: 'Motor', 'parameter.Serial': 'M-78' }],
    ]);
  });

  it('properties: engUnit -> unit, Quality -> quality (192 Good, 0 Bad, 500 Stale), others -> property.<key> attributes; is_historical marked', () => {
    const s = new SparkplugState();
    const props = (quality: number) => ({
      keys: ['engUnit', 'Quality', 'engLow', 'Description'],
      values: [
        { type: DataType.String, stringValue: 'ppm' },
        { type: DataType.Int32, intValue: quality },
        { type: DataType.Double, doubleValue: -5.5 },
        { type: DataType.String, stringValue: 'O2 at the gas outlet' },
      ],
    });
    const r = birth(s, [
      { name: 'O2', alias: 1, datatype: DataType.Double, doubleValue: 12.5, properties: props(192) },
      { name: 'O2b', alias: 2, datatype: DataType.Double, doubleValue: 13, properties: props(500), isHistorical: true },
      { name: 'O2c', alias: 3, datatype: DataType.Double, doubleValue: 14, properties: props(0) },
    ]);
    const d = bySignal(r.drafts);
    expect(d.get('O2')!.body.toString()).toBe('{"v":12.5,"type":"float64","unit":"ppm","quality":"Good"}');
    expect(d.get('O2')!.attributes).toEqual({ 'property.engLow': '-5.5', 'property.Description': 'O2 at the gas outlet' });
    expect(scalar(d.get('O2b')).quality).toBe('Stale');
    expect(d.get('O2b')!.attributes).toMatchObject({ historical: 'true' });
    expect(scalar(d.get('O2c')).quality).toBe('Bad');
  });

  it('a File is a document record of its bytes, named by its metadata', () => {
    const s = new SparkplugState();
    const bytes = Buffer.from('%PDF-1.7 ...');
    const r = birth(s, [
      {
        name: 'Job/Report',
        datatype: DataType.File,
        bytesValue: bytes,
        metadata: { fileName: 'B-0001.pdf', fileType: 'pdf', contentType: 'application/pdf', md5: 'abc' },
      },
      { name: 'Job/Blob', datatype: DataType.File, bytesValue: Buffer.from([1, 2]) },
    ]);
    const d = bySignal(r.drafts);
    expect(d.get('Job.Report')).toMatchObject({
      kind: 'document',
      contentType: 'application/pdf',
      attributes: { file_name: 'B-0001.pdf', file_type: 'pdf', md5: 'abc' },
    });
    expect(d.get('Job.Report')!.body.equals(bytes)).toBe(true);
    expect(d.get('Job.Blob')).toMatchObject({ kind: 'document', contentType: 'application/octet-stream' });
  });
});

describe('a metric that cannot be read', () => {
  it('is reported alone with the metric, the topic and the datatype in its message; its siblings become records', () => {
    const s = new SparkplugState();
    birth(s, [
      { name: 'good1', alias: 1, datatype: DataType.Double, doubleValue: 0 },
      { name: 'small', alias: 2, datatype: DataType.Int8, intValue: 0 },
      { name: 'arr', alias: 3, datatype: DataType.Int32Array, bytesValue: Buffer.alloc(0) },
      { name: 'odd', alias: 4, datatype: 77, intValue: 0 },
      { name: 'good2', alias: 5, datatype: DataType.Int16, intValue: 0 },
    ]);
    const r = feed(
      s,
      'NDATA',
      [
        { alias: 1, doubleValue: 20.5 },
        { alias: 2, intValue: 300 },
        { alias: 3, bytesValue: Buffer.alloc(6) },
        { alias: 4, intValue: 1 },
        { alias: 5, intValue: 0xffff8000 },
      ],
      1,
    );
    expect(r.drafts.map((d) => [d.signal, scalar(d)])).toEqual([
      ['good1', { type: 'float64', v: 20.5 }],
      ['good2', { type: 'int16', v: -32768 }],
    ]);
    expect(r.badMetrics?.map((e) => [e.reason, e.message])).toEqual([
      [
        'bad-value',
        'Sparkplug metric "small" (Int8 (1)) on spBv1.0/G/NDATA/edge1: Int8 (1) value 300 (0x12c) in the 32-bit field is no 8-bit two\'s complement, plain or sign-extended',
      ],
      ['bad-value', 'Sparkplug metric "arr" (Int32Array (24)) on spBv1.0/G/NDATA/edge1: Int32Array (24) of 6 bytes is not a whole number of 4-byte elements'],
      ['unknown-datatype', 'Sparkplug metric "odd" (datatype 77) on spBv1.0/G/NDATA/edge1: datatype 77 is not a Sparkplug 3.0 datatype (0..34)'],
    ]);
  });

  it('a bad template member is reported alone, the other members kept; is_null is no value, not an error', () => {
    const s = new SparkplugState();
    const r = birth(s, [
      {
        name: 'M',
        datatype: DataType.Template,
        templateValue: {
          templateRef: 'Motor',
          parameters: [],
          metrics: [
            { name: 'a', datatype: DataType.UInt8, intValue: 256 },
            { name: 'b', datatype: DataType.UInt8, intValue: 255 },
            { name: 'c', datatype: DataType.UInt8, isNull: true },
          ],
        },
      },
    ]);
    expect(r.drafts.filter((d) => d.signal.startsWith('M.')).map((d) => [d.signal, scalar(d)])).toEqual([['M.b', { type: 'uint8', v: 255 }]]);
    expect(r.badMetrics?.map((e) => e.message)).toEqual([
      'Sparkplug metric "M/a" (UInt8 (5)) on spBv1.0/G/NBIRTH/edge1: UInt8 (5) value 256 (0x100) in the 32-bit field is no unsigned 8-bit integer',
    ]);
    expect(sameValue(scalar(r.drafts.find((d) => d.signal === 'bdSeq')).v, 0n)).toBe(true);
  });
});
