/**
 * The `gateway-health` input: every `interval` it emits scalar records about the gateway itself
 * (memory, CPU, event-loop delay, buffer fill and per-sink lag, free disk of the data folder). It is
 * what a fresh install records with no machine attached, and the first thing to look at when a
 * gateway misbehaves.
 *
 * Design constraints:
 * - Knows nothing of the buffer: buffer figures come from `env.bufferStats`, a function the gateway
 *   passes in; without it those signals are simply absent.
 * - One emit per tick (one buffer transaction). A tick is skipped while the previous emit is still
 *   waiting (a blocked buffer), so a stuck buffer never piles up samples in memory.
 * - A failing probe (statfs on a vanished folder, a closed buffer) drops only its own signals.
 * - While the buffer's filesystem is full a sample is not waited for (`emit(..., { wait: false })`):
 *   it is dropped and counted in the loss ledger (reason 'disk-full'), so the next tick samples again.
 */
import { statfs } from 'node:fs/promises';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { IntervalHistogram } from 'node:perf_hooks';
import type { InputContext, InputDefinition, InputPlugin, PluginEnvironment, RecordDraft } from '../../../gateway/plugin-api/index.js';
import { CONTENT_TYPES, encodeScalarBody } from '../../../gateway/plugin-api/index.js';
import type { GatewayHealthConfig } from './schema.js';
import { definition as lazyDefinition } from './definition.js';

export const TYPE = 'gateway-health';

/** Free and total bytes of the file system holding `dir` (or its nearest existing parent). */
export async function diskSpace(dir: string): Promise<{ free: number; total: number }> {
  let at = path.resolve(dir);
  for (;;) {
    try {
      const s = await statfs(at);
      return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
    } catch (err) {
      const parent = path.dirname(at);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === at) throw err;
      at = parent;
    }
  }
}

export class GatewayHealthInput implements InputPlugin {
  readonly type = TYPE;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private histogram: IntervalHistogram | undefined;
  private lastCpu = process.cpuUsage();
  private lastHr = process.hrtime.bigint();
  private ctx: InputContext | undefined;
  private samples = 0;
  /** ticks skipped because the previous emit had not finished */
  skippedTicks = 0;

  constructor(
    private readonly config: GatewayHealthConfig,
    private readonly env: PluginEnvironment,
  ) {}

  async start(ctx: InputContext): Promise<void> {
    this.ctx = ctx;
    this.histogram = monitorEventLoopDelay({ resolution: 10 });
    this.histogram.enable();
    this.samples = 0;
    this.tick();
    this.timer = setInterval(() => this.tick(), this.config.interval);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
    this.histogram?.disable();
    this.histogram = undefined;
  }

  private tick(): void {
    const ctx = this.ctx;
    if (!ctx) return;
    if (this.inFlight !== undefined) {
      this.skippedTicks++;
      return;
    }
    this.inFlight = this.sample()
      // a sample cannot wait for a full disk (the next tick has a newer one): dropped into the loss ledger
      .then(async (drafts) => void (await ctx.emit(drafts, { wait: false })))
      .catch((err: unknown) => ctx.log.warn({ err }, 'gateway-health: could not record a sample'))
      .finally(() => {
        this.inFlight = undefined;
      });
  }

  /** One sample of every figure, as scalar drafts. */
  async sample(): Promise<RecordDraft[]> {
    const p = this.config.signalPrefix;
    const sourceTimeNs = BigInt(Date.now()) * 1_000_000n;
    const drafts: RecordDraft[] = [];
    const put = (signal: string, v: number, unit?: string, attributes?: Record<string, string>): void => {
      // float64 throughout: a figure keeps one type even when a sample happens to be whole
      const body = encodeScalarBody(unit ? { type: 'float64', v, unit } : { type: 'float64', v });
      drafts.push({
        signal: `${p}.${signal}`,
        kind: 'scalar',
        contentType: CONTENT_TYPES.scalar,
        body,
        sourceTimeNs,
        class: 'internal',
        ...(attributes ? { attributes } : {}),
      });
    };

    const mem = process.memoryUsage();
    put('process.rss', mem.rss, 'B');
    put('process.heap_used', mem.heapUsed, 'B');
    put('process.heap_total', mem.heapTotal, 'B');
    put('process.external', mem.external, 'B');
    put('process.uptime', Math.round(process.uptime() * 1000) / 1000, 's');

    // CPU over the last interval; the first sample (no interval yet) averages since process start
    const hr = process.hrtime.bigint();
    const first = this.samples++ === 0;
    const cpu = first ? process.cpuUsage() : process.cpuUsage(this.lastCpu);
    const elapsedUs = first ? process.uptime() * 1e6 : Number(hr - this.lastHr) / 1000;
    this.lastCpu = process.cpuUsage();
    this.lastHr = hr;
    if (elapsedUs > 0) put('process.cpu', round2(((cpu.user + cpu.system) / elapsedUs) * 100), '%');

    const h = this.histogram;
    if (h && h.count > 0) {
      put('event_loop.delay_mean', round2(h.mean / 1e6), 'ms');
      put('event_loop.delay_p99', round2(h.percentile(99) / 1e6), 'ms');
      put('event_loop.delay_max', round2(h.max / 1e6), 'ms');
      h.reset();
    }

    if (this.env.bufferStats) {
      try {
        const b = this.env.bufferStats();
        put('buffer.records', b.records);
        put('buffer.bytes', b.bytes, 'B');
        put('buffer.fill', b.fill);
        if (b.oldestReceiveTimeNs !== null) {
          put('buffer.oldest_age', Math.max(0, Number((sourceTimeNs - b.oldestReceiveTimeNs) / 1_000_000n) / 1000), 's');
        }
        for (const s of b.sinks) {
          put('buffer.lag_records', s.lagRecords, undefined, { sink: s.sink });
          put('buffer.lag_bytes', s.lagBytes, 'B', { sink: s.sink });
        }
      } catch (err) {
        this.ctx?.log.debug({ err }, 'gateway-health: buffer figures unavailable');
      }
    }

    try {
      const d = await diskSpace(this.env.dataDir);
      put('disk.free', d.free, 'B');
      put('disk.total', d.total, 'B');
    } catch (err) {
      this.ctx?.log.debug({ err, dataDir: this.env.dataDir }, 'gateway-health: disk figures unavailable');
    }
    return drafts;
  }
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

/** The full definition: the lazy one of ./definition.ts, and how to create an instance. */
export const definition: InputDefinition<GatewayHealthConfig> = {
  ...lazyDefinition,
  create: (config, env) => new GatewayHealthInput(config, env),
};
