/**
 * The Sparkplug B codec: round trips, agreement with the static code generated from proto/, the
 * DataType codes against the proto's enum, malformed payloads, and the topic namespace.
 */
import { describe, expect, it } from 'vitest';
import { SparkplugFormatError } from './errors.js';
import { org } from './generated/proto.js';
import { DataType, NAMESPACE, decodeSparkplug, encodeSparkplug, parseSparkplugTopic, type SparkplugPayload } from './sparkplug.js';

const Payload = org.eclipse.tahu.protobuf.Payload;

const birth: SparkplugPayload = {
  timestamp: 1_733_000_000_123,
  seq: 1,
  metrics: [
    { name: 'bdSeq', alias: 1, timestamp: 1_733_000_000_123, datatype: DataType.Int64, longValue: 3 },
    { name: 'Chamber/OxygenConcentration', alias: 3, timestamp: 1_733_000_000_123, datatype: DataType.Double, doubleValue: 0.085 },
    { name: 'Chamber/PlateTemperature', alias: 4, timestamp: 1_733_000_000_123, datatype: DataType.Double, isNull: true },
    { name: 'Job/CurrentLayer', alias: 9, timestamp: 1_733_000_000_123, datatype: DataType.UInt32, intValue: 412 },
    { name: 'Machine/State', alias: 10, timestamp: 1_733_000_000_123, datatype: DataType.String, stringValue: 'printing' },
    { name: 'Node Control/Rebirth', alias: 2, datatype: DataType.Boolean, booleanValue: false },
  ],
};

describe('Sparkplug B codec', () => {
  it('round-trips a payload: 64-bit values exact as bigints, timestamps, seq and aliases as numbers', () => {
    expect(decodeSparkplug(encodeSparkplug(birth))).toEqual({
      ...birth,
      metrics: birth.metrics!.map((m) => (m.longValue === undefined ? m : { ...m, longValue: BigInt(m.longValue) })),
    });
    const big: SparkplugPayload = { timestamp: 1, metrics: [{ alias: 4, datatype: DataType.UInt64, longValue: 2n ** 64n - 1n }] };
    expect(decodeSparkplug(encodeSparkplug(big)).metrics[0]!.longValue).toBe(2n ** 64n - 1n);
    const data: SparkplugPayload = { timestamp: 5, seq: 255, metrics: [{ alias: 3, timestamp: 5, doubleValue: 0.09 }] };
    expect(decodeSparkplug(encodeSparkplug(data))).toEqual(data);
  });

  it('a payload encoded by the codec decodes with the generated code to the same fields', () => {
    const m = Payload.decode(encodeSparkplug(birth));
    expect(String(m.timestamp)).toBe('1733000000123');
    expect(String(m.seq)).toBe('1');
    expect(m.metrics.map((x) => [x.name, String(x.alias), x.datatype, x.value])).toEqual([
      ['bdSeq', '1', 4, 'longValue'],
      ['Chamber/OxygenConcentration', '3', 10, 'doubleValue'],
      ['Chamber/PlateTemperature', '4', 10, undefined],
      ['Job/CurrentLayer', '9', 7, 'intValue'],
      ['Machine/State', '10', 12, 'stringValue'],
      ['Node Control/Rebirth', '2', 11, 'booleanValue'],
    ]);
    expect(m.metrics[1]!.doubleValue).toBe(0.085);
    expect(m.metrics[2]!.isNull).toBe(true);
    expect(m.metrics[4]!.stringValue).toBe('printing');
  });

  it('decodes what the generated encoder wrote', () => {
    const bytes = Payload.encode(
      Payload.fromObject({
        timestamp: 7,
        seq: 2,
        metrics: [
          { alias: 9, intValue: 413 },
          { name: 'bdSeq', longValue: '4' },
        ],
      }),
    ).finish();
    expect(decodeSparkplug(bytes)).toEqual({
      timestamp: 7,
      seq: 2,
      metrics: [
        { alias: 9, intValue: 413 },
        { name: 'bdSeq', longValue: 4n },
      ],
    });
  });

  it('the DataType codes are the proto enum values', () => {
    for (const [name, code] of Object.entries(DataType)) {
      expect(org.eclipse.tahu.protobuf.DataType[name as keyof typeof DataType]).toBe(code);
    }
  });

  it('refuses bytes that are not a payload with a SparkplugFormatError carrying the decoder message', () => {
    const bytes = encodeSparkplug(birth).subarray(0, 25);
    let err: unknown;
    try {
      decodeSparkplug(bytes);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SparkplugFormatError);
    expect(err).toMatchObject({ code: 'LG_WIRE_SPARKPLUG_MALFORMED', reason: 'malformed' });
    expect((err as Error).message).toBe(((err as Error).cause as Error).message);
  });
});

describe('Sparkplug topics', () => {
  it('split spBv1.0/group/type/node[/device] and nothing else', () => {
    expect(NAMESPACE).toBe('spBv1.0');
    expect(parseSparkplugTopic('spBv1.0/LayerGate/NBIRTH/m1')).toEqual({ group: 'LayerGate', type: 'NBIRTH', node: 'm1' });
    expect(parseSparkplugTopic('spBv1.0/LayerGate/DDATA/m1/Process')).toEqual({ group: 'LayerGate', type: 'DDATA', node: 'm1', device: 'Process' });
    for (const t of ['spBv1.0/LayerGate/NDATA', 'spBv1.0/a/b/c/d/e', 'spAv1.0/LayerGate/NDATA/m1', 'meltpool/binary'])
      expect(parseSparkplugTopic(t)).toBeUndefined();
  });
});
