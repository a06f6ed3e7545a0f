/**
 * The network-free engine: build lifecycle, exact melt-pool and process-value timing on the
 * simulated clock, value-level faults, and determinism (same seed, same bytes).
 */
import { describe, expect, it } from 'vitest';
import { makeConfig, validateConfig, type SimConfig } from './config.js';
import { SimCore, type Step } from './core.js';
import { decodeBlock, encodeBlock, encodeEvent, BLOCK_FORMATS, type MeltPoolBlock } from '../wire/index.js';
import { SparkplugEdgeNode } from './sparkplug.js';

/** 1 s idle, 2 s inerting, 4 layers of 1 s (0.25 s recoating), 10 kHz, 500-sample blocks */
function smallConfig(seed = 7): SimConfig {
  return makeConfig({
    seed,
    job: { totalLayers: 4, partCount: 4 },
    timing: { idleS: 1, inertingS: 2, layerS: 1, recoatS: 0.25, speed: 1000 },
    meltPool: { rateHz: 10_000, blockSize: 500 },
    camera: { width: 64, height: 64 },
  });
}

function runAll(core: SimCore, untilMs: number, stepMs: number): Step {
  const all: Step = { simMs: 0, events: [], blocks: [], samples: [], frames: [] };
  for (let t = 0; t <= untilMs; t += stepMs) {
    const s = core.advance(Math.min(t, untilMs));
    all.events.push(...s.events);
    all.blocks.push(...s.blocks);
    all.samples.push(...s.samples);
    all.frames.push(...s.frames);
  }
  const s = core.advance(untilMs);
  all.blocks.push(...s.blocks);
  all.events.push(...s.events);
  all.samples.push(...s.samples);
  all.frames.push(...s.frames);
  return all;
}

const startNs = (cfg: SimConfig) => BigInt(cfg.startTimeMs) * 1_000_000n;

describe('build lifecycle', () => {
  it('walks idle, inerting, then recoating/exposing per layer, then finished, at the scheduled times', () => {
    const cfg = smallConfig();
    const core = new SimCore(cfg);
    const { events } = runAll(core, 8000, 137);
    const states = events.filter((e) => e.type === 'state').map((e) => `${e.timestampMs - cfg.startTimeMs}:${e.state}:${e.layer}`);
    expect(states).toEqual([
      '0:idle:0',
      '1000:inerting:0',
      '3000:recoating:1',
      '3250:exposing:1',
      '4000:recoating:2',
      '4250:exposing:2',
      '5000:recoating:3',
      '5250:exposing:3',
      '6000:recoating:4',
      '6250:exposing:4',
      '7000:finished:4',
    ]);
    const layerEvents = events.filter((e) => e.type !== 'state').map((e) => `${e.type}:${e.layer}@${e.timestampMs - cfg.startTimeMs}`);
    expect(layerEvents).toEqual([
      'layer-start:1@3000',
      'layer-end:1@4000',
      'layer-start:2@4000',
      'layer-end:2@5000',
      'layer-start:3@5000',
      'layer-end:3@6000',
      'layer-start:4@6000',
      'layer-end:4@7000',
    ]);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i));
  });

  it('pauses (no melt-pool samples, state paused), resumes where it stopped, and aborts', () => {
    const cfg = smallConfig();
    const core = new SimCore(cfg);
    core.advance(3500); // layer 1, exposing
    expect(core.lifecycle.pause(3500)).toBe(true);
    const paused = core.advance(5500);
    expect(core.snapshot().state).toBe('paused');
    expect(paused.events.map((e) => e.state)).toEqual(['paused']);
    const seqBefore = core.meltPool.seq;
    expect(core.advance(6000).blocks).toEqual([]);
    expect(core.meltPool.seq).toBe(seqBefore);
    expect(core.lifecycle.resume(6000)).toBe(true);
    const resumed = core.advance(6600);
    expect(resumed.events[0]).toMatchObject({ state: 'exposing', layer: 1, timestampMs: cfg.startTimeMs + 6000 });
    // layer 1 had 0.25 s of exposure done; 0.5 s remain, so layer 2 starts at 6500
    expect(resumed.events.find((e) => e.type === 'layer-start')).toMatchObject({ layer: 2, timestampMs: cfg.startTimeMs + 6500 });
    // the first block after the resume is stamped after the pause
    expect(resumed.blocks[0]!.firstSampleTimeNs).toBeGreaterThanOrEqual(startNs(cfg) + 6_000_000_000n);
    expect(core.lifecycle.abort(6600)).toBe(true);
    const after = core.advance(9000);
    expect(after.events.map((e) => e.state)).toEqual(['aborted']);
    expect(core.snapshot().state).toBe('aborted');
    expect(core.snapshot().jobState).toBe('aborted');
  });

  it('rejects configs it cannot run, naming the field', () => {
    const cfg = smallConfig();
    cfg.timing.recoatS = 2;
    cfg.meltPool.rateHz = 0;
    expect(validateConfig(cfg)).toEqual(['meltPool.rateHz must be a positive number (got 0)', 'timing.recoatS must be >= 0 and below timing.layerS (got 2)']);
  });
});

