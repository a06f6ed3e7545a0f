/**
 * MQTT input throughput into the buffer, beside the raw baseline measured in the same run over the
 * same Mosquitto (the test harness broker at MQTT.url; started here if it is not running):
 *   baseline: a bare MQTT.js subscriber (QoS 1, MQTT 5) that only counts messages: no decoding, no buffer;
 *   input:    the `mqtt` input through the real Pipeline into the real SQLite buffer, acking each
 *             message after its commit.
 * Loads (QoS 1, from a publisher in a child process, so it does not share the measured process's core;
 * BENCH_MQTT_PUBLISHERS=2 adds one, but then Mosquitto's max_queued_messages (1000) drops messages for
 * both subscribers on a 2-core machine and the figures mean little):
 *   scalars: small JSON messages `{"value": n}`                      target 50,000 messages/s
 *   blocks:  the simulator's binary float32 blocks, 2 x 5,000 samples  target 5,000,000 samples/s
 * Throughput is counted from the first message received to the last record committed. The publisher
 * is paced by the broker's acks (QoS 1, 500 in flight); when the `publisher` column is close to the
 * baseline, the load generator, not the subscriber, is the limit, and the input's figure is a floor.
 * Reports PASS/MISS; never fails a build.
 *
 *   npm run bench:inputs      (or: npx tsx test/bench/inputs-mqtt.bench.ts)
 */
import { fork } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { MQTT } from '../services/endpoints.js';
import { mosquitto, mosquittoAnswers } from '../services/mosquitto.js';
import { stopByPidFile } from '../services/process.js';
import { encodeBlockBinary } from '../../simulator/formats.js';
import { rig } from '../../plugins/inputs/mqtt/test-helpers.js';

const SCALARS = Number(process.env.BENCH_MQTT_SCALARS ?? 60_000);
const BLOCKS = Number(process.env.BENCH_MQTT_BLOCKS ?? 600);
const BLOCK_SAMPLES = 5_000;
const PUBLISHERS = Number(process.env.BENCH_MQTT_PUBLISHERS ?? 1);
const CHANNELS = 2;
// publisher: QoS 1 messages in flight. It speaks MQTT 3.1.1, where Mosquitto does not cap the
// client's in-flight window at its receive maximum (20) as it does for MQTT 5 publishers
const WINDOW = 500;

type Load = 'scalars' | 'blocks';

