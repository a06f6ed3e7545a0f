/**
 * OPC-UA input throughput: value changes per second into the buffer for N monitored items changing
 * at 10 Hz, beside the raw baseline measured in the same run against the same server:
 *   baseline: a bare node-opcua client subscription (same items, same monitoring parameters) that
 *             only counts notifications, no records, no buffer;
 *   buffer:   the same records emitted straight into the Pipeline and buffer (the downstream ceiling);
 *   input:    the `opcua` input through the real Pipeline into the real SQLite buffer (commit per batch).
 * Target (issue): 5,000 items x 10 Hz = 50,000 changes/s on one core. The bench server is a node-opcua
 * server in a child process (so it does not share the measured process's core), N Double variables
 * written every 100 ms on an absolute schedule (late ticks catch up). Items use samplingInterval 0 (report by exception) in both runs, so the server
 * does not poll 5,000 timers; the publishing interval is 100 ms. Reports PASS/MISS; never fails a build.
 *
 *   npm run bench:inputs      (or: npx tsx test/bench/inputs-opcua.bench.ts [N])
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
// first, as in the input: node-opcua's console output would interleave with the table
import '../../plugins/inputs/opcua/node-opcua-log.js';
import { AttributeIds, OPCUAClient, TimestampsToReturn, type DataValue } from 'node-opcua';
import { pino } from 'pino';
import { freePort } from '../support/wait.js';
import { startBenchOpcuaServer } from './support/opcua-server.js';

const NS_URI = 'urn:layergate:bench';
const RATE_HZ = 10;
const WARMUP_MS = 2000;
const MEASURE_MS = 10_000;

// ---- the bench server (child process) ----------------------------------------------------------
async function serve(n: number, port: number): Promise<void> {
  const server = await startBenchOpcuaServer(n, port, NS_URI);
  // the parent asks for this process's CPU time around each window (is the load generator starved?)
  process.on('message', (m) => {
    if (m === 'cpu') process.send?.({ cpu: process.cpuUsage(), changes: k * n });
  });
  let k = 0;
  // ticks on an absolute schedule: a tick that a busy machine delays is followed by the next one
  // sooner, so the server offers RATE_HZ on average (a plain setInterval drifts below it under load)
  const period = 1000 / RATE_HZ;
  let due = performance.now() + period;
  const tick = (): void => {
    k++;
    server.setAll((i) => k + i / n);
    due += period;
    setTimeout(tick, Math.max(0, due - performance.now()));
  };
  setTimeout(tick, period);
  process.send?.('ready');
}

interface Measured {
  changesPerS: number;
  /** this (the measured) process, % of one core, all its threads */
  cpuPct: number;
  /** the bench server process over the same window, % of one core */
  serverCpuPct?: number;
  /** value changes the server made over the same window, per second */
  serverChangesPerS?: number;
}

let server: ChildProcess | undefined;

/** the bench server's CPU time so far (microseconds) and the value changes it has made */
function serverCpu(): Promise<{ us: number; changes: number }> {
  const child = server!;
  return new Promise((resolve) => {
    const on = (m: unknown): void => {
      const { cpu, changes } = m as { cpu?: NodeJS.CpuUsage; changes: number };
      if (!cpu) return;
      child.off('message', on);
      resolve({ us: cpu.user + cpu.system, changes });
    };
    child.on('message', on);
    child.send('cpu');
  });
}

/** Count over a window after a warm-up; CPU of this process and of the server over the same window. */
async function measure(count: () => number): Promise<Measured> {
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const srv0 = await serverCpu();
  const c0 = count();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, MEASURE_MS));
  const c1 = count();
  const cpu = process.cpuUsage(cpu0);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const srv1 = await serverCpu();
  return {
    changesPerS: (c1 - c0) / s,
    cpuPct: ((cpu.user + cpu.system) / 1e6 / s) * 100,
    serverCpuPct: ((srv1.us - srv0.us) / 1e6 / s) * 100,
    serverChangesPerS: (srv1.changes - srv0.changes) / s,
  };
}