describe('melt-pool timing on the simulated clock', () => {
  it('stamps sample i of a layer at exposeStart + i/rate exactly, with contiguous seq and full layers', () => {
    const cfg = smallConfig();
    const core = new SimCore(cfg);
    const { blocks } = runAll(core, 8000, 93);
    // 0.75 s of exposure x 10 kHz = 7,500 samples per layer = 15 blocks of 500
    expect(blocks).toHaveLength(4 * 15);
    expect(blocks.map((b) => b.seq)).toEqual(blocks.map((_, i) => i));
    for (const b of blocks) {
      const exposeStartMs = 3000 + (b.layer - 1) * 1000 + 250;
      expect(b.firstSampleTimeNs).toBe(startNs(cfg) + BigInt(exposeStartMs) * 1_000_000n + BigInt(b.firstSampleIndex) * 100_000n);
      expect(b.samples.map((s) => s.length)).toEqual([500, 500]);
      expect(b.channels).toEqual(['photodiode', 'pyrometer']);
    }
    // consecutive blocks of a layer abut exactly: next first = this first + n / rate
    for (let i = 1; i < blocks.length; i++) {
      const a = blocks[i - 1]!;
      const b = blocks[i]!;
      if (a.layer === b.layer) expect(b.firstSampleTimeNs - a.firstSampleTimeNs).toBe(500n * 100_000n);
    }
  });

  it('does not depend on how time is stepped (one big step or many small ones give the same blocks)', () => {
    const cfg = smallConfig();
    const a = runAll(new SimCore(cfg), 8000, 8000).blocks.map((b) => encodeBlock(b, 'binary').toString('base64'));
    const b = runAll(new SimCore(cfg), 8000, 11).blocks.map((b) => encodeBlock(b, 'binary').toString('base64'));
    expect(b).toEqual(a);
  });

  it('looks like a melt pool: photodiode volts while the laser is on, a dark level between vectors; pyrometer above its floor', () => {
    const cfg = smallConfig();
    const { blocks } = runAll(new SimCore(cfg), 8000, 500);
    const pd = blocks.flatMap((b) => Array.from(b.samples[0]!));
    const pyro = blocks.flatMap((b) => Array.from(b.samples[1]!));
    const on = pd.filter((v) => v > 1);
    const off = pd.filter((v) => v < 0.1);
    expect(on.length / pd.length).toBeGreaterThan(0.9);
    expect(off.length).toBeGreaterThan(0);
    expect(on.reduce((s, v) => s + v, 0) / on.length).toBeGreaterThan(2);
    expect(Math.min(...pyro)).toBeGreaterThanOrEqual(900);
    expect(Math.max(...pyro)).toBeGreaterThan(1700);
  });

  it('burst multiplies the rate (and the messages) by the factor, keeping timestamps exact at the new rate', () => {
    const cfg = smallConfig();
    const core = new SimCore(cfg);
    core.advance(3250 + 100); // 100 ms into layer 1's exposure
    const before = core.meltPool.seq;
    core.faults.set('burst', true, { factor: 10 });
    const step = core.advance(3250 + 300);
    const burst = step.blocks.filter((b) => b.sampleRateHz === 100_000);
    expect(burst.length).toBeGreaterThanOrEqual(38); // 200 ms x 100 kHz / 500
    for (let i = 1; i < burst.length; i++) expect(burst[i]!.firstSampleTimeNs - burst[i - 1]!.firstSampleTimeNs).toBe(500n * 10_000n);
    expect(core.meltPool.seq - before).toBe(step.blocks.length);
  });

  it('sensor dropout leaves a time gap with the seq contiguous; nan and out-of-range put bad values in the samples', () => {
    const cfg = smallConfig();
    const core = new SimCore(cfg);
    const a = core.advance(3250 + 200).blocks;
    core.faults.set('sensor-dropout', true);
    expect(core.advance(3250 + 400).blocks).toEqual([]);
    core.faults.set('sensor-dropout', false);
    core.faults.set('nan', true, { every: 100 });
    core.faults.set('out-of-range', true, { every: 250 });
    const b = core.advance(3250 + 600).blocks;
    expect(b[0]!.seq).toBe(a[a.length - 1]!.seq + 1);
    expect(b[0]!.firstSampleTimeNs - a[a.length - 1]!.firstSampleTimeNs).toBeGreaterThan(200_000_000n);
    const pd = b.flatMap((x) => Array.from(x.samples[0]!));
    expect(pd.filter(Number.isNaN).length).toBe(pd.length / 100);
    expect(pd.filter((v) => v === 1e6).length).toBeGreaterThan(0);
  });

  it('clock skew shifts source timestamps by the offset', () => {
    const cfg = smallConfig();
    const plain = new SimCore(cfg).advance(3600);
    const skewed = new SimCore(cfg);
    skewed.faults.set('clock-skew', true, { offsetMs: -1500 });
    const s = skewed.advance(3600);
    expect(s.blocks[0]!.firstSampleTimeNs).toBe(plain.blocks[0]!.firstSampleTimeNs - 1_500_000_000n);
    expect(s.samples[5]!.timestampMs).toBe(plain.samples[5]!.timestampMs - 1500);
    expect(s.events[1]!.timestampMs).toBe(plain.events[1]!.timestampMs - 1500);
  });
});

