/**
 * Latency to the sink's ack, measured where the outputs run. This module's `registry` is the
 * gateway's, with every output's `send` wrapped: when a send resolves (the sink acked the batch) each
 * of its records adds now - receive time and now - source time to its sink's histograms.
 *
 * The gateway creates its outputs on the delivery thread from a registry module
 * (`GatewayOptions.registryModule`): the harness names this one. There the histograms are posted to
 * the main thread on a BroadcastChannel every `POST_EVERY_MS` and when an output stops;
 * `collectAckLatency` (main thread) merges them into `histogramsOf`. Outputs on the main thread
 * (`gateway.deliveryThread: false`) record into `histogramsOf` directly.
 */
import { BroadcastChannel, isMainThread } from 'node:worker_threads';
import type { OutputContext, OutputDefinition, OutputPlugin } from '../../../gateway/plugin-api/contract.js';
import type { StoredRecord } from '../../../gateway/plugin-api/record.js';
import { createRegistry, loadDefinition, registry as gatewayRegistry } from '../../../gateway/runtime/registry.js';
import { type HistogramJson, LogHistogram } from './histogram.js';

export const TIMED_REGISTRY_MODULE = import.meta.url;
const CHANNEL = 'layergate-e2e-ack-latency';
const POST_EVERY_MS = 200;

interface Histograms {
  receive: LogHistogram;
  source: LogHistogram;
}
interface LatencyPost {
  sink: string;
  receive: HistogramJson;
  source: HistogramJson;
}

const latency = new Map<string, Histograms>();

/** The sink's histograms in this thread (created on first use). */
export function histogramsOf(sink: string): Histograms {
  let h = latency.get(sink);
  if (!h) {
    h = { receive: new LogHistogram(), source: new LogHistogram() };
    latency.set(sink, h);
  }
  return h;
}

/** wall clock in ms with sub-ms resolution */
const nowMs = (): number => performance.timeOrigin + performance.now();

function recordAcks(sink: string, batch: StoredRecord[]): void {
  const h = histogramsOf(sink);
  const now = nowMs();
  for (const r of batch) {
    h.receive.record(now - Number(r.receiveTimeNs / 1000n) / 1000);
    if (r.sourceTimeNs !== undefined && r.sourceTimeNs !== null) h.source.record(now - Number(r.sourceTimeNs / 1000n) / 1000);
  }
}

let channel: BroadcastChannel | undefined;

/** Off the main thread: post what this thread's histograms hold, and empty them. */
function postLatency(): void {
  if (isMainThread) return;
  channel ??= new BroadcastChannel(CHANNEL);
  for (const [sink, h] of latency) {
    if (h.receive.count === 0 && h.source.count === 0) continue;
    channel.postMessage({ sink, receive: h.receive.toJSON(), source: h.source.toJSON() } satisfies LatencyPost);
    h.receive.reset();
    h.source.reset();
  }
}

/** Main thread: merge what the delivery thread posts into `histogramsOf`. Returns the function that stops listening. */
export function collectAckLatency(): () => void {
  const ch = new BroadcastChannel(CHANNEL);
  ch.onmessage = (e) => {
    const m = (e as { data: LatencyPost }).data;
    const h = histogramsOf(m.sink);
    h.receive.merge(m.receive);
    h.source.merge(m.source);
  };
  return () => ch.close();
}

// biome-ignore lint/suspicious/noExplicitAny: the registry's definitions are each of their own config type
function timed(def: OutputDefinition<any>): OutputDefinition<unknown> {
  return {
    ...def,
    create(config, env) {
      const plugin: OutputPlugin = def.create(config, env);
      const start = plugin.start.bind(plugin);
      const send = plugin.send.bind(plugin);
      const stop = plugin.stop.bind(plugin);
      let sink = '?';
      let timer: NodeJS.Timeout | undefined;
      plugin.start = async (ctx: OutputContext) => {
        sink = ctx.name;
        await start(ctx);
        if (!isMainThread) timer = setInterval(postLatency, POST_EVERY_MS);
      };
      plugin.send = async (batch: StoredRecord[]) => {
        await send(batch);
        recordAcks(sink, batch);
      };
      plugin.stop = async () => {
        clearInterval(timer);
        await stop();
        postLatency();
      };
      return plugin;
    },
  };
}

/** The gateway's plugins, each output's `send` timed (see the header). */
export const registry = createRegistry({
  inputs: [...gatewayRegistry.inputs.values()],
  outputs: [...gatewayRegistry.outputs.values()].map((def) => ({ ...def, load: async () => timed(await loadDefinition(def)) })),
});
