/**
 * The melt-pool block formats: each round-trips a block exactly (NaN dropout markers and ns times
 * included), the protobuf form agrees with the static code generated from proto/, and bad input
 * fails with a coded MeltPoolFormatError whose reason an input can count.
 */
import { describe, expect, it } from 'vitest';
import { CONTENT_TYPES } from './content-types.js';
import { MeltPoolFormatError, WireError } from './errors.js';
import { layergate } from './generated/proto.js';
import { encodeEvent, type MachineEvent } from './machine-event.js';
import { BINARY_MAGIC, BLOCK_FORMATS, decodeBlock, encodeBlock, type MeltPoolBlock } from './meltpool-block.js';

const block: MeltPoolBlock = {
  build: 'B-17 Ti6Al4V µ', // multi-byte UTF-8 in the build id
  layer: 412,
  seq: 123_456,
  firstSampleIndex: 2_500_000,
  sampleRateHz: 50_000,
  channels: ['photodiode', 'pyrometer'],
  firstSampleTimeNs: 1_733_000_000_123_456_789n,
  samples: [Float32Array.from([2.4, 0.02, Number.NaN, 2.3999]), Float32Array.from([1950, 900, 1949.5, Number.NaN])],
};

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('melt-pool block formats', () => {
  it('round-trip every format exactly, NaN samples and the ns time included', () => {
    for (const format of BLOCK_FORMATS) expect(decodeBlock(encodeBlock(block, format), format)).toEqual(block);
  });

  it('binary blocks start with the magic and keep the header a multiple of 4', () => {
    const bin = encodeBlock(block, 'binary');
    expect(bin.toString('latin1', 0, 4)).toBe(BINARY_MAGIC);
    expect(bin.readUInt16LE(6) % 4).toBe(0);
  });

  it('a protobuf block decodes with the generated code to the same fields', () => {
    const m = layergate.v1.MeltPoolBlock.decode(encodeBlock(block, 'protobuf'));
    expect({
      build: m.build,
      layer: m.layer,
      seq: String(m.seq),
      firstSampleIndex: String(m.firstSampleIndex),
      sampleRateHz: m.sampleRateHz,
      channels: m.channels,
      firstSampleTimeNs: String(m.firstSampleTimeNs),
      sampleCount: m.sampleCount,
      samples: Float32Array.from(m.samples),
    }).toEqual({
      build: block.build,
      layer: 412,
      seq: '123456',
      firstSampleIndex: '2500000',
      sampleRateHz: 50_000,
      channels: block.channels,
      firstSampleTimeNs: '1733000000123456789',
      sampleCount: 4,
      samples: Float32Array.from([...block.samples[0]!, ...block.samples[1]!]),
    });
  });

  it('bad input throws a MeltPoolFormatError with the catalog code and a countable reason', () => {
    const bin = encodeBlock(block, 'binary');
    const cases: [Uint8Array, 'json' | 'binary' | 'protobuf', RegExp][] = [
      [bin.subarray(0, bin.length - 4), 'binary', /header says/],
      [Buffer.from(`XXXX${'x'.repeat(60)}`), 'binary', /bad magic "XXXX" at offset 0/],
      [Buffer.from('{"build": 1}'), 'json', /field "build" must be a string/],
      [Buffer.from('{"build'), 'json', /not JSON/],
      [encodeBlock(block, 'protobuf').subarray(0, 30), 'protobuf', /meltpool protobuf block/],
    ];
    for (const [bytes, format, message] of cases) {
      const err = thrown(() => decodeBlock(bytes, format));
      expect(err).toBeInstanceOf(MeltPoolFormatError);
      expect(err).toBeInstanceOf(WireError);
      expect(err).toMatchObject({ code: 'LG_SIM_BLOCK_MALFORMED', reason: 'malformed', name: 'MeltPoolFormatError' });
      expect((err as Error).message).toMatch(message);
    }
    const long = thrown(() => encodeBlock({ ...block, channels: ['x'.repeat(256), 'y'] }, 'binary'));
    expect(long).toMatchObject({ code: 'LG_SIM_BLOCK_MALFORMED', reason: 'too-large', message: 'meltpool binary block: channel name longer than 255 bytes' });
  });

  it('each format has its own content type in the one table', () => {
    const types = [CONTENT_TYPES.meltPoolBlockJson, CONTENT_TYPES.meltPoolBlockBinary, CONTENT_TYPES.meltPoolBlockProtobuf];
    expect(new Set(types).size).toBe(3);
    expect(new Set(Object.values(CONTENT_TYPES)).size).toBe(Object.keys(CONTENT_TYPES).length);
  });
});

describe('machine events', () => {
  it('are one JSON object per message, as given', () => {
    const e: MachineEvent = { type: 'layer-start', build: 'B-17', layer: 3, state: 'printing', seq: 9, timestampMs: 1_733_000_000_123 };
    expect(JSON.parse(encodeEvent(e).toString('utf8'))).toEqual(e);
  });
});
