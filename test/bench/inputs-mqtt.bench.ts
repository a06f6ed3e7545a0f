/**
 * MQTT input throughput into the buffer, beside the raw baseline measured in the same run over the
 * same broker:
 *   baseline: a bare MQTT.js subscriber (QoS 1, MQTT 5, the input's receive maximum) that only counts
 *             messages: no decoding, no buffer, acks written by MQTT.js at once;
 *   input:    the `mqtt` input through the real Pipeline into the real SQLite buffer, each message
 *             acknowledged only after its commit (as in production).
 * Loads (QoS 1):
 *   scalars: small JSON messages `{"value": n}`                      target 50,000 messages/s
 *   blocks:  the simulator's binary float32 blocks, 2 x 5,000 samples  target 5,000,000 samples/s
 *
 * Design (so that the load generator, not the subscriber, is never what is measured):
 * - The broker is a Mosquitto of the bench's own (test/services/mosquitto.ts `startBenchBroker`, own
 *   port, never the shared test broker) with no cap on a session's queue: a subscriber that falls
 *   behind finds its messages queued at the broker, none dropped.
 * - The publishers are BENCH_MQTT_PUBLISHERS child processes (default 2), each one connection writing
 *   pre-encoded MQTT 3.1.1 PUBLISH packets (QoS 1) straight to a socket with 2,000 in flight: no
 *   client library in the way, so they offer far more than the target (the `offered` column).
 * - Throughput is counted from the first message received to the last one counted (baseline) or
 *   committed (input). When the publishers are faster than the subscriber, the broker's queue grows
 *   and the subscriber's own pace is what the figure shows. The CPU time of this process over the
 *   same span is shown too: on a shared machine, messages per CPU-second is the steadier figure.
 * Reports PASS/MISS; never fails a build.
 *
 *   npm run bench:inputs      (or: npx tsx test/bench/inputs-mqtt.bench.ts)
 */
import { fork } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { startBenchBroker } from '../services/mosquitto.js';
import { encodeBlockBinary } from '../../wire/index.js';
import { rig } from '../support/mqtt-input.js';
import { Qos1Flood } from './support/raw-mqtt.js';

const SCALARS = Number(process.env.BENCH_MQTT_SCALARS ?? 300_000);
const BLOCKS = Number(process.env.BENCH_MQTT_BLOCKS ?? 1_000);
const BLOCK_SAMPLES = 5_000;
const PUBLISHERS = Number(process.env.BENCH_MQTT_PUBLISHERS ?? 2);
const CHANNELS = 2;

type Load = 'scalars' | 'blocks';

// ---- the publisher (child process): raw MQTT 3.1.1 over a socket ---------------------------------

async function publish(url: string, load: Load, topic: string, first: number, n: number): Promise<void> {
  const block = encodeBlockBinary({
    build: 'BENCH',
    layer: 1,
    seq: 0,
    firstSampleIndex: 0,
    sampleRateHz: 100_000,
    channels: ['photodiode', 'pyrometer'],
    firstSampleTimeNs: 1_772_431_200_000_000_000n,
    samples: Array.from({ length: CHANNELS }, (_, c) => Float32Array.from({ length: BLOCK_SAMPLES }, (_, i) => Math.sin(i / 50 + c))),
  });
  const publisher = new Qos1Flood({
    url,
    clientId: `lg-bench-pub-${process.pid}`,
    topic,
    count: n,
    payload: (i) => (load === 'scalars' ? Buffer.from(`{"value":${first + i}}`) : block),
  });
  await publisher.connect();
  const t0 = performance.now();
  publisher.resume();
  await publisher.done;
  const s = (performance.now() - t0) / 1000;
  publisher.end();
  process.send!({ publishedPerS: n / s });
}

/** PUBLISHERS child processes sharing the load; resolves with their summed rate. */
async function runPublishers(url: string, load: Load, topic: string, n: number): Promise<number> {
  const each = Math.ceil(n / PUBLISHERS);
  const rates = await Promise.all(
    Array.from({ length: PUBLISHERS }, (_, i) => runPublisher(url, load, topic, i * each, Math.max(0, Math.min(each, n - i * each)))),
  );
  return rates.reduce((a, b) => a + b, 0);
}

