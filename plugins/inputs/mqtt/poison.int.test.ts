/**
 * Poison values in MQTT messages against the real Mosquitto (MQTT.url): a message whose field does not
 * fit a record (a timestamp past int64 nanoseconds, a layer past int32) is quarantined with its reason
 * and acknowledged, the good messages of the same batch are stored and acknowledged, nothing is
 * redelivered to the next session, and the input keeps ingesting.
 */
import fc from 'fast-check';
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StoredRecord } from '../../../gateway/plugin-api/record.js';
import { MQTT } from '../../../test/services/endpoints.js';
import { rig, sleep, waitFor } from '../../../test/support/mqtt-input.js';
import type { Rig } from '../../../test/support/mqtt-input.js';
import type { MqttInput } from './index.js';

let run = 0;
const started: MqttInput[] = [];
const rigs: Rig[] = [];
let pub: MqttClient;

beforeAll(async () => {
  pub = await mqtt.connectAsync(MQTT.url, { username: MQTT.username, password: MQTT.password, clientId: `lg-poison-pub-${process.pid}`, clean: true });
});
afterEach(async () => {
  for (const s of started.splice(0).reverse()) await s.stop().catch(() => undefined);
  for (const r of rigs.splice(0)) r.buffer.close();
});
afterAll(async () => {
  await pub?.endAsync();
});

const all = (r: Rig): StoredRecord[] => r.buffer.read('lake', 1_000_000, 1 << 30);
const prefix = (): string => `lg-poison/${process.pid}/t${run++}`;

/** an input with a persistent session, counting the PUBACKs it writes */
async function start(r: Rig, clientId: string, p: string): Promise<{ input: MqttInput; pubacks: () => number }> {
  const input = r.create({
    clientId,
    sessionExpiry: '1h',
    subscriptions: [
      { topic: `${p}/json`, decoder: 'json', signal: 'plant.v', json: { value: 'v', timestamp: 'ts', timestampUnit: 'ms' } },
      { topic: `${p}/event`, decoder: 'event', signal: 'machine.event' },
    ],
  });
  started.push(input);
  await input.start(r.pipeline.contextFor('mqtt'));
  await input.ready();
  let pubacks = 0;
  input.mqttClient!.on('packetsend', (pk) => {
    if (pk.cmd === 'puback') pubacks++;
  });
  return { input, pubacks: () => pubacks };
}

async function wipeSession(clientId: string): Promise<void> {
  const c = await mqtt.connectAsync(MQTT.url, { username: MQTT.username, password: MQTT.password, clientId, clean: true });
  await c.endAsync();
}

