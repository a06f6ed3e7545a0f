/**
 * The mqtt input as a Sparkplug 3.0 Primary Host Application, against the real Mosquitto of the test
 * harness: its STATE birth and death (retained, the will, a clean stop, a lost connection), and an
 * independent edge node (aiospb from PyPI, test/tools/sparkplug-edge-node.ts) that waits for the
 * gateway's STATE, publishes while the gateway is up and stores and forwards while it is down. Also
 * the default signal names (node and device apart) and the time of a death (its delivery).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import type { IPublishPacket, MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StoredRecord } from '../../../gateway/plugin-api/record.js';
import { MQTT } from '../../../test/services/endpoints.js';
import { rig, sleep, waitFor } from '../../../test/support/mqtt-input.js';
import type { Rig } from '../../../test/support/mqtt-input.js';
import { EdgeNode, setupEdgeNode } from '../../../test/tools/sparkplug-edge-node.js';
import { encodeSparkplug } from '../../../wire/index.js';
import type { MqttInput } from './index.js';
import { mqttConfigSchema } from './schema.js';

const login = { username: MQTT.username, password: MQTT.password };
let run = 0;
const started: { stop(): Promise<void> }[] = [];
const rigs: Rig[] = [];
const clients: MqttClient[] = [];
/** STATE topics the tests used: their retained messages are cleared afterwards */
const stateTopics = new Set<string>();
const tmpDirs: string[] = [];

afterEach(async () => {
  for (const s of started.splice(0).reverse()) await s.stop().catch(() => undefined);
  for (const c of clients.splice(0)) await c.endAsync(true).catch(() => undefined);
  for (const r of rigs.splice(0)) r.buffer.close();
  if (stateTopics.size) {
    const cleaner = await mqtt.connectAsync(MQTT.url, { ...login, clientId: `lg-sph-clean-${process.pid}` });
    for (const t of stateTopics) await cleaner.publishAsync(t, '', { qos: 1, retain: true });
    stateTopics.clear();
    await cleaner.endAsync();
  }
});
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

function hostId(): string {
  const id = `lg-test-host-${process.pid}-${run++}`;
  stateTopics.add(`spBv1.0/STATE/${id}`);
  return id;
}

function newRig(): Rig {
  const r = rig('lg-sph-');
  rigs.push(r);
  return r;
}

async function startInput(r: Rig, name: string, config: Record<string, unknown>): Promise<MqttInput> {
  const input = r.create(config);
  started.push(input);
  await input.start(r.pipeline.contextFor(name));
  await input.ready();
  return input;
}

interface Seen {
  topic: string;
  payload: Buffer;
  retain: boolean;
  qos: number;
  atMs: number;
}

/** A plain MQTT.js client that keeps every message of `filters` with its flags and arrival time. */
async function watcher(filters: string[]): Promise<{ client: MqttClient; seen: Seen[] }> {
  const client = await mqtt.connectAsync(MQTT.url, { ...login, clientId: `lg-sph-watch-${process.pid}-${run++}`, clean: true });
  clients.push(client);
  const seen: Seen[] = [];
  client.on('message', (topic, payload, packet: IPublishPacket) => seen.push({ topic, payload, retain: packet.retain, qos: packet.qos, atMs: Date.now() }));
  await client.subscribeAsync(filters, { qos: 1 });
  return { client, seen };
}

interface State {
  online: boolean;
  timestamp: number;
}
const stateOf = (m: Seen): State => JSON.parse(m.payload.toString('utf8')) as State;

/** The retained STATE of a host as a client subscribing now gets it. */
async function retainedState(id: string): Promise<Seen> {
  const w = await watcher([`spBv1.0/STATE/${id}`]);
  const m = await waitFor(`the retained STATE of ${id}`, () => w.seen.find((x) => x.payload.length > 0));
  await w.client.endAsync();
  return m;
}

const all = (r: Rig): StoredRecord[] => r.buffer.read('lake', 1_000_000, 1 << 30);
/** The values of a signal's scalar records as numbers (an int64 value is a decimal string in the body). */
const valuesOf = (rs: StoredRecord[], signal: string): number[] =>
  rs.filter((x) => x.signal === signal).map((x) => Number((JSON.parse(x.body!.toString()) as { v: number | string }).v));

