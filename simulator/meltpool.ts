/**
 * Melt-pool monitoring: coaxial photodiode / pyrometer channels sampled at a fixed rate while the
 * laser exposes a layer, cut into blocks of `blockSize` samples per channel.
 *
 * Timing is exact on the simulated clock: within an exposure window, sample k of the layer is at
 * exposeStart + k * 1e9 / rate ns (integer ns; exact whenever 1e9 / rate is an integer, e.g. 50 kHz
 * -> 20,000 ns). A block carries the time of its first sample and the rate, so sample j of a block is
 * at firstSampleTimeNs + j * 1e9 / rate. Sample values are a pure function of (seed, channel, layer,
 * sample time), so changing the rate (burst fault) samples the same signal more densely.
 *
 * The stream is the only stateful part (the per-message sequence number and the cursor), and it
 * advances only when asked to: advance(t) returns every block complete by simulated time t.
 */
import type { MeltPoolBlock } from '../wire/index.js';
import type { SimConfig } from './config.js';
import type { Switchboard } from './faults.js';
import type { Lifecycle } from './lifecycle.js';
import { hash01, hashGauss } from './prng.js';

/** the photodiode model's values: volts; the pyrometer's: °C (with a 900 °C lower range limit) */
const PD_ON_V = 2.4;
const PD_OFF_V = 0.02;
const PYRO_ON_C = 1950;
const PYRO_FLOOR_C = 900;
const HATCH_ON_S = 0.0104; // a 10 mm hatch vector at ~960 mm/s
const JUMP_S = 0.0004; // sky-writing / jump between vectors, laser off
const OUT_OF_RANGE = 1e6;

export class MeltPoolStream {
  seq = 0;
  private layer = 0;
  /** next sample index within the layer */
  private k = 0;
  /** current rate segment: build-time ns of sample segK, at segRate */
  private segNs = 0;
  private segK = 0;
  private segRate = 0;
  /** counters for the engine's /state */
  blocksDropped = 0;

  constructor(
    private readonly cfg: SimConfig,
    private readonly lifecycle: Lifecycle,
    private readonly faults: Switchboard,
  ) {}

  private currentRate(): number {
    const base = this.cfg.meltPool.rateHz;
    return this.faults.isOn('burst') ? base * this.faults.num('burst', 'factor') : base;
  }

  private sampleBuildNs(k: number): number {
    return this.segNs + Math.floor(((k - this.segK) * 1e9) / this.segRate);
  }

  /** Every block complete at simulated time toSimMs (sim offset, ms), in order. */
  advance(toSimMs: number): MeltPoolBlock[] {
    const out: MeltPoolBlock[] = [];
    const lc = this.lifecycle;
    const targetNs = lc.toBuild(toSimMs) * 1e6;
    const stalled = lc.paused || (lc.abortedAtMs !== null && toSimMs >= lc.abortedAtMs);
    const bs = this.cfg.meltPool.blockSize;
    for (let guard = 0; guard < 1_000_000; guard++) {
      if (this.layer === 0 || this.layer > lc.totalLayers) {
        if (this.layer > lc.totalLayers) return out;
        this.startLayer(1);
      }
      const w = lc.layerWindow(this.layer);
      const endNs = w.endMs * 1e6;
      if (this.sampleBuildNs(this.k) >= endNs) {
        if (this.layer >= lc.totalLayers) {
          this.layer = lc.totalLayers + 1;
          return out;
        }
        this.startLayer(this.layer + 1);
        continue;
      }
      if (this.sampleBuildNs(this.k) > targetNs) return out;
      // switch rate at a block boundary (burst on/off)
      const rate = this.currentRate();
      if (rate !== this.segRate) {
        this.segNs = this.sampleBuildNs(this.k);
        this.segK = this.k;
        this.segRate = rate;
      }
      // samples in this block: up to bs, not past the layer's end, and all at or before the target
      let n = 0;
      while (n < bs && this.sampleBuildNs(this.k + n) < endNs && this.sampleBuildNs(this.k + n) <= targetNs) n++;
      const reachedEnd = this.sampleBuildNs(this.k + n) >= endNs;
      if (n < bs && !reachedEnd && !(stalled && n > 0)) return out;
      if (n === 0) return out;
      const block = this.makeBlock(n);
      this.k += n;
      if (this.faults.isOn('sensor-dropout')) {
        this.blocksDropped++;
        continue;
      }
      block.seq = this.seq++;
      out.push(block);
    }
    return out;
  }

