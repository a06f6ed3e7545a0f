/**
 * Load generators of the end-to-end benchmark, one per child process (so they never share the
 * measured gateway's process), each counting what it offered. They wait for `start`, generate until
 * `stop`, and answer `counts` with units offered (value changes, messages, files), payload bytes and
 * their own CPU time. Modes (argv[2]):
 *
 *   opcua-milo <items> <port>                W1 (the default): an OPC-UA server (Eclipse Milo, a Java
 *                                            child process: test/bench/support/milo-opcua/) with <items>
 *                                            Double variables, each changed at 10 Hz on an absolute
 *                                            schedule (a late tick is followed by the next one sooner),
 *                                            reported by exception; paused until start and after stop, so
 *                                            no change goes uncounted; its CPU is the JVM's plus this
 *                                            process's. Why Milo: the load generator must not take the
 *                                            core the gateway needs (node-opcua burns 1.1-1.3 cores for
 *                                            W1's 50,000 changes/s, Milo under 0.1), and a
 *                                            machine's OPC-UA server runs on its controller, not on the
 *                                            gateway PC
 *   opcua <items> <port>                     W1 with `--opcua-server node-opcua`: the same address space
 *                                            and schedule, served by node-opcua in this process
 *   mqtt-scalars <url> <user> <pass> <topics> <hz> <base>
 *                                            W1: JSON scalars {"value","ts"} on <base>/<i>, QoS 1, MQTT.js
 *   mqtt-blocks <url> <user> <pass> <blocks/s> <topic>
 *                                            W2: binary melt-pool blocks (wire/ codec), 4 channels x 1,000
 *                                            float32 samples at 100 kHz, QoS 1; laser on 60 s, recoat 10 s
 *   frames <dropDir> <periodMs>              W3: a distinct 2048x2048 8-bit PNG (the simulator's powder-bed
 *                                            rendering) renamed into the drop folder every period,
 *                                            alternating after-recoat / after-exposure, layer by layer
 *   flood <url> <topic> <n> <json|block4k>   as fast as the broker takes them: <n> QoS 1 PUBLISH packets
 *                                            written straight to a socket (MQTT 3.1.1, 2,000 in flight),
 *                                            no client library in the way; counts PUBACKs
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { encodeBlockBinary } from '../../../wire/index.js';
import { Qos1Flood } from '../support/raw-mqtt.js';
import type { LoadCommand, LoadCounts, LoadMessage } from './protocol.js';
import { BLOCK_CHANNELS, BLOCK_SAMPLES, BLOCK_RATE_HZ, LASER_ON_MS, OPCUA_NS_URI, RECOAT_MS } from './workloads.js';

const counts: LoadCounts = { units: 0, bytes: 0, cpuUs: 0 };
let running = false;
let onStart: () => void = () => undefined;
let onStop: () => void = () => undefined;
/**
 * For a generator whose units are made in a child process (opcua-milo): its counts after the stop
 * (`stopped`) or now; they replace `counts`, and this process's CPU is added to the child's.
 */
let childCounts: ((stopped: boolean) => Promise<LoadCounts>) | undefined;

const send = (m: LoadMessage): void => {
  process.send?.(m);
};
const ownCpuUs = (): number => {
  const c = process.cpuUsage();
  return c.user + c.system;
};
const report = (stopped: boolean): void => {
  if (!childCounts) {
    send({ type: 'counts', units: counts.units, bytes: counts.bytes, cpuUs: ownCpuUs() });
    return;
  }
  childCounts(stopped).then(
    (c) => send({ type: 'counts', units: c.units, bytes: c.bytes, cpuUs: c.cpuUs + ownCpuUs() }),
    (err: unknown) => send({ type: 'failed', message: String(err) }),
  );
};

process.on('message', (m: LoadCommand) => {
  if (m.type === 'start' && !running) {
    running = true;
    onStart();
  } else if (m.type === 'stop') {
    running = false;
    onStop();
    report(true);
  } else if (m.type === 'counts') report(false);
});
process.on('disconnect', () => process.exit(0));

/** Call `tick(k)` every `periodMs` on an absolute schedule while running. */
function every(periodMs: number, tick: (k: number) => void): void {
  let k = 0;
  let due = 0;
  let timer: NodeJS.Timeout | undefined;
  const run = (): void => {
    if (!running) return;
    tick(k++);
    due += periodMs;
    timer = setTimeout(run, Math.max(0, due - performance.now()));
  };
  const prevStart = onStart;
  const prevStop = onStop;
  onStart = () => {
    prevStart();
    due = performance.now();
    run();
  };
  onStop = () => {
    prevStop();
    clearTimeout(timer);
  };
}

