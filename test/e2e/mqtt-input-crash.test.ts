/**
 * The crash test: `layergate run` (a child process, temp config with this input and a file lake)
 * ingests the simulator's QoS 1 melt-pool blocks from the real Mosquitto and is killed with SIGKILL
 * several times while the simulator publishes; after the last kill every block seq the simulator
 * published is in the buffer at least once. The lake lingers for an hour so its cursor never moves
 * and the buffer still holds every record routed to it when it is opened after the last kill.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { openBuffer } from '../../gateway/buffer/index.js';
import { loadConfig } from '../../gateway/config/load.js';
import { bufferOptions } from '../../gateway/runtime/gateway.js';
import { MQTT } from '../services/endpoints.js';
import { makeConfig } from '../../simulator/config.js';
import { Simulator } from '../../simulator/engine.js';
import { silent, sleep, waitFor } from '../support/mqtt-input.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tsxLoader = createRequire(import.meta.url).resolve('tsx');
const children: ChildProcess[] = [];
let sim: Simulator | undefined;
afterEach(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.length = 0;
  await sim?.stop();
});

function startGateway(cfg: string, cwd: string, env: NodeJS.ProcessEnv) {
  const childEnv = { ...process.env, ...env };
  delete childEnv.LAYERGATE_CONFIG;
  delete childEnv.LAYERGATE_DATA_DIR;
  const child = spawn(process.execPath, ['--import', tsxLoader, path.join(repo, 'gateway/cli/main.ts'), 'run', '-c', cfg], {
    cwd,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  return { child, exited, out: () => out };
}

async function kill9(g: ReturnType<typeof startGateway>): Promise<void> {
  g.child.kill('SIGKILL');
  await g.exited;
}

describe('crash test: kill -9 during QoS 1 ingest', () => {
  it('after restarts every block the simulator published is in the buffer at least once', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-mqtt-crash-'));
    const dataDir = path.join(dir, 'data');
    const topicPrefix = `lg-mqtt-crash/${process.pid}`;
    const clientId = `lg-mqtt-crash-${process.pid}`;
    const cfg = path.join(dir, 'layergate.yaml');
    writeFileSync(
      cfg,
      [
        'gateway: { dataDir: "${TEST_DATA_DIR}", machine: crash-test, shutdownGraceMs: 5s }',
        'inputs:',
        '  mq:',
        '    type: mqtt',
        `    url: ${MQTT.url}`,
        `    username: ${MQTT.username}`,
        '    password: "${TEST_MQTT_PASSWORD}"',
        `    clientId: ${clientId}`,
        '    sessionExpiry: 1h',
        '    subscriptions:',
        `      - { topic: "${topicPrefix}/meltpool/binary", decoder: binary-block, qos: 1 }`,
        'outputs:',
        '  lake: { type: file-lake, linger: 1h, batchRecords: 1000000 }',
      ].join('\n'),
    );
    const env = { TEST_DATA_DIR: dataDir, TEST_MQTT_PASSWORD: MQTT.password };
    // no session left from an earlier run under this client id
    const wipe = await mqtt.connectAsync(MQTT.url, { username: MQTT.username, password: MQTT.password, clientId, clean: true, protocolVersion: 5 });
    await wipe.endAsync();

    let gw = startGateway(cfg, dir, env);
    await waitFor('the gateway subscribed', () => gw.out().includes('mqtt: subscribed'), 60_000);

    // 8 layers of 0.5 s at quarter speed: ~17 s of publishing, 16 blocks per layer, QoS 1
    const simCfg = makeConfig({
      seed: 42,
      job: { totalLayers: 8 },
      timing: { idleS: 0, inertingS: 0.2, layerS: 0.5, recoatS: 0.1, speed: 0.25 },
      meltPool: { rateHz: 10_000, blockSize: 250 },
    });
    sim = new Simulator({
      cfg: simCfg,
      dataDir: dir,
      log: silent,
      controlPort: null,
      mqtt: {
        url: MQTT.url,
        username: MQTT.username,
        password: MQTT.password,
        clientId: `${clientId}-sim`,
        topicPrefix,
        formats: ['binary'],
        qos: 1,
        sparkplugGroup: null,
      },
    });
    await sim.start();
    let simDone = false;
    void sim.finished.then(() => (simDone = true));
    const published = () => sim!.state().counters.mqttPublished;

    // three kills, each after more blocks were published (a kill after the job ended still hits the
    // redelivery of what the broker kept)
    let kills = 0;
    let killsWhilePublishing = 0;
    while (kills < 3) {
      const before = published();
      await waitFor('the simulator to publish more', () => simDone || published() >= before + 8, 60_000);
      if (!simDone) killsWhilePublishing++;
      await kill9(gw);
      kills++;
      gw = startGateway(cfg, dir, env);
      await waitFor('the restarted gateway subscribed', () => gw.out().includes('mqtt: subscribed'), 60_000);
    }
    await sim.finished;
    const total = published();
    const blocks = 8 * 16;
    expect(killsWhilePublishing).toBeGreaterThanOrEqual(1);

    // the last run drains what the broker kept; check after a kill -9 too, restarting until all is there
    let seqs = new Set<number>();
    const deadline = Date.now() + 90_000;
    for (let attempt = 1; ; attempt++) {
      await sleep(300 * attempt);
      await kill9(gw);
      const { config } = loadConfig({ file: cfg, env });
      const buffer = openBuffer(bufferOptions(config), silent);
      try {
        seqs = new Set(buffer.read('lake', 1_000_000, 1 << 30).map((r) => Number(r.attributes!.seq)));
      } finally {
        buffer.close();
      }
      if (seqs.size >= blocks || Date.now() > deadline) break;
      gw = startGateway(cfg, dir, env);
      await waitFor('the restarted gateway subscribed', () => gw.out().includes('mqtt: subscribed'), 60_000);
    }
    expect(total).toBeGreaterThanOrEqual(blocks + 1); // blocks plus the machine events
    expect([...seqs].sort((a, b) => a - b)).toEqual([...Array(blocks).keys()]);
    await sim.stop();
    sim = undefined;
  }, 240_000);
});
