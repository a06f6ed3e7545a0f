/**
 * Process values of the machine (chamber, build plate, laser, recoater, powder dosing), sampled on a
 * fixed simulated-time grid: sample k is at start + k/rate. Each value is a pure function of
 * (seed, build schedule, k), so any sample can be recomputed and two runs agree exactly.
 *
 * Dynamics are first-order and plausible rather than physical: O2 falls exponentially from air
 * (209,000 ppm) during inerting to below 1,000 ppm at the first layer and settles near 60 ppm; the
 * plate heats to its setpoint; the chamber warms slowly over the build; the filter loads up; the
 * recoater sweeps out and back during recoating with a force that spikes over a warped part.
 */
import type { SimConfig } from './config.js';
import type { Switchboard } from './faults.js';
import type { Lifecycle, MachineState } from './lifecycle.js';
import { layerZmm, type Part } from './parts.js';
import { hashGauss } from './prng.js';

export interface SignalSpec {
  /** dotted name: the Sparkplug metric name (with / instead of .) and the OPC-UA browse path under Monitoring */
  name: string;
  unit: string;
  description: string;
  /** a value no real sensor would report, used by the out-of-range fault */
  outOfRange: number;
}

export const SIGNALS: readonly SignalSpec[] = [
  { name: 'Chamber.OxygenConcentration', unit: 'ppm', description: 'O2 in the process chamber', outOfRange: -250 },
  { name: 'Chamber.Temperature', unit: '°C', description: 'chamber gas temperature', outOfRange: -300 },
  { name: 'Chamber.Pressure', unit: 'mbar', description: 'chamber overpressure against ambient', outOfRange: 1e6 },
  { name: 'Chamber.GasFlowVelocity', unit: 'm/s', description: 'shielding gas flow over the plate', outOfRange: -40 },
  { name: 'Chamber.FilterDifferentialPressure', unit: 'mbar', description: 'pressure drop over the circulation filter', outOfRange: -99 },
  { name: 'BuildPlate.Temperature', unit: '°C', description: 'build-plate temperature (heated)', outOfRange: 5000 },
  { name: 'Laser1.PowerSetpoint', unit: 'W', description: 'laser power setpoint', outOfRange: -1000 },
  { name: 'Laser1.PowerActual', unit: 'W', description: 'measured laser power', outOfRange: 99999 },
  { name: 'Laser1.ScanSpeed', unit: 'mm/s', description: 'galvo scan speed', outOfRange: -1 },
  { name: 'Recoater.Position', unit: 'mm', description: 'recoater position along its travel (0 = park)', outOfRange: -5000 },
  { name: 'Recoater.Force', unit: 'N', description: 'recoater blade force', outOfRange: -1e5 },
  { name: 'PowderDosing.Level', unit: '%', description: 'powder left in the dosing chamber', outOfRange: 180 },
];

export interface ProcessValue {
  name: string;
  value: number;
  /** false while the sensor-dropout fault is on: the value is not trustworthy (OPC-UA Bad, Sparkplug null) */
  good: boolean;
}

export interface ProcessSample {
  k: number;
  simMs: number;
  /** source timestamp, ms since the epoch (includes clock skew when that fault is on) */
  timestampMs: number;
  state: MachineState;
  layer: number;
  values: ProcessValue[];
}

const AIR_O2_PPM = 209_000;
const START_O2_PPM = 800;
const SETTLED_O2_PPM = 60;
/** recoater travel: the blade parks beyond the plate on both sides */
const RECOATER_OVERTRAVEL_MM = 40;

export class ProcessModel {
  readonly periodMs: number;
  constructor(
    private readonly cfg: SimConfig,
    private readonly lifecycle: Lifecycle,
    private readonly faults: Switchboard,
  ) {
    this.periodMs = 1000 / cfg.process.rateHz;
  }

  /** sim offset of sample k */
  simMsOf(k: number): number {
    return k * this.periodMs;
  }

  /** indices of the samples with fromSimMs < t <= toSimMs */
  range(fromSimMs: number, toSimMs: number): [number, number] {
    const first = Math.floor(fromSimMs / this.periodMs + 1e-9) + 1;
    const last = Math.floor(toSimMs / this.periodMs + 1e-9);
    return [Math.max(0, first), last];
  }