function runPublisher(url: string, load: Load, topic: string, first: number, n: number): Promise<number> {
  if (n === 0) return Promise.resolve(0);
  const child = fork(fileURLToPath(import.meta.url), ['publish', url, load, topic, String(first), String(n)], { execArgv: ['--import', 'tsx'] });
  return new Promise((resolve, reject) => {
    let rate = 0;
    child.on('message', (m: { publishedPerS: number }) => (rate = m.publishedPerS));
    child.on('exit', (code) => (code === 0 ? resolve(rate) : reject(new Error(`publisher exited with ${code}`))));
  });
}

// ---- the measured side --------------------------------------------------------------------------

interface Result {
  /** messages per second, first received to last counted */
  perS: number;
  got: number;
  /** this process's CPU over the same span, % of one core (all threads) */
  cpuPct: number;
  /** what the publishers offered, messages per second (summed) */
  offeredPerS: number;
}

/** Wait until count() reaches n or makes no progress for 5 s; rate from the first message to the last progress. */
async function measure(count: () => number, firstAt: () => number | undefined, n: number): Promise<Omit<Result, 'offeredPerS'>> {
  let last = -1;
  let lastChange = performance.now();
  let cpuAtFirst: NodeJS.CpuUsage | undefined;
  let cpuAtLast: NodeJS.CpuUsage | undefined;
  for (;;) {
    const c = count();
    if (cpuAtFirst === undefined && firstAt() !== undefined) cpuAtFirst = process.cpuUsage();
    if (c !== last) {
      last = c;
      lastChange = performance.now();
      cpuAtLast = process.cpuUsage();
    } else if (performance.now() - lastChange > 5000) break;
    if (c >= n) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const got = count();
  // up to the last progress, so a stall waiting for messages that never come does not count
  const s = (lastChange - (firstAt() ?? lastChange)) / 1000;
  const cpu = cpuAtFirst && cpuAtLast ? (cpuAtLast.user - cpuAtFirst.user + cpuAtLast.system - cpuAtFirst.system) / 1e6 : 0;
  return { perS: s > 0 ? got / s : 0, got, cpuPct: s > 0 ? (cpu / s) * 100 : 0 };
}

/**
 * live:    the publishers run while the subscriber receives (all processes share the machine);
 * backlog: the publishers first fill the subscriber's persistent session at the broker while it is
 *          offline, then it reconnects and drains them (as after a gateway restart): the measured
 *          window holds only the broker's delivery and the subscriber's own work.
 */
type Mode = 'live' | 'backlog';

async function baseline(url: string, load: Load, mode: Mode, n: number): Promise<Result> {
  const topic = `lg-bench/${process.pid}/raw/${load}/${mode}`;
  const clientId = `lg-bench-raw-${process.pid}-${load}-${mode}`;
  const options: mqtt.IClientOptions = {
    clientId,
    clean: mode === 'live',
    protocolVersion: 5,
    properties: { receiveMaximum: 1000, ...(mode === 'backlog' ? { sessionExpiryInterval: 600 } : {}) },
  };
  let got = 0;
  let first: number | undefined;
  const connect = (): mqtt.MqttClient => {
    const c = mqtt.connect(url, options);
    c.on('message', () => {
      first ??= performance.now();
      got++;
    });
    return c;
  };
  let sub = connect();
  await new Promise((resolve) => sub.once('connect', resolve));
  await sub.subscribeAsync(topic, { qos: 1 });
  let offered: Promise<number>;
  if (mode === 'backlog') {
    await sub.endAsync();
    offered = Promise.resolve(await runPublishers(url, load, topic, n));
    sub = connect();
  } else offered = runPublishers(url, load, topic, n);
  const r = await measure(
    () => got,
    () => first,
    n,
  );
  await sub.endAsync();
  return { ...r, offeredPerS: await offered };
}

async function throughInput(url: string, load: Load, mode: Mode, n: number): Promise<Result> {
  const topic = `lg-bench/${process.pid}/input/${load}/${mode}`;
  const r = rig('lg-bench-mqtt-');
  const make = () =>
    r.create({
      url,
      username: undefined,
      password: undefined,
      clientId: `lg-bench-input-${process.pid}-${load}-${mode}`,
      cleanSession: mode === 'live',
      subscriptions: [{ topic, qos: 1, decoder: load === 'scalars' ? 'json' : 'binary-block' }],
    });
  let input = make();
  await input.start(r.pipeline.contextFor('bench'));
  await input.ready();
  let offered: Promise<number>;
  if (mode === 'backlog') {
    await input.stop();
    offered = Promise.resolve(await runPublishers(url, load, topic, n));
    input = make();
    await input.start(r.pipeline.contextFor('bench'));
  } else offered = runPublishers(url, load, topic, n);
  let first: number | undefined;
  input.mqttClient!.on('packetreceive', (p) => {
    if (p.cmd === 'publish') first ??= performance.now();
  });
  const current = input;
  const res = await measure(
    () => current.stats().records,
    () => first,
    n,
  );
  await input.stop();
  r.buffer.close();
  rmSync(r.dataDir, { recursive: true, force: true });
  return { ...res, offeredPerS: await offered };
}

async function main(): Promise<void> {
  const broker = await startBenchBroker();
  try {
    const rows: string[][] = [];
    const verdicts: string[] = [];
    const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
    const runs = [
      ['scalars', 'live'],
      ['scalars', 'backlog'],
      ['blocks', 'live'],
    ] as const;
    for (const [load, mode] of runs) {
      const n = load === 'scalars' ? SCALARS : BLOCKS;
      const per = load === 'scalars' ? 1 : BLOCK_SAMPLES * CHANNELS;
      const target = load === 'scalars' ? 50_000 : 5_000_000;
      const unit = load === 'scalars' ? 'messages/s' : 'samples/s';
      console.log(`${load}, ${mode}: bare MQTT.js client ...`);
      const raw = await baseline(broker.url, load, mode, n);
      console.log(`${load}, ${mode}: through the input ...`);
      const inp = await throughInput(broker.url, load, mode, n);
      const perCore = (x: Result) => (x.perS * per) / Math.max(x.cpuPct / 100, 1e-9);
      rows.push([
        `${load}, ${mode} (${unit})`,
        fmt(inp.perS * per),
        fmt(target),
        inp.perS * per >= target ? 'PASS' : 'MISS',
        fmt(raw.perS * per),
        (inp.perS / raw.perS).toFixed(2),
        `${inp.cpuPct.toFixed(0)} %`,
        fmt(perCore(inp)),
        `${raw.cpuPct.toFixed(0)} %`,
        `${inp.got}/${n}`,
        `${raw.got}/${n}`,
        fmt(inp.offeredPerS * per),
      ]);
      verdicts.push(
        `${load}, ${mode}: ${inp.perS * per >= target ? 'PASS' : 'MISS'} ${fmt(inp.perS * per)} ${unit} into the buffer against the target ${fmt(target)} (${((inp.perS * per) / target).toFixed(2)}x), ` +
          `${(inp.perS / raw.perS).toFixed(2)} of the bare MQTT.js client in the same run; ${fmt(perCore(inp))} per CPU-second of the gateway process` +
          (inp.perS * per < target && inp.perS >= 0.9 * inp.offeredPerS
            ? ` (the publishers offered only ${fmt(inp.offeredPerS * per)}: the load generator, sharing the machine, set this figure)`
            : ''),
      );
    }
    const head = ['load', 'input', 'target', '', 'bare MQTT.js', 'input/bare', 'input CPU', 'input per CPU-s', 'bare CPU', 'input got', 'bare got', 'offered'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
    console.log(
      `\nMQTT input throughput (QoS 1, MQTT 5, into the SQLite buffer, acked after commit); bench Mosquitto on ${broker.url}, ${PUBLISHERS} raw publisher processes`,
    );
    console.log(line(head));
    for (const r of rows) console.log(line(r));
    for (const v of verdicts) console.log(v);
    console.log('live = publishers running meanwhile; backlog = a persistent session filled while offline, then drained');
    console.log("offered = the publishers' summed rate while the input ran; CPU = this process, % of one core, all threads");
  } finally {
    await broker.stop();
  }
}

if (process.argv[2] === 'publish') {
  const [url, load, topic, first, n] = process.argv.slice(3);
  await publish(url!, load as Load, topic!, Number(first), Number(n));
  process.exit(0);
} else {
  await main();
}
