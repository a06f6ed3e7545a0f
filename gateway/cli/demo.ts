/**
 * `layergate demo` (what `npm start` runs): the machine simulator and the gateway side by side, so a
 * newcomer sees real data flowing within a minute with no server installed.
 *
 * The demo config (config/demo.yaml) is an ordinary config file and the single source of truth: the
 * simulator is started on the ports and drop folder that its inputs name (opcua endpoint, mqtt url,
 * frames dropDir), with its embedded MQTT broker. Simulated time runs at wall-clock speed with short
 * layers, a 1024x1024 camera and a 5 kHz melt-pool rate, so the demo's disk use stays modest.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { DemoConfigError, DemoSimulatorError } from '../plugin-api/errors.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** the package root from the source tree (gateway/cli/) or the build output (dist/gateway/cli/) */
const ROOT = [path.resolve(here, '../..'), path.resolve(here, '../../..')].find((p) => existsSync(path.join(p, 'config/demo.yaml')))!;
export const DEMO_CONFIG = path.join(ROOT, 'config/demo.yaml');
/** the storage strategy (PostgreSQL, MongoDB, Redis, lake, MinIO, cloud): run when the test service harness is up */
export const STRATEGY_CONFIG = path.join(ROOT, 'config/storage-strategy.yaml');
/** where `npm run services -- up` writes the harness's addresses and test passwords (test/services/demo-env.ts) */
export const HARNESS_ENV = path.join(ROOT, '.services/run/demo.env');

/** the simulator's CLI beside this module: .ts when running from source (tsx), .js from dist/ */
const SIMULATOR_CLI = path.resolve(here, '../../simulator', `cli${path.extname(fileURLToPath(import.meta.url))}`);

/** Simulator settings for a demo: real-time, short layers, light data rates. */
const DEMO_SIMULATION = [
  '--start-time',
  'now',
  '--speed',
  '1',
  '--inerting-time',
  '8',
  '--layer-time',
  '15',
  '--recoat-time',
  '5',
  '--camera-size',
  '1024x1024',
  '--meltpool-rate',
  '5000',
];

export interface SimulatorPlan {
  args: string[];
  /** TCP ports the simulator must be listening on before the gateway starts */
  ports: number[];
  dropDir?: string;
}

function portOf(url: string, what: string): number {
  const port = Number(new URL(url).port);
  if (!Number.isInteger(port) || port <= 0) {
    throw new DemoConfigError(`${what}: the demo needs an explicit port in "${url}"`);
  }
  return port;
}

/** Derive the simulator's command line from the demo config's inputs. */
export function simulatorPlan(config: Config): SimulatorPlan {
  const args = [...DEMO_SIMULATION, '--machine-id', config.gateway.machine];
  const ports: number[] = [];
  let dropDir: string | undefined;
  let opcua = false;
  let mqtt = false;
  for (const [name, input] of Object.entries(config.inputs)) {
    const settings = input as Record<string, unknown>;
    if (input.type === 'opcua' && !opcua) {
      const port = portOf(String(settings.endpoint).replace(/^opc\.tcp:/, 'http:'), `inputs.${name}.endpoint`);
      args.push('--opcua-port', String(port));
      ports.push(port);
      opcua = true;
    } else if (input.type === 'mqtt' && !mqtt) {
      const port = portOf(String(settings.url), `inputs.${name}.url`);
      args.push('--embedded-broker', String(port));
      ports.push(port);
      mqtt = true;
    } else if (input.type === 'frames' && dropDir === undefined) {
      dropDir = path.resolve(String(settings.dropDir));
      args.push('--camera-dir', dropDir);
    }
  }
  if (!opcua) args.push('--no-opcua');
  if (!mqtt) args.push('--no-mqtt');
  return { args, ports, ...(dropDir ? { dropDir } : {}) };
}

