import fc from 'fast-check';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RecordBuffer } from '../../../gateway/buffer/types.js';
import type { StoredRecord } from '../../../gateway/plugin-api/record.js';
import { type MiloBenchServer, startMiloBenchServer } from '../../../test/bench/support/milo-opcua/milo-opcua.js';
import { type OpcuaRig, OpcuaRigs } from '../../../test/support/opcua-input.js';
import { freePort, sleep, waitFor } from '../../../test/support/wait.js';
import { OPCUA_TYPES, type OpcuaTypeCase, roundTripThrough } from './test-support/opcua-types.js';

const _log = pino({ level: 'silent' });
// more than Milo's 250 operations per Browse/TranslateBrowsePaths request: the input must split by the server's limits
const N = 300;
const NS = 'urn:layergate:test:milo';
let server: MiloBenchServer;

beforeAll(async () => {
  server = await startMiloBenchServer(N, await freePort(), NS);
}, 600_000);

const rigs = new OpcuaRigs();
afterAll(async () => {
  await server?.close();
  rigs.removeAll();
});
afterEach(() => rigs.stopAll());

function setup(cfg: Record<string, unknown>) {
  return rigs.open({ endpoint: server.endpoint, namespaces: { B: NS }, machine: { enabled: false }, reconnect: { initial: '100ms', max: '1s' }, ...cfg });
}

const all = (b: RecordBuffer): StoredRecord[] => b.read('lake', 1_000_000);
const body = (r: StoredRecord) => JSON.parse(r.body!.toString('utf8')) as { v: number; quality?: string };

/** Let the server tick for `ms`; the changes it made meanwhile (its counts are totals since it started). */
async function tick(ms: number): Promise<{ changes: number; fromMs: number; toMs: number }> {
  const before = await server.counts();
  const fromMs = Date.now();
  server.start();
  await sleep(ms);
  const after = await server.stop();
  return { changes: after.units - before.units, fromMs, toMs: Date.now() };
}

describe('opcua input against Eclipse Milo (the bench load server)', () => {
  it('every change exactly once, with its exact value, signal and the server source timestamp (items by NodeId, report by exception)', async () => {
    // the W1 input config of bench:e2e (test/bench/e2e/config.ts)
    const { buffer, pipeline, input } = setup({
      samplingInterval: 0,
      items: Array.from({ length: N }, (_, i) => ({ node: `ns=B;s=v${i}`, signal: `w1.opcua.v${i}` })),
    });
    await input.start(pipeline.contextFor('opcua'));
    // a new monitored item reports its current value first: one per item
    const initial = await waitFor('every item monitored and its current value', () => {
      const rs = all(buffer);
      return input.stats().monitoredItems === N && rs.length >= N ? rs : undefined;
    });
    expect(initial).toHaveLength(N);
    const initialSeq = initial.at(-1)!.seq;

    const { changes, fromMs, toMs } = await tick(1500);
    expect(changes).toBeGreaterThanOrEqual(10 * N);
    expect(changes % N).toBe(0);
    const records = await waitFor(`${changes} changes`, () => {
      const rs = all(buffer).filter((r) => r.seq > initialSeq);
      return rs.length >= changes ? rs : undefined;
    });
    // nothing more arrives: exactly once
    await sleep(500);
    expect(all(buffer).filter((r) => r.seq > initialSeq)).toHaveLength(changes);

    const ticks = changes / N;
    const k0 = body(records.find((r) => r.signal === 'w1.opcua.v0')!).v - 1;
    expect(Number.isInteger(k0)).toBe(true);
    for (let i = 0; i < N; i++) {
      const mine = records.filter((r) => r.signal === `w1.opcua.v${i}`);
      // in order, each tick once, the exact double k + 1 + i/n
      expect(mine.map((r) => body(r).v)).toEqual(Array.from({ length: ticks }, (_, t) => k0 + t + 1 + i / N));
      for (const r of mine) expect(r).toMatchObject({ source: 'opcua', kind: 'scalar', attributes: { status: 'Good' } });
      expect(body(mine[0]!).quality).toBe('Good');
    }

    // the source timestamp is the server's: one per tick for all items (also its server timestamp),
    // strictly increasing from tick to tick, about 100 ms apart, inside the window the test let it tick
    const times = [...new Set(records.map((r) => r.sourceTimeNs!))].sort((a, b) => (a < b ? -1 : 1));
    expect(times).toHaveLength(ticks);
    for (const t of times) {
      const ofTick = records.filter((r) => r.sourceTimeNs === t);
      expect(ofTick).toHaveLength(N);
      // all of one tick k (value k + 1 + i/n)
      expect(new Set(ofTick.map((r) => Math.round(body(r).v - 1 - Number(r.signal.slice('w1.opcua.v'.length)) / N))).size).toBe(1);
      for (const r of ofTick) {
        expect(r.attributes!.server_time_ns).toBe(String(t));
        expect(r.receiveTimeNs).toBeGreaterThanOrEqual(t);
      }
    }
    expect(Number(times[0]! / 1_000_000n)).toBeGreaterThanOrEqual(fromMs - 5);
    expect(Number(times.at(-1)! / 1_000_000n)).toBeLessThanOrEqual(toMs + 5);
    const spanMs = Number((times.at(-1)! - times[0]!) / 1_000_000n);
    expect(spanMs / (ticks - 1)).toBeGreaterThan(80);
    expect(spanMs / (ticks - 1)).toBeLessThan(120);
    expect(input.stats()).toMatchObject({ badStatus: 0, queueOverflows: 0, quarantined: 0, droppedRecords: 0, itemErrors: 0, gaps: 0 });
  }, 120_000);

  it('discovers the Bench folder by browsing: exactly the n variables, named by their browse names', async () => {
    const { buffer, pipeline, input } = setup({ samplingInterval: 0, discover: [{ folder: '/Objects/B:Bench', signalPrefix: 'milo' }] });
    await input.start(pipeline.contextFor('opcua'));
    const rs = await waitFor('the current value of every discovered variable', () => {
      const r = all(buffer);
      return input.stats().monitoredItems === N && r.length >= N ? r : undefined;
    });
    expect(new Set(rs.map((r) => r.signal))).toEqual(new Set(Array.from({ length: N }, (_, i) => `milo.v${i}`)));
    const { changes } = await tick(300);
    await waitFor('the changes', () => all(buffer).length >= N + changes);
    await sleep(300);
    expect(all(buffer)).toHaveLength(N + changes);
    expect(input.stats().itemErrors).toBe(0);
  }, 120_000);

  it('a queue smaller than what a publish interval brings overflows as Milo does: oldest discarded, the overflow bit on the newest', async () => {
    // 10 changes/s into a queue of 2 published once a second
    const { buffer, pipeline, input } = setup({
      publishingInterval: '1s',
      items: [{ node: 'ns=B;s=v7', signal: 'q2', samplingInterval: 0, queueSize: 2 }],
    });
    await input.start(pipeline.contextFor('opcua'));
    await waitFor('monitored', () => all(buffer).length >= 1);
    await tick(2500);
    await waitFor('overflows counted', () => input.stats().queueOverflows > 0, 10_000);
    const rs = all(buffer).slice(1);
    expect(rs.some((r) => /Overflow/.test(r.attributes!.status!))).toBe(true);
    // the values that came are the newest of each publish, still in order
    const vs = rs.map((r) => body(r).v);
    for (let j = 1; j < vs.length; j++) expect(vs[j]!).toBeGreaterThan(vs[j - 1]!);
    expect(input.stats().badStatus).toBe(0);
  }, 60_000);
});

