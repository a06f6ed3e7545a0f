/** Sparkplug signal names by default and explicit, and the time of NDEATH/DDEATH records (SparkplugState, no broker). */
import { describe, expect, it } from 'vitest';
import { encodeSparkplug } from '../../../wire/index.js';
import { SparkplugState, sparkplugSignalTemplate } from './decoders.js';

const T0 = 1_772_431_200_000;
const temp = (v: number) => ({ name: 'Chamber/Temperature', datatype: 10, doubleValue: v });

function births(s: SparkplugState, template: string | undefined): string[] {
  const node = s.decode('spBv1.0/Plant/NBIRTH/m400', encodeSparkplug({ timestamp: T0, seq: 0, metrics: [temp(21)] }), template, undefined);
  const device = s.decode('spBv1.0/Plant/DBIRTH/m400/Oven', encodeSparkplug({ timestamp: T0, seq: 1, metrics: [temp(180)] }), template, undefined);
  return [...node.drafts, ...device.drafts].map((d) => d.signal);
}

describe('Sparkplug signal names', () => {
  it('default: group, edge node and device before the metric, so a node and a device metric of the same name stay apart', () => {
    expect(births(new SparkplugState(), undefined)).toEqual(['Plant.m400.Chamber.Temperature', 'Plant.m400.Oven.Chamber.Temperature']);
    expect(sparkplugSignalTemplate({})).toBe('{group}.{node}.{metric}');
    expect(sparkplugSignalTemplate({ device: 'Oven' })).toBe('{group}.{node}.{device}.{metric}');
  });

  it('an explicit template is rendered as written', () => {
    expect(births(new SparkplugState(), '{metric}')).toEqual(['Chamber.Temperature', 'Chamber.Temperature']);
    expect(births(new SparkplugState(), 'lpbf.{node}.{metric}')).toEqual(['lpbf.m400.Chamber.Temperature', 'lpbf.m400.Chamber.Temperature']);
  });
});

describe('Sparkplug deaths', () => {
  it('NDEATH and DDEATH are stamped when they arrive; the payload timestamp (a will: its session start) is the attribute payload_timestamp_ms', () => {
    const s = new SparkplugState();
    births(s, undefined);
    const before = BigInt(Date.now()) * 1_000_000n;
    const ddeath = s.decode('spBv1.0/Plant/DDEATH/m400/Oven', encodeSparkplug({ timestamp: T0 + 5, seq: 2 }), undefined, undefined).drafts;
    const ndeath = s.decode('spBv1.0/Plant/NDEATH/m400', encodeSparkplug({ timestamp: T0 }), undefined, undefined).drafts;
    const after = BigInt(Date.now()) * 1_000_000n;
    expect(ddeath.map((d) => [d.signal, d.kind, d.attributes])).toEqual([
      ['Plant.m400.Oven.DDEATH', 'event', { stale: 'true', payload_timestamp_ms: String(T0 + 5) }],
    ]);
    expect(ndeath.map((d) => [d.signal, d.kind, d.attributes])).toEqual([['Plant.m400.NDEATH', 'event', { stale: 'true', payload_timestamp_ms: String(T0) }]]);
    for (const d of [...ddeath, ...ndeath]) {
      expect(d.sourceTimeNs).toBeGreaterThanOrEqual(before);
      expect(d.sourceTimeNs).toBeLessThanOrEqual(after);
    }
    // a death without a payload timestamp has no such attribute, and still its arrival time
    const bare = s.decode('spBv1.0/Plant/NDEATH/m400', encodeSparkplug({}), undefined, undefined).drafts[0]!;
    expect(bare.attributes).toEqual({ stale: 'true' });
    expect(bare.sourceTimeNs).toBeGreaterThanOrEqual(after);
  });
});