  private startLayer(layer: number): void {
    this.layer = layer;
    this.k = 0;
    this.segK = 0;
    this.segNs = this.lifecycle.layerWindow(layer).exposeStartMs * 1e6;
    this.segRate = this.currentRate();
  }

  private makeBlock(n: number): MeltPoolBlock {
    const cfg = this.cfg;
    const lc = this.lifecycle;
    const w = lc.layerWindow(this.layer);
    const exposeStartNs = w.exposeStartMs * 1e6;
    const firstBuildNs = this.sampleBuildNs(this.k);
    // build time -> sim time: add the pauses before this instant (whole ms)
    const firstBuildMs = firstBuildNs / 1e6;
    const pauseOffsetMs = lc.toSim(firstBuildMs) - firstBuildMs;
    const skewMs = this.faults.isOn('clock-skew') ? this.faults.num('clock-skew', 'offsetMs') : 0;
    const firstSampleTimeNs = BigInt(cfg.startTimeMs + Math.round(pauseOffsetMs) + skewMs) * 1_000_000n + BigInt(firstBuildNs);
    const nanEvery = this.faults.isOn('nan') ? this.faults.num('nan', 'every') : 0;
    const oorEvery = this.faults.isOn('out-of-range') ? this.faults.num('out-of-range', 'every') : 0;
    const samples = cfg.meltPool.channels.map((name, ch) => {
      const arr = new Float32Array(n);
      const pyro = name.toLowerCase().includes('pyro');
      const gain = 1 + 0.05 * hashGauss(cfg.seed, 0x3e17, this.layer, ch);
      for (let j = 0; j < n; j++) {
        const k = this.k + j;
        const tNs = this.sampleBuildNs(k);
        let v = meltPoolValue(cfg.seed, ch, pyro, gain, this.layer, (tNs - exposeStartNs) / 1e9, tNs);
        if (oorEvery && (k + ch) % oorEvery === 0) v = OUT_OF_RANGE;
        if (nanEvery && (k + ch) % nanEvery === 0) v = NaN;
        arr[j] = v;
      }
      return arr;
    });
    return {
      build: cfg.job.id,
      layer: this.layer,
      seq: -1,
      firstSampleIndex: this.k,
      sampleRateHz: this.segRate,
      channels: [...cfg.meltPool.channels],
      firstSampleTimeNs,
      samples,
    };
  }
}

/**
 * The melt-pool signal at u seconds into a layer's exposure: the laser runs hatch vectors with short
 * jumps between them (signal drops to the dark level), a turn-on overshoot at each vector start,
 * and a longer jump between parts every ~0.8 s.
 */
export function meltPoolValue(seed: number, ch: number, pyro: boolean, gain: number, layer: number, u: number, tNs: number): number {
  const period = HATCH_ON_S + JUMP_S;
  const inVector = u % period;
  const partJump = u % 0.8 > 0.795; // 5 ms jump to the next part
  const on = inVector < HATCH_ON_S && !partJump;
  const noise = hashGauss(seed, ch, tNs);
  if (pyro) {
    if (!on) return PYRO_FLOOR_C;
    return PYRO_ON_C * gain + 40 * noise + 60 * Math.sin(u * 7.3 + layer);
  }
  if (!on) return PD_OFF_V + 0.004 * noise;
  const overshoot = 1 + 0.3 * Math.exp(-inVector / 0.0002);
  // occasional keyhole-like spikes
  const spike = hash01(seed, ch, tNs, 7) < 0.0005 ? 1.8 : 1;
  return PD_ON_V * gain * overshoot * spike + 0.06 * noise;
}
