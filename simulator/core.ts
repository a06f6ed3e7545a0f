/**
 * The simulator's engine without any network: given a config and the fault/defect switchboards,
 * advance(t) returns everything the machine produced up to simulated time t (events, melt-pool
 * blocks, process-value samples, camera frames to render), in order and with exact source times.
 * Transports (MQTT, OPC-UA, drop folder) sit on top; tests drive this directly to check timing and
 * determinism without sockets.
 */
import type { MachineEvent, MeltPoolBlock } from '../wire/index.js';
import type { SimConfig } from './config.js';
import { DEFECTS, FAULTS, Switchboard } from './faults.js';
import { Lifecycle, type Snapshot } from './lifecycle.js';
import { MeltPoolStream } from './meltpool.js';
import { layoutParts, type Part } from './parts.js';
import { ProcessModel, type ProcessSample } from './process.js';
import type { FrameKind } from './camera.js';

export interface FrameRequest {
  layer: number;
  kind: FrameKind;
  simMs: number;
  timestampMs: number;
}

export interface Step {
  /** simulated time reached (sim offset, ms) */
  simMs: number;
  events: MachineEvent[];
  blocks: MeltPoolBlock[];
  samples: ProcessSample[];
  frames: FrameRequest[];
}

export class SimCore {
  readonly lifecycle: Lifecycle;
  readonly parts: Part[];
  readonly meltPool: MeltPoolStream;
  readonly process: ProcessModel;
  readonly faults: Switchboard;
  readonly defects: Switchboard;
  /** sim offset reached so far */
  simMs = 0;
  private eventSeq = 0;
  private started = false;
  private readonly framed = new Set<string>();

  constructor(readonly cfg: SimConfig) {
    this.lifecycle = new Lifecycle(cfg);
    this.parts = layoutParts(cfg);
    this.faults = new Switchboard('fault', FAULTS);
    this.defects = new Switchboard('defect', DEFECTS);
    this.meltPool = new MeltPoolStream(cfg, this.lifecycle, this.faults);
    this.process = new ProcessModel(cfg, this.lifecycle, this.faults);
    this.defects.onChange((name, on, params) => {
      if (name === 'warped-part') this.process.warpedPart = on ? (this.parts[Number(params.part)] ?? null) : null;
    });
  }

  private timestampMs(simMs: number): number {
    const skew = this.faults.isOn('clock-skew') ? this.faults.num('clock-skew', 'offsetMs') : 0;
    return this.cfg.startTimeMs + Math.round(simMs) + skew;
  }

  snapshot(simMs = this.simMs): Snapshot {
    return this.lifecycle.at(simMs);
  }

  /** Everything produced in (simMs, toSimMs]; the first call also includes t = 0. */
  advance(toSimMs: number): Step {
    const from = this.started ? this.simMs : -1e-9;
    if (toSimMs < this.simMs) toSimMs = this.simMs;
    const events: MachineEvent[] = [];
    const frames: FrameRequest[] = [];
    if (!this.started) {
      const s = this.lifecycle.at(0);
      events.push({ type: 'state', build: this.cfg.job.id, layer: s.layer, state: s.state, seq: this.eventSeq++, timestampMs: this.timestampMs(0) });
    }
    const rank = { 'layer-end': 0, 'layer-start': 1, state: 2 } as const;
    const transitions = [...this.lifecycle.transitions(Math.max(0, from), toSimMs), ...this.lifecycle.takeControlTransitions(toSimMs)].sort(
      (a, b) => a.simMs - b.simMs || rank[a.kind] - rank[b.kind],
    );
    for (const t of transitions) {
      if (t.simMs === 0 && !this.started && t.kind === 'state') continue;
      events.push({ type: t.kind, build: this.cfg.job.id, layer: t.layer, state: t.state, seq: this.eventSeq++, timestampMs: this.timestampMs(t.simMs) });
      // one image when exposure starts (the fresh powder) and one when it ends; a resume into exposing is not a new image
      const kind: FrameKind | null = t.kind === 'state' && t.state === 'exposing' ? 'after-recoat' : t.kind === 'layer-end' ? 'after-exposure' : null;
      if (kind && !this.framed.has(`${t.layer}/${kind}`)) {
        this.framed.add(`${t.layer}/${kind}`);
        frames.push({ layer: t.layer, kind, simMs: t.simMs, timestampMs: this.timestampMs(t.simMs) });
      }
    }
    const blocks = this.meltPool.advance(toSimMs);
    const [k0r, k1] = this.process.range(from, toSimMs);
    const k0 = this.started ? k0r : 0;
    const samples: ProcessSample[] = [];
    for (let k = k0; k <= k1; k++) samples.push(this.process.sample(k));
    this.simMs = toSimMs;
    this.started = true;
    return { simMs: toSimMs, events, blocks, samples, frames };
  }
}
