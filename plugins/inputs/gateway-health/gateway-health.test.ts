import { statfsSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openBuffer } from '../../../gateway/buffer/index.js';
import type { RecordBuffer } from '../../../gateway/buffer/types.js';
import { Pipeline } from '../../../gateway/ingest/pipeline.js';
import { CONTENT_TYPES } from '../../../gateway/plugin-api/record.js';
import type { StoredRecord } from '../../../gateway/plugin-api/record.js';
import { definition, diskSpace } from './index.js';
import { gatewayHealthConfigSchema } from './schema.js';

const log = pino({ level: 'silent' });
let buffers: RecordBuffer[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
  for (const b of buffers) b.close();
  buffers = [];
});

/** the real path: plugin -> pipeline (InputContext) -> SQLite buffer, read back as the sink would */
function setup(withStats: boolean) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lg-health-'));
  const buffer = openBuffer({ dir: path.join(dataDir, 'buffer'), maxBytes: 64 * 1024 * 1024, sinks: ['lake'] }, log);
  buffers.push(buffer);
  const pipeline = new Pipeline({
    buffer,
    outputs: [{ name: 'lake', plugin: {} }],
    dataDir,
    quarantineMaxBytes: 1 << 20,
    log,
  });
  const input = definition.create(gatewayHealthConfigSchema.parse({ interval: '50ms' }), {
    dataDir,
    machine: 'test-machine',
    ...(withStats ? { bufferStats: () => buffer.stats() } : {}),
  });
  return { dataDir, buffer, pipeline, input };
}

async function until<T>(what: string, fn: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const value = (r: StoredRecord): { v: number; unit?: string } => JSON.parse(r.body!.toString('utf8'));
const bySignal = (rs: StoredRecord[], s: string) => rs.filter((r) => r.signal === s);

describe('gateway-health input', () => {
  it('emits scalar records about the process, event loop, buffer and disk, class internal', async () => {
    const { dataDir, buffer, pipeline, input } = setup(true);
    // observed, not replaced: every reading the process gave, to compare each record with
    const memoryReadings = vi.spyOn(process, 'memoryUsage');
    await input.start(pipeline.contextFor('health'));
    // three ticks: the first has no event-loop samples yet, later ones do
    const records = await until('three ticks', () => {
      const rs = buffer.read('lake', 10_000);
      return bySignal(rs, 'gateway.process.rss').length >= 3 ? rs : undefined;
    });
    await input.stop();

    for (const r of records) {
      expect(r).toMatchObject({ source: 'health', kind: 'scalar', class: 'internal', contentType: CONTENT_TYPES.scalar, routes: ['lake'] });
      expect(typeof value(r).v).toBe('number');
      // one type per figure, whole or not
      expect(JSON.parse(r.body!.toString('utf8')).type).toBe('float64');
      expect(r.sourceTimeNs).toBeTypeOf('bigint');
    }
    const signals = new Set(records.map((r) => r.signal));
    for (const s of [
      'gateway.process.rss',
      'gateway.process.heap_used',
      'gateway.process.heap_total',
      'gateway.process.cpu',
      'gateway.event_loop.delay_mean',
      'gateway.event_loop.delay_p99',
      'gateway.event_loop.delay_max',
      'gateway.buffer.records',
      'gateway.buffer.bytes',
      'gateway.buffer.fill',
      'gateway.buffer.lag_records',
      'gateway.buffer.lag_bytes',
      'gateway.disk.free',
      'gateway.disk.total',
    ])
      expect(signals, s).toContain(s);

    // the figures are the real ones: each tick's RSS is exactly what the process reported at that tick
    // (one reading per tick, in tick order), disk free near statfs
    const rssValues = bySignal(records, 'gateway.process.rss').map((r) => value(r).v);
    const reported = memoryReadings.mock.results.map((r) => (r.value as NodeJS.MemoryUsage).rss);
    expect(rssValues).toEqual(reported.slice(0, rssValues.length));
    const rss = value(bySignal(records, 'gateway.process.rss').at(-1)!);
    expect(rss.unit).toBe('B');
    expect(rss.v).toBeGreaterThan(10 * 1024 * 1024);
    // CPU in % of one core: never negative, never beyond all cores (the first sample too)
    for (const r of bySignal(records, 'gateway.process.cpu')) {
      expect(value(r).v).toBeGreaterThanOrEqual(0);
      expect(value(r).v).toBeLessThanOrEqual(100 * os.availableParallelism() * 1.1);
    }
    const fs = statfsSync(dataDir);
    const free = value(bySignal(records, 'gateway.disk.free').at(-1)!).v;
    expect(Math.abs(free - fs.bavail * fs.bsize)).toBeLessThan(0.05 * fs.blocks * fs.bsize);
    expect(value(bySignal(records, 'gateway.disk.total')[0]!).v).toBe(fs.blocks * fs.bsize);

    // buffer figures: the second tick sees the first tick's records, and the lake lags by them
    const counts = bySignal(records, 'gateway.buffer.records').map((r) => value(r).v);
    expect(counts[0]).toBe(0);
    expect(counts[1]).toBeGreaterThan(0);
    const lag = bySignal(records, 'gateway.buffer.lag_records');
    expect(lag.every((r) => r.attributes?.sink === 'lake')).toBe(true);
    expect(value(lag[1]!).v).toBe(counts[1]);
    const fill = value(bySignal(records, 'gateway.buffer.fill')[1]!).v;
    expect(fill).toBeGreaterThan(0);
    expect(fill).toBeLessThan(1);
  });

  it('without a stats provider it reports no buffer signals; after stop it emits nothing more', async () => {
    // the interval timer is under the test's control: "nothing more" is then a fact, not a wait
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { buffer, pipeline, input } = setup(false);
    await input.start(pipeline.contextFor('health'));
    const rssRecords = () => bySignal(buffer.read('lake', 10_000), 'gateway.process.rss').length;
    // the first tick (at start) must have stored its records before the interval fires: a tick while
    // the previous one is still emitting is skipped by design, and on a loaded machine the first one
    // can still be running when the fake clock moves
    await until('the first tick', () => (rssRecords() >= 1 ? true : undefined));
    await vi.advanceTimersByTimeAsync(50); // the second tick
    await until('two ticks', () => (rssRecords() >= 2 ? true : undefined));
    await input.stop();
    const after = buffer.stats().records;
    const rs = buffer.read('lake', 10_000);
    expect(rs.some((r) => r.signal.startsWith('gateway.buffer.'))).toBe(false);
    expect(vi.getTimerCount()).toBe(0); // no interval left that could fire
    await vi.advanceTimersByTimeAsync(200); // four intervals
    expect(buffer.stats().records).toBe(after);
  });

  it('disk figures come from the nearest existing folder when the data folder does not exist yet', async () => {
    const d = await diskSpace(path.join(os.tmpdir(), 'lg-not-there', 'deeper'));
    const fs = statfsSync(os.tmpdir());
    expect(d.total).toBe(fs.blocks * fs.bsize);
  });

  it('config: interval is a duration, default 10s, at least 10ms; unknown keys are refused', () => {
    expect(gatewayHealthConfigSchema.parse({})).toEqual({ interval: 10_000, signalPrefix: 'gateway' });
    expect(gatewayHealthConfigSchema.parse({ interval: '1m' }).interval).toBe(60_000);
    expect(gatewayHealthConfigSchema.safeParse({ interval: '5ms' }).success).toBe(false);
    expect(gatewayHealthConfigSchema.safeParse({ intervall: '5s' }).success).toBe(false);
  });
});
