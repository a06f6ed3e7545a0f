/**
 * Melt-pool traces as the UI reads them: blocks encoded with the project's own encoder
 * (wire/meltpool-block.ts, binary layout) are published to the harness's Mosquitto, the gateway's
 * mqtt input stores them, and `GET /api/v1/signals/values` decimates one channel of the 100 kHz
 * trace to N buckets whose count, NaN count, min/max and first/last equal what the test computes
 * from the samples it published. A token limited to `public` gets 404 for the (internal) trace.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MQTT } from '../../test/services/endpoints.js';
import { sleep, waitFor } from '../../test/support/wait.js';
import { encodeBlock } from '../../wire/meltpool-block.js';
import { datetimeText, parseDatetime } from '../../wire/scalar-value.js';
import { type ApiRig, startApiRig } from './test-support/api-rig.js';

interface Bucket {
  start: string;
  count: number;
  nan: number;
  min: number | null;
  max: number | null;
  first: number | null;
  firstAt: string;
  last: number | null;
  lastAt: string;
}
interface Trace {
  class: string;
  type: string;
  numeric: boolean;
  from: string;
  to: string;
  bucketNs: string;
  records: number;
  samples: number;
  truncated: boolean;
  channel: string;
  channels: string[];
  buckets: Bucket[];
}

const id = `${process.pid}-${Date.now() % 100_000}`;
const prefix = `lg-api-meltpool/${id}`;
const RATE = 100_000;
const BLOCK = 2_000;
const BLOCKS = 10;
const STEP_NS = 1_000_000_000n / BigInt(RATE);
const CHANNELS = ['photodiode', 'pyrometer'];

let rig: ApiRig;
let viewer: string;
let client: mqtt.MqttClient;
/** first sample time of the trace: 10 s ago, whole ns per sample at 100 kHz */
const baseNs = (BigInt(Date.now()) - 10_000n) * 1_000_000n;
/** the samples published, per channel, in time order */
const trace = CHANNELS.map(() => new Float32Array(BLOCK * BLOCKS));

beforeAll(async () => {
  rig = await startApiRig('', {
    inputsYaml: [
      '  meltpool:',
      '    type: mqtt',
      `    url: ${MQTT.url}`,
      `    username: ${MQTT.username}`,
      `    password: ${MQTT.password}`,
      `    clientId: lg-api-meltpool-in-${id}`,
      '    cleanSession: true',
      '    subscriptions:',
      `      - { topic: ${prefix}/meltpool, decoder: binary-block, signal: meltpool }`,
      `      - { topic: ${prefix}/probe, decoder: binary-block, signal: probe }`,
    ].join('\n'),
  });
  viewer = rig.tokenFor('viewer');
  client = await mqtt.connectAsync(MQTT.url, { username: MQTT.username, password: MQTT.password, clientId: `lg-api-meltpool-pub-${id}` });
  const block = (seq: number, samples: Float32Array[], t0: bigint) =>
    encodeBlock(
      { build: 'B-1', layer: 3, seq, firstSampleIndex: seq * BLOCK, sampleRateHz: RATE, channels: CHANNELS, firstSampleTimeNs: t0, samples },
      'binary',
    );
  // the input subscribes after it connected: probe until a block comes through
  await waitFor(
    'the mqtt input to take a probe block',
    async () => {
      await client.publishAsync(`${prefix}/probe`, block(0, [new Float32Array([1]), new Float32Array([2])], baseNs), { qos: 1 });
      await sleep(200);
      const r = await rig.request('GET', '/api/v1/signals', { token: viewer });
      return r.json<{ signals: { signal: string }[] }>().signals.some((s) => s.signal === 'probe');
    },
    30_000,
  );
  // a wave with noise, a spike and dropouts (NaN) on the photodiode; noise on the pyrometer
  for (let j = 0; j < BLOCK * BLOCKS; j++) {
    trace[0]![j] = Math.sin(j / 700) * 100 + (Math.random() - 0.5) * 10;
    trace[1]![j] = 1500 + Math.random() * 300;
  }
  trace[0]![12_345] = 1000;
  trace[0]![5] = -1000;
  for (const j of [0, 17, 18, 19, 9_999, 19_999]) trace[0]![j] = Number.NaN;
  for (let k = 0; k < BLOCKS; k++) {
    const samples = trace.map((c) => c.slice(k * BLOCK, (k + 1) * BLOCK));
    await client.publishAsync(`${prefix}/meltpool`, block(k, samples, baseNs + BigInt(k * BLOCK) * STEP_NS), { qos: 1 });
  }
  await waitFor(`${BLOCKS} melt-pool blocks in the buffer`, async () => (await values(`points=1&channel=photodiode`)).json<Trace>().records === BLOCKS, 20_000);
}, 120_000);
afterAll(async () => {
  await client?.endAsync();
  await rig?.stop();
});

