/**
 * The simulator's configuration: one plain object, built by the CLI from flags or by tests directly.
 * Every field has a default that looks like a real 316L build on a single-laser machine; tests
 * override timing (layer time 1 s, compressed) and sizes (256 px images) to stay fast.
 *
 * The default start time is a fixed instant, not "now": with the same seed and the same config,
 * two runs emit byte-identical messages. Pass `startTimeMs: Date.now()` (CLI: --start-time now)
 * for wall-clock source timestamps.
 */

export interface JobConfig {
  /** build / job id, e.g. "B-2026-0042" */
  id: string;
  material: string;
  partCount: number;
  /** layer thickness in micrometres (20-60 typical) */
  layerThicknessUm: number;
  totalLayers: number;
}

export interface TimingConfig {
  /** simulated seconds the machine sits idle before the job starts */
  idleS: number;
  /** simulated seconds of inerting (argon purge until O2 is below the start threshold) */
  inertingS: number;
  /** simulated seconds per layer, recoating plus exposure */
  layerS: number;
  /** simulated seconds of recoating at the start of each layer */
  recoatS: number;
  /** simulated seconds per wall second (1 = real time, 1000 = compressed) */
  speed: number;
}

export interface MeltPoolConfig {
  /** samples per second per channel */
  rateHz: number;
  channels: string[];
  /** samples per channel in one message */
  blockSize: number;
}

export interface CameraConfig {
  width: number;
  height: number;
  bitDepth: 8 | 16;
  /** edge length of the square build plate in mm, mapped onto the image */
  plateMm: number;
}

export interface ProcessConfig {
  /** sample rate of the process values (OPC-UA updates, Sparkplug data), simulated Hz */
  rateHz: number;
  /** build-plate heating setpoint, °C */
  plateSetpointC: number;
  /** laser power setpoint, W */
  laserPowerW: number;
  /** scan speed while exposing, mm/s */
  scanSpeedMmS: number;
}

export interface SimConfig {
  seed: number;
  /** machine id, used in topics, Sparkplug edge node id and the OPC-UA machine object */
  machineId: string;
  /** simulated time of the run's start, ms since the Unix epoch */
  startTimeMs: number;
  job: JobConfig;
  timing: TimingConfig;
  meltPool: MeltPoolConfig;
  camera: CameraConfig;
  process: ProcessConfig;
}

/** 2026-03-02T06:00:00Z: a fixed start so that runs are reproducible by default. */
export const DEFAULT_START_TIME_MS = Date.UTC(2026, 2, 2, 6, 0, 0);

export function defaultConfig(): SimConfig {
  return {
    seed: 1,
    machineId: 'pbf-sim-01',
    startTimeMs: DEFAULT_START_TIME_MS,
    job: { id: 'B-0001', material: '316L', partCount: 6, layerThicknessUm: 40, totalLayers: 1500 },
    timing: { idleS: 2, inertingS: 60, layerS: 30, recoatS: 8, speed: 1 },
    meltPool: { rateHz: 50_000, channels: ['photodiode', 'pyrometer'], blockSize: 1000 },
    camera: { width: 2048, height: 2048, bitDepth: 8, plateMm: 250 },
    process: { rateHz: 10, plateSetpointC: 80, laserPowerW: 280, scanSpeedMmS: 960 },
  };
}

/** Deep-merge a partial config over the defaults (plain objects only, arrays replace). */
export function makeConfig(overrides: DeepPartial<SimConfig> = {}): SimConfig {
  const base = defaultConfig();
  return mergeDeep(base, overrides) as SimConfig;
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends (infer U)[] ? U[] : T[K] extends object ? DeepPartial<T[K]> : T[K] };

function mergeDeep(target: unknown, source: unknown): unknown {
  if (source === undefined) return target;
  if (typeof source !== 'object' || source === null || Array.isArray(source)) return source;
  const out: Record<string, unknown> = { ...(target as Record<string, unknown>) };
  for (const [key, value] of Object.entries(source as Record<string, unknown>)) {
    if (value === undefined) continue;
    out[key] = mergeDeep(out[key], value);
  }
  return out;
}

/** Checks a config for values the simulator cannot run with; returns a list of problems (empty = fine). */
export function validateConfig(cfg: SimConfig): string[] {
  const problems: string[] = [];
  const positive = (path: string, v: number) => {
    if (!(Number.isFinite(v) && v > 0)) problems.push(`${path} must be a positive number (got ${v})`);
  };
  positive('job.partCount', cfg.job.partCount);
  positive('job.layerThicknessUm', cfg.job.layerThicknessUm);
  positive('job.totalLayers', cfg.job.totalLayers);
  positive('timing.layerS', cfg.timing.layerS);
  positive('timing.speed', cfg.timing.speed);
  positive('meltPool.rateHz', cfg.meltPool.rateHz);
  positive('meltPool.blockSize', cfg.meltPool.blockSize);
  positive('camera.width', cfg.camera.width);
  positive('camera.height', cfg.camera.height);
  positive('process.rateHz', cfg.process.rateHz);
  if (!(cfg.timing.recoatS >= 0 && cfg.timing.recoatS < cfg.timing.layerS))
    problems.push(`timing.recoatS must be >= 0 and below timing.layerS (got ${cfg.timing.recoatS})`);
  if (!(cfg.timing.idleS >= 0)) problems.push(`timing.idleS must be >= 0 (got ${cfg.timing.idleS})`);
  if (!(cfg.timing.inertingS >= 0)) problems.push(`timing.inertingS must be >= 0 (got ${cfg.timing.inertingS})`);
  if (cfg.meltPool.channels.length < 1 || cfg.meltPool.channels.length > 8)
    problems.push(`meltPool.channels must name 1 to 8 channels (got ${cfg.meltPool.channels.length})`);
  if (cfg.camera.bitDepth !== 8 && cfg.camera.bitDepth !== 16) problems.push(`camera.bitDepth must be 8 or 16 (got ${cfg.camera.bitDepth})`);
  if (!Number.isInteger(cfg.seed)) problems.push(`seed must be an integer (got ${cfg.seed})`);
  if (!Number.isFinite(cfg.startTimeMs)) problems.push(`startTimeMs must be a time (got ${cfg.startTimeMs})`);
  return problems;
}