describe('poison values in MQTT messages', () => {
  it('a timestamp past int64 ns and a layer past int32 are quarantined and acknowledged; the batch is stored; nothing is redelivered', async () => {
    const r = rig('lg-poison-');
    rigs.push(r);
    const p = prefix();
    const clientId = `lg-poison-${process.pid}-one`;
    await wipeSession(clientId);
    const first = await start(r, clientId, p);
    // microseconds sent as milliseconds: 9.3e18 ns is past 2^63
    const bodies = [
      { t: 'json', b: JSON.stringify({ v: 1, ts: 1_772_431_200_000 }) },
      { t: 'json', b: JSON.stringify({ v: 9, ts: 9.3e12 }) },
      // as the tester sent it: JSON.parse reads it as 1e20, past int32 (it was stored as 1661992960)
      { t: 'event', b: '{"type": "layer-start", "build": "JOB-1", "layer": 99999999999999999999}' },
      { t: 'json', b: JSON.stringify({ v: 2, ts: 1_772_431_200_001 }) },
    ];
    await Promise.all(bodies.map(({ t, b }) => pub.publishAsync(`${p}/${t}`, b, { qos: 1 })));
    await waitFor('four PUBACKs', () => first.pubacks() === 4);
    expect(all(r).map((x) => JSON.parse(x.body!.toString()).v)).toEqual([1, 2]);
    expect(first.input.stats().quarantined).toEqual({ 'bad-timestamp': 1 });
    // the event's layer passed the event decoder; the pipeline's range check set it aside
    expect(r.pipeline.stats().mqtt).toMatchObject({ quarantined: 2, records: 2, failedEmits: 0 });
    await first.input.stop();

    // the next session gets nothing again: every message was acknowledged
    const second = await start(r, clientId, p);
    await pub.publishAsync(`${p}/json`, JSON.stringify({ v: 3, ts: 1_772_431_200_002 }), { qos: 1 });
    await waitFor('the next value', () => all(r).length === 3);
    await sleep(200);
    expect(second.input.stats().messages).toBe(1);
    expect(all(r).map((x) => JSON.parse(x.body!.toString()).v)).toEqual([1, 2, 3]);
    await second.input.stop();
    await wipeSession(clientId);
  });

  it('1,000 poison messages do not fill the receive window: the values after them are stored', async () => {
    const r = rig('lg-poison-');
    rigs.push(r);
    const p = prefix();
    const clientId = `lg-poison-${process.pid}-flood`;
    await wipeSession(clientId);
    const { input } = await start(r, clientId, p);
    await Promise.all(Array.from({ length: 1000 }, (_, i) => pub.publishAsync(`${p}/json`, JSON.stringify({ v: i, ts: 9.3e12 + i }), { qos: 1 })));
    for (const v of [1, 2, 3]) await pub.publishAsync(`${p}/json`, JSON.stringify({ v, ts: 1_772_431_200_000 + v }), { qos: 1 });
    await waitFor('the three values after the flood', () => all(r).length === 3, 60_000);
    expect(all(r).map((x) => JSON.parse(x.body!.toString()).v)).toEqual([1, 2, 3]);
    expect(input.stats().quarantined).toEqual({ 'bad-timestamp': 1000 });
    await input.stop();
    await wipeSession(clientId);
  });

  it('property: over timestamps and values of every range and type, every valid message is stored, every invalid one quarantined, all acknowledged', async () => {
    const r = rig('lg-poison-');
    rigs.push(r);
    const p = prefix();
    const clientId = `lg-poison-${process.pid}-prop`;
    await wipeSession(clientId);
    const { input, pubacks } = await start(r, clientId, p);
    // [JSON value, fits]: ms since the epoch up to 2262 (2^63 ns) fit, anything else does not
    const ts = fc.oneof(
      fc.double({ min: 0, max: 9.2e12, noNaN: true }).map((v) => [v, true] as const),
      fc.constantFrom(0, 9_223_372_036_854).map((v) => [v, true] as const),
      fc.double({ min: 9.3e12, max: Number.MAX_VALUE, noNaN: true }).map((v) => [v, false] as const),
      fc.constantFrom(9_223_372_036_855, 1e300, -1).map((v) => [v, false] as const),
      fc.double({ max: -Number.MIN_VALUE, noNaN: true }).map((v) => [v, false] as const),
      fc.oneof(fc.string(), fc.constant(null), fc.constant({}), fc.boolean()).map((v) => [v, false] as const),
    );
    const value = fc.oneof(
      fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => [v, true] as const),
      fc.string({ maxLength: 20 }).map((v) => [v, true] as const),
      fc.oneof(fc.constant(null), fc.constant([1]), fc.constant({})).map((v) => [v, false] as const),
    );
    let sent = 0;
    let stored = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(ts, value), { minLength: 1, maxLength: 8 }), async (msgs) => {
        const before = all(r).length;
        const quarantinedBefore = Object.values(input.stats().quarantined).reduce((a, b) => a + b, 0);
        const good: number[] = [];
        await Promise.all(
          msgs.map(([[t, tOk], [v, vOk]], i) => {
            const id = sent + i;
            if (tOk && vOk) good.push(id);
            return pub.publishAsync(`${p}/json`, JSON.stringify({ v, ts: t, id }), { qos: 1 });
          }),
        );
        sent += msgs.length;
        await waitFor('every message acknowledged', () => pubacks() === sent);
        const now = all(r);
        expect(now.length - before).toBe(good.length);
        stored = now.length;
        const quarantined = Object.values(input.stats().quarantined).reduce((a, b) => a + b, 0) - quarantinedBefore;
        expect(quarantined).toBe(msgs.length - good.length);
      }),
      { numRuns: 25 },
    );
    expect(r.pipeline.stats().mqtt).toMatchObject({ records: stored, failedEmits: 0 });
    await input.stop();
    await wipeSession(clientId);
  });
});