describe('Sparkplug Primary Host Application STATE', () => {
  it('subscribes first, then publishes its online STATE retained at QoS 1; a clean stop publishes the offline STATE before disconnecting', async () => {
    const r = newRig();
    const id = hostId();
    const topic = `spBv1.0/STATE/${id}`;
    const live = await watcher([topic]);
    const before = Date.now();
    const input = r.create({
      clientId: `lg-sph-${process.pid}-birth`,
      sparkplug: { primaryHostId: id },
      subscriptions: [{ topic: `spBv1.0/LGHost${process.pid}/#`, decoder: 'sparkplug', qos: 0 }],
    });
    started.push(input);
    await input.start(r.pipeline.contextFor('sph'));
    // what the client writes and reads, in order (the CONNECT is already written; the rest comes after a round trip)
    const wire: string[] = [];
    input.mqttClient!.on('packetsend', (p) => wire.push(p.cmd === 'publish' ? `send publish ${p.topic}` : `send ${p.cmd}`));
    input.mqttClient!.on('packetreceive', (p) => wire.push(`receive ${p.cmd}`));
    await input.ready();
    const after = Date.now();

    expect(wire.filter((w) => w !== 'send connect').slice(0, 4)).toEqual(['receive connack', 'send subscribe', 'receive suback', `send publish ${topic}`]);
    const birth = await retainedState(id);
    expect(birth).toMatchObject({ retain: true, qos: 1 });
    const online = stateOf(birth);
    expect(online.online).toBe(true);
    expect(online.timestamp).toBeGreaterThanOrEqual(before);
    expect(online.timestamp).toBeLessThanOrEqual(after);
    // the will registered with the CONNECT: the offline STATE with the same timestamp, retained, QoS 1
    expect(input.mqttClient!.options.will).toMatchObject({ topic, qos: 1, retain: true });
    expect(JSON.parse(input.mqttClient!.options.will!.payload.toString())).toEqual({ online: false, timestamp: online.timestamp });
    expect(input.mqttClient!.options.clean).toBe(true);

    const stopAt = Date.now();
    await input.stop();
    // a clean DISCONNECT discards the will: this offline STATE is the one the input published itself
    const death = await waitFor('the offline STATE', () => live.seen.find((m) => !m.retain && !stateOf(m).online));
    expect(stateOf(death).timestamp).toBeGreaterThanOrEqual(stopAt);
    expect(stateOf(death).timestamp).toBeLessThanOrEqual(death.atMs);
    const retained = await retainedState(id);
    expect(retained.retain).toBe(true);
    expect(stateOf(retained)).toEqual(stateOf(death));
  });

  it('the broker publishes the will, the offline STATE with the online STATE’s timestamp, when the connection dies; the reconnect brings a newer online STATE', async () => {
    const r = newRig();
    const id = hostId();
    const topic = `spBv1.0/STATE/${id}`;
    const input = await startInput(r, 'sph', {
      clientId: `lg-sph-${process.pid}-will`,
      reconnect: { initial: '300ms', max: '1s' },
      sparkplug: { primaryHostId: id },
      subscriptions: [{ topic: `spBv1.0/LGHost${process.pid}/#`, decoder: 'sparkplug', qos: 0 }],
    });
    const first = stateOf(await retainedState(id));
    expect(first.online).toBe(true);
    const live = await watcher([topic]);
    await sleep(50); // a timestamp of the next connection cannot equal this one's
    // the socket dies without DISCONNECT, as when the gateway is killed or the network drops
    input.mqttClient!.stream.destroy();
    const will = await waitFor('the will', () => live.seen.find((m) => !m.retain && !stateOf(m).online));
    expect(stateOf(will)).toEqual({ online: false, timestamp: first.timestamp });
    const again = await waitFor('the online STATE after reconnecting', () => live.seen.find((m) => !m.retain && stateOf(m).online));
    expect(stateOf(again).timestamp).toBeGreaterThan(first.timestamp);
    expect(input.stats()).toMatchObject({ connection: 'connected', connects: 2 });
    expect(stateOf(await retainedState(id))).toEqual(stateOf(again));
    // and the new connection's will carries the new timestamp
    expect(JSON.parse(input.mqttClient!.options.will!.payload.toString())).toEqual({ online: false, timestamp: stateOf(again).timestamp });
  });

  it('an offline STATE for itself delivered while online is answered with its online STATE (same timestamp); other hosts’ STATEs are no data', async () => {
    const r = newRig();
    const id = hostId();
    const other = hostId();
    const topic = `spBv1.0/STATE/${id}`;
    const input = await startInput(r, 'sph', {
      clientId: `lg-sph-${process.pid}-republish`,
      sparkplug: { primaryHostId: id },
      // covers every host's STATE (as spBv1.0/# does, without other tests' traffic): no Sparkplug B
      // payloads, not to be quarantined; and the host's own STATE, which it then does not subscribe twice
      subscriptions: [{ topic: 'spBv1.0/STATE/+', decoder: 'sparkplug', qos: 1 }],
    });
    const online = stateOf(await retainedState(id));
    expect(input.stats().sparkplugStateRepublished).toBe(0);
    const live = await watcher([topic]);
    const pub = await mqtt.connectAsync(MQTT.url, { ...login, clientId: `lg-sph-${process.pid}-late-will` });
    clients.push(pub);
    // what an older connection's will looks like when the broker delivers it late
    await pub.publishAsync(topic, JSON.stringify({ online: false, timestamp: online.timestamp - 60_000 }), { qos: 1, retain: true });
    await pub.publishAsync(`spBv1.0/STATE/${other}`, JSON.stringify({ online: true, timestamp: Date.now() }), { qos: 1, retain: true });
    await waitFor('answered', () => input.stats().sparkplugStateRepublished === 1);
    const answer = await waitFor('the online STATE again', () => live.seen.find((m) => !m.retain && stateOf(m).online));
    expect(stateOf(answer)).toEqual(online);
    expect(stateOf(await retainedState(id))).toEqual(online);
    await sleep(200);
    expect(input.stats()).toMatchObject({ quarantined: {}, sparkplugStateRepublished: 1 });
    expect(all(r)).toEqual([]);
  });

  it('refuses cleanSession: false with a primary host id (Sparkplug 3.0 requires a clean session) and host ids that are no single topic level', () => {
    const base = { url: MQTT.url, subscriptions: [{ topic: 'spBv1.0/#', decoder: 'sparkplug' }] };
    expect(mqttConfigSchema.safeParse({ ...base, sparkplug: { primaryHostId: 'scada' } }).success).toBe(true);
    const persistent = mqttConfigSchema.safeParse({ ...base, cleanSession: false, sparkplug: { primaryHostId: 'scada' } });
    expect(persistent.success).toBe(false);
    expect(persistent.error!.issues[0]).toMatchObject({ path: ['cleanSession'] });
    for (const bad of ['a/b', 'a+', '#', ''])
      expect(mqttConfigSchema.safeParse({ ...base, sparkplug: { primaryHostId: bad } }).success, `host id ${JSON.stringify(bad)}`).toBe(false);
    // without a primary host nothing changes: no STATE, the persistent session by default
    expect(mqttConfigSchema.parse(base)).toMatchObject({ sparkplug: {} });
    expect(mqttConfigSchema.parse(base).cleanSession).toBeUndefined();
  });
});

