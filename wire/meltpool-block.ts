/**
 * The melt-pool block: a block of melt-pool monitoring samples (coaxial photodiodes / pyrometer) as
 * a machine publishes it over MQTT, and its three wire formats carrying the same content: JSON
 * (readable), a compact binary block (fixed little-endian header + float32 LE samples), and protobuf
 * (proto/layergate/v1/meltpool.proto). The simulator encodes with these and the MQTT input decodes
 * with them: one implementation of the format, so the gateway reads exactly what a machine writes.
 * Decoders throw a MeltPoolFormatError naming the field or offset on bad input.
 *
 * Binary block layout (all little-endian; see simulator/README.md):
 *   0  4  magic "LGMP"            4  u8  version (1)         5  u8  channel count C
 *   6  u16 header length H (bytes before the samples, a multiple of 4)
 *   8  u64 seq                   16  u32 layer               20  u32 samples per channel N
 *  24  u64 first sample index    32  f64 sample rate (Hz)    40  i64 first sample time (ns since epoch)
 *  48  u16 build id length B     50  B bytes build id (UTF-8)
 *   then C times: u8 name length L, L bytes name (UTF-8); zero padding up to H
 *   H   C*N float32: channel-major (N samples of channel 0, then channel 1, ...)
 */
import { MeltPoolFormatError } from './errors.js';
import type { layergate } from './generated/proto.js';
import { protoTypeGetter, type PlainMessage } from './proto.js';

export interface MeltPoolBlock {
  build: string;
  layer: number;
  /** per-message sequence number of the melt-pool stream, from 0, contiguous */
  seq: number;
  /** index of the block's first sample within the layer's exposure (per rate segment: restarts never, counts on) */
  firstSampleIndex: number;
  sampleRateHz: number;
  channels: string[];
  /** source time of the first sample, ns since the Unix epoch */
  firstSampleTimeNs: bigint;
  /** one Float32Array per channel, all of the same length */
  samples: Float32Array[];
}

/** the block formats; their content types are CONTENT_TYPES.meltPoolBlock* (content-types.ts) */
export type BlockFormat = 'json' | 'binary' | 'protobuf';
export const BLOCK_FORMATS: readonly BlockFormat[] = ['json', 'binary', 'protobuf'];

export const BINARY_MAGIC = 'LGMP';
export const BINARY_VERSION = 1;
const FIXED_HEADER = 50;

export function encodeBlock(block: MeltPoolBlock, format: BlockFormat): Buffer {
  switch (format) {
    case 'json':
      return encodeBlockJson(block);
    case 'binary':
      return encodeBlockBinary(block);
    case 'protobuf':
      return encodeBlockProtobuf(block);
  }
}

export function decodeBlock(bytes: Uint8Array, format: BlockFormat): MeltPoolBlock {
  switch (format) {
    case 'json':
      return decodeBlockJson(bytes);
    case 'binary':
      return decodeBlockBinary(bytes);
    case 'protobuf':
      return decodeBlockProtobuf(bytes);
  }
}

// ---- JSON ------------------------------------------------------------------------------------
// NaN has no JSON form: it is written as null. The ns timestamp is a decimal string (it exceeds 2^53).

export function encodeBlockJson(b: MeltPoolBlock): Buffer {
  return Buffer.from(
    JSON.stringify({
      build: b.build,
      layer: b.layer,
      seq: b.seq,
      firstSampleIndex: b.firstSampleIndex,
      sampleRateHz: b.sampleRateHz,
      firstSampleTimeNs: b.firstSampleTimeNs.toString(),
      channels: b.channels.map((name, i) => ({ name, samples: Array.from(b.samples[i] ?? [], (v) => (Number.isNaN(v) ? null : v)) })),
    }),
  );
}

export function decodeBlockJson(bytes: Uint8Array): MeltPoolBlock {
  let o: unknown;
  try {
    o = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new MeltPoolFormatError('malformed', `meltpool JSON block: not JSON (${(err as Error).message})`);
  }
  const r = o as Record<string, unknown>;
  const need = (k: string, t: string) => {
    if (typeof r[k] !== t) throw new MeltPoolFormatError('malformed', `meltpool JSON block: field "${k}" must be a ${t}`);
  };
  need('build', 'string');
  need('layer', 'number');
  need('seq', 'number');
  need('firstSampleIndex', 'number');
  need('sampleRateHz', 'number');
  need('firstSampleTimeNs', 'string');
  if (!Array.isArray(r.channels)) throw new MeltPoolFormatError('malformed', 'meltpool JSON block: field "channels" must be an array');
  const channels = r.channels as { name: string; samples: (number | null)[] }[];
  return {
    build: r.build as string,
    layer: r.layer as number,
    seq: r.seq as number,
    firstSampleIndex: r.firstSampleIndex as number,
    sampleRateHz: r.sampleRateHz as number,
    firstSampleTimeNs: BigInt(r.firstSampleTimeNs as string),
    channels: channels.map((c) => c.name),
    samples: channels.map((c) => Float32Array.from(c.samples, (v) => (v === null ? NaN : v))),
  };
}

// ---- binary ----------------------------------------------------------------------------------

