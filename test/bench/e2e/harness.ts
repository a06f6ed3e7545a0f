/**
 * The gateway under test, as a process of its own (so its CPU time, RSS and disk writes are its own):
 * `Gateway.start` with the case's config file (argv[2]), exactly as `layergate run` builds it, with one
 * addition: every output plugin's `send` is wrapped, and when a send resolves (the sink acked the
 * batch) each of its records adds now - receive time and now - source time to a latency histogram
 * (./ack-latency.ts: the outputs run on the gateway's delivery thread, created from that module's
 * registry, and post their histograms here). Nothing else of the gateway changes.
 *
 * Once a second (LG_E2E_SAMPLE_MS) it reports over IPC: each forwarder's stats (sent, cursor, lag records/seconds), the
 * buffer's fill, the inputs' counters, process.cpuUsage(), RSS and its peak (VmHWM), the V8 heap in
 * use and the memory outside it (external, array buffers) with their peaks (polled every
 * LG_E2E_MEM_POLL_MS, 200 ms: a heap sawtooth between collections is shorter than a second),
 * /proc/self/io write_bytes, and the latency histograms of the acks since the previous report. On
 * `stop` it stops the gateway the orderly way and exits.
 *
 * The live heap with the backlog at its largest: LG_E2E_HEAP_SNAPSHOT=<file.heapsnapshot> writes a heap
 * snapshot of the main thread (the delivery thread's heap is its own) on `stop`, before the gateway stops (the load has stopped, the sink is still behind). What a
 * snapshot cannot show is the garbage that outlived the young generation and waits in the old one for
 * a full collection: LG_E2E_HEAP_PROFILE=<file.heapprofile> samples allocations from ready to stop,
 * those a full collection freed included (the profile's sites minus a snapshot's live set = what is
 * promoted and then dropped), and writes the profile on `stop` (Chrome DevTools opens it).
 *
 *   (forked by run-case.ts)  tsx test/bench/e2e/harness.ts <config.yaml>
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { writeHeapSnapshot } from 'node:v8';
import { Session } from 'node:inspector/promises';
import { loadConfig } from '../../../gateway/config/index.js';
import type { InputContext, InputDefinition, InputPlugin } from '../../../gateway/plugin-api/contract.js';
import { Gateway } from '../../../gateway/runtime/gateway.js';
import { createRegistry, loadDefinition, registry } from '../../../gateway/runtime/registry.js';
import { TIMED_REGISTRY_MODULE, collectAckLatency, histogramsOf, registry as timedRegistry } from './ack-latency.js';
import type { HarnessCommand, HarnessMessage, HarnessSample } from './protocol.js';

const inputPlugins = new Map<string, InputPlugin>();

// biome-ignore lint/suspicious/noExplicitAny: the registry's definitions are each of their own config type
function wrapInput(def: InputDefinition<any>): InputDefinition<unknown> {
  return {
    ...def,
    create(config, env) {
      const plugin: InputPlugin = def.create(config, env);
      const start = plugin.start.bind(plugin);
      plugin.start = (ctx: InputContext) => {
        inputPlugins.set(ctx.name, plugin);
        return start(ctx);
      };
      return plugin;
    },
  };
}

/** the plain numbers and strings of a plugin's stats() (IPC carries JSON: no bigints) */
function plainStats(plugin: InputPlugin): Record<string, unknown> {
  const stats = (plugin as { stats?: () => unknown }).stats;
  if (typeof stats !== 'function') return {};
  const s = stats.call(plugin) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(s).filter(([, v]) => typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean'));
}

function procIo(): number {
  try {
    const m = /^write_bytes:\s*(\d+)/m.exec(readFileSync('/proc/self/io', 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function peakRss(): number {
  try {
    const m = /^VmHWM:\s*(\d+)\s*kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : process.memoryUsage().rss;
  } catch {
    return process.memoryUsage().rss;
  }
}

type Mem = HarnessSample['mem'];
const peakMem: Mem = { heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0 };

function pollMem(): Mem {
  const m = process.memoryUsage();
  const now: Mem = { heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
  for (const k of Object.keys(now) as (keyof Mem)[]) peakMem[k] = Math.max(peakMem[k], now[k]);
  return now;
}

function sample(gw: Gateway): HarnessSample {
  const cpu = process.cpuUsage();
  const rss = process.memoryUsage().rss;
  const mem = pollMem();
  let buffer: HarnessSample['buffer'] = { records: 0, bytes: 0, fill: 0, evictedRecords: 0 };
  try {
    const b = gw.buffer.stats();
    buffer = { records: b.records, bytes: b.bytes, fill: b.fill, evictedRecords: b.evictions.reduce((n, e) => n + e.records, 0) };
  } catch {
    // closed while stopping
  }
  const stats = gw.stats();
  const sinks = stats.forwarders.map((f) => {
    const h = histogramsOf(f.sink);
    const s = {
      sink: f.sink,
      state: f.state,
      cursor: f.cursor,
      sentRecords: f.sentRecords,
      sentBytes: f.sentBytes,
      batches: f.batches,
      failures: f.failures,
      quarantinedRecords: f.quarantinedRecords,
      lagRecords: f.lagRecords,
      lagSeconds: f.lagSeconds,
      lastError: f.lastError?.message ?? null,
      receiveToAck: h.receive.toJSON(),
      sourceToAck: h.source.toJSON(),
    };
    h.receive.reset();
    h.source.reset();
    return s;
  });
  return {
    type: 'sample',
    t: Date.now(),
    cpuUs: cpu.user + cpu.system,
    rss,
    peakRss: Math.max(rss, peakRss()),
    mem,
    peakMem: { ...peakMem },
    writeBytes: procIo(),
    buffer,
    inputs: Object.fromEntries(Object.entries(stats.inputs).map(([k, v]) => [k, { records: v.records, bytes: v.bytes, quarantined: v.quarantined }])),
    inputPlugins: Object.fromEntries([...inputPlugins].map(([k, p]) => [k, plainStats(p)])),
    sinks,
  };
}

/** Sample allocations (see the header), young garbage left out; resolves a function that writes the profile. */
async function startHeapProfile(file: string): Promise<() => Promise<void>> {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', { samplingInterval: 64 * 1024, includeObjectsCollectedByMajorGC: true } as never);
  return async () => {
    const { profile } = await session.post('HeapProfiler.stopSampling');
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  };
}

const send = (m: HarnessMessage): void => {
  process.send?.(m);
};

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) throw new Error('usage: harness.ts <config.yaml>');
  // wrapped as they load: the gateway still loads only the plugins its config names
  const wrapped = createRegistry({
    inputs: [...registry.inputs.values()].map((def) => ({ ...def, load: async () => wrapInput(await loadDefinition(def)) })),
    outputs: [...timedRegistry.outputs.values()],
  });
  const loaded = loadConfig({ file, registry: wrapped });
  // the outputs run where the gateway runs them (the delivery thread), created from the timed registry
  const stopLatency = collectAckLatency();
  const gw = await Gateway.start(loaded, { registry: wrapped, registryModule: TIMED_REGISTRY_MODULE });
  const profileFile = process.env.LG_E2E_HEAP_PROFILE;
  const stopProfile = profileFile ? await startHeapProfile(profileFile) : async () => undefined;
  send({ type: 'ready', pid: process.pid });
  const timer = setInterval(() => send(sample(gw)), Number(process.env.LG_E2E_SAMPLE_MS ?? 1000));
  setInterval(pollMem, Number(process.env.LG_E2E_MEM_POLL_MS ?? 200)).unref();
  let stopping = false;
  process.on('message', (m: HarnessCommand) => {
    if (m.type !== 'stop' || stopping) return;
    stopping = true;
    clearInterval(timer);
    // the diagnostics first: the orderly stop may take the whole grace period
    void stopProfile()
      .then(() => {
        if (process.env.LG_E2E_HEAP_SNAPSHOT) writeHeapSnapshot(process.env.LG_E2E_HEAP_SNAPSHOT);
      })
      .then(() => gw.stop())
      .then(() => new Promise((resolve) => setTimeout(resolve, 50))) // the delivery thread's last latencies
      .then(() => {
        stopLatency();
        send({ type: 'stopped', sample: sample(gw) });
      })
      .finally(() => setTimeout(() => process.exit(0), 100));
  });
  // the orchestrator went away: do not linger
  process.on('disconnect', () => {
    if (!stopping) void gw.stop().finally(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  send({ type: 'failed', message: (err as Error).stack ?? String(err) });
  setTimeout(() => process.exit(1), 100);
});