describe('Sparkplug signal names and death times', () => {
  it('a node metric and a device metric of the same name are two signals by default; an explicit template still applies', async () => {
    const r = newRig();
    const group = `LGNames${process.pid}x${run++}`;
    await startInput(r, 'spnames', {
      clientId: `lg-sph-${process.pid}-names`,
      cleanSession: true,
      subscriptions: [
        { topic: `spBv1.0/${group}/+/edge1/#`, decoder: 'sparkplug', qos: 1 },
        { topic: `spBv1.0/${group}/+/edge2/#`, decoder: 'sparkplug', qos: 1, signal: 'plant.{metric}' },
      ],
    });
    const pub = await mqtt.connectAsync(MQTT.url, { ...login, clientId: `lg-sph-${process.pid}-names-pub` });
    clients.push(pub);
    const ts = 1_772_431_200_000;
    const temp = (v: number) => ({ name: 'Chamber/Temperature', datatype: 10, doubleValue: v });
    for (const node of ['edge1', 'edge2']) {
      await pub.publishAsync(
        `spBv1.0/${group}/NBIRTH/${node}`,
        encodeSparkplug({ timestamp: ts, seq: 0, metrics: [{ name: 'bdSeq', datatype: 8, longValue: 0 }, temp(21)] }),
        { qos: 1 },
      );
      await pub.publishAsync(`spBv1.0/${group}/DBIRTH/${node}/Oven`, encodeSparkplug({ timestamp: ts, seq: 1, metrics: [temp(180)] }), { qos: 1 });
    }
    await waitFor('four births recorded', () => all(r).filter((x) => x.signal.endsWith('Temperature')).length >= 4);
    const rs = all(r);
    expect(valuesOf(rs, `${group}.edge1.Chamber.Temperature`)).toEqual([21]);
    expect(valuesOf(rs, `${group}.edge1.Oven.Chamber.Temperature`)).toEqual([180]);
    // the explicit template merges them, as it says
    expect(valuesOf(rs, 'plant.Chamber.Temperature')).toEqual([21, 180]);
  });

  it('an NDEATH delivered as the will is stamped with its delivery, not with the will’s creation (its payload time is an attribute)', async () => {
    const r = newRig();
    const group = `LGDeath${process.pid}x${run++}`;
    await startInput(r, 'spdeath', {
      clientId: `lg-sph-${process.pid}-death`,
      cleanSession: true,
      subscriptions: [{ topic: `spBv1.0/${group}/#`, decoder: 'sparkplug', qos: 1 }],
    });
    // an edge node session: its will is made at CONNECT, with the time of then
    const willMadeAt = Date.now();
    const node = await mqtt.connectAsync(MQTT.url, {
      ...login,
      clientId: `lg-sph-${process.pid}-edge-death`,
      will: {
        topic: `spBv1.0/${group}/NDEATH/edge1`,
        payload: encodeSparkplug({ timestamp: willMadeAt, metrics: [{ name: 'bdSeq', datatype: 8, longValue: 7 }] }),
        qos: 1,
        retain: false,
      },
    });
    clients.push(node);
    await node.publishAsync(
      `spBv1.0/${group}/NBIRTH/edge1`,
      encodeSparkplug({ timestamp: willMadeAt, seq: 0, metrics: [{ name: 'bdSeq', datatype: 8, longValue: 7 }] }),
      { qos: 0 },
    );
    await sleep(1500);
    const diedAt = Date.now();
    node.stream.destroy();
    const death = await waitFor('the NDEATH recorded', () => all(r).find((x) => x.kind === 'event'));
    expect(death).toMatchObject({ signal: `${group}.edge1.NDEATH`, attributes: { stale: 'true', payload_timestamp_ms: String(willMadeAt) } });
    expect(death.sourceTimeNs).toBeGreaterThanOrEqual(BigInt(diedAt) * 1_000_000n);
    expect(death.sourceTimeNs).toBeLessThanOrEqual(death.receiveTimeNs);
  });
});