/** Whether something accepts TCP connections on this loopback port. */
export function listening(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Start the simulator and wait until it serves every port the gateway will connect to. */
export async function startSimulator(plan: SimulatorPlan, logFile: string, deadlineMs = 120_000): Promise<ChildProcess> {
  mkdirSync(path.dirname(logFile), { recursive: true });
  const out = openSync(logFile, 'a');
  const child = spawn(process.execPath, [...process.execArgv, SIMULATOR_CLI, ...plan.args], {
    stdio: ['ignore', out, out],
  });
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  const until = Date.now() + deadlineMs;
  for (const port of plan.ports) {
    while (!(await listening(port))) {
      if (exited !== undefined || Date.now() > until) {
        child.kill('SIGKILL');
        throw new DemoSimulatorError(
          `the simulator ${exited !== undefined ? `exited (code ${exited})` : `did not listen on port ${port} in time`}; ${logFile}:\n${tail(logFile)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return child;
}

/** What a newcomer needs to know once the demo runs. */
export function demoBanner(
  config: Config,
  plan: SimulatorPlan,
  simLog: string,
  choice: { file: string; why: string } = { file: DEMO_CONFIG, why: '' },
): string {
  const rel = (p: string): string => path.relative(process.cwd(), p) || '.';
  const lake = Object.values(config.outputs).find((o) => o.type === 'file-lake') as { path?: string } | undefined;
  const lakeDir = lake?.path ?? path.join(config.gateway.dataDir, 'lake');
  return [
    '',
    'LayerGate demo: the simulated PBF-LB/M machine is running, the gateway is ingesting.',
    `  data lands in     ${rel(lakeDir)}/  (Arrow files: scalars/, samples/, events/; camera images: images/)`,
    `  buffer            ${rel(path.join(config.gateway.dataDir, 'buffer'))}/`,
    ...(plan.dropDir ? [`  camera drop       ${rel(plan.dropDir)}/`] : []),
    `  simulator log     ${rel(simLog)}`,
    `  config            ${rel(choice.file)}${choice.why ? `  (${choice.why})` : ''}`,
    ...(config.api.enabled
      ? [
          `  web UI            ${config.api.tls.enabled ? 'https' : 'http'}://${config.api.host}:${config.api.port}/ui/  (self-signed: compare the fingerprint with layergate api info -c ${rel(choice.file)})`,
          `  first admin       the setup token in ${rel(path.join(config.gateway.dataDir, 'api', 'setup-token'))} (or: layergate admin setup -c ${rel(choice.file)})`,
          ...(config.api.grpc.enabled
            ? [
                `  gRPC API          ${config.api.grpc.host ?? config.api.host}:${config.api.grpc.port}  (proto/layergate/v1/gateway.proto; an API token of the web UI's Users and tokens page)`,
              ]
            : []),
        ]
      : []),
    '  read it           python3 -c "import pyarrow.dataset as d; print(d.dataset(\'' +
      `${rel(lakeDir)}/scalars', format='arrow', partitioning='hive').to_table().to_pandas().tail())"`,
    '  stop              Ctrl-C',
    '',
  ].join('\n');
}

/** Load the demo config (validated like any other) and the simulator plan it implies. */
export function demoSetup(file = DEMO_CONFIG): { config: Config; plan: SimulatorPlan } {
  const { config } = loadConfig({ file });
  return { config, plan: simulatorPlan(config) };
}

/** `KEY=VALUE` lines of an env file (comments and blank lines skipped) */
function readEnvFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** host:port of every server an output of `config` writes to (those the strategy demo needs up) */
function outputServers(config: Config): { output: string; host: string; port: number }[] {
  const out: { output: string; host: string; port: number }[] = [];
  for (const [name, o] of Object.entries(config.outputs)) {
    const s = o as Record<string, unknown>;
    const url = (u: unknown, dflt: number) => {
      const p = new URL(String(u));
      return { host: p.hostname, port: Number(p.port) || dflt };
    };
    if (o.type === 'postgres') out.push({ output: name, host: String(s.host), port: Number(s.port) });
    else if (o.type === 'mongodb') out.push({ output: name, ...url(s.url, 27017) });
    else if (o.type === 'redis') out.push({ output: name, ...url(s.url, 6379) });
    else if (o.type === 'minio') out.push({ output: name, host: String(s.endPoint), port: Number(s.port) });
    else if (o.type === 'cloud') out.push({ output: name, ...url(s.endpoint, 443) });
  }
  return out;
}

/**
 * The configuration `layergate demo` runs: the storage strategy when the service harness is up (its
 * env file exists and every server the strategy writes to listens), with the harness's variables put
 * into the environment; else the plain demo (the lake only, no server needed). `why` says which and why.
 */
export async function chooseDemoConfig(): Promise<{ file: string; why: string }> {
  if (!existsSync(HARNESS_ENV)) return { file: DEMO_CONFIG, why: 'the service harness is not up (npm run services -- up runs the storage strategy)' };
  const vars = readEnvFile(HARNESS_ENV);
  let config: Config;
  try {
    config = loadConfig({ file: STRATEGY_CONFIG, env: { ...vars, ...process.env } }).config;
  } catch (err) {
    return { file: DEMO_CONFIG, why: `${path.basename(STRATEGY_CONFIG)} does not load with ${HARNESS_ENV}: ${(err as Error).message.split('\n')[0]}` };
  }
  for (const s of outputServers(config)) {
    if (!(await listening(s.port, s.host))) return { file: DEMO_CONFIG, why: `output ${s.output}: nothing listens on ${s.host}:${s.port}` };
  }
  for (const [k, v] of Object.entries(vars)) process.env[k] ??= v;
  return { file: STRATEGY_CONFIG, why: 'the service harness is up: every record routed by the storage strategy' };
}