// ---- W1: OPC-UA server --------------------------------------------------------------------------

async function opcua(n: number, port: number): Promise<void> {
  // loaded here, not at the top: the other load generators do not need the OPC-UA stack
  const { startBenchOpcuaServer } = await import('../support/opcua-server.js');
  const server = await startBenchOpcuaServer(n, port, OPCUA_NS_URI);
  every(100, (k) => {
    server.setAll((i) => k + 1 + i / n);
    counts.units += n;
    counts.bytes += n * 8;
  });
  send({ type: 'ready', info: { endpoint: `opc.tcp://127.0.0.1:${port}`, namespace: OPCUA_NS_URI, server: 'node-opcua' } });
}

async function opcuaMilo(n: number, port: number): Promise<void> {
  const { startMiloBenchServer, MILO_VERSION } = await import('../support/milo-opcua/milo-opcua.js');
  const server = await startMiloBenchServer(n, port, OPCUA_NS_URI);
  // the JVM reads its input to its end: when this process goes, it goes too
  onStart = () => server.start();
  childCounts = (stopped) => (stopped ? server.stop() : server.counts());
  send({ type: 'ready', info: { endpoint: server.endpoint, namespace: OPCUA_NS_URI, server: `Eclipse Milo ${MILO_VERSION}` } });
}

// ---- W1: MQTT JSON scalars ----------------------------------------------------------------------

async function connectMqtt(url: string, user: string, pass: string): Promise<mqtt.MqttClient> {
  const client = mqtt.connect(url, {
    clientId: `lg-e2e-load-${process.pid}`,
    clean: true,
    ...(user !== '-' ? { username: user, password: pass } : {}),
    reconnectPeriod: 500,
  });
  await new Promise<void>((resolve, reject) => client.once('connect', () => resolve()).once('error', reject));
  return client;
}

async function mqttScalars(url: string, user: string, pass: string, topics: number, hz: number, base: string): Promise<void> {
  const client = await connectMqtt(url, user, pass);
  // spread the topics over 10 ticks a second
  const perTick = (topics * hz) / 10;
  let carry = 0;
  let next = 0;
  every(100, () => {
    carry += perTick;
    for (; carry >= 1; carry--) {
      const i = next++ % topics;
      const payload = Buffer.from(`{"value":${(Math.sin(next / 50) * 100).toFixed(3)},"ts":${Date.now()}}`);
      counts.units++;
      counts.bytes += payload.length;
      client.publish(`${base}/${i}`, payload, { qos: 1 });
    }
  });
  send({ type: 'ready' });
}

// ---- W2: melt-pool blocks -----------------------------------------------------------------------

async function mqttBlocks(url: string, user: string, pass: string, blocksPerS: number, topic: string): Promise<void> {
  const client = await connectMqtt(url, user, pass);
  const samples = BLOCK_CHANNELS.map((_, c) => Float32Array.from({ length: BLOCK_SAMPLES }, (_, i) => 1000 + 200 * Math.sin(i / 37 + c)));
  const tickMs = 20;
  const perTick = (blocksPerS * tickMs) / 1000;
  let carry = 0;
  let seq = 0;
  let layer = 1;
  let sampleIndex = 0;
  let lastLayerStart = 0;
  onStart = () => {
    lastLayerStart = performance.now();
  };
  every(tickMs, () => {
    const now = performance.now();
    // laser on for 60 s, then 10 s of recoating without blocks
    const inCycle = now - lastLayerStart;
    if (inCycle >= LASER_ON_MS + RECOAT_MS) {
      lastLayerStart += LASER_ON_MS + RECOAT_MS;
      layer++;
      sampleIndex = 0;
    }
    if (now - lastLayerStart >= LASER_ON_MS) return;
    carry += perTick;
    for (; carry >= 1; carry--) {
      const payload = encodeBlockBinary({
        build: 'BENCH-E2E',
        layer,
        seq: seq++,
        firstSampleIndex: sampleIndex,
        sampleRateHz: BLOCK_RATE_HZ,
        channels: BLOCK_CHANNELS,
        // the block's first sample was taken one block duration ago
        firstSampleTimeNs: BigInt(Date.now() - (BLOCK_SAMPLES * 1000) / BLOCK_RATE_HZ) * 1_000_000n,
        samples,
      });
      sampleIndex += BLOCK_SAMPLES;
      counts.units++;
      counts.bytes += payload.length;
      client.publish(topic, payload, { qos: 1 });
    }
  });
  send({ type: 'ready' });
}

// ---- W3: frames into the drop folder ------------------------------------------------------------

const FRAME_SIZE = 2048;

