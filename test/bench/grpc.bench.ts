/**
 * `npm run bench:grpc`: the gRPC API (proto/layergate/v1/gateway.proto) end to end, against the limits
 * measured in the same run. The gateway runs in this process with its API (TLS with the generated
 * certificate, gateway/api/test-support/gateway-api-rig.ts `startGatewayApi`); every client is a
 * process of its own (test/bench/grpc/), using the package's client (client/ `connectGateway`), so
 * clients' decoding never runs on the gateway's thread.
 *
 * 1. StreamRecords: a W1-like feed (shared/DOMAIN.md: 5,000 scalar signals at 10 Hz = 50,000
 *    records/s) emitted through the gateway's own pipeline (`pipeline.contextFor('bench').emit`,
 *    500 records per emit, yielding to the event loop between emits, one tick of 5,000 every 100 ms;
 *    the OPC-UA session itself is left out) while 0, 1 and 10 clients follow live (`StreamRecords`,
 *    no filter). Per case: the gateway's ingest (records committed/s) and its ratio to 0 streams, how
 *    late the feed ran behind its schedule, the gateway process's CPU and RSS; per client: records
 *    received/s, delivered/offered (seqs of the window received / records committed in it), the
 *    latency receive_time_ns -> arrival in the client (p50/p99/max), its CPU.
 * 2. Store: 64 MiB files through StoreStream one after the other (MB/s to the gateway's answer, i.e.
 *    the buffer commit) beside writeFile + fsync of the same bytes to the buffer's filesystem; 1 KiB
 *    JSON documents through unary Store with 8 calls in flight (calls/s to the answer) beside raw
 *    better-sqlite3 inserts, one transaction each, WAL, synchronous NORMAL and FULL (the buffer's
 *    default is FULL, `buffer.synchronous`; the gateway runs with the default here).
 * 3. The same 1 KiB documents published with QoS 1 to the gateway's `mqtt` input (decoder `event`)
 *    over the harness's shared Mosquitto (test/services/endpoints.ts), counted at the buffer commit
 *    (the input's committed records/s, the broker queue kept full by a raw publisher process).
 *
 * Prints one Markdown table per part and writes bench-results/grpc.json. Never fails a build (exit 1
 * only when a measurement could not run).
 *
 *   npm run bench:grpc                       (10 s per measurement, about 2 min)
 *   npm run bench:grpc -- --quick            (3 s per measurement, 2 large files)
 * Options: --duration, --quick, --streams 0,1,10, --rate, --large-mib, --large-count, --small-bytes,
 * --concurrency, --out, --keep. Needs the shared Mosquitto of `npm run services -- up` for part 3.
 */
import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { Command, InvalidArgumentError } from 'commander';
import { RangeReader } from '../../gateway/buffer/range-read.js';
import { bufferDir } from '../../gateway/runtime/gateway.js';
import type { RecordDraft } from '../../gateway/plugin-api/contract.js';
import { CONTENT_TYPES } from '../../gateway/plugin-api/record.js';
import { type GatewayApiRig, startGatewayApi } from '../../gateway/api/test-support/gateway-api-rig.js';
import { tokenOf } from '../../gateway/api/grpc/test-support/grpc-rig.js';
import { MQTT } from '../services/endpoints.js';
import { Child } from './e2e/children.js';
import { LogHistogram } from './e2e/histogram.js';
import { type Table, markdown } from './e2e/report.js';
import { smallDocument } from './grpc/documents.js';
import type {
  LargeStoreResult,
  PublisherCommand,
  PublisherMessage,
  SmallStoreResult,
  StoreCommand,
  StoreMessage,
  StreamCommand,
  StreamMessage,
  StreamResult,
} from './grpc/protocol.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');