export function encodeBlockBinary(b: MeltPoolBlock): Buffer {
  const build = Buffer.from(b.build, 'utf8');
  const names = b.channels.map((c) => Buffer.from(c, 'utf8'));
  if (build.length > 0xffff) throw new MeltPoolFormatError('too-large', 'meltpool binary block: build id longer than 65535 bytes');
  for (const n of names) if (n.length > 255) throw new MeltPoolFormatError('too-large', 'meltpool binary block: channel name longer than 255 bytes');
  const unpadded = FIXED_HEADER + build.length + names.reduce((s, n) => s + 1 + n.length, 0);
  const headerLen = Math.ceil(unpadded / 4) * 4;
  const n = b.samples[0]?.length ?? 0;
  const buf = Buffer.alloc(headerLen + 4 * n * b.channels.length);
  buf.write(BINARY_MAGIC, 0, 'latin1');
  buf.writeUInt8(BINARY_VERSION, 4);
  buf.writeUInt8(b.channels.length, 5);
  buf.writeUInt16LE(headerLen, 6);
  buf.writeBigUInt64LE(BigInt(b.seq), 8);
  buf.writeUInt32LE(b.layer, 16);
  buf.writeUInt32LE(n, 20);
  buf.writeBigUInt64LE(BigInt(b.firstSampleIndex), 24);
  buf.writeDoubleLE(b.sampleRateHz, 32);
  buf.writeBigInt64LE(b.firstSampleTimeNs, 40);
  buf.writeUInt16LE(build.length, 48);
  let off = FIXED_HEADER;
  off += build.copy(buf, off);
  for (const name of names) {
    buf.writeUInt8(name.length, off++);
    off += name.copy(buf, off);
  }
  off = headerLen;
  for (const ch of b.samples) {
    for (let j = 0; j < n; j++, off += 4) buf.writeFloatLE(ch[j] as number, off);
  }
  return buf;
}

export function decodeBlockBinary(bytes: Uint8Array): MeltPoolBlock {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < FIXED_HEADER)
    throw new MeltPoolFormatError('malformed', `meltpool binary block: ${buf.length} bytes, shorter than the ${FIXED_HEADER}-byte header`);
  const magic = buf.toString('latin1', 0, 4);
  if (magic !== BINARY_MAGIC)
    throw new MeltPoolFormatError('malformed', `meltpool binary block: bad magic ${JSON.stringify(magic)} at offset 0 (expected "LGMP")`);
  const version = buf.readUInt8(4);
  if (version !== BINARY_VERSION) throw new MeltPoolFormatError('malformed', `meltpool binary block: unsupported version ${version} at offset 4`);
  const c = buf.readUInt8(5);
  const headerLen = buf.readUInt16LE(6);
  const n = buf.readUInt32LE(20);
  const expected = headerLen + 4 * n * c;
  if (buf.length !== expected)
    throw new MeltPoolFormatError(
      'malformed',
      `meltpool binary block: ${buf.length} bytes, header says ${expected} (header ${headerLen} + ${c} channels x ${n} samples x 4)`,
    );
  const buildLen = buf.readUInt16LE(48);
  let off = FIXED_HEADER;
  const build = buf.toString('utf8', off, off + buildLen);
  off += buildLen;
  const channels: string[] = [];
  for (let i = 0; i < c; i++) {
    const len = buf.readUInt8(off++);
    channels.push(buf.toString('utf8', off, off + len));
    off += len;
  }
  if (off > headerLen) throw new MeltPoolFormatError('malformed', `meltpool binary block: names run to offset ${off}, past the header length ${headerLen}`);
  const samples: Float32Array[] = [];
  for (let i = 0; i < c; i++) {
    const arr = new Float32Array(n);
    for (let j = 0; j < n; j++) arr[j] = buf.readFloatLE(headerLen + 4 * (i * n + j));
    samples.push(arr);
  }
  return {
    build,
    layer: buf.readUInt32LE(16),
    seq: Number(buf.readBigUInt64LE(8)),
    firstSampleIndex: Number(buf.readBigUInt64LE(24)),
    sampleRateHz: buf.readDoubleLE(32),
    firstSampleTimeNs: buf.readBigInt64LE(40),
    channels,
    samples,
  };
}

// ---- protobuf --------------------------------------------------------------------------------

const blockType = protoTypeGetter('layergate.v1.MeltPoolBlock');
type WireBlock = layergate.v1.MeltPoolBlock;

export function encodeBlockProtobuf(b: MeltPoolBlock): Buffer {
  const n = b.samples[0]?.length ?? 0;
  const flat = new Array<number>(n * b.channels.length);
  b.samples.forEach((ch, i) => {
    for (let j = 0; j < n; j++) flat[i * n + j] = ch[j] as number;
  });
  const T = blockType();
  const plain: PlainMessage<WireBlock, number | string> = {
    build: b.build,
    layer: b.layer,
    seq: b.seq,
    firstSampleIndex: b.firstSampleIndex,
    sampleRateHz: b.sampleRateHz,
    channels: b.channels,
    firstSampleTimeNs: b.firstSampleTimeNs.toString(),
    sampleCount: n,
    samples: flat,
  };
  return Buffer.from(T.encode(T.fromObject(plain)).finish());
}

export function decodeBlockProtobuf(bytes: Uint8Array): MeltPoolBlock {
  const T = blockType();
  let o: PlainMessage<WireBlock>;
  try {
    o = T.toObject(T.decode(bytes), { longs: String, defaults: true, arrays: true }) as PlainMessage<WireBlock>;
  } catch (err) {
    throw new MeltPoolFormatError('malformed', `meltpool protobuf block: ${(err as Error).message}`, { cause: err });
  }
  const c = o.channels.length;
  if (o.samples.length !== c * o.sampleCount)
    throw new MeltPoolFormatError('malformed', `meltpool protobuf block: ${o.samples.length} samples, expected ${c} channels x ${o.sampleCount}`);
  return {
    build: o.build,
    layer: o.layer,
    seq: Number(o.seq),
    firstSampleIndex: Number(o.firstSampleIndex),
    sampleRateHz: o.sampleRateHz,
    firstSampleTimeNs: BigInt(o.firstSampleTimeNs),
    channels: o.channels,
    samples: o.channels.map((_, i) => Float32Array.from(o.samples.slice(i * o.sampleCount, (i + 1) * o.sampleCount))),
  };
}
