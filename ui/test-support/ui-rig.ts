/**
 * A machine and a gateway for the web UI's browser tests, all in this process and on loopback (no
 * harness service needed): the machine simulator (seeded, real speed, 1 s layers) with its OPC-UA
 * server and its camera writing PNG frames into a drop folder, and a gateway (Gateway.start +
 * startControlPlane, as `layergate run` wires them) with an opcua input against that server, a
 * frames input on that folder and a file-lake output; the API on 127.0.0.1, a free port, HTTPS
 * with its generated certificate, and no admin yet (first run: a setup token is issued).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { startControlPlane } from '../../gateway/api/gateway-view.js';
import type { Role } from '../../gateway/api/identity/roles.js';
import type { ControlPlane } from '../../gateway/api/server.js';
import { loadConfig } from '../../gateway/config/load.js';
import { Gateway } from '../../gateway/runtime/gateway.js';
import { makeConfig } from '../../simulator/config.js';
import { Simulator } from '../../simulator/engine.js';
import { freePort } from '../../test/support/wait.js';

export const MACHINE = 'pbf-ui-sim';

export interface UiRig {
  /** the API's origin, e.g. https://127.0.0.1:40123 */
  url: string;
  /** the API's generated certificate (PEM): the browser trusts exactly this one */
  certificatePem: string;
  /** the one-time setup token the gateway issued (read from <dataDir>/api/setup-token) */
  setupToken: string;
  api: ControlPlane;
  gateway: Gateway;
  sim: Simulator;
  /** the camera's drop folder the gateway's `camera` frames input watches (a file put here is ingested or quarantined) */
  dropDir: string;
  /** the configuration text the gateway started with (e.g. to apply it changed over the API) */
  configText: string;
  /** a user made in the identity store, as `layergate users add` would */
  addUser(name: string, role: Role, password: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `failingOutput`: also a redis output pointed at a closed loopback port, which backs off for as
 * long as the rig runs: a red edge in the flow picture and a `sink-failing:broken` alert to acknowledge.
 * `meltPool`: also the simulator's melt-pool blocks (2 kHz, photodiode and pyrometer, binary) through
 * its embedded MQTT broker, and an mqtt input `meltpool` storing them as the sample-block signal
 * `meltpool`; the simulator's clock then starts at the wall clock (the blocks' sample times are on it,
 * and the values route buckets them by those).
 */
export async function startUiRig(opts: { seed?: number; failingOutput?: boolean; meltPool?: boolean } = {}): Promise<UiRig> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-ui-'));
  const log = pino({ level: 'silent' });
  const dropDir = path.join(dir, 'camera-drop');
  const cfg = makeConfig({
    seed: opts.seed ?? 5,
    job: { totalLayers: 2000, partCount: 4 },
    timing: { idleS: 0, inertingS: 0.3, layerS: 1, recoatS: 0.3, speed: 1 },
    process: { rateHz: 10 },
    // small frames: the camera renders them on this process's event loop
    camera: { width: 256, height: 256, bitDepth: 8 },
    // the blocks carry their samples' times on the simulator's clock: start it now, as a machine's would be
    ...(opts.meltPool ? { meltPool: { rateHz: 2_000, blockSize: 200 }, startTimeMs: Date.now() } : {}),
  });
  const brokerPort = opts.meltPool ? await freePort() : null;
  const sim = new Simulator({
    cfg,
    dataDir: path.join(dir, 'sim'),
    log,
    opcua: { port: await freePort(), host: '127.0.0.1' },
    camera: { dropDir },
    ...(brokerPort !== null ? { embeddedBroker: { port: brokerPort }, mqtt: { url: '', formats: ['binary' as const], sparkplugGroup: null } } : {}),
    controlPort: null,
  });
  let gateway: Gateway | undefined;
  let api: ControlPlane | undefined;
  const stop = async (): Promise<void> => {
    await api?.close().catch(() => undefined);
    await gateway?.stop().catch(() => undefined);
    await sim.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await sim.start();
    const configText = [
      `gateway: { dataDir: ${dir}/data, machine: ${MACHINE} }`,
      'inputs:',
      '  opcua:',
      '    type: opcua',
      `    endpoint: ${sim.opcuaEndpoint}`,
      '    reconnect: { initial: 100ms, max: 1s }',
      '    discover:',
      `      - folder: /Objects/MA:Machines/SIM:${cfg.machineId}/SIM:Monitoring`,
      '  camera:',
      '    type: frames',
      `    dropDir: ${dropDir}`,
      '    stableFor: 100ms',
      '    rescanInterval: 200ms',
      '    class: sensitive',
      ...(brokerPort !== null
        ? [
            '  meltpool:',
            '    type: mqtt',
            `    url: mqtt://127.0.0.1:${brokerPort}`,
            '    protocolVersion: 4',
            '    subscriptions:',
            `      - { topic: lpbf/${cfg.machineId}/meltpool/binary, decoder: binary-block, signal: meltpool }`,
          ]
        : []),
      'outputs:',
      `  lake: { type: file-lake, path: ${dir}/lake, linger: 500ms }`,
      ...(opts.failingOutput ? [`  broken: { type: redis, url: 'redis://127.0.0.1:${await freePort()}' }`] : []),
      'api: { host: 127.0.0.1, port: 0, grpc: { port: 0 } }',
    ].join('\n');
    const loaded = loadConfig({ text: configText, env: {} });
    gateway = await Gateway.start(loaded, { log });
    api = await startControlPlane(gateway, loaded, log);
    const running = api;
    return {
      url: running.url,
      certificatePem: running.tls!.cert,
      setupToken: readFileSync(path.join(dir, 'data', 'api', 'setup-token'), 'utf8').trim(),
      api: running,
      gateway,
      sim,
      dropDir,
      configText,
      async addUser(name, role, password) {
        await running.identity.addUser(name, role, password);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