const program = new Command('bench:grpc')
  .option('--duration <s>', 'seconds per measurement', Number, 10)
  .option('--quick', '3 s per measurement, 2 large files (while developing)')
  .option('--streams <list>', 'StreamRecords clients per case', (v) => v.split(',').map(Number), [0, 1, 10])
  .option('--rate <n>', 'records/s fed (W1: 5,000 signals x 10 Hz)', Number, 50_000)
  .option('--large-mib <n>', 'size of each StoreStream payload, MiB', Number, 64)
  .option('--large-count <n>', 'StoreStream payloads', Number)
  .option('--small-bytes <n>', 'size of each small document', Number, 1024)
  .option('--concurrency <n>', 'unary Store calls in flight', Number, 8)
  .option('--out <file>', 'results JSON', path.join(repo, 'bench-results', 'grpc.json'))
  .option('--keep', "keep the gateway's temp folder");

interface Options {
  duration: number;
  quick?: boolean;
  streams: number[];
  rate: number;
  largeMib: number;
  largeCount?: number;
  smallBytes: number;
  concurrency: number;
  out: string;
  keep?: boolean;
}

const fmt = (x: number, d = 0): string => (Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '-');
const msf = (x: number): string => (!Number.isFinite(x) ? '-' : x >= 10_000 ? `${fmt(x / 1000, 1)} s` : `${fmt(x, x < 10 ? 1 : 0)} ms`);
const mb = (bytes: number): number => bytes / 1e6;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const started = Date.now();
const clock = (): string => {
  const s = Math.round((Date.now() - started) / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
};
const log = (line: string): void => console.log(`[${clock()}] ${line}`);

// ---- the W1-like feed ------------------------------------------------------------------------------

const SIGNALS_PER_TICK_BATCH = 500;
const TICK_MS = 100;

/** `rate` scalar records/s through the gateway's pipeline: a tick of rate/10 every 100 ms, 500 per emit, yielding between emits. */
class Feeder {
  private running = false;
  private loop: Promise<void> | undefined;
  /** ms the current tick started after its due time (max since the last `resetLateness`) */
  maxLateMs = 0;
  emitted = 0;
  errors: string[] = [];

  constructor(
    private readonly rig: GatewayApiRig,
    private readonly rate: number,
  ) {}

  start(): void {
    this.running = true;
    const ctx = this.rig.gateway.pipeline.contextFor('bench');
    const perTick = Math.round((this.rate * TICK_MS) / 1000);
    const t0 = performance.now();
    this.loop = (async () => {
      for (let k = 0; this.running; k++) {
        const due = t0 + k * TICK_MS;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        else await new Promise((r) => setImmediate(r));
        this.maxLateMs = Math.max(this.maxLateMs, performance.now() - due);
        const tick = BigInt(Date.now()) * 1_000_000n;
        for (let b = 0; b < perTick && this.running; b += SIGNALS_PER_TICK_BATCH) {
          const drafts: RecordDraft[] = [];
          for (let i = b; i < Math.min(perTick, b + SIGNALS_PER_TICK_BATCH); i++) {
            drafts.push({
              signal: `w1/v${i}`,
              kind: 'scalar',
              contentType: CONTENT_TYPES.scalar,
              body: Buffer.from(`{"v":${(k + i / perTick).toFixed(3)},"type":"double"}`),
              sourceTimeNs: tick,
              attributes: { status: 'Good' },
            });
          }
          try {
            await ctx.emit(drafts);
            this.emitted += drafts.length;
          } catch (e) {
            if (this.errors.length < 5) this.errors.push((e as Error).message);
          }
          await new Promise((r) => setImmediate(r));
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

// ---- part 1: StreamRecords ---------------------------------------------------------------------------

interface StreamCase {
  streams: number;
  windowS: number;
  offeredPerS: number;
  ingestedPerS: number;
  /** records committed in the window (seqs of the window) */
  windowRecords: number;
  maxLateMs: number;
  gatewayCpuPct: number;
  rssStartMB: number;
  rssPeakMB: number;
  clients: StreamResult[];
}

interface Env {
  o: Options;
  rig: GatewayApiRig;
  dir: string;
  target: string;
  certFile: string;
  reader: RangeReader;
}

function counted(rig: GatewayApiRig, input: string): number {
  return rig.gateway.stats().inputs[input]?.records ?? 0;
}

async function streamCase(env: Env, streams: number, feeder: Feeder): Promise<StreamCase> {
  const { o, rig } = env;
  const children: Child<StreamMessage, StreamCommand>[] = [];
  const token = tokenOf(rig, 'viewer');
  try {
    for (let i = 0; i < streams; i++) {
      children.push(
        new Child<StreamMessage, StreamCommand>(
          `stream client ${i}`,
          path.join(here, 'grpc', 'stream-client.ts'),
          [env.target, env.certFile],
          path.join(env.dir, `stream-${streams}-${i}.log`),
          {
            ...process.env,
            LG_BENCH_GRPC_TOKEN: token,
          },
        ),
      );
    }
    await Promise.all(children.map((c) => c.next('ready', 60_000)));
    // warm-up: the clients' JIT, the streams caught up with the head
    await sleep(Math.min(3000, o.duration * 300));
    feeder.maxLateMs = 0;
    const rss0 = process.memoryUsage().rss;
    let rssPeak = rss0;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 250);
    const s0 = env.reader.headSeq();
    const c0 = counted(rig, 'bench');
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (const c of children) c.send({ type: 'start', headSeq: s0 });
    await sleep(o.duration * 1000);
    const s1 = env.reader.headSeq();
    const c1 = counted(rig, 'bench');
    const windowS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const maxLateMs = feeder.maxLateMs;
    clearInterval(sampler);
    const results = children.map((c) => c.next('result', 30_000));
    for (const c of children) c.send({ type: 'stop', headSeq: s1, graceMs: 10_000 });
    const clients = (await Promise.all(results)).map((m) => m.result);
    return {
      streams,
      windowS,
      offeredPerS: o.rate,
      ingestedPerS: (c1 - c0) / windowS,
      windowRecords: s1 - s0,
      maxLateMs,
      gatewayCpuPct: ((cpu.user + cpu.system) / 1e6 / windowS) * 100,
      rssStartMB: rss0 / 2 ** 20,
      rssPeakMB: rssPeak / 2 ** 20,
      clients,
    };
  } finally {
    await Promise.all(children.map((c) => c.kill(2000)));
  }
}

function streamTable(cases: StreamCase[]): Table {
  const base = cases.find((c) => c.streams === 0);
  const head = [
    'streams',
    'offered/s',
    'gateway ingest/s',
    'ingest vs 0 streams',
    'feed late max',
    'gateway CPU',
    'gateway RSS start -> peak',
    'received/s per client (min / mean)',
    'delivered/offered per client (min / mean)',
    'latency p50 / p99 / max (worst client)',
    'client CPU (mean)',
    'stream errors',
  ];
  const rows = cases.map((c) => {
    const per = c.clients.map((r) => r.arrived / (r.windowMs / 1000));
    const ratio = c.clients.map((r) => r.covered / Math.max(1, c.windowRecords));
    const lat = c.clients.map((r) => LogHistogram.fromJSON(r.latency));
    const worst = (q: number): number => Math.max(...lat.map((h) => h.quantile(q)));
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const errors = c.clients.reduce((n, r) => n + r.errors.length, 0);
    return [
      String(c.streams),
      fmt(c.offeredPerS),
      fmt(c.ingestedPerS),
      base ? fmt(c.ingestedPerS / base.ingestedPerS, 3) : '-',
      msf(c.maxLateMs),
      `${fmt(c.gatewayCpuPct)} %`,
      `${fmt(c.rssStartMB)} -> ${fmt(c.rssPeakMB)} MB`,
      c.clients.length ? `${fmt(Math.min(...per))} / ${fmt(mean(per))}` : '-',
      c.clients.length ? `${fmt(Math.min(...ratio), 3)} / ${fmt(mean(ratio), 3)}` : '-',
      c.clients.length ? `${msf(worst(0.5))} / ${msf(worst(0.99))} / ${msf(Math.max(...lat.map((h) => h.max)))}` : '-',
      c.clients.length ? `${fmt(mean(c.clients.map((r) => r.cpuUs / 1e4 / (r.windowMs / 1000))))} %` : '-',
      c.clients.length ? String(errors) : '-',
    ];
  });
  return { head, rows };
}

// ---- part 2: Store and its limits ---------------------------------------------------------------------

interface LargeCase {
  grpc: LargeStoreResult;
  grpcMBps: number;
  rawMs: number[];
  rawMBps: number;
}

/** writeFile + fsync of `count` payloads of `bytes` to `dir` (the buffer's filesystem), one after the other */
function rawDisk(dir: string, bytes: number, count: number): number[] {
  const data = randomBytes(bytes);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, `raw-${i}.bin`);
    data.writeUInt32BE(i, 0);
    const t0 = performance.now();
    const fd = openSync(file, 'w');
    try {
      for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    out.push(performance.now() - t0);
    unlinkSync(file);
  }
  return out;
}

function storeChild(env: Env, args: string[], name: string): Child<StoreMessage, StoreCommand> {
  return new Child<StoreMessage, StoreCommand>(
    name,
    path.join(here, 'grpc', 'store-client.ts'),
    [env.target, env.certFile, ...args],
    path.join(env.dir, `${name.replace(/\W+/g, '-')}.log`),
    {
      ...process.env,
      LG_BENCH_GRPC_TOKEN: tokenOf(env.rig, 'operator'),
    },
  );
}

async function largeCase(env: Env, count: number): Promise<LargeCase> {
  const bytes = env.o.largeMib * 2 ** 20;
  const rawMs = rawDisk(path.dirname(bufferDir(env.rig.gateway.config)), bytes, count);
  const child = storeChild(env, ['large', String(env.o.largeMib), String(count)], 'store large');
  try {
    await child.next('ready', 60_000);
    const answer = child.next('large', 60_000 + count * 60_000);
    child.send({ type: 'go' });
    const grpc = (await answer).result;
    const total = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / 1000;
    return { grpc, grpcMBps: mb(bytes * count) / total(grpc.ms), rawMs, rawMBps: mb(bytes * count) / total(rawMs) };
  } finally {
    await child.kill(2000, 2000);
  }
}

interface SqliteResult {
  synchronous: 'NORMAL' | 'FULL';
  insertsPerS: number;
  latency: LogHistogram;
}

/** better-sqlite3 inserts of `bytes` bodies, one transaction each, WAL, for `ms` */
function rawSqlite(dir: string, bytes: number, synchronous: 'NORMAL' | 'FULL', ms: number): SqliteResult {
  const file = path.join(dir, `raw-${synchronous}.sqlite`);
  const db = new Database(file);
  const latency = new LogHistogram();
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous}`);
    db.exec('CREATE TABLE rows (seq INTEGER PRIMARY KEY, stream INTEGER NOT NULL, receive_ns INTEGER NOT NULL, class INTEGER NOT NULL, body BLOB NOT NULL)');
    const insert = db.prepare('INSERT INTO rows (stream, receive_ns, class, body) VALUES (?, ?, ?, ?)');
    const one = db.transaction((i: number) => insert.run(1, Date.now() * 1e6, 1, smallDocument(i, bytes)));
    let n = 0;
    const warm = performance.now() + 500;
    while (performance.now() < warm) one(n++);
    n = 0;
    const t0 = performance.now();
    let now = t0;
    while (now - t0 < ms) {
      one(n++);
      const t = performance.now();
      latency.record(t - now);
      now = t;
    }
    return { synchronous, insertsPerS: n / ((now - t0) / 1000), latency };
  } finally {
    db.close();
    for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  }
}

interface SmallCase {
  grpc: SmallStoreResult;
  grpcPerS: number;
  /** records of the `grpc` input committed per second over the same span (the gateway's count) */
  gatewayCountedPerS: number;
  sqlite: SqliteResult[];
}

async function smallCase(env: Env): Promise<SmallCase> {
  const { o, rig } = env;
  const ms = o.duration * 1000;
  const sqlite = (['NORMAL', 'FULL'] as const).map((s) => rawSqlite(path.dirname(bufferDir(rig.gateway.config)), o.smallBytes, s, ms));
  const child = storeChild(env, ['small', String(o.smallBytes), String(o.concurrency), String(ms)], 'store small');
  try {
    await child.next('ready', 60_000);
    const answer = child.next('small', ms + 60_000);
    child.send({ type: 'go' });
    await sleep(1000);
    const c0 = counted(rig, 'grpc');
    const t0 = performance.now();
    await sleep(ms);
    const gatewayCountedPerS = (counted(rig, 'grpc') - c0) / ((performance.now() - t0) / 1000);
    const grpc = (await answer).result;
    return { grpc, grpcPerS: grpc.calls / (grpc.windowMs / 1000), gatewayCountedPerS, sqlite };
  } finally {
    await child.kill(2000, 2000);
  }
}

// ---- part 3: the same documents through MQTT -------------------------------------------------------------

interface MqttCase {
  committedPerS: number;
  committed: number;
  windowS: number;
  publishedPerS: number;
  window: number;
  receiveMaximum: number;
  error?: string;
}

const MQTT_TOPIC = `lg-bench-grpc/${process.pid}/docs`;
const MQTT_WINDOW = 2000;
const RECEIVE_MAXIMUM = 1000;

async function mqttCase(env: Env): Promise<MqttCase> {
  const { o, rig } = env;
  const pub = new Child<PublisherMessage, PublisherCommand>(
    'mqtt publisher',
    path.join(here, 'grpc', 'mqtt-publisher.ts'),
    [MQTT.url, MQTT.username, MQTT.password, MQTT_TOPIC, String(o.smallBytes), String(MQTT_WINDOW)],
    path.join(env.dir, 'mqtt-publisher.log'),
  );
  try {
    await pub.next('ready', 60_000);
    pub.send({ type: 'go' });
    // warm-up: the broker's queue for the input filled, the input's JIT
    await sleep(1500);
    const c0 = counted(rig, 'mq');
    const t0 = performance.now();
    await sleep(o.duration * 1000);
    const committed = counted(rig, 'mq') - c0;
    const windowS = (performance.now() - t0) / 1000;
    const done = pub.next('done', 10_000);
    pub.send({ type: 'stop' });
    const d = await done;
    // let the input drain what the broker still queues for it
    let last = -1;
    for (let i = 0; i < 50 && counted(rig, 'mq') !== last; i++) {
      last = counted(rig, 'mq');
      await sleep(200);
    }
    return {
      committedPerS: committed / windowS,
      committed,
      windowS,
      publishedPerS: d.acked / (d.ms / 1000),
      window: MQTT_WINDOW,
      receiveMaximum: RECEIVE_MAXIMUM,
    };
  } finally {
    await pub.kill(2000, 1000);
  }
}

function storeTables(o: Options, large: LargeCase | undefined, small: SmallCase | undefined, mqtt: MqttCase | undefined): { large: Table; small: Table } {
  const largeT: Table = {
    head: ['what', 'payloads', 'MB/s', 'per payload min / max', 'vs raw disk'],
    rows: large
      ? [
          [
            `gRPC StoreStream, ${o.largeMib} MiB each, to the answer (buffer commit)`,
            String(large.grpc.ms.length),
            fmt(large.grpcMBps, 1),
            `${msf(Math.min(...large.grpc.ms))} / ${msf(Math.max(...large.grpc.ms))}`,
            fmt(large.grpcMBps / large.rawMBps, 2),
          ],
          [
            'raw disk: write + fsync of the same bytes, same filesystem',
            String(large.rawMs.length),
            fmt(large.rawMBps, 1),
            `${msf(Math.min(...large.rawMs))} / ${msf(Math.max(...large.rawMs))}`,
            '1.00',
          ],
        ]
      : [],
  };
  const rows: string[][] = [];
  if (small) {
    const lat = LogHistogram.fromJSON(small.grpc.latency);
    const normal = small.sqlite.find((s) => s.synchronous === 'NORMAL')!;
    const full = small.sqlite.find((s) => s.synchronous === 'FULL')!;
    const vs = (x: number) => `${fmt(x / normal.insertsPerS, 3)} / ${fmt(x / full.insertsPerS, 3)}`;
    rows.push([
      `gRPC Store (unary), ${o.concurrency} in flight, to the answer`,
      fmt(small.grpcPerS),
      `${msf(lat.quantile(0.5))} / ${msf(lat.quantile(0.99))}`,
      vs(small.grpcPerS),
      `${fmt(small.gatewayCountedPerS)} committed/s counted by the gateway; ${small.grpc.errors} errors; client CPU ${fmt(small.grpc.cpuUs / 1e4 / (small.grpc.windowMs / 1000))} %`,
    ]);
    if (mqtt) {
      rows.push([
        'MQTT QoS 1 -> mqtt input (event decoder), to the buffer commit',
        mqtt.error ? 'failed' : fmt(mqtt.committedPerS),
        '-',
        mqtt.error ? '-' : vs(mqtt.committedPerS),
        mqtt.error ??
          `receive maximum ${mqtt.receiveMaximum}, input batches up to 2,000 per commit; publisher offered ${fmt(mqtt.publishedPerS)}/s (broker acks), ${fmt(mqtt.committed)} committed; gRPC/MQTT ${fmt(small.grpcPerS / mqtt.committedPerS, 2)}`,
      ]);
    }
    for (const s of small.sqlite) {
      rows.push([
        `raw SQLite insert, 1 transaction each, WAL, synchronous ${s.synchronous}`,
        fmt(s.insertsPerS),
        `${msf(s.latency.quantile(0.5))} / ${msf(s.latency.quantile(0.99))}`,
        vs(s.insertsPerS),
        'better-sqlite3, one thread, same filesystem',
      ]);
    }
  }
  const smallT: Table = { head: [`${o.smallBytes} B documents`, 'calls/s', 'latency p50 / p99', 'vs SQLite NORMAL / FULL', 'notes'], rows };
  return { large: largeT, small: smallT };
}

// ---- main -----------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const o = program.parse().opts<Options>();
  if (o.quick && !process.argv.includes('--duration')) o.duration = 3;
  const largeCount = o.largeCount ?? (o.quick ? 2 : 4);
  if (!(o.duration > 0)) throw new InvalidArgumentError('--duration: a positive number of seconds');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-bench-grpc-'));
  const failures: string[] = [];
  console.log(
    `bench:grpc: ${o.duration} s per measurement; ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load average ${os.loadavg()[0]!.toFixed(1)}; gateway in ${dir}`,
  );
  const rig = await startGatewayApi(path.join(dir, 'layergate.yaml'), {
    gateway: { dataDir: path.join(dir, 'data'), machine: 'bench', shutdownGraceMs: 1000 },
    buffer: { maxBytes: '16GiB' },
    inputs: {
      mq: {
        type: 'mqtt',
        url: MQTT.url,
        username: MQTT.username,
        password: MQTT.password,
        clientId: `lg-bench-grpc-${process.pid}`,
        receiveMaximum: RECEIVE_MAXIMUM,
        subscriptions: [{ topic: MQTT_TOPIC, qos: 1, decoder: 'event' }],
      },
    },
    outputs: {},
    log: { level: 'warn' },
  });
  const certFile = path.join(dir, 'api-cert.pem');
  writeFileSync(certFile, rig.api.tls!.cert);
  const env: Env = { o, rig, dir, target: rig.api.grpc!.target, certFile, reader: new RangeReader(bufferDir(rig.gateway.config)) };
  log(`gateway up, gRPC API at ${env.target} (TLS)`);

  const streamCases: StreamCase[] = [];
  let large: LargeCase | undefined;
  let small: SmallCase | undefined;
  let mqtt: MqttCase | undefined;
  try {
    const feeder = new Feeder(rig, o.rate);
    feeder.start();
    await sleep(1000);
    for (const n of o.streams) {
      try {
        log(`StreamRecords, ${n} client(s), ${fmt(o.rate)} records/s fed ...`);
        const c = await streamCase(env, n, feeder);
        streamCases.push(c);
        log(
          `  ingest ${fmt(c.ingestedPerS)}/s, clients ${c.clients.map((r) => fmt(r.arrived / (r.windowMs / 1000))).join(', ') || '-'} records/s, RSS peak ${fmt(c.rssPeakMB)} MB`,
        );
      } catch (e) {
        failures.push(`StreamRecords ${n}: ${(e as Error).message}`);
        log(`  FAILED ${(e as Error).message}`);
      }
    }
    await feeder.stop();
    if (feeder.errors.length) failures.push(`feeder: ${feeder.errors.join('; ')}`);
    await sleep(500);
    try {
      log(`Store large: ${largeCount} x ${o.largeMib} MiB, raw disk then StoreStream ...`);
      large = await largeCase(env, largeCount);
      log(`  StoreStream ${fmt(large.grpcMBps, 1)} MB/s, raw ${fmt(large.rawMBps, 1)} MB/s`);
    } catch (e) {
      failures.push(`Store large: ${(e as Error).message}`);
      log(`  FAILED ${(e as Error).message}`);
    }
    try {
      log(`Store small: raw SQLite (NORMAL, FULL), then unary Store with ${o.concurrency} in flight ...`);
      small = await smallCase(env);
      log(`  Store ${fmt(small.grpcPerS)} calls/s; SQLite ${small.sqlite.map((s) => `${s.synchronous} ${fmt(s.insertsPerS)}/s`).join(', ')}`);
    } catch (e) {
      failures.push(`Store small: ${(e as Error).message}`);
      log(`  FAILED ${(e as Error).message}`);
    }
    try {
      log('MQTT: the same documents, QoS 1, through the mqtt input ...');
      mqtt = await mqttCase(env);
      log(`  ${fmt(mqtt.committedPerS)} committed/s`);
    } catch (e) {
      failures.push(`MQTT: ${(e as Error).message}`);
      log(`  FAILED ${(e as Error).message}`);
      mqtt = {
        committedPerS: Number.NaN,
        committed: 0,
        windowS: 0,
        publishedPerS: Number.NaN,
        window: MQTT_WINDOW,
        receiveMaximum: RECEIVE_MAXIMUM,
        error: (e as Error).message,
      };
    }
  } finally {
    env.reader.close();
    await rig.stop();
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
  }

  const st = streamTable(streamCases);
  const { large: lt, small: smt } = storeTables(o, large, small, mqtt);
  const note = `${os.cpus().length} CPUs, load average ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' / ')} at the end; the gateway, the feed, the clients and the broker share them.`;
  console.log(`\n### 1. StreamRecords, W1-like feed (${fmt(o.rate)} scalar records/s through the pipeline), ${o.duration} s window per case\n`);
  console.log(markdown(st));
  console.log(`\n### 2. Store to the gateway's answer (buffer commit), beside the raw limits\n`);
  console.log(markdown(lt));
  console.log('');
  console.log(`\n### 3. Small documents: gRPC Store beside MQTT QoS 1 through the mqtt input (same bytes), and the SQLite limit\n`);
  console.log(markdown(smt));
  console.log(`\n${note}`);
  for (const f of failures) console.log(`FAILED  ${f}`);
  mkdirSync(path.dirname(o.out), { recursive: true });
  writeFileSync(
    o.out,
    `${JSON.stringify(
      {
        startedAt: new Date(started).toISOString(),
        options: { ...o, largeCount },
        machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadavgEnd: os.loadavg() },
        streamRecords: streamCases,
        storeLarge: large,
        storeSmall: small && { ...small, sqlite: small.sqlite.map((s) => ({ ...s, latency: s.latency.toJSON() })) },
        mqtt,
        tables: { streamRecords: st, storeLarge: lt, storeSmall: smt },
        failures,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`wrote ${path.relative(process.cwd(), o.out)}`);
  if (failures.length > 0) process.exitCode = 1;
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
