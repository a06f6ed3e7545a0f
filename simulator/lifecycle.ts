/**
 * The build lifecycle: a pure function of simulated time plus the operator's pause/resume/abort
 * commands. Nothing here reads a wall clock; the engine asks "what is the state at simulated time t"
 * and "which transitions happened in (t0, t1]", and the answers are exact (transition times come from
 * the schedule, never from when a timer happened to fire).
 *
 * Times are milliseconds since the run's start ("sim offset"). "Build time" is sim time with the
 * paused intervals cut out: the schedule (idle, inerting, layer N recoating, layer N exposing, ...,
 * finished) is laid out on build time, so a pause simply freezes it.
 */
import type { SimConfig } from './config.js';

export type MachineState = 'idle' | 'inerting' | 'recoating' | 'exposing' | 'paused' | 'finished' | 'aborted';
/** The job's coarse state (the machine state with recoating/exposing folded into "building"). */
export type JobState = 'idle' | 'preparing' | 'building' | 'paused' | 'finished' | 'aborted';

export const MACHINE_STATES: readonly MachineState[] = ['idle', 'inerting', 'recoating', 'exposing', 'paused', 'finished', 'aborted'];

export interface Phase {
  /** the scheduled state (never paused/aborted: those are overlays) */
  state: 'idle' | 'inerting' | 'recoating' | 'exposing' | 'finished';
  /** 1-based layer number; 0 before the first layer */
  layer: number;
  /** build-time window of this phase, ms */
  startMs: number;
  endMs: number;
}

export interface Snapshot {
  simMs: number;
  buildMs: number;
  state: MachineState;
  jobState: JobState;
  layer: number;
  phase: Phase;
}

export interface Transition {
  simMs: number;
  kind: 'state' | 'layer-start' | 'layer-end';
  state: MachineState;
  layer: number;
}

interface Pause {
  startMs: number;
  endMs: number | null;
}

export function jobStateOf(state: MachineState): JobState {
  switch (state) {
    case 'inerting':
      return 'preparing';
    case 'recoating':
    case 'exposing':
      return 'building';
    default:
      return state;
  }
}

export class Lifecycle {
  readonly idleMs: number;
  readonly inertMs: number;
  readonly layerMs: number;
  readonly recoatMs: number;
  readonly totalLayers: number;
  private readonly pauses: Pause[] = [];
  private abortMs: number | null = null;
  private pendingControl: Transition[] = [];

  constructor(cfg: SimConfig) {
    this.idleMs = cfg.timing.idleS * 1000;
    this.inertMs = cfg.timing.inertingS * 1000;
    this.layerMs = cfg.timing.layerS * 1000;
    this.recoatMs = cfg.timing.recoatS * 1000;
    this.totalLayers = cfg.job.totalLayers;
  }

  /** build-time start of the first layer */
  get firstLayerMs(): number {
    return this.idleMs + this.inertMs;
  }
  /** build-time instant the job finishes */
  get finishMs(): number {
    return this.firstLayerMs + this.totalLayers * this.layerMs;
  }

  /** build-time windows of one layer */
  layerWindow(layer: number): { startMs: number; exposeStartMs: number; endMs: number } {
    const startMs = this.firstLayerMs + (layer - 1) * this.layerMs;
    return { startMs, exposeStartMs: startMs + this.recoatMs, endMs: startMs + this.layerMs };
  }

  get paused(): boolean {
    const last = this.pauses[this.pauses.length - 1];
    return last !== undefined && last.endMs === null;
  }
  get aborted(): boolean {
    return this.abortMs !== null;
  }
  get abortedAtMs(): number | null {
    return this.abortMs;
  }

  /** Pause at sim time t. Returns false when it cannot pause (already paused, aborted, not running). */
  pause(simMs: number): boolean {
    if (this.paused || this.aborted) return false;
    const b = this.toBuild(simMs);
    if (b < this.firstLayerMs - this.inertMs || b >= this.finishMs) return false;
    const last = this.pauses[this.pauses.length - 1];
    if (last && last.endMs !== null && simMs < last.endMs) return false;
    this.pauses.push({ startMs: simMs, endMs: null });
    this.pendingControl.push({ simMs, kind: 'state', state: 'paused', layer: this.phaseAt(this.toBuild(simMs)).layer });
    return true;
  }

  resume(simMs: number): boolean {
    const last = this.pauses[this.pauses.length - 1];
    if (!last || last.endMs !== null || this.aborted || simMs < last.startMs) return false;
    last.endMs = simMs;
    const ph = this.phaseAt(this.toBuild(simMs));
    this.pendingControl.push({ simMs, kind: 'state', state: ph.state, layer: ph.layer });
    return true;
  }

  abort(simMs: number): boolean {
    if (this.aborted || this.toBuild(simMs) >= this.finishMs) return false;
    this.pendingControl.push({ simMs, kind: 'state', state: 'aborted', layer: this.phaseAt(this.toBuild(simMs)).layer });
    this.abortMs = simMs;
    return true;
  }