describe('process values', () => {
  it('are sampled on the exact grid start + k/rate with plausible dynamics', () => {
    const cfg = smallConfig();
    const { samples } = runAll(new SimCore(cfg), 8000, 77);
    expect(samples).toHaveLength(81); // 0..8 s at 10 Hz
    samples.forEach((s, k) => {
      expect(s.timestampMs).toBe(cfg.startTimeMs + k * 100);
    });
    const v = (k: number, name: string) => samples[k]!.values.find((x) => x.name === name)!.value;
    expect(v(0, 'Chamber.OxygenConcentration')).toBeGreaterThan(200_000); // air before inerting
    expect(v(30, 'Chamber.OxygenConcentration')).toBeLessThan(1000); // inert at the first layer
    expect(v(31, 'Laser1.PowerActual')).toBe(0); // recoating
    expect(samples[31]!.state).toBe('recoating');
    expect(v(31, 'Recoater.Position')).toBeGreaterThan(0);
    expect(v(35, 'Laser1.PowerActual')).toBeGreaterThan(270); // exposing at ~280 W
    expect(v(35, 'Laser1.PowerActual')).toBeLessThan(290);
    expect(v(70, 'PowderDosing.Level')).toBeLessThan(v(31, 'PowderDosing.Level'));
    expect(v(60, 'BuildPlate.Temperature')).toBeGreaterThan(70);
  });

  it('warped-part makes the recoater force spike over that part', () => {
    const cfg = smallConfig();
    cfg.process.rateHz = 200; // recoater force is a 10-100+ Hz signal
    const maxForce = (core: SimCore) => Math.max(...runAll(core, 3250, 3250).samples.map((s) => s.values.find((x) => x.name === 'Recoater.Force')!.value));
    const plain = maxForce(new SimCore(cfg));
    const warped = new SimCore(cfg);
    warped.defects.set('warped-part', true, { part: 0 });
    expect(maxForce(warped)).toBeGreaterThan(plain + 15);
  });
});