async function frames(dropDir: string, periodMs: number): Promise<void> {
  const sharp = (await import('sharp')).default;
  const { renderIntensity } = await import('../../../simulator/camera.js');
  const { makeConfig } = await import('../../../simulator/config.js');
  const { SimCore } = await import('../../../simulator/core.js');
  sharp.concurrency(1);
  const cfg = makeConfig({ seed: 11, camera: { width: FRAME_SIZE, height: FRAME_SIZE, bitDepth: 8 } });
  const core = new SimCore(cfg);
  const base = (['after-recoat', 'after-exposure'] as const).map((kind) => {
    const intensity = renderIntensity(cfg, core.parts, 40, kind, core.defects);
    const px = Buffer.alloc(FRAME_SIZE * FRAME_SIZE);
    for (let i = 0; i < px.length; i++) px[i] = Math.max(0, Math.min(255, Math.round((intensity[i] as number) * 255)));
    return { kind, px };
  });
  const staging = path.join(path.dirname(dropDir), 'camera-staging');
  mkdirSync(staging, { recursive: true });
  mkdirSync(dropDir, { recursive: true });
  let busy = false;
  every(periodMs, (k) => {
    if (busy) return;
    busy = true;
    const { kind, px } = base[k % 2]!;
    const layer = Math.floor(k / 2) + 1;
    // a distinct frame each time (dedup must never shortcut): the first pixels carry the frame number
    px.writeUInt32BE(k + process.pid, 0);
    void sharp(px, { raw: { width: FRAME_SIZE, height: FRAME_SIZE, channels: 1 } })
      .toColourspace('b-w')
      .png({ compressionLevel: 6, adaptiveFiltering: false })
      .toBuffer()
      .then((png) => {
        const name = `BENCH-E2E_L${String(layer).padStart(5, '0')}_${kind}.png`;
        writeFileSync(path.join(staging, name), png);
        // renamed into place, as a camera does
        renameSync(path.join(staging, name), path.join(dropDir, name));
        counts.units++;
        counts.bytes += png.length;
      })
      .catch((err: unknown) => send({ type: 'failed', message: String(err) }))
      .finally(() => {
        busy = false;
      });
  });
  send({ type: 'ready' });
}

// ---- flood: raw MQTT 3.1.1 publisher --------------------------------------------------------------

/** a 4 KiB melt-pool block: 2 channels x 512 float32 samples */
function block4k(i: number): Buffer {
  const samples = [0, 1].map((c) => Float32Array.from({ length: 512 }, (_, k) => Math.sin(k / 50 + c + i)));
  return encodeBlockBinary({
    build: 'BENCH-E2E',
    layer: 1,
    seq: i,
    firstSampleIndex: i * 512,
    sampleRateHz: 100_000,
    channels: ['photodiode', 'pyrometer'],
    firstSampleTimeNs: BigInt(Date.now()) * 1_000_000n,
    samples,
  });
}

async function flood(url: string, topic: string, n: number, kind: 'json' | 'block4k'): Promise<void> {
  const blocks = kind === 'block4k' ? Array.from({ length: 16 }, (_, i) => block4k(i)) : [];
  const publisher = new Qos1Flood({
    url,
    clientId: `lg-e2e-flood-${process.pid}`,
    topic,
    count: n,
    payload: (i) => (kind === 'json' ? Buffer.from(`{"value":${i}}`) : blocks[i % blocks.length]!),
    active: () => running,
    onPublished: (p) => {
      counts.bytes += p.length;
    },
    onAcked: () => {
      counts.units++;
    },
  });
  publisher.done.catch((err: unknown) => send({ type: 'failed', message: String(err) }));
  await publisher.connect();
  onStart = () => publisher.resume();
  send({ type: 'ready' });
}

const [mode, ...args] = process.argv.slice(2);
try {
  if (mode === 'opcua') await opcua(Number(args[0]), Number(args[1]));
  else if (mode === 'opcua-milo') await opcuaMilo(Number(args[0]), Number(args[1]));
  else if (mode === 'mqtt-scalars') await mqttScalars(args[0]!, args[1]!, args[2]!, Number(args[3]), Number(args[4]), args[5]!);
  else if (mode === 'mqtt-blocks') await mqttBlocks(args[0]!, args[1]!, args[2]!, Number(args[3]), args[4]!);
  else if (mode === 'frames') await frames(args[0]!, Number(args[1]));
  else if (mode === 'flood') await flood(args[0]!, args[1]!, Number(args[2]), args[3] as 'json' | 'block4k');
  else throw new Error(`unknown load mode ${mode}`);
} catch (err) {
  send({ type: 'failed', message: (err as Error).stack ?? String(err) });
  setTimeout(() => process.exit(1), 100);
}