  /** Sim time to build time: pauses cut out; after an abort, time stands still. */
  toBuild(simMs: number): number {
    const t = this.abortMs !== null ? Math.min(simMs, this.abortMs) : simMs;
    let paused = 0;
    for (const p of this.pauses) {
      if (p.startMs >= t) break;
      const end = p.endMs === null ? t : Math.min(p.endMs, t);
      paused += end - p.startMs;
    }
    return t - paused;
  }

  /** Build time to sim time; Infinity when that build time is not reached (open pause, abort). */
  toSim(buildMs: number): number {
    let sim = buildMs;
    for (const p of this.pauses) {
      if (this.toBuild(p.startMs) >= buildMs) break;
      if (p.endMs === null) return Infinity;
      sim += p.endMs - p.startMs;
    }
    if (this.abortMs !== null && sim > this.abortMs) return Infinity;
    return sim;
  }

  /** The scheduled phase at a build time. */
  phaseAt(buildMs: number): Phase {
    if (buildMs < this.idleMs) return { state: 'idle', layer: 0, startMs: 0, endMs: this.idleMs };
    if (buildMs < this.firstLayerMs) return { state: 'inerting', layer: 0, startMs: this.idleMs, endMs: this.firstLayerMs };
    if (buildMs >= this.finishMs) return { state: 'finished', layer: this.totalLayers, startMs: this.finishMs, endMs: Infinity };
    const layer = Math.floor((buildMs - this.firstLayerMs) / this.layerMs) + 1;
    const w = this.layerWindow(layer);
    if (buildMs < w.exposeStartMs) return { state: 'recoating', layer, startMs: w.startMs, endMs: w.exposeStartMs };
    return { state: 'exposing', layer, startMs: w.exposeStartMs, endMs: w.endMs };
  }

  isPausedAt(simMs: number): boolean {
    return this.pauses.some((p) => p.startMs <= simMs && (p.endMs === null || simMs < p.endMs));
  }

  at(simMs: number): Snapshot {
    const buildMs = this.toBuild(simMs);
    const phase = this.phaseAt(buildMs);
    let state: MachineState = phase.state;
    if (this.abortMs !== null && simMs >= this.abortMs) state = 'aborted';
    else if (this.isPausedAt(simMs)) state = 'paused';
    return { simMs, buildMs, state, jobState: jobStateOf(state), layer: phase.layer, phase };
  }

  /**
   * The operator's pause/resume/abort transitions not yet taken with t <= toSimMs. Kept apart from
   * the schedule because they are registered at the instant already reached (the engine pauses "now").
   */
  takeControlTransitions(toSimMs: number): Transition[] {
    const out: Transition[] = [];
    const rest: Transition[] = [];
    for (const t of this.pendingControl) (t.simMs <= toSimMs ? out : rest).push(t);
    this.pendingControl = rest;
    return out;
  }

  /** Scheduled transitions (layer and phase boundaries) with fromSimMs < t <= toSimMs, in time order. */
  transitions(fromSimMs: number, toSimMs: number): Transition[] {
    const out: Transition[] = [];
    const b0 = this.toBuild(fromSimMs);
    const b1 = this.toBuild(toSimMs);
    // scheduled boundaries on the build-time axis
    const bounds: number[] = [];
    if (this.idleMs > 0) bounds.push(this.idleMs);
    else if (b0 < 0) bounds.push(0);
    const firstL = Math.max(1, Math.floor((b0 - this.firstLayerMs) / this.layerMs) + 1);
    if (this.inertMs > 0 || this.idleMs > 0) bounds.push(this.firstLayerMs);
    for (let layer = firstL; layer <= this.totalLayers; layer++) {
      const w = this.layerWindow(layer);
      if (w.startMs > b1) break;
      bounds.push(w.startMs, w.exposeStartMs, w.endMs);
    }
    const seen = new Set<number>();
    for (const b of bounds) {
      if (!(b > b0 && b <= b1) || seen.has(b)) continue;
      seen.add(b);
      const simMs = this.toSim(b);
      if (!Number.isFinite(simMs)) continue;
      const before = this.phaseAt(b - 1e-6);
      const after = this.phaseAt(b);
      if (before.state === 'exposing') out.push({ simMs, kind: 'layer-end', state: before.state, layer: before.layer });
      if (after.state === 'recoating') out.push({ simMs, kind: 'layer-start', state: after.state, layer: after.layer });
      if (after.state !== before.state || after.layer !== before.layer) {
        out.push({ simMs, kind: 'state', state: after.state, layer: after.layer });
      }
    }
    // stable order: time, then layer-end before layer-start before state
    const rank = { 'layer-end': 0, 'layer-start': 1, state: 2 } as const;
    out.sort((a, b) => a.simMs - b.simMs || rank[a.kind] - rank[b.kind]);
    return out;
  }
}
