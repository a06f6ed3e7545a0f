/**
 * One benchmark case, one workload x one sink, end to end: the load generators (load.ts) and the
 * gateway (harness.ts) as child processes; the steady phase of `durationS` at the workload's rate x
 * scale; then the load stops and the sink is given up to `drainTimeoutS` to catch up; then the
 * records are counted at the sink, and the case's topics, keys, buckets, MQTT session and temp
 * folder are removed.
 *
 * Before the clock starts the gateway must be ready (the OPC-UA input monitoring every item, the MQTT
 * input connected) and the records that readiness produced (the items' initial values) delivered,
 * or at least counted: they are subtracted, so `delivered` holds only records of the offered window.
 *
 * Figures (all from the window that starts when the load starts):
 *   offered      units the generators made (value changes, messages, files) x records per unit;
 *                for the cloud only what it may take (frames are sensitive and never leave the premises);
 *                the generators' CPU from start to stop (their start-up left out: Milo's JVM alone
 *                spends about 10 CPU-s building its address space), in all and per generator, and which
 *                OPC-UA server W1's generator ran (`opcuaServer`: Eclipse Milo by default, or node-opcua)
 *   delivered    records the sink acked (forwarder sentRecords) until the gateway stopped (the orderly stop
 *                sends a batch still lingering at once), minus the backlog that was there at the start;
 *                the drain ends early once the sink is caught up (nothing left, or only a partial batch
 *                younger than its linger)
 *   lag          the forwarder's lag (records, age of the oldest unacked record), averaged over 3 s just
 *                after the warm-up and just before the load stops; "growing" when its age at the end
 *                exceeds both its age at the start and the sink's linger by more than max(2 s, 5 % of
 *                the steady phase): a sink 3 % short of the offered rate grows its lag by about 1 s in a
 *                30 s run, 2 s allows one batch cycle of jitter and no more
 *   latency      receive -> sink ack and source -> sink ack of every record acked after the warm-up
 *                (the same first min(10 s, 20 %) of the steady phase the lag leaves out: a gateway that
 *                just started meets a load that just started, with code not yet optimised), and
 *                receive -> ack over the whole window beside it (harness)
 *   cpu, rss     the gateway process (all threads), cpu per million records ingested (and samples, W2);
 *                beside the peak RSS the peak V8 heap in use and the peak memory outside it (external)
 *   disk         /proc/<pid>/io write_bytes of the gateway over the window / payload bytes offered
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { MQTT } from '../../services/endpoints.js';
import { freePort, sleep } from '../../support/wait.js';
import { Child, gatewayNodeArgs, harnessScript } from './children.js';
import { caseNames, forwarderSettings, gatewayConfig, mqttTopics } from './config.js';
import type { CaseNames } from './config.js';
import { LogHistogram } from './histogram.js';
import type { HarnessCommand, HarnessMessage, HarnessSample, LoadCommand, LoadCounts, LoadMessage, SinkSample } from './protocol.js';
import { cleanupSink, countAtSink, dirBytes } from './sinks.js';
import type { SinkCount } from './sinks.js';
import { BLOCKS_PER_S, FRAME_PERIOD_MS, MQTT_HZ, OPCUA_ITEMS, partsOf, sinkTakes } from './workloads.js';
import type { LoadPart, OpcuaServerName, SinkName, WorkloadName } from './workloads.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface CaseOptions {
  workload: WorkloadName;
  sink: SinkName;
  scale: number;
  durationS: number;
  drainTimeoutS: number;
  /** called every few seconds with a progress line */
  progress: (line: string) => void;
  /** keep the case's temp folder (logs, config, data) */
  keep?: boolean | undefined;
  /** aborts the case (Ctrl-C): it stops where it is and cleans up */
  signal?: AbortSignal;
  /** W1's OPC-UA load server (load.ts mode opcua-milo or opcua); default milo */
  opcuaServer?: OpcuaServerName | undefined;
  /** top-level config sections laid over the case's gateway config (e.g. `api`, for bench:api) */
  extraConfig?: Record<string, unknown> | undefined;
  /** the gateway harness to fork instead of harness.ts (it speaks the same protocol, e.g. test/bench/api/harness.ts) */
  harnessScript?: string | undefined;
  /** called once the gateway is ready and settled, just before the load starts (e.g. to start API clients) */
  onSteadyStart?: ((ctx: { dataDir: string; logs: string }) => Promise<void>) | undefined;
  /** called when the steady phase ends, once the load has stopped, before the drain */
  onSteadyEnd?: (() => Promise<void>) | undefined;
}

