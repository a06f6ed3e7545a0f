/**
 * Signals as the UI reads them from a running gateway (its gateway-health input): the list with each
 * signal's class and routes as the running policy gives them, a signal's values decimated to at most
 * N buckets whose min and max bound every raw value in them, and a token limited to `public` seeing
 * neither the internal signals nor their values.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/wait.js';
import { BufferReader } from '../buffer/reader.js';
import { datetimeText, parseDatetime } from '../../wire/scalar-value.js';
import { type ApiRig, startApiRig } from './test-support/api-rig.js';

interface SignalInfo {
  source: string;
  signal: string;
  contentType: string;
  kind: string;
  class: string;
  rule: string;
  routes: string[];
}
interface Bucket {
  start: string;
  count: number;
  min: number | null;
  max: number | null;
  first: unknown;
  firstAt: string;
  last: unknown;
  lastAt: string;
}
interface ValuesAnswer {
  class: string;
  type: string | null;
  unit: string | null;
  numeric: boolean;
  from: string;
  to: string;
  bucketNs: string;
  records: number;
  truncated: boolean;
  buckets: Bucket[];
}

let rig: ApiRig;
let viewer: string;
let startedAt: string;
beforeAll(async () => {
  startedAt = new Date(Date.now() - 1000).toISOString();
  rig = await startApiRig();
  viewer = rig.tokenFor('viewer');
  // the health input samples every 200 ms: wait for a few dozen samples of each signal
  await waitFor(
    '25 samples of gateway.process.rss',
    () => rawValues('gateway.process.rss', startedAt, new Date(Date.now() + 60_000).toISOString()).length >= 25,
    20_000,
  );
});
afterAll(async () => {
  await rig?.stop();
});

/** the raw values of one signal in [from, to], read independently of the API (the delivery thread's reader) */
function rawValues(signal: string, from: string, to: string): { ns: bigint; v: number }[] {
  const reader = new BufferReader(path.join(rig.dir, 'data', 'buffer'));
  try {
    const lo = parseDatetime(from);
    const hi = parseDatetime(to);
    return reader
      .read('lake', 0, 1_000_000)
      .records.filter((r) => r.source === 'health' && r.signal === signal && r.receiveTimeNs >= lo && r.receiveTimeNs <= hi)
      .map((r) => ({ ns: r.receiveTimeNs, v: (JSON.parse(Buffer.from(r.body!).toString('utf8')) as { v: number }).v }));
  } finally {
    reader.close();
  }
}

describe('signals', () => {
  it('lists the health signals with the class and routes the running policy gives them', async () => {
    const r = await rig.request('GET', '/api/v1/signals', { token: viewer });
    expect(r.status).toBe(200);
    const { signals } = r.json<{ signals: SignalInfo[] }>();
    const rss = signals.find((s) => s.signal === 'gateway.process.rss');
    expect(rss).toMatchObject({ source: 'health', contentType: 'application/vnd.layergate.scalar+json', kind: 'scalar', routes: ['lake'] });
    expect(signals.filter((s) => s.source === 'health').length).toBeGreaterThanOrEqual(5);
    for (const s of signals) {
      const e = rig.gateway.policy.explain({ source: s.source, signal: s.signal, kind: 'scalar' });
      expect([s.class, s.rule, s.routes], s.signal).toEqual([e.classification.class, e.classification.rule, e.routing.routes]);
    }
    expect(rss!.class).toBe('internal');
  });

  it('values come back in at most N buckets whose min and max bound the raw values, every raw value counted once', async () => {
    const to = new Date().toISOString();
    const signal = 'gateway.process.rss';
    const points = 7;
    const r = await rig.request('GET', `/api/v1/signals/values?source=health&signal=${signal}&from=${startedAt}&to=${to}&points=${points}`, { token: viewer });
    expect(r.status, r.text).toBe(200);
    const a = r.json<ValuesAnswer>();
    expect(a).toMatchObject({ class: 'internal', type: 'float64', unit: 'B', numeric: true, truncated: false });
    expect(a.buckets.length).toBeGreaterThan(1);
    expect(a.buckets.length).toBeLessThanOrEqual(points);
    const raw = rawValues(signal, a.from, a.to);
    expect(raw.length).toBeGreaterThan(20);
    expect(a.records).toBe(raw.length);
    const width = BigInt(a.bucketNs);
    const from = parseDatetime(a.from);
    for (const b of a.buckets) {
      const lo = parseDatetime(b.start);
      const inBucket = raw.filter((x) => x.ns >= lo && x.ns < lo + width);
      expect(inBucket.length, b.start).toBe(b.count);
      const values = inBucket.map((x) => x.v);
      expect(b.min).toBe(Math.min(...values));
      expect(b.max).toBe(Math.max(...values));
      const sorted = [...inBucket].sort((x, y) => (x.ns < y.ns ? -1 : x.ns > y.ns ? 1 : 0));
      expect([b.first, b.firstAt]).toEqual([sorted[0]!.v, datetimeText(sorted[0]!.ns)]);
      expect([b.last, b.lastAt]).toEqual([sorted.at(-1)!.v, datetimeText(sorted.at(-1)!.ns)]);
      expect((lo - from) % width).toBe(0n);
    }
    // one bucket: the whole range's min and max
    const one = (
      await rig.request('GET', `/api/v1/signals/values?source=health&signal=${signal}&from=${a.from}&to=${a.to}&points=1`, { token: viewer })
    ).json<ValuesAnswer>();
    expect(one.buckets).toHaveLength(1);
    expect(one.buckets[0]).toMatchObject({ count: raw.length, min: Math.min(...raw.map((x) => x.v)), max: Math.max(...raw.map((x) => x.v)) });
  });

  it('a token limited to public sees neither the internal signals nor their values', async () => {
    const pub = rig.api.identity.createToken({ label: 'public-viewer', role: 'viewer', maxClass: 'public', expiresMs: null, createdBy: 'test' }).token;
    const { signals } = (await rig.request('GET', '/api/v1/signals', { token: pub })).json<{ signals: SignalInfo[] }>();
    expect(signals.filter((s) => s.class !== 'public')).toEqual([]);
    expect(signals.find((s) => s.signal === 'gateway.process.rss')).toBeUndefined();
    const v = await rig.request('GET', '/api/v1/signals/values?source=health&signal=gateway.process.rss', { token: pub });
    expect(v.status).toBe(404);
    expect(v.text).not.toMatch(/"buckets"/);
    // the same request with a full viewer token is answered
    expect((await rig.request('GET', '/api/v1/signals/values?source=health&signal=gateway.process.rss', { token: viewer })).status).toBe(200);
  });

  it('refuses a reversed range, an unknown signal and malformed parameters', async () => {
    const q = (s: string) => rig.request('GET', `/api/v1/signals/values?${s}`, { token: viewer });
    expect((await q('source=health&signal=gateway.process.rss&from=2026-12-04T10:00:00Z&to=2026-12-04T09:00:00Z')).status).toBe(400);
    expect((await q('source=health&signal=no.such.signal')).status).toBe(404);
    expect((await q('source=health&signal=gateway.process.rss&points=0')).status).toBe(400);
    expect((await q('source=health&signal=gateway.process.rss&from=yesterday')).status).toBe(400);
    expect((await q('signal=gateway.process.rss')).status).toBe(400);
  });
});
