#!/usr/bin/env node
/**
 * layergate-sim: the laser powder bed fusion machine simulator. Every option has a default that
 * runs a plausible 316L build in real time; `--help` lists them all, plus the faults and defects.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option, InvalidArgumentError } from 'commander';
import { pino } from 'pino';
import { makeConfig, validateConfig, DEFAULT_START_TIME_MS } from './config.js';
import { Simulator } from './engine.js';
import { ConditionError, DEFECTS, FAULTS, parseConditionFlag, type ConditionSpec } from './faults.js';
import { BLOCK_FORMATS, type BlockFormat } from '../wire/index.js';

const num = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number (got "${v}")`);
  return n;
};
const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be an integer (got "${v}")`);
  return n;
};
const collect = (v: string, prev: string[]) => [...prev, v];

function describe(kind: string, specs: Record<string, ConditionSpec>): string {
  const lines = [
    `\n${kind === 'fault' ? 'Faults' : 'Defects'} (--${kind} name, --${kind} name=value, --${kind} name=key:value,key:value; POST /${kind}s at run time):`,
  ];
  for (const [name, s] of Object.entries(specs)) {
    lines.push(`  ${name}${s.oneShot ? ' (one-shot)' : ''}: ${s.description}`);
    for (const [k, p] of Object.entries(s.params)) lines.push(`      ${k}${s.primary === k ? ' (primary)' : ''} = ${String(p.default)}: ${p.description}`);
  }
  return lines.join('\n');
}

export function buildProgram(): Command {
  const d = makeConfig();
  const program = new Command('layergate-sim')
    .description(
      'Simulates a laser powder bed fusion (PBF-LB/M) machine: build lifecycle, OPC-UA server (OPC 40540 layout), melt-pool blocks and Sparkplug B over MQTT, powder-bed camera images, and faults on demand.',
    )
    .showHelpAfterError()
    // build and timing
    .option('--seed <n>', 'seed of every random value: same seed, same data', int('--seed'), d.seed)
    .option('--machine-id <id>', 'machine id (topics, Sparkplug edge node, OPC-UA machine object)', d.machineId)
    .option(
      '--start-time <t>',
      'simulated start: ISO time, ms since epoch, or "now" (a fixed default keeps runs byte-identical)',
      new Date(DEFAULT_START_TIME_MS).toISOString(),
    )
    .option('--job-id <id>', 'build / job id', d.job.id)
    .option('--material <name>', 'powder material', d.job.material)
    .option('--parts <n>', 'parts on the plate (cylinders, cubes, lattices)', int('--parts'), d.job.partCount)
    .option('--layer-thickness <um>', 'layer thickness, µm', num('--layer-thickness'), d.job.layerThicknessUm)
    .option('--layers <n>', 'total layers of the job', int('--layers'), d.job.totalLayers)
    .option('--idle-time <s>', 'simulated seconds idle before the job starts', num('--idle-time'), d.timing.idleS)
    .option('--inerting-time <s>', 'simulated seconds of inerting (O2 purge)', num('--inerting-time'), d.timing.inertingS)
    .option('--layer-time <s>', 'simulated seconds per layer (recoating + exposure)', num('--layer-time'), d.timing.layerS)
    .option('--recoat-time <s>', 'simulated seconds of recoating per layer', num('--recoat-time'), d.timing.recoatS)
    .option('--speed <x>', 'simulated seconds per wall second (1 = real time)', num('--speed'), d.timing.speed)
    .option('--duration <s>', 'stop after this many simulated seconds (default: run the whole job)', num('--duration'))
    .option('--exit-when-done', 'exit when the job has finished (or aborted) instead of serving its final state', false)
    // melt pool
    .option('--meltpool-rate <hz>', 'melt-pool samples per second per channel', num('--meltpool-rate'), d.meltPool.rateHz)
    .option('--channels <names>', 'melt-pool channel names, comma-separated (a name containing "pyro" is a pyrometer)', d.meltPool.channels.join(','))
    .option('--block-size <n>', 'samples per channel in one melt-pool message', int('--block-size'), d.meltPool.blockSize)
    .option('--meltpool-format <list>', `melt-pool formats, comma-separated, each on its own topic: ${BLOCK_FORMATS.join(', ')}, or none`, 'binary')
    // process values
    .option('--process-rate <hz>', 'process value sample rate, simulated Hz (OPC-UA updates)', num('--process-rate'), d.process.rateHz)
    .option('--plate-temp <c>', 'build-plate heating setpoint, °C', num('--plate-temp'), d.process.plateSetpointC)
    .option('--laser-power <w>', 'laser power setpoint, W', num('--laser-power'), d.process.laserPowerW)
    .option('--scan-speed <mms>', 'scan speed, mm/s', num('--scan-speed'), d.process.scanSpeedMmS)
    // MQTT
    .option('--mqtt-url <url>', 'MQTT broker', 'mqtt://127.0.0.1:1883')
    .option('--mqtt-username <user>', 'MQTT username')
    .option('--mqtt-password <password>', 'MQTT password (or env LAYERGATE_SIM_MQTT_PASSWORD)')
    .option('--mqtt-client-id <id>', 'MQTT client id (default layergate-sim-<machine-id>)')
    .option('--topic-prefix <prefix>', 'topic prefix: <prefix>/meltpool/<format>, <prefix>/events (default lpbf/<machine-id>)')
    .addOption(new Option('--qos <n>', 'QoS of the melt-pool messages').choices(['0', '1']).default('1'))
    .option('--no-mqtt', 'no MQTT at all')
    .option('--embedded-broker [port]', 'start an embedded MQTT broker (aedes) on loopback and publish to it (default port 1883)')
    .option('--sparkplug-group <id>', 'Sparkplug B group id for the process values', 'LayerGate')
    .option('--sparkplug-rate <hz>', 'Sparkplug DDATA rate, simulated Hz', num('--sparkplug-rate'), 1)
    .option('--no-sparkplug', 'no Sparkplug B')
    // OPC-UA
    .option('--opcua-port <port>', 'OPC-UA server port', int('--opcua-port'), 4840)
    .option('--opcua-host <host>', 'OPC-UA bind address', '127.0.0.1')
    .option('--opcua-user <user:password>', 'require this user name and password (anonymous login is then refused)')
    .option('--no-opcua', 'no OPC-UA server')
    // camera
    .option('--camera-dir <dir>', 'drop folder for powder-bed images (written as .name.part, then renamed)')
    .option('--camera-upload-url <url>', 'POST each image (image/png) to this endpoint')
    .option('--camera-upload-token <token>', 'bearer token for the upload endpoint (or env LAYERGATE_SIM_UPLOAD_TOKEN)')
    .option('--camera-size <WxH>', 'image size in pixels', `${d.camera.width}x${d.camera.height}`)
    .addOption(new Option('--camera-bit-depth <n>', 'bits per pixel').choices(['8', '16']).default(String(d.camera.bitDepth)))
    .option('--plate-size <mm>', 'build plate edge length, mm', num('--plate-size'), d.camera.plateMm)
    // control and faults
    .option('--control-port <port>', 'control API port on loopback (GET /state, POST /faults, /defects, /job)', int('--control-port'), 8470)
    .option('--no-control', 'no control API')
    .option('--fault <spec>', 'switch a fault on at start (repeatable); see the list below', collect, [])
    .option('--defect <spec>', 'switch a defect on at start (repeatable); see the list below', collect, [])
    .option('--data-dir <dir>', "the simulator's own files (OPC-UA PKI)", '.layergate-sim')
    .option('--log-level <level>', 'pino log level', 'info')
    .addHelpText('after', `${describe('fault', FAULTS)}\n${describe('defect', DEFECTS)}`);
  return program;
}

function parseStartTime(v: string): number {
  if (v === 'now') return Date.now();
  if (/^\d+$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (!Number.isFinite(t)) throw new InvalidArgumentError(`--start-time must be an ISO time, ms since epoch or "now" (got "${v}")`);
  return t;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  program.parse(argv);
  const o = program.opts();
  const log = pino({ name: 'layergate-sim', level: o.logLevel as string });
  const [w, h] = String(o.cameraSize).split('x').map(Number);
  const formats =
    String(o.meltpoolFormat) === 'none'
      ? []
      : String(o.meltpoolFormat)
          .split(',')
          .map((s) => s.trim());
  for (const f of formats)
    if (!BLOCK_FORMATS.includes(f as BlockFormat)) program.error(`--meltpool-format: unknown format "${f}" (known: ${BLOCK_FORMATS.join(', ')}, none)`);
  const cfg = makeConfig({
    seed: o.seed,
    machineId: o.machineId,
    startTimeMs: parseStartTime(String(o.startTime)),
    job: { id: o.jobId, material: o.material, partCount: o.parts, layerThicknessUm: o.layerThickness, totalLayers: o.layers },
    timing: { idleS: o.idleTime, inertingS: o.inertingTime, layerS: o.layerTime, recoatS: o.recoatTime, speed: o.speed },
    meltPool: {
      rateHz: o.meltpoolRate,
      channels: String(o.channels)
        .split(',')
        .map((s) => s.trim()),
      blockSize: o.blockSize,
    },
    camera: { width: w ?? NaN, height: h ?? NaN, bitDepth: Number(o.cameraBitDepth) as 8 | 16, plateMm: o.plateSize },
    process: { rateHz: o.processRate, plateSetpointC: o.plateTemp, laserPowerW: o.laserPower, scanSpeedMmS: o.scanSpeed },
  });
  const problems = validateConfig(cfg);
  if (problems.length) program.error(`invalid options:\n  ${problems.join('\n  ')}`);
  let faults: ReturnType<typeof parseConditionFlag>[];
  let defects: ReturnType<typeof parseConditionFlag>[];
  try {
    faults = (o.fault as string[]).map((f) => parseConditionFlag(f, FAULTS, 'fault'));
    defects = (o.defect as string[]).map((f) => parseConditionFlag(f, DEFECTS, 'defect'));
  } catch (err) {
    if (err instanceof ConditionError) program.error(err.message);
    throw err;
  }
  let opcuaUser: { username: string; password: string } | undefined;
  if (o.opcuaUser) {
    const s = String(o.opcuaUser);
    const c = s.indexOf(':');
    if (c < 1) program.error('--opcua-user must be user:password');
    opcuaUser = { username: s.slice(0, c), password: s.slice(c + 1) };
  }
  const embedded = o.embeddedBroker === undefined ? null : { port: o.embeddedBroker === true ? 1883 : Number(o.embeddedBroker) };
  const sim = new Simulator({
    cfg,
    log,
    dataDir: path.resolve(String(o.dataDir)),
    durationS: o.duration ?? null,
    embeddedBroker: embedded,
    mqtt: o.mqtt
      ? {
          url: o.mqttUrl,
          username: o.mqttUsername,
          password: o.mqttPassword ?? process.env.LAYERGATE_SIM_MQTT_PASSWORD,
          clientId: o.mqttClientId,
          topicPrefix: o.topicPrefix,
          formats: formats as BlockFormat[],
          qos: Number(o.qos) as 0 | 1,
          sparkplugGroup: o.sparkplug ? o.sparkplugGroup : null,
          sparkplugRateHz: o.sparkplugRate,
        }
      : null,
    opcua: o.opcua ? { port: o.opcuaPort, host: o.opcuaHost, user: opcuaUser } : null,
    camera:
      o.cameraDir || o.cameraUploadUrl
        ? { dropDir: o.cameraDir, uploadUrl: o.cameraUploadUrl, uploadToken: o.cameraUploadToken ?? process.env.LAYERGATE_SIM_UPLOAD_TOKEN }
        : null,
    controlPort: o.control ? o.controlPort : null,
    faults,
    defects,
  });
  const shutdown = async (signal: string) => {
    log.info({ signal }, 'stopping');
    await sim.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  await sim.start();
  log.info(sim.state().endpoints, 'simulator running');
  if (o.exitWhenDone) {
    await sim.finished;
    log.info(sim.state().counters, 'job done');
    await sim.stop();
    process.exit(0);
  }
}

/** run only when executed (node dist/simulator/cli.js, the npm bin link, tsx simulator/cli.ts), not when imported */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv).catch((err: unknown) => {
    console.error(`layergate-sim: ${(err as Error).message}`);
    process.exit(1);
  });
}