describe('determinism', () => {
  function bodies(seed: number): string[] {
    const cfg = smallConfig(seed);
    const core = new SimCore(cfg);
    core.faults.set('nan', true, { every: 333 });
    const all = runAll(core, 8000, 250);
    const sp = new SparkplugEdgeNode(cfg, 'G', cfg.machineId);
    return [
      ...all.events.map((e) => encodeEvent(e).toString('base64')),
      ...all.blocks.flatMap((b) => BLOCK_FORMATS.map((f) => encodeBlock(b, f).toString('base64'))),
      ...sp.births(all.samples[0]!).map((m) => m.payload.toString('base64')),
      ...all.samples.map((s) => sp.data(s).payload.toString('base64')),
    ];
  }

  it('same seed, same bytes; another seed, other bytes', () => {
    const a = bodies(42);
    const b = bodies(42);
    expect(b).toEqual(a);
    const c = bodies(43);
    expect(c.length).toBe(a.length);
    expect(c).not.toEqual(a);
  });
});

describe('block formats', () => {
  const cfg = smallConfig();
  const block: MeltPoolBlock = new SimCore(cfg).advance(3400).blocks[0]!;
  block.samples[0]![3] = NaN;

  it('JSON, binary and protobuf decode to the same block (NaN included)', () => {
    for (const f of BLOCK_FORMATS) {
      const d = decodeBlock(encodeBlock(block, f), f);
      expect(d.firstSampleTimeNs).toBe(block.firstSampleTimeNs);
      expect({ ...d, firstSampleTimeNs: 0n }).toEqual({ ...block, firstSampleTimeNs: 0n });
    }
  });

  it('binary block: the documented little-endian layout', () => {
    const buf = encodeBlock(block, 'binary');
    expect(buf.toString('latin1', 0, 4)).toBe('LGMP');
    expect(buf.readUInt8(4)).toBe(1);
    expect(buf.readUInt8(5)).toBe(2);
    const h = buf.readUInt16LE(6);
    expect(h % 4).toBe(0);
    expect(buf.readBigUInt64LE(8)).toBe(BigInt(block.seq));
    expect(buf.readUInt32LE(16)).toBe(block.layer);
    expect(buf.readUInt32LE(20)).toBe(500);
    expect(buf.readBigUInt64LE(24)).toBe(BigInt(block.firstSampleIndex));
    expect(buf.readDoubleLE(32)).toBe(10_000);
    expect(buf.readBigInt64LE(40)).toBe(block.firstSampleTimeNs);
    expect(buf.toString('utf8', 50, 50 + buf.readUInt16LE(48))).toBe(cfg.job.id);
    expect(buf.length).toBe(h + 2 * 500 * 4);
    expect(buf.readFloatLE(h)).toBe(block.samples[0]![0]);
    expect(buf.readFloatLE(h + 500 * 4)).toBe(block.samples[1]![0]); // channel-major
  });

  it('decoders reject truncated and garbage payloads with an error naming what is wrong', () => {
    const bin = encodeBlock(block, 'binary');
    expect(() => decodeBlock(bin.subarray(0, bin.length / 2), 'binary')).toThrow(/header says/);
    expect(() => decodeBlock(Buffer.from(`XXXX${'x'.repeat(60)}`), 'binary')).toThrow(/bad magic/);
    const json = encodeBlock(block, 'json');
    expect(() => decodeBlock(json.subarray(0, json.length / 2), 'json')).toThrow(/not JSON/);
    const pb = encodeBlock(block, 'protobuf');
    expect(() => decodeBlock(pb.subarray(0, Math.floor(pb.length / 2)), 'protobuf')).toThrow(/meltpool protobuf block/);
  });
});