export interface LatencySummary {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export interface TimelinePoint {
  /** s since the load started */
  t: number;
  phase: 'steady' | 'drain';
  ingested: number;
  delivered: number;
  lagRecords: number;
  lagSeconds: number;
  rssMB: number;
  /** V8 heap in use and memory outside it (Buffers, ArrayBuffers), MB */
  heapUsedMB: number;
  externalMB: number;
}

export interface CaseResult {
  workload: WorkloadName;
  sink: SinkName;
  scale: number;
  durationS: number;
  offered: {
    units: Record<string, number>;
    records: number;
    recordsPerS: number;
    samples: number;
    payloadBytes: number;
    /** CPU-s of all load generators from start to stop (child processes included: Milo's JVM) */
    loadCpuS: number;
    /** the same per generator (opcua, mqtt-scalars, ...) */
    loadCpuByPart: Record<string, number>;
  };
  /** the OPC-UA server W1's load generator ran, as it named itself (e.g. "Eclipse Milo 0.6.16"); null without OPC-UA */
  opcuaServer: string | null;
  /** records committed to the buffer in the window (all inputs) */
  ingested: number;
  /** records routed to this sink in the window */
  routed: number;
  delivered: number;
  /** records acked per second during the steady phase */
  deliveredPerS: number;
  ratio: number;
  /** records the sink refused for good (kept in its quarantine folder) */
  quarantined: number;
  failures: number;
  lastError: string | null;
  lag: { startRecords: number; startSeconds: number; endRecords: number; endSeconds: number; growing: boolean };
  drain: { drained: boolean; seconds: number; leftRecords: number };
  /** after the warm-up; `receiveWhole`: receive -> ack over the whole window, warm-up included */
  latency: { receive: LatencySummary; source: LatencySummary; receiveWhole: LatencySummary };
  cpu: { seconds: number; perMillionRecords: number; perMillionSamples: number | null };
  peakRssMB: number;
  /** the highest V8 heap in use and memory outside it (Buffers, ArrayBuffers) seen (polled every 200 ms), MB */
  peakHeapUsedMB: number;
  peakExternalMB: number;
  disk: { writeBytes: number; perPayloadByte: number; dataDirBytes: number };
  atSink: SinkCount & { sentTotal: number; verified: boolean };
  bufferEvicted: number;
  timeline: TimelinePoint[];
  errors: string[];
}

const summary = (h: LogHistogram): LatencySummary => ({ n: h.count, p50: h.quantile(0.5), p99: h.quantile(0.99), max: h.max });

function loadArgs(part: LoadPart, scale: number, names: CaseNames, opcuaPort: number, dropDir: string, opcuaServer: OpcuaServerName): string[] {
  switch (part.part) {
    case 'opcua':
      return [opcuaServer === 'milo' ? 'opcua-milo' : 'opcua', String(Math.round(OPCUA_ITEMS * scale)), String(opcuaPort)];
    case 'mqtt-scalars':
      return ['mqtt-scalars', MQTT.url, MQTT.username, MQTT.password, String(mqttTopics(scale)), String(MQTT_HZ), `${names.mqttBase}/scalars`];
    case 'mqtt-blocks':
      return ['mqtt-blocks', MQTT.url, MQTT.username, MQTT.password, String(BLOCKS_PER_S * scale), `${names.mqttBase}/meltpool`];
    case 'frames':
      return ['frames', dropDir, String(Math.round(FRAME_PERIOD_MS / scale))];
  }
}

/** Forget the gateway's persistent MQTT session on the shared broker. */
async function clearMqttSession(clientId: string): Promise<void> {
  const c = mqtt.connect(MQTT.url, { clientId, clean: true, protocolVersion: 5, username: MQTT.username, password: MQTT.password, reconnectPeriod: 0 });
  await new Promise<void>((resolve) => {
    c.once('connect', () => resolve());
    c.once('error', () => resolve());
    setTimeout(resolve, 5000);
  });
  await c.endAsync().catch(() => undefined);
}

export async function runCase(o: CaseOptions): Promise<CaseResult> {
  const id = `${o.workload}-${o.sink}-${String(o.scale).replace('.', 'p')}x-${randomBytes(3).toString('hex')}`.toLowerCase();
  const names = caseNames(id);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'lg-bench-e2e-'));
  const dataDir = path.join(tmp, 'data');
  const dropDir = path.join(tmp, 'drop');
  const logs = path.join(tmp, 'logs');
  mkdirSync(logs, { recursive: true });
  const parts = partsOf(o.workload);
  const errors: string[] = [];
  const loads: { part: LoadPart; child: Child<LoadMessage, LoadCommand> }[] = [];
  let gw: Child<HarnessMessage, HarnessCommand> | undefined;
  const tag = `${o.workload} x ${o.sink}${o.scale !== 1 ? ` (scale ${o.scale})` : ''}`;
  try {
    const opcuaPort = await freePort();
    for (const part of parts) {
      const child = new Child<LoadMessage, LoadCommand>(
        `load ${part.part}`,
        path.join(here, 'load.ts'),
        loadArgs(part, o.scale, names, opcuaPort, dropDir, o.opcuaServer ?? 'milo'),
        path.join(logs, `load-${part.part}.log`),
      );
      loads.push({ part, child });
    }
    o.progress(`${tag}: starting ${loads.length} load generator(s) and the gateway`);
    const ready = await Promise.all(loads.map((l) => l.child.next('ready', 180_000)));
    const opcuaLoad = loads.findIndex((l) => l.part.part === 'opcua');
    const opcuaServer = opcuaLoad < 0 ? null : String(ready[opcuaLoad]!.info?.server ?? 'unknown');

    const configFile = path.join(tmp, 'layergate.yaml');
    writeFileSync(
      configFile,
      JSON.stringify(
        { ...gatewayConfig(o.workload, o.sink, o.scale, dataDir, names, { opcuaEndpoint: `opc.tcp://127.0.0.1:${opcuaPort}`, dropDir }), ...o.extraConfig },
        null,
        2,
      ),
    );
    const harness = new Child<HarnessMessage, HarnessCommand>(
      'gateway',
      o.harnessScript ?? harnessScript(),
      [configFile],
      path.join(logs, 'gateway.log'),
      process.env,
      gatewayNodeArgs(),
    );
    gw = harness;
    let last: HarnessSample | undefined;
    const receive = new LogHistogram();
    const source = new LogHistogram();
    const receiveWhole = new LogHistogram();
    let collecting = false;
    // the steady phase's first part is its warm-up, for the latency as for the lag (see the header)
    const warm = Math.min(10, o.durationS * 0.2);
    let steadyFrom = Number.POSITIVE_INFINITY;
    const sinkOf = (s: HarnessSample): SinkSample => s.sinks.find((x) => x.sink === o.sink)!;
    harness.on((msg) => {
      const m = msg.type === 'stopped' ? msg.sample : msg;
      if (m.type !== 'sample') return;
      last = m;
      if (collecting) {
        const s = sinkOf(m);
        receiveWhole.merge(s.receiveToAck);
        if (Date.now() >= steadyFrom) {
          receive.merge(s.receiveToAck);
          source.merge(s.sourceToAck);
        }
      }
    });
    await harness.next('ready', 120_000);
    const nextSample = () => {
      o.signal?.throwIfAborted();
      return harness.next('sample', 10_000);
    };

    // ready: every OPC-UA item monitored, the MQTT input online
    const readyBy = Date.now() + 120_000;
    for (;;) {
      const s = await nextSample();
      const opc = s.inputPlugins.opcua as { monitoredItems?: number } | undefined;
      const mq = s.inputPlugins.mqtt as { connection?: string } | undefined;
      const opcOk = !opc || (opc.monitoredItems ?? 0) >= Math.round(OPCUA_ITEMS * o.scale);
      const mqOk = !mq || mq.connection === 'connected';
      if (opcOk && mqOk) break;
      if (Date.now() > readyBy) throw new Error(`${tag}: the gateway's inputs are not ready after 120 s: ${JSON.stringify(s.inputPlugins)}`);
    }
    // the initial values it received: delivered, or at least counted (up to 20 s)
    const settleBy = Date.now() + 20_000;
    while (Date.now() < settleBy) {
      const s = await nextSample();
      if (sinkOf(s).lagRecords === 0) break;
    }
    await sleep(200);
    const s0 = last!;
    const k0 = sinkOf(s0);
    const ingested = (s: HarnessSample) => Object.values(s.inputs).reduce((n, i) => n + i.records, 0);
    const in0 = ingested(s0);

    // ---- steady phase ---------------------------------------------------------------------------
    // what the generators have spent before the start (their start-up): left out of their CPU
    const countsOf = (l: (typeof loads)[number], command: LoadCommand): Promise<LoadCounts> => {
      const p = l.child.next('counts', 10_000);
      l.child.send(command);
      return p;
    };
    await o.onSteadyStart?.({ dataDir, logs });
    const before = await Promise.all(loads.map((l) => countsOf(l, { type: 'counts' })));
    collecting = true;
    for (const l of loads) l.child.send({ type: 'start' });
    const t0 = Date.now();
    steadyFrom = t0 + warm * 1000;
    const timeline: TimelinePoint[] = [];
    const point = (s: HarnessSample, phase: TimelinePoint['phase']): void => {
      const k = sinkOf(s);
      timeline.push({
        t: (s.t - t0) / 1000,
        phase,
        ingested: ingested(s) - in0,
        delivered: k.sentRecords - k0.sentRecords,
        lagRecords: k.lagRecords,
        lagSeconds: k.lagSeconds,
        rssMB: s.rss / 2 ** 20,
        heapUsedMB: s.mem.heapUsed / 2 ** 20,
        externalMB: s.mem.external / 2 ** 20,
      });
    };
    let lastPrint = 0;
    while (Date.now() - t0 < o.durationS * 1000) {
      const s = await nextSample();
      point(s, 'steady');
      const el = (Date.now() - t0) / 1000;
      if (el - lastPrint >= 10) {
        lastPrint = el;
        const p = timeline[timeline.length - 1]!;
        o.progress(
          `${tag}: ${Math.max(0, Math.round(o.durationS - el))} s left; ingested ${Math.round(p.ingested / el).toLocaleString('en-US')}/s, ` +
            `delivered ${Math.round(p.delivered / el).toLocaleString('en-US')}/s, lag ${p.lagRecords.toLocaleString('en-US')} records / ${p.lagSeconds.toFixed(1)} s, ` +
            `RSS ${Math.round(p.rssMB)} MB (heap ${Math.round(p.heapUsedMB)}, external ${Math.round(p.externalMB)})`,
        );
      }
    }
    const after = await Promise.all(loads.map((l) => countsOf(l, { type: 'stop' })));
    const counts = after.map(
      (c, i): LoadCounts => ({
        units: c.units - before[i]!.units,
        bytes: c.bytes - before[i]!.bytes,
        cpuUs: c.cpuUs - before[i]!.cpuUs,
      }),
    );
    const steadyS = (Date.now() - t0) / 1000;
    const sEnd = last!;
    await o.onSteadyEnd?.();
    const kEnd = sinkOf(sEnd);

    // ---- drain ------------------------------------------------------------------------------------
    const fwd = forwarderSettings(o.sink, names);
    const drainStart = Date.now();
    let drained = false;
    let quietSince = Date.now();
    let lastIngested = ingested(sEnd);
    o.progress(`${tag}: load stopped; draining (up to ${o.drainTimeoutS} s, lag ${kEnd.lagRecords.toLocaleString('en-US')} records)`);
    while (Date.now() - drainStart < o.drainTimeoutS * 1000) {
      const s = await nextSample();
      point(s, 'drain');
      const n = ingested(s);
      if (n !== lastIngested) {
        lastIngested = n;
        quietSince = Date.now();
      }
      // caught up: nothing left, or only a partial batch younger than the sink's linger (waiting by design)
      const k = sinkOf(s);
      const lingering = k.lagRecords < fwd.batchRecords && k.lagSeconds * 1000 < fwd.lingerMs + 2000;
      if ((k.lagRecords === 0 || lingering) && Date.now() - quietSince >= 2000) {
        drained = true;
        break;
      }
    }
    const drainS = (Date.now() - drainStart) / 1000;
    const kPre = sinkOf(last!);
    // the orderly stop sends what still lingers at once (within the shutdown grace): counted as delivered
    const stopped = harness.next('stopped', 30_000);
    harness.send({ type: 'stop' });
    await stopped.catch((err: unknown) => errors.push(`gateway stop: ${(err as Error).message.split('\n')[0]}`));
    collecting = false;
    const sFin = last!;
    const kFin = sinkOf(sFin);
    // it exits by itself after the stop; a SIGTERM meanwhile would lose what node writes at exit (--cpu-prof)
    await harness.kill(5000, 15_000);
    for (const l of loads) await l.child.kill();

    // ---- figures ----------------------------------------------------------------------------------
    const units: Record<string, number> = {};
    let offeredRecords = 0;
    let samples = 0;
    let payloadBytes = 0;
    let loadCpuUs = 0;
    const loadCpuByPart: Record<string, number> = {};
    loads.forEach((l, i) => {
      const c = counts[i]!;
      units[l.part.part] = c.units;
      loadCpuByPart[l.part.part] = c.cpuUs / 1e6;
      if (sinkTakes(o.sink, l.part)) offeredRecords += c.units * l.part.recordsPerUnit;
      samples += c.units * l.part.samplesPerUnit;
      payloadBytes += c.bytes;
      loadCpuUs += c.cpuUs;
    });
    const avg = (from: number, to: number, f: (p: TimelinePoint) => number): number => {
      const pts = timeline.filter((p) => p.phase === 'steady' && p.t >= from && p.t < to);
      return pts.length === 0 ? 0 : pts.reduce((n, p) => n + f(p), 0) / pts.length;
    };
    const lag = {
      startRecords: avg(warm, warm + 3, (p) => p.lagRecords),
      startSeconds: avg(warm, warm + 3, (p) => p.lagSeconds),
      endRecords: avg(steadyS - 3, steadyS + 1, (p) => p.lagRecords),
      endSeconds: avg(steadyS - 3, steadyS + 1, (p) => p.lagSeconds),
      growing: false,
    };
    // a lingering sink holds a partial batch until it is `linger` old by design: only an age beyond
    // both the start's and the linger counts as falling behind
    lag.growing = lag.endSeconds - Math.max(lag.startSeconds, fwd.lingerMs / 1000) > Math.max(2, 0.05 * (steadyS - warm));
    const delivered = Math.max(0, kFin.sentRecords - k0.sentRecords - k0.lagRecords);
    const routed = kPre.sentRecords + kPre.lagRecords - (k0.sentRecords + k0.lagRecords);
    // after the stop the buffer is closed and reports no lag: what is left is what was routed and not acked
    const left = Math.max(0, routed + k0.lagRecords - (kFin.sentRecords - k0.sentRecords) - (kFin.quarantinedRecords - k0.quarantinedRecords));
    const ingestedN = ingested(sFin) - in0;
    const cpuS = (sFin.cpuUs - s0.cpuUs) / 1e6;
    const writeBytes = sFin.writeBytes - s0.writeBytes;
    const dataDirBytes = await dirBytes(dataDir);
    let atSink: CaseResult['atSink'];
    try {
      const c = await countAtSink(o.sink, names, dataDir);
      const verified = c.unit === 'objects' ? kFin.sentRecords === 0 || c.count > 0 : c.count >= kFin.sentRecords;
      atSink = { ...c, sentTotal: kFin.sentRecords, verified };
    } catch (err) {
      errors.push(`count at ${o.sink}: ${(err as Error).message}`);
      atSink = { unit: 'records', count: 0, bytes: 0, sentTotal: kFin.sentRecords, verified: false };
    }
    if (kFin.lastError) errors.push(`${o.sink}: last send error: ${kFin.lastError}`);
    return {
      workload: o.workload,
      sink: o.sink,
      scale: o.scale,
      durationS: steadyS,
      offered: { units, records: offeredRecords, recordsPerS: offeredRecords / steadyS, samples, payloadBytes, loadCpuS: loadCpuUs / 1e6, loadCpuByPart },
      opcuaServer,
      ingested: ingestedN,
      routed,
      delivered,
      deliveredPerS: (kEnd.sentRecords - k0.sentRecords) / steadyS,
      ratio: offeredRecords > 0 ? delivered / offeredRecords : Number.NaN,
      quarantined: kFin.quarantinedRecords - k0.quarantinedRecords,
      failures: kFin.failures - k0.failures,
      lastError: kFin.lastError,
      lag,
      drain: { drained, seconds: drainS, leftRecords: left },
      latency: { receive: summary(receive), source: summary(source), receiveWhole: summary(receiveWhole) },
      cpu: {
        seconds: cpuS,
        perMillionRecords: ingestedN > 0 ? (cpuS / ingestedN) * 1e6 : Number.NaN,
        perMillionSamples: samples > 0 ? (cpuS / samples) * 1e6 : null,
      },
      peakRssMB: sFin.peakRss / 2 ** 20,
      peakHeapUsedMB: sFin.peakMem.heapUsed / 2 ** 20,
      peakExternalMB: sFin.peakMem.external / 2 ** 20,
      disk: { writeBytes, perPayloadByte: payloadBytes > 0 ? writeBytes / payloadBytes : Number.NaN, dataDirBytes },
      atSink,
      bufferEvicted: sFin.buffer.evictedRecords,
      timeline,
      errors,
    };
  } finally {
    await gw?.kill();
    for (const l of loads) await l.child.kill();
    await cleanupSink(o.sink, names).catch((err: unknown) => errors.push(`cleanup ${o.sink}: ${(err as Error).message}`));
    if (parts.some((p) => p.part.startsWith('mqtt'))) await clearMqttSession(names.mqttClientId);
    if (!o.keep) rmSync(tmp, { recursive: true, force: true });
    else o.progress(`${tag}: kept ${tmp}`);
  }
}
