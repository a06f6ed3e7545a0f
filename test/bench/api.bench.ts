/**
 * `npm run bench:api`: what the control-plane API costs the data path. W1 (5,000 OPC-UA items at
 * 10 Hz plus 200 MQTT JSON scalars at 1 Hz, shared/DOMAIN.md) into the file lake, end to end as
 * `npm run bench:e2e` runs a case (e2e/run-case.ts: the load generators and the gateway as child
 * processes, the same counting), with the API on (`api: { host: 127.0.0.1, port: 0 }`, TLS with the
 * generated certificate) in every case:
 *   idle   the API enabled, no client;
 *   busy   20 clients in a process of their own (api/clients.ts): 10 polling `GET /api/v1/status`
 *          (by default each as fast as the API answers: a closed loop, the most a poller can ask;
 *          `--poll-interval 100ms` for a dashboard's pace) and 10 holding `GET /api/v1/status/stream`
 *          (server-sent events) open, all with a viewer token and trusting exactly
 *          <dataDir>/api/tls/cert.pem; they run for the whole steady phase.
 * The gateway child is api/harness.ts: the e2e harness with the API started beside the gateway as the
 * CLI starts it. Figures per case: ingested/s (records committed to the buffer) and delivered/s (acked
 * by the lake within the steady phase, per second of it) as bench:e2e counts them, delivered/offered
 * and the lag, the gateway's and the clients' CPU; for busy cases the status
 * poll latency (p50/p95/p99/max, request -> body read, measured in the client process) and the SSE
 * interval between consecutive events of a stream against api.statusInterval (jitter = |interval -
 * statusInterval|). Verdict: busy/idle of ingested/s and of delivered/s >= 0.95.
 *
 * W1 is a fixed rate the gateway keeps up with, so both rates are the offered rate unless the API
 * slows the data path; the lake acks W1 in batches of about a second of data, so delivered/s moves by
 * up to one batch with where the steady phase ends: about +-1/duration (7 % at 15 s, 1.7 % at the
 * default 60 s). Short runs show what the API costs (the gateway's CPU-s, latency, jitter), not a
 * delivery verdict to 5 %.
 * Prints the tables and writes results.json and report.md to bench-results/api-<timestamp>/ (git-ignored).
 *
 *   npm run bench:api                                   (idle, then busy: 60 s each, about 4 min)
 *   npm run bench:api -- --duration 15s
 *   npm run bench:api -- --poll-interval 0,100ms        (one busy case per poll interval)
 * Options: --duration, --drain, --poll-interval (list; 0: as fast as it answers), --pollers, --streams,
 * --status-interval (api.statusInterval), --opcua-server milo|node-opcua, --keep, --out DIR.
 * Needs the shared Mosquitto of `npm run services -- up` (W1's MQTT scalars).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { readEndpoint } from '../../gateway/api/endpoint.js';
import { IdentityStore } from '../../gateway/api/identity/store.js';
import { apiDir } from '../../gateway/api/server.js';
import { tlsDir } from '../../gateway/api/tls.js';
import type { ClientsCommand, ClientsMessage, ClientsResult } from './api/protocol.js';
import { Child } from './e2e/children.js';
import { LogHistogram } from './e2e/histogram.js';
import { casePasses, markdown, text } from './e2e/report.js';
import type { Table } from './e2e/report.js';
import { runCase } from './e2e/run-case.js';
import type { CaseResult } from './e2e/run-case.js';
import { serversDown } from './e2e/sinks.js';
import { OPCUA_SERVERS, describeWorkload } from './e2e/workloads.js';
import type { OpcuaServerName } from './e2e/workloads.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
/** busy/idle of ingested/s and delivered/s */
const TARGET = 0.95;

function ms(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`expected a duration like 30s, 100ms, 0, got ${v}`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : n === 0 ? 0 : n * 1000;
}

const program = new Command('bench:api')
  .option('--duration <d>', 'steady phase of each case (delivered/s moves by about a lake batch, 1 s of data, over it)', (v) => ms(v) / 1000, 60)
  .option('--drain <d>', 'longest wait for the lake to catch up after the load stops', (v) => ms(v) / 1000, 15)
  .option('--poll-interval <list>', 'pollers: 0 = each as fast as the API answers, else one request per interval; a list gives one busy case each', (v) =>
    v.split(',').map(ms),
  )
  .option('--pollers <n>', 'clients polling GET /api/v1/status', Number, 10)
  .option('--streams <n>', 'clients holding GET /api/v1/status/stream open', Number, 10)
  .option('--status-interval <d>', 'api.statusInterval: the stream sends one status per interval', ms, 1000)
  .option('--opcua-server <name>', `W1's OPC-UA load server: ${OPCUA_SERVERS.join(' or ')}`, 'milo')
  .option('--keep', "keep each case's temp folder (config, logs, data)")
  .option('--out <dir>', 'results folder (default bench-results/api-<timestamp>)');