describe('an independent Sparkplug edge node (aiospb) with the gateway as its primary host', () => {
  beforeAll(async () => {
    await setupEdgeNode();
    // aiospb births its node on any host's online STATE: clear what a crashed earlier run of these tests left retained
    const c = await mqtt.connectAsync(MQTT.url, { ...login, clientId: `lg-sph-clean-${process.pid}`, clean: true });
    const left = new Set<string>();
    c.on('message', (topic, payload, packet) => {
      if (packet.retain && payload.length > 0 && topic.startsWith('spBv1.0/STATE/lg-test-host-')) left.add(topic);
    });
    await c.subscribeAsync('spBv1.0/STATE/+', { qos: 1 });
    await sleep(300);
    for (const t of left) await c.publishAsync(t, '', { qos: 1, retain: true });
    await c.endAsync();
  }, 300_000);

  it('waits for the gateway’s STATE before its births, publishes while the gateway is up, stores and forwards while it is down (clean stop, lost connection); nothing is lost', async () => {
    const r = newRig();
    const id = hostId();
    const group = `LGEdge${process.pid}x${run++}`;
    const historianDir = mkdtempSync(path.join(os.tmpdir(), 'lg-sph-historian-'));
    tmpDirs.push(historianDir);
    const wire = await watcher([`spBv1.0/${group}/#`]);
    const dataOnWire = () => wire.seen.filter((m) => /\/(NDATA|DDATA)\//.test(m.topic)).length;
    const deviceBirths = () => wire.seen.filter((m) => m.topic.includes('/DBIRTH/')).length;
    const edge = new EdgeNode({
      host: '127.0.0.1',
      port: MQTT.port,
      ...login,
      group,
      node: 'edge1',
      device: 'Chamber',
      primary: id,
      historianDir,
      scanRateMs: 50,
    });
    started.push(edge);
    await edge.waitSession();
    // no STATE of its primary host yet: the node waits, nothing on the wire
    await edge.waitPublishing(false);
    await edge.set({ node: { Counter: 1, Temperature: 20 }, device: { Counter: 101, Temperature: 180 } });
    await sleep(500);
    expect(wire.seen).toEqual([]);

    const config = {
      clientId: `lg-sph-${process.pid}-edge`,
      // time enough, after the connection died, to see the node store before the input is back
      reconnect: { initial: '2s', max: '4s' },
      sparkplug: { primaryHostId: id },
      subscriptions: [{ topic: `spBv1.0/${group}/#`, decoder: 'sparkplug', qos: 0 }],
    };
    const node = (m: string) => `${group}.edge1.${m}`;
    const device = (m: string) => `${group}.edge1.Chamber.${m}`;
    const recorded = (signal: string, v: number) => () => valuesOf(all(r), signal).includes(v);

    // the gateway comes up: the node is born and publishes
    let input = await startInput(r, 'edge', config);
    await edge.waitPublishing(true);
    await waitFor('the births recorded', () => recorded(node('Counter'), 1)() && recorded(device('Counter'), 101)());
    await edge.set({ node: { Counter: 2 }, device: { Counter: 102 } });
    await waitFor('value 2 recorded', () => recorded(node('Counter'), 2)() && recorded(device('Counter'), 102)());

    // a clean stop: the offline STATE makes the node store its changes instead of sending them
    await input.stop();
    await edge.waitPublishing(false);
    const onWireWhileDown = dataOnWire();
    for (const v of [3, 4, 5]) {
      await edge.set({ node: { Counter: v }, device: { Counter: 100 + v } });
      await waitFor(`${v} stored`, () => edge.stored(`${group}/edge1`, 2).includes(v) && edge.stored(`${group}/edge1/Chamber`, 12).includes(100 + v));
    }
    expect(dataOnWire()).toBe(onWireWhileDown);
    expect(edge.stored(`${group}/edge1`, 2)).toEqual([3, 4, 5]);
    expect(edge.stored(`${group}/edge1/Chamber`, 12)).toEqual([103, 104, 105]);
    const downUntilMs = Date.now();

    // back up: the node is born again and forwards what it stored with its next change (set after the
    // births: a value the births already carry is no change)
    let birthsBefore = deviceBirths();
    input = await startInput(r, 'edge', config);
    await edge.waitPublishing(true);
    await waitFor('born again', () => deviceBirths() > birthsBefore);
    await edge.set({ node: { Counter: 6 }, device: { Counter: 106 } });
    await waitFor('value 6 recorded', () => recorded(node('Counter'), 6)() && recorded(device('Counter'), 106)());
    await waitFor('the stored values forwarded', () => [3, 4].every((v) => recorded(node('Counter'), v)() && recorded(device('Counter'), 100 + v)()));
    // the forwarded values keep the time they were read at, while the gateway was down
    for (const v of [3, 4]) {
      const rec = all(r).find((x) => x.signal === node('Counter') && Number((JSON.parse(x.body!.toString()) as { v: string }).v) === v)!;
      expect(rec.sourceTimeNs).toBeLessThan(BigInt(downUntilMs) * 1_000_000n);
    }

    // the connection dies: the broker's will (offline STATE) makes the node store again until the reconnect
    input.mqttClient!.stream.destroy();
    await edge.waitPublishing(false);
    await edge.set({ node: { Counter: 7 }, device: { Counter: 107 } });
    await waitFor('7 stored', () => edge.stored(`${group}/edge1`, 2).includes(7) && edge.stored(`${group}/edge1/Chamber`, 12).includes(107));
    birthsBefore = deviceBirths();
    await edge.waitPublishing(true); // the input reconnected and said online again
    expect(input.stats().connects).toBe(2);
    await waitFor('born again', () => deviceBirths() > birthsBefore);
    await edge.set({ node: { Counter: 8 }, device: { Counter: 108 } });
    await waitFor('8 recorded', () => recorded(node('Counter'), 8)() && recorded(device('Counter'), 108)());
    await waitFor('7 forwarded', () => recorded(node('Counter'), 7)() && recorded(device('Counter'), 107)());

    // nothing lost, and the node's and the device's metrics of the same name stayed apart
    const rs = all(r);
    expect(new Set(valuesOf(rs, node('Counter')))).toEqual(new Set([1, 2, 3, 4, 5, 6, 7, 8]));
    expect(new Set(valuesOf(rs, device('Counter')))).toEqual(new Set([101, 102, 103, 104, 105, 106, 107, 108]));
    expect(new Set(valuesOf(rs, node('Temperature')))).toEqual(new Set([20]));
    expect(new Set(valuesOf(rs, device('Temperature')))).toEqual(new Set([180]));
    expect(input.stats().quarantined).toEqual({});

    // the node dies without a word: its NDEATH (the will aiospb registered at its CONNECT) is stamped when delivered
    const killedAt = Date.now();
    await edge.kill();
    const death = await waitFor('the NDEATH recorded', () => all(r).find((x) => x.signal === node('NDEATH')), 30_000);
    expect(death.sourceTimeNs).toBeGreaterThanOrEqual(BigInt(killedAt) * 1_000_000n);
    expect(Number(death.attributes!.payload_timestamp_ms)).toBeLessThan(killedAt);
  });
});