async function baseline(endpoint: string, n: number): Promise<Measured> {
  const client = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 } });
  await client.connect(endpoint);
  const session = await client.createSession();
  const nsIndex = (await session.readNamespaceArray()).indexOf(NS_URI);
  const sub = await session.createSubscription2({
    requestedPublishingInterval: 100,
    requestedLifetimeCount: 100,
    requestedMaxKeepAliveCount: 10,
    maxNotificationsPerPublish: 0,
    publishingEnabled: true,
    priority: 10,
  });
  let count = 0;
  for (let k = 0; k < n; k += 1000) {
    const ids = Array.from({ length: Math.min(1000, n - k) }, (_, j) => ({ nodeId: `ns=${nsIndex};s=v${k + j}`, attributeId: AttributeIds.Value }));
    const group = await sub.monitorItems(ids, { samplingInterval: 0, queueSize: 10, discardOldest: true }, TimestampsToReturn.Both);
    group.on('changed', (_mi: unknown, _dv: DataValue) => {
      count++;
    });
  }
  const m = await measure(() => count);
  await sub.terminate().catch(() => undefined);
  await session.close().catch(() => undefined);
  await client.disconnect();
  return m;
}

async function viaInput(endpoint: string, n: number): Promise<Measured & { records: number; overflows: number }> {
  const { openBuffer } = await import('../../gateway/buffer/index.js');
  const { Pipeline } = await import('../../gateway/ingest/pipeline.js');
  const { definition } = await import('../../plugins/inputs/opcua/index.js');
  const { opcuaConfigSchema } = await import('../../plugins/inputs/opcua/schema.js');
  const log = pino({ level: 'silent' });
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lg-bench-opcua-'));
  const buffer = openBuffer({ dir: path.join(dataDir, 'buffer'), maxBytes: 4 * 1024 ** 3, sinks: ['lake'] }, log);
  const pipeline = new Pipeline({ buffer, outputs: [{ name: 'lake', plugin: { premises: 'on' } }], dataDir, quarantineMaxBytes: 1 << 20, log });
  const config = opcuaConfigSchema.parse({
    endpoint,
    namespaces: { B: NS_URI },
    samplingInterval: 0,
    publishingInterval: '100ms',
    queueSize: 10,
    machine: { enabled: false },
    watchdog: { enabled: false },
    items: Array.from({ length: n }, (_, i) => ({ node: `ns=B;s=v${i}`, signal: `bench.v${i}` })),
  });
  const input = definition.create(config, { dataDir, machine: 'bench' }) as import('../../plugins/inputs/opcua/index.js').OpcuaInput;
  await input.start(pipeline.contextFor('opcua'));
  const deadline = Date.now() + 60_000;
  while (input.stats().monitoredItems < n) {
    if (Date.now() > deadline)
      throw new Error(`the input monitors ${input.stats().monitoredItems} of ${n} items after 60 s (${input.stats().lastError ?? 'no error'})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const m = await measure(() => input.stats().records);
  const overflows = input.stats().queueOverflows;
  await input.stop();
  const records = buffer.stats().records;
  buffer.close();
  rmSync(dataDir, { recursive: true, force: true });
  return { ...m, records, overflows };
}

/**
 * The ceiling the input chases downstream: the same scalar drafts (body and attributes as the input
 * makes them) emitted straight into the Pipeline and buffer, in batches of one publish cycle (N).
 */
async function bufferAlone(n: number): Promise<Measured> {
  const { openBuffer } = await import('../../gateway/buffer/index.js');
  const { Pipeline } = await import('../../gateway/ingest/pipeline.js');
  const { CONTENT_TYPES } = await import('../../gateway/plugin-api/record.js');
  const log = pino({ level: 'silent' });
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lg-bench-opcua-buf-'));
  const buffer = openBuffer({ dir: path.join(dataDir, 'buffer'), maxBytes: 4 * 1024 ** 3, sinks: ['lake'] }, log);
  const pipeline = new Pipeline({ buffer, outputs: [{ name: 'lake', plugin: { premises: 'on' } }], dataDir, quarantineMaxBytes: 1 << 20, log });
  const ctx = pipeline.contextFor('opcua');
  let count = 0;
  let stop = false;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const tick = BigInt(Date.now()) * 1_000_000n;
  while (!stop) {
    const drafts = Array.from({ length: n }, (_, i) => ({
      signal: `bench.v${i}`,
      kind: 'scalar' as const,
      contentType: CONTENT_TYPES.scalar,
      body: Buffer.from(JSON.stringify({ v: count + i / n, quality: 'Good' })),
      sourceTimeNs: tick,
      attributes: { status: 'Good', server_time_ns: tick.toString() },
    }));
    await ctx.emit(drafts);
    count += n;
    if (Number(process.hrtime.bigint() - t0) / 1e6 > MEASURE_MS / 2) stop = true;
  }
  const cpu = process.cpuUsage(cpu0);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  buffer.close();
  rmSync(dataDir, { recursive: true, force: true });
  return { changesPerS: count / s, cpuPct: ((cpu.user + cpu.system) / 1e6 / s) * 100 };
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 5000);
  const port = await freePort();
  const self = fileURLToPath(import.meta.url);
  const child = fork(self, ['serve', String(n), String(port)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  server = child;
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
    });
    const endpoint = `opc.tcp://127.0.0.1:${port}`;
    const offered = n * RATE_HZ;
    const base = await baseline(endpoint, n);
    const mine = await viaInput(endpoint, n);
    const ceiling = await bufferAlone(n);
    const target = 50_000;
    const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
    const pct = (x: number | undefined) => (x === undefined ? '' : `${x.toFixed(0)} %`);
    // what one fully used core of the measured process would commit at this cost per change
    const perCore = (m: Measured) => m.changesPerS / Math.max(m.cpuPct / 100, 1e-9);
    const rows = [
      [
        'bare node-opcua client (baseline)',
        fmt(base.changesPerS),
        pct(base.cpuPct),
        pct(base.serverCpuPct),
        fmt(base.serverChangesPerS ?? 0),
        fmt(perCore(base)),
        '1.00',
        '',
      ],
      [
        'pipeline + buffer alone (same records, no OPC-UA)',
        fmt(ceiling.changesPerS),
        pct(ceiling.cpuPct),
        '',
        '',
        fmt(perCore(ceiling)),
        (ceiling.changesPerS / base.changesPerS).toFixed(2),
        '',
      ],
      [
        'opcua input -> pipeline -> buffer',
        fmt(mine.changesPerS),
        pct(mine.cpuPct),
        pct(mine.serverCpuPct),
        fmt(mine.serverChangesPerS ?? 0),
        fmt(perCore(mine)),
        (mine.changesPerS / base.changesPerS).toFixed(2),
        fmt(target),
      ],
    ];
    const header = ['path', 'changes/s', 'CPU (1 core = 100 %)', 'server CPU', 'server made/s', 'changes per CPU-second', 'ratio to baseline', 'target'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
    console.log(
      `OPC-UA input benchmark: ${fmt(n)} monitored items x ${RATE_HZ} Hz = ${fmt(offered)} changes/s offered by the server (child process); ${MEASURE_MS / 1000} s window after ${WARMUP_MS / 1000} s warm-up`,
    );
    console.log(line(header));
    console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const r of rows) console.log(line(r));
    console.log();
    // 0.98: a window of a few seconds may hold one 100 ms tick fewer than nominal (timer jitter)
    const verdict = mine.changesPerS >= target * 0.98 ? 'PASS' : 'MISS';
    console.log(
      `${verdict}: ${fmt(mine.changesPerS)} changes/s into the buffer against the target ${fmt(target)} (${(mine.changesPerS / target).toFixed(2)}x); ` +
        `${mine.records.toLocaleString('en-US')} records committed in all; ${mine.overflows} values with the overflow bit (server queue full)`,
    );
    const capacity = perCore(mine);
    console.log(
      `${capacity >= target ? 'PASS' : 'MISS'} (one core): the input path used ${pct(mine.cpuPct)} of a core for that rate, i.e. ${fmt(capacity)} changes per CPU-second of the gateway process (all its threads) against the target ${fmt(target)} (${(capacity / target).toFixed(2)}x)`,
    );
    console.log(
      `the input reaches ${(mine.changesPerS / Math.min(base.changesPerS, ceiling.changesPerS)).toFixed(2)} of the lower of its two ceilings (what the bare client receives, what the buffer commits)`,
    );
    if (base.changesPerS < offered * 0.98)
      console.log(
        `note: the bare client itself received ${fmt(base.changesPerS)} of ${fmt(offered)} offered changes/s on this machine: the server (load generator) did not produce the full load`,
      );
    if (mine.changesPerS < target * 0.98 && (mine.serverChangesPerS ?? 0) >= target * 0.98) {
      console.log(
        `note: the server made ${fmt(mine.serverChangesPerS ?? 0)} changes/s in the input's window and ${fmt(mine.changesPerS)}/s reached the buffer ` +
          `(the bare client received ${fmt(base.changesPerS)} of ${fmt(base.serverChangesPerS ?? 0)} made in its window)`,
      );
    }
    if ((mine.serverCpuPct ?? 0) > 85)
      console.log(`note: the server process used ${pct(mine.serverCpuPct)} of a core during the input's window: the load generator is near its own limit`);
  } finally {
    child.kill();
  }
}

if (process.argv[2] === 'serve') {
  await serve(Number(process.argv[3]), Number(process.argv[4]));
} else {
  await main();
}