  sample(k: number): ProcessSample {
    const simMs = this.simMsOf(k);
    const snap = this.lifecycle.at(simMs);
    const b = snap.buildMs;
    const lc = this.lifecycle;
    const cfg = this.cfg;
    const seed = cfg.seed;
    const g = (i: number) => hashGauss(seed, 0x9e0c, i, k);
    const running = snap.state !== 'idle' && snap.state !== 'aborted';
    const exposing = snap.state === 'exposing';
    const sinceInert = Math.max(0, b - lc.idleMs);
    const sinceFirst = Math.max(0, b - lc.firstLayerMs);

    // O2: exponential purge to START_O2_PPM at the first layer, then settling
    let o2: number;
    if (b < lc.idleMs) o2 = AIR_O2_PPM;
    else if (b < lc.firstLayerMs && lc.inertMs > 0) o2 = AIR_O2_PPM * Math.exp((-sinceInert / lc.inertMs) * Math.log(AIR_O2_PPM / START_O2_PPM));
    else o2 = SETTLED_O2_PPM + (START_O2_PPM - SETTLED_O2_PPM) * Math.exp(-sinceFirst / 120_000);
    if (snap.state === 'recoating') o2 += 12; // the moving blade stirs the gas a little
    o2 = Math.max(0, o2 * (1 + 0.01 * g(0)) + 1.5 * g(100));

    const chamberT = 22 + 14 * (1 - Math.exp(-sinceFirst / 3_600_000)) + 0.05 * g(1);
    const plateTau = Math.max(lc.inertMs / 3, 1000);
    const plateT = b < lc.idleMs ? 22 + 0.1 * g(5) : 22 + (cfg.process.plateSetpointC - 22) * (1 - Math.exp(-sinceInert / plateTau)) + 0.1 * g(5);
    const pressure = running ? 20 + 0.3 * g(2) : 0.05 * Math.abs(g(2));
    const flow =
      snap.state === 'idle'
        ? 0
        : snap.state === 'inerting'
          ? 1.0 + 0.03 * g(3)
          : snap.state === 'finished' || snap.state === 'aborted'
            ? 0.5 + 0.02 * g(3)
            : 2.2 + 0.05 * g(3);
    const progress = Math.min(1, sinceFirst / (lc.totalLayers * lc.layerMs));
    const filterDp = 6 + 14 * progress + 0.05 * g(4);
    const powerSet = exposing ? cfg.process.laserPowerW : 0;
    const powerAct = exposing ? powerSet * (1 + 0.005 * g(7)) : 0;
    const scan = exposing ? cfg.process.scanSpeedMmS * (1 + 0.002 * g(8)) : 0;

    // recoater: out across the plate in 70 % of the recoat time, back to park in the rest
    let position = 0;
    let force = 0;
    if (snap.state === 'recoating' && lc.recoatMs > 0) {
      const travel = cfg.camera.plateMm + 2 * RECOATER_OVERTRAVEL_MM;
      const f = (b - snap.phase.startMs) / lc.recoatMs;
      position = f < 0.7 ? (travel * f) / 0.7 : travel * (1 - (f - 0.7) / 0.3);
      if (f < 0.7) {
        force = 4 + 0.4 * g(10);
        const x = position - RECOATER_OVERTRAVEL_MM;
        const warped = this.warpedPart;
        if (warped && Math.abs(x - warped.cx) <= warped.half && layerZmm(cfg, snap.layer) <= warped.heightMm) force += 25 + 3 * g(11);
      }
    }
    const layersDone = snap.state === 'idle' || snap.state === 'inerting' ? 0 : snap.layer;
    const dosing = 100 - (90 * layersDone) / lc.totalLayers;

    const raw = [o2, chamberT, pressure, flow, filterDp, plateT, powerSet, powerAct, scan, position, force, dosing];
    const dropout = this.faults.isOn('sensor-dropout');
    const nanEvery = this.faults.isOn('nan') ? this.faults.num('nan', 'every') : 0;
    const oorEvery = this.faults.isOn('out-of-range') ? this.faults.num('out-of-range', 'every') : 0;
    const values: ProcessValue[] = SIGNALS.map((s, i) => {
      let value = raw[i] as number;
      if (oorEvery && (k + i) % oorEvery === 0) value = s.outOfRange;
      if (nanEvery && (k + i) % nanEvery === 0) value = NaN;
      return { name: s.name, value, good: !dropout };
    });
    const skew = this.faults.isOn('clock-skew') ? this.faults.num('clock-skew', 'offsetMs') : 0;
    return { k, simMs, timestampMs: cfg.startTimeMs + Math.round(simMs) + skew, state: snap.state, layer: snap.layer, values };
  }

  /** the part the warped-part defect applies to, set by the engine from the defect switchboard */
  warpedPart: Part | null = null;
}