const fromText = () => datetimeText(baseNs);
const toText = () => datetimeText(baseNs + BigInt(BLOCK * BLOCKS) * STEP_NS - 1n);
function values(query: string, token = viewer) {
  return rig.request('GET', `/api/v1/signals/values?source=meltpool&signal=meltpool&from=${fromText()}&to=${toText()}&${query}`, { token });
}

/** the buckets of one channel computed from the published samples with the answer's start and width */
function expected(ch: number, a: Trace) {
  const from = parseDatetime(a.from);
  const width = BigInt(a.bucketNs);
  const out = new Map<number, { count: number; nan: number; finite: number[]; first: number; firstNs: bigint; last: number; lastNs: bigint }>();
  const samples = trace[ch]!;
  for (let j = 0; j < samples.length; j++) {
    const t = baseNs + BigInt(j) * STEP_NS;
    const k = Number((t - from) / width);
    const v = samples[j]!;
    let b = out.get(k);
    if (!b) out.set(k, (b = { count: 0, nan: 0, finite: [], first: v, firstNs: t, last: v, lastNs: t }));
    b.count++;
    if (Number.isNaN(v)) b.nan++;
    else b.finite.push(v);
    b.last = v;
    b.lastNs = t;
  }
  const nul = (v: number) => (Number.isNaN(v) ? null : v);
  return [...out.entries()]
    .sort((x, y) => x[0] - y[0])
    .map(([k, b]) => ({
      start: datetimeText(from + BigInt(k) * width),
      count: b.count,
      nan: b.nan,
      min: b.finite.length ? b.finite.reduce((m, v) => Math.min(m, v)) : null,
      max: b.finite.length ? b.finite.reduce((m, v) => Math.max(m, v)) : null,
      first: nul(b.first),
      firstAt: datetimeText(b.firstNs),
      last: nul(b.last),
      lastAt: datetimeText(b.lastNs),
    }));
}

describe('melt-pool traces', () => {
  it('decimates a channel of the 100 kHz blocks to N buckets whose min/max are the raw samples per bucket, NaN counted not plotted', async () => {
    for (const [ch, points] of [
      [0, 7],
      [1, 13],
      [0, 1],
      [0, 5000],
    ] as const) {
      const r = await values(`points=${points}&channel=${CHANNELS[ch]}`);
      expect(r.status, r.text).toBe(200);
      const a = r.json<Trace>();
      expect(a).toMatchObject({
        class: 'internal',
        type: 'float32',
        numeric: true,
        truncated: false,
        records: BLOCKS,
        samples: BLOCK * BLOCKS,
        channel: CHANNELS[ch],
        channels: CHANNELS,
      });
      expect(a.buckets.length).toBeLessThanOrEqual(points);
      expect(a.buckets.length).toBe(Math.min(points, BLOCK * BLOCKS));
      expect(a.buckets).toEqual(expected(ch, a));
    }
    // the spike and the dip are in the photodiode's extremes; the NaNs are counted, not in min/max
    const one = (await values('points=1&channel=photodiode')).json<Trace>().buckets[0]!;
    expect([one.min, one.max, one.nan, one.count, one.first]).toEqual([-1000, 1000, 6, BLOCK * BLOCKS, null]);
  });

  it('draws the first channel without channel=, refuses an unknown channel, and hides the trace from a public token', async () => {
    const a = (await values('points=3')).json<Trace>();
    expect(a.channel).toBe('photodiode');
    expect(a.buckets).toEqual(expected(0, a));
    expect((await values('points=3&channel=no-such-channel')).status).toBe(404);
    const pub = rig.api.identity.createToken({ label: 'public-viewer', role: 'viewer', maxClass: 'public', expiresMs: null, createdBy: 'test' }).token;
    const hidden = await values('points=3', pub);
    expect(hidden.status).toBe(404);
    expect(hidden.text).not.toMatch(/"buckets"/);
  });
});