describe('opcua input against Eclipse Milo: every built-in type, exact (an independent encoder)', () => {
  let rig: OpcuaRig;
  /** what each Types variable holds now, for the sentinels between equal values */
  const current = new Map<string, unknown>();
  const typed = new OpcuaRigs();
  const names = OPCUA_TYPES.flatMap((c) => [c.name, `${c.name}Array`]);

  beforeAll(async () => {
    rig = typed.open({
      endpoint: server.endpoint,
      namespaces: { B: NS },
      machine: { enabled: false },
      publishingInterval: '50ms',
      samplingInterval: 0,
      queueSize: 1000,
      items: names.map((n) => ({ node: `ns=B;s=t.${n}`, signal: `t.${n}` })),
    });
    await rig.input.start(rig.pipeline.contextFor('opcua'));
    const seen = () => new Set(all(rig.buffer).map((r) => r.signal));
    await waitFor('every Types item monitored and its first value', () => rig.input.stats().monitoredItems === names.length && seen().size === names.length);
  }, 120_000);
  afterAll(async () => {
    await typed.stopAll();
    typed.removeAll();
  });

  function roundTrip(c: OpcuaTypeCase, array: boolean, values: unknown[]): Promise<void> {
    return roundTripThrough(rig, current, c, array, values, (name, v) => server.set(name, array ? (v as unknown[]).map((x) => c.toMilo(x)) : c.toMilo(v)));
  }

  for (const c of OPCUA_TYPES) {
    it(`${c.name} -> ${c.valueType}`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(c.source, { minLength: 1, maxLength: 25 }), (values) => roundTrip(c, false, values)),
        { numRuns: 6 },
      );
    });
    it(`${c.name}[] -> ${c.valueType}[]`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.array(c.source, { maxLength: 8 }), { minLength: 1, maxLength: 6 }), (values) => roundTrip(c, true, values)),
        { numRuns: 4 },
      );
    });
  }

  it('the values of the integrator report: counters above 2^53, Int64 edges, NaN and infinities, DateTime edges', async () => {
    const of = (n: string) => OPCUA_TYPES.find((c) => c.name === n)!;
    await roundTrip(of('UInt64'), false, [2n ** 53n, 2n ** 53n + 1n, 2n ** 53n + 2n, 2n ** 53n + 3n, 2n ** 64n - 1n]);
    await roundTrip(of('Int64'), false, [-(2n ** 63n), 2n ** 63n - 1n, -1n, 0n]);
    await roundTrip(of('Float'), false, [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 3.4028234663852886e38]);
    await roundTrip(of('Double'), false, [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, Number.MIN_VALUE]);
    // OPC-UA's zero (1601) and Int64 max: the earliest and latest time the value model holds
    await roundTrip(of('DateTime'), false, [0n, 2n ** 63n - 1n, 116_444_736_000_000_001n]);
    expect(rig.input.stats().quarantined).toBe(0);
  });
});