interface Options {
  duration: number;
  drain: number;
  pollInterval?: number[];
  pollers: number;
  streams: number;
  statusInterval: number;
  opcuaServer: OpcuaServerName;
  keep?: boolean;
  out?: string;
}

interface Phase {
  name: string;
  /** undefined: idle (no client) */
  pollIntervalMs?: number;
  pollers: number;
  streams: number;
  loadavgBefore: number;
  c: CaseResult;
  clients?: ClientsResult;
}

const fmt = (x: number, d = 0): string => (Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '-');
const msf = (x: number): string => (!Number.isFinite(x) ? '-' : x >= 10_000 ? `${fmt(x / 1000, 1)} s` : `${fmt(x, x < 10 ? 1 : 0)} ms`);
const pollLabel = (p: number): string => (p === 0 ? 'as fast as answered' : `every ${p} ms`);
const ingestedPerS = (c: CaseResult): number => c.ingested / c.durationS;

const started = Date.now();
const clock = (): string => {
  const s = Math.round((Date.now() - started) / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
};

/** A viewer token made offline on the case's API folder, as `layergate` tooling would. */
function viewerToken(dir: string): string {
  const store = new IdentityStore(dir);
  try {
    return store.createToken({ label: 'bench-api', role: 'viewer', maxClass: 'internal', expiresMs: Date.now() + 3600_000, createdBy: 'bench:api' }).token;
  } finally {
    store.close();
  }
}

async function runPhase(o: Options, name: string, pollIntervalMs: number | undefined, signal: AbortSignal): Promise<Phase> {
  const loadavgBefore = os.loadavg()[0]!;
  let clients: Child<ClientsMessage, ClientsCommand> | undefined;
  let result: ClientsResult | undefined;
  const progress = (line: string) => console.log(`[${clock()} ${name}] ${line}`);
  try {
    const c = await runCase({
      workload: 'W1',
      sink: 'lake',
      scale: 1,
      durationS: o.duration,
      drainTimeoutS: o.drain,
      progress,
      keep: o.keep,
      signal,
      opcuaServer: o.opcuaServer,
      harnessScript: path.join(here, 'api', 'harness.ts'),
      extraConfig: { api: { host: '127.0.0.1', port: 0, grpc: { port: 0 }, statusInterval: `${o.statusInterval}ms` } },
      onSteadyStart: async ({ dataDir, logs }) => {
        const dir = apiDir(dataDir);
        const endpoint = readEndpoint(dir);
        if (!endpoint) throw new Error(`${name}: the gateway wrote no ${path.join(dir, 'endpoint.json')}: its API is not listening`);
        progress(`API at ${endpoint.url} (certificate ${endpoint.fingerprint?.slice(0, 23) ?? '-'}...)`);
        if (pollIntervalMs === undefined) return;
        const token = viewerToken(dir);
        clients = new Child<ClientsMessage, ClientsCommand>(
          'api clients',
          path.join(here, 'api', 'clients.ts'),
          [endpoint.url, path.join(tlsDir(dir), 'cert.pem'), String(o.pollers), String(o.streams), String(pollIntervalMs), String(o.statusInterval)],
          path.join(logs, 'api-clients.log'),
          { ...process.env, LG_BENCH_API_TOKEN: token },
        );
        await clients.next('ready', 60_000);
        progress(`${o.pollers} pollers (${pollLabel(pollIntervalMs)}) and ${o.streams} streams connected`);
      },
      onSteadyEnd: async () => {
        if (!clients) return;
        const answer = clients.next('result', 30_000);
        clients.send({ type: 'stop' });
        result = (await answer).result;
      },
    });
    return {
      name,
      ...(pollIntervalMs !== undefined ? { pollIntervalMs } : {}),
      pollers: o.pollers,
      streams: o.streams,
      loadavgBefore,
      c,
      ...(result ? { clients: result } : {}),
    };
  } finally {
    await clients?.kill();
  }
}

function throughputTable(phases: Phase[], idle: Phase | undefined): Table {
  const head = [
    'phase',
    'API clients',
    'offered/s',
    'ingested/s',
    'delivered/s',
    'delivered/offered',
    'lag start -> end',
    'gateway CPU-s (per M records)',
    'clients CPU-s',
    'busy/idle ingested',
    'busy/idle delivered',
    'e2e case',
  ];
  const rows = phases.map((p) => {
    const c = p.c;
    const vsIdle = (f: (c: CaseResult) => number): string => (idle && p !== idle ? fmt(f(c) / f(idle.c), 3) : '-');
    return [
      p.name,
      p.clients === undefined ? 'none' : `${p.pollers} pollers ${pollLabel(p.pollIntervalMs ?? 0)}, ${p.streams} streams`,
      fmt(c.offered.recordsPerS),
      fmt(ingestedPerS(c)),
      fmt(c.deliveredPerS),
      fmt(c.ratio, 3),
      `${fmt(c.lag.startSeconds, 1)} s -> ${fmt(c.lag.endSeconds, 1)} s (${c.lag.growing ? 'growing' : 'bounded'})`,
      `${fmt(c.cpu.seconds, 1)} (${fmt(c.cpu.perMillionRecords, 1)})`,
      p.clients ? fmt(p.clients.cpuUs / 1e6, 1) : '-',
      vsIdle(ingestedPerS),
      vsIdle((x) => x.deliveredPerS),
      casePasses(c) ? 'PASS' : 'MISS',
    ];
  });
  return { head, rows };
}

function apiTable(phases: Phase[], statusIntervalMs: number): Table {
  const head = [
    'phase',
    'polls/s',
    'poll errors',
    'status p50 / p95 / p99 / max',
    'SSE events',
    `SSE interval p50 / p99 / max (statusInterval ${statusIntervalMs} ms)`,
    'SSE jitter p50 / p95 / p99 / max',
    'streams ended',
  ];
  const rows = phases
    .filter((p) => p.clients)
    .map((p) => {
      const r = p.clients!;
      const lat = LogHistogram.fromJSON(r.polls.latency);
      const iv = LogHistogram.fromJSON(r.sse.interval);
      const ji = LogHistogram.fromJSON(r.sse.jitter);
      return [
        p.name,
        fmt(r.polls.ok / (r.windowMs / 1000)),
        fmt(r.polls.errors),
        `${msf(lat.quantile(0.5))} / ${msf(lat.quantile(0.95))} / ${msf(lat.quantile(0.99))} / ${msf(lat.max)}`,
        fmt(r.sse.events),
        `${msf(iv.quantile(0.5))} / ${msf(iv.quantile(0.99))} / ${msf(iv.max)}`,
        `${msf(ji.quantile(0.5))} / ${msf(ji.quantile(0.95))} / ${msf(ji.quantile(0.99))} / ${msf(ji.max)}`,
        fmt(r.sse.ended),
      ];
    });
  return { head, rows };
}

function verdictLines(phases: Phase[], idle: Phase | undefined): string[] {
  if (!idle) return ['MISS  no idle case: no ratio'];
  return phases
    .filter((p) => p !== idle)
    .flatMap((p) =>
      (
        [
          ['ingested/s', ingestedPerS],
          ['delivered/s', (c: CaseResult) => c.deliveredPerS],
        ] as const
      ).map(([what, f]) => {
        const r = f(p.c) / f(idle.c);
        return `${r >= TARGET ? 'PASS' : 'MISS'}  ${p.name}/idle ${what} >= ${TARGET}: ${fmt(r, 3)} (${fmt(f(p.c))} vs ${fmt(f(idle.c))})`;
      }),
    );
}

async function main(): Promise<void> {
  const o = program.parse().opts<Options>();
  if (!(OPCUA_SERVERS as readonly string[]).includes(o.opcuaServer)) throw new InvalidArgumentError(`unknown OPC-UA server ${o.opcuaServer}`);
  const polls = o.pollInterval ?? [0];
  const down = await serversDown(['lake'], true);
  if (down.length > 0) {
    console.error(
      `bench:api needs the shared Mosquitto (W1's MQTT scalars), and it does not answer: ${down.join(', ')}.\nStart it with \`npm run services -- up\`.`,
    );
    process.exit(2);
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const out = o.out ?? path.join(repo, 'bench-results', `api-${stamp}`);
  mkdirSync(out, { recursive: true });
  const abort = new AbortController();
  process.on('SIGINT', () => {
    if (abort.signal.aborted) process.exit(130);
    console.log('\ninterrupted: stopping the current case and cleaning up (Ctrl-C again to leave at once)');
    abort.abort();
  });
  console.log(
    `bench:api: W1 x lake, API idle then busy (${polls.map(pollLabel).join(', ')}), ${o.duration} s steady phase each (about ${Math.ceil(((1 + polls.length) * (o.duration + 50)) / 60)} min); ` +
      `${os.cpus().length} CPUs, load average ${os.loadavg()[0]!.toFixed(1)}; results in ${path.relative(process.cwd(), out)}`,
  );
  console.log(`  ${describeWorkload('W1', 1)}`);
  console.log(`  busy: ${o.pollers} pollers of GET /api/v1/status and ${o.streams} SSE streams, one client process; api.statusInterval ${o.statusInterval} ms`);

  const phases: Phase[] = [];
  const failures: string[] = [];
  const plan: [string, number | undefined][] = [['idle', undefined], ...polls.map((p): [string, number] => [polls.length > 1 ? `busy ${p} ms` : 'busy', p])];
  for (const [name, poll] of plan) {
    if (abort.signal.aborted) break;
    try {
      const p = await runPhase(o, name, poll, abort.signal);
      phases.push(p);
      console.log(
        `[${clock()} ${name}] ingested ${fmt(ingestedPerS(p.c))}/s, delivered ${fmt(p.c.deliveredPerS)}/s of ${fmt(p.c.offered.recordsPerS)}/s offered; gateway ${fmt(p.c.cpu.seconds, 1)} CPU-s` +
          (p.clients ? `, clients ${fmt(p.clients.cpuUs / 1e6, 1)} CPU-s, ${fmt(p.clients.polls.ok)} polls, ${fmt(p.clients.sse.events)} events` : ''),
      );
    } catch (err) {
      failures.push(`${name}: ${(err as Error).message}`);
      console.log(`[${clock()} ${name}] FAILED ${(err as Error).message}`);
    }
  }

  const idle = phases.find((p) => p.pollIntervalMs === undefined);
  const tp = throughputTable(phases, idle);
  const at = apiTable(phases, o.statusInterval);
  const verdicts = verdictLines(phases, idle);
  const errors = phases.flatMap((p) => [...p.c.errors.map((e) => `${p.name}: ${e}`), ...(p.clients?.errorSamples ?? []).map((e) => `${p.name} clients: ${e}`)]);
  const note =
    `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load average ${phases.map((p) => `${p.name} ${p.loadavgBefore.toFixed(1)}`).join(', ')} at the start of each case; ` +
    'the gateway, the load generators, the API clients and the servers share them: the figures are indicative. ' +
    `delivered/s moves by up to one lake batch (about 1 s of W1) with where the steady phase ends: about +-${fmt(100 / o.duration, 1)} % at ${o.duration} s.`;
  console.log('\nthroughput, W1 x lake (steady phase; ingested counted to the end of the drain, per steady second):');
  console.log(text(tp));
  if (at.rows.length) console.log(`\nAPI under load (client side, from the client process):\n${text(at)}`);
  console.log('');
  for (const v of verdicts) console.log(v);
  for (const f of failures) console.log(`FAILED  ${f}`);
  for (const e of errors.slice(0, 20)) console.log(`error   ${e}`);
  console.log(`\n${note}`);

  const md = [
    `# bench:api ${new Date(started).toISOString()}`,
    '',
    `${describeWorkload('W1', 1)}, into the file lake; ${o.duration} s steady phase per case, then up to ${o.drain} s of drain. ` +
      `Busy: ${o.pollers} pollers of GET /api/v1/status (${polls.map(pollLabel).join(', ')}) and ${o.streams} SSE streams, in one client process; api.statusInterval ${o.statusInterval} ms; TLS (generated certificate), viewer token.`,
    '',
    note,
    '',
    '## Throughput',
    '',
    markdown(tp),
    '',
    ...(at.rows.length ? ['## API under load', '', markdown(at), ''] : []),
    '## Verdicts',
    '',
    ...verdicts.map((v) => `- ${v}`),
    ...failures.map((f) => `- FAILED ${f}`),
    ...(errors.length ? ['', '## Errors', '', ...errors.map((e) => `- ${e}`)] : []),
    '',
  ].join('\n');
  writeFileSync(path.join(out, 'report.md'), md);
  writeFileSync(
    path.join(out, 'results.json'),
    `${JSON.stringify({ startedAt: new Date(started).toISOString(), options: { ...o, pollInterval: polls }, machine: { cpus: os.cpus().length }, phases, verdicts, failures }, null, 2)}\n`,
  );
  console.log(`wrote ${path.relative(process.cwd(), path.join(out, 'report.md'))} and results.json`);
  if (failures.length > 0 || phases.length < plan.length) process.exitCode = 1;
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