// ---- the publisher (child process) ---------------------------------------------------------------
async function publish(load: Load, topic: string, n: number): Promise<void> {
  const pub = await mqtt.connectAsync(MQTT.url, { username: MQTT.username, password: MQTT.password, clientId: `lg-bench-pub-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, protocolVersion: 4 });
  const block = encodeBlockBinary({
    build: 'BENCH', layer: 1, seq: 0, firstSampleIndex: 0, sampleRateHz: 100_000, channels: ['photodiode', 'pyrometer'],
    firstSampleTimeNs: 1_772_431_200_000_000_000n,
    samples: Array.from({ length: CHANNELS }, (_, c) => Float32Array.from({ length: BLOCK_SAMPLES }, (_, i) => Math.sin(i / 50 + c))),
  });
  const payload = (i: number): Buffer | string => (load === 'scalars' ? `{"value":${i}}` : block);
  const t0 = performance.now();
  for (let i = 0; i < n; i += WINDOW) {
    const batch: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(n, i + WINDOW); j++) batch.push(pub.publishAsync(topic, payload(j), { qos: 1 }));
    await Promise.all(batch);
  }
  const s = (performance.now() - t0) / 1000;
  await pub.endAsync();
  process.send!({ publishedPerS: n / s });
}

if (process.argv[2] === 'publish') {
  await publish(process.argv[3] as Load, process.argv[4]!, Number(process.argv[5]));
  process.exit(0);
}

/** PUBLISHERS child processes sharing the load; resolves with their summed rate. */
async function runPublisher(load: Load, topic: string, n: number): Promise<number> {
  const each = Math.ceil(n / PUBLISHERS);
  const rates = await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => runOnePublisher(load, topic, Math.min(each, n - i * each))));
  return rates.reduce((a, b) => a + b, 0);
}

function runOnePublisher(load: Load, topic: string, n: number): Promise<number> {
  const child = fork(fileURLToPath(import.meta.url), ['publish', load, topic, String(n)], { execArgv: ['--import', 'tsx'] });
  return new Promise((resolve, reject) => {
    let rate = 0;
    child.on('message', (m: { publishedPerS: number }) => (rate = m.publishedPerS));
    child.on('exit', (code) => (code === 0 ? resolve(rate) : reject(new Error(`publisher exited with ${code}`))));
  });
}

/** Wait until count() reaches n or makes no progress for 5 s; returns messages per second, first to last. */
async function measure(count: () => number, firstAt: () => number | undefined, n: number): Promise<{ perS: number; got: number }> {
  let last = -1;
  let lastChange = performance.now();
  for (;;) {
    const c = count();
    if (c !== last) {
      last = c;
      lastChange = performance.now();
    } else if (performance.now() - lastChange > 5000) break;
    if (c >= n) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const got = count();
  // up to the last progress, so a stall waiting for messages the broker dropped does not count
  const s = (lastChange - (firstAt() ?? lastChange)) / 1000;
  return { perS: s > 0 ? got / s : 0, got };
}

async function baseline(load: Load, n: number): Promise<{ perS: number; got: number; pubPerS: number }> {
  const topic = `lg-bench/${process.pid}/raw/${load}`;
  const sub = await mqtt.connectAsync(MQTT.url, {
    username: MQTT.username, password: MQTT.password, clientId: `lg-bench-raw-${process.pid}-${load}`, clean: true, protocolVersion: 5,
    properties: { receiveMaximum: 1000 },
  });
  let got = 0;
  let first: number | undefined;
  sub.on('message', () => {
    first ??= performance.now();
    got++;
  });
  await sub.subscribeAsync(topic, { qos: 1 });
  const pubPerS = runPublisher(load, topic, n);
  const r = await measure(() => got, () => first, n);
  await sub.endAsync();
  return { ...r, pubPerS: await pubPerS };
}

async function throughInput(load: Load, n: number): Promise<{ perS: number; got: number; pubPerS: number }> {
  const topic = `lg-bench/${process.pid}/input/${load}`;
  const r = rig('lg-bench-mqtt-');
  const input = r.create({
    clientId: `lg-bench-input-${process.pid}-${load}`, cleanSession: true,
    subscriptions: [{ topic, qos: 1, decoder: load === 'scalars' ? 'json' : 'binary-block' }],
  });
  await input.start(r.pipeline.contextFor('bench'));
  await input.ready();
  let first: number | undefined;
  input.mqttClient!.on('packetreceive', (p) => {
    if (p.cmd === 'publish') first ??= performance.now();
  });
  const pubPerS = runPublisher(load, topic, n);
  const res = await measure(() => input.stats().records, () => first, n);
  await input.stop();
  r.buffer.close();
  rmSync(r.dataDir, { recursive: true, force: true });
  return { ...res, pubPerS: await pubPerS };
}

let startedBroker = false;
try {
  await mosquittoAnswers();
} catch {
  console.log('starting Mosquitto from the test harness ...');
  await mosquitto.install();
  await mosquitto.start();
  await mosquitto.ready(60_000);
  startedBroker = true;
}

try {
  const rows: string[][] = [];
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  for (const load of ['scalars', 'blocks'] as const) {
    const n = load === 'scalars' ? SCALARS : BLOCKS;
    const per = load === 'scalars' ? 1 : BLOCK_SAMPLES * CHANNELS;
    const target = load === 'scalars' ? 50_000 : 5_000_000;
    const unit = load === 'scalars' ? 'messages/s' : 'samples/s';
    console.log(`${load}: raw baseline ...`);
    const raw = await baseline(load, n);
    console.log(`${load}: through the input ...`);
    const inp = await throughInput(load, n);
    rows.push([
      `${load} (${unit})`, fmt(inp.perS * per), fmt(target), inp.perS * per >= target ? 'PASS' : 'MISS',
      fmt(raw.perS * per), (inp.perS / raw.perS).toFixed(2), `${inp.got}/${n}`, `${raw.got}/${n}`, fmt(Math.min(raw.pubPerS, inp.pubPerS) * per),
    ]);
  }
  const head = ['load', 'input', 'target', '', 'raw baseline', 'input/raw', 'input got', 'raw got', 'publisher'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  console.log('\nMQTT input throughput (QoS 1, MQTT 5, into the SQLite buffer), one process');
  console.log(line(head));
  for (const r of rows) console.log(line(r));
  console.log('input/raw near 1 with raw ~ publisher: both kept up with the publisher (its rate is the ceiling shown)');
  console.log("got < sent: Mosquitto dropped messages queued beyond its max_queued_messages (1000) while the subscriber lagged ('Outgoing messages are being dropped' in its log)");
} finally {
  if (startedBroker) await stopByPidFile('mosquitto');
}
