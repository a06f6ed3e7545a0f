/**
 * The mqtt input against the real Mosquitto of the test harness (MQTT.url), fed by the simulator's
 * MQTT publisher in-process with a fixed seed, through the real Pipeline into the real SQLite buffer.
 */
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { InputContext } from '../../../gateway/plugin-api/contract.js';
import { CONTENT_TYPES } from '../../../gateway/plugin-api/record.js';
import type { StoredRecord } from '../../../gateway/plugin-api/record.js';
import { MQTT } from '../../../test/services/endpoints.js';
import { issueClientCertificate, startOwnMosquitto } from '../../../test/services/mosquitto.js';
import { makeConfig } from '../../../simulator/config.js';
import type { SimConfig } from '../../../simulator/config.js';
import { Simulator } from '../../../simulator/engine.js';
import type { SimulatorOptions } from '../../../simulator/engine.js';
import type { Table } from 'apache-arrow';
import { seriesItem, seriesTable } from '../../outputs/shared/series.js';
import { decodeBlock, encodeSparkplug } from '../../../wire/index.js';
import type { BlockFormat, MeltPoolBlock } from '../../../wire/index.js';
import type { MqttInput } from './index.js';
import { rig, silent, sleep, waitFor } from '../../../test/support/mqtt-input.js';
import type { Rig } from '../../../test/support/mqtt-input.js';

let run = 0;
const started: { stop(): Promise<void> }[] = [];
const rigs: Rig[] = [];
let raw: MqttClient;
const rawSeen: { topic: string; payload: Buffer }[] = [];

beforeAll(async () => {
  raw = await mqtt.connectAsync(MQTT.url, { username: MQTT.username, password: MQTT.password, clientId: `lg-mqtt-in-raw-${process.pid}`, clean: true });
  raw.on('message', (topic, payload) => rawSeen.push({ topic, payload }));
  await raw.subscribeAsync(`lg-mqtt-in/${process.pid}/#`, { qos: 1 });
});
afterEach(async () => {
  for (const s of started.splice(0).reverse()) await s.stop().catch(() => undefined);
  for (const r of rigs.splice(0)) r.buffer.close();
});
afterAll(async () => {
  await raw?.endAsync();
});

function newRig(): Rig {
  const r = rig();
  rigs.push(r);
  return r;
}
function prefix(): string {
  return `lg-mqtt-in/${process.pid}/t${run++}`;
}
const all = (r: Rig): StoredRecord[] => r.buffer.read('lake', 1_000_000, 1 << 30);

/** 0.2 s inerting, 2 layers of 0.5 s (0.1 s recoating), 10 kHz, 250-sample blocks: 16 blocks per layer */
function simCfg(seed = 5, layers = 2): SimConfig {
  return makeConfig({
    seed,
    job: { totalLayers: layers },
    timing: { idleS: 0, inertingS: 0.2, layerS: 0.5, recoatS: 0.1, speed: 2 },
    meltPool: { rateHz: 10_000, blockSize: 250 },
  });
}

function simulator(cfg: SimConfig, topicPrefix: string, formats: BlockFormat[], extra: Partial<SimulatorOptions> = {}, group: string | null = null): Simulator {
  const sim = new Simulator({
    cfg,
    dataDir: rigs[0]?.dataDir ?? '/tmp',
    log: silent,
    mqtt: {
      url: MQTT.url,
      username: MQTT.username,
      password: MQTT.password,
      clientId: `lg-mqtt-in-sim-${process.pid}-${run}`,
      topicPrefix,
      formats,
      sparkplugGroup: group,
      sparkplugRateHz: 10,
    },
    controlPort: null,
    ...extra,
  });
  started.push(sim);
  return sim;
}

async function startInput(r: Rig, name: string, config: Record<string, unknown>, ctx?: InputContext): Promise<MqttInput> {
  const input = r.create(config);
  started.push(input);
  await input.start(ctx ?? r.pipeline.contextFor(name));
  await input.ready();
  return input;
}

function blockSeqs(rs: StoredRecord[], signal: string): number[] {
  return rs.filter((x) => x.signal === signal).map((x) => Number(x.attributes!.seq));
}

/** The samples table the lake and the object stores write for these records (plugins/outputs/shared). */
function samplesTableOf(rs: StoredRecord[]): Table {
  const items = rs.map((x) => seriesItem(x, x.body!));
  expect(items.every((i) => i.table === 'samples')).toBe(true);
  return seriesTable(
    'samples',
    items.map((i) => i.item),
    items[0]!.item.samples!.channels,
  );
}

/** A int64 column's values as numbers. */
const int64s = (t: Table, name: string): number[] => Array.from(t.getChild(name)!.toArray() as BigInt64Array, Number);

/** Independent check of the body layout: channel-major block -> interleaved float32 LE frames. */
function expectedBody(b: MeltPoolBlock): Buffer {
  const n = b.samples[0]!.length;
  const out = Buffer.alloc(4 * n * b.channels.length);
  for (let i = 0; i < n; i++) for (let c = 0; c < b.channels.length; c++) out.writeFloatLE(b.samples[c]![i]!, 4 * (i * b.channels.length + c));
  return out;
}

describe('melt-pool blocks and events from the simulator', () => {
  it('binary, protobuf and JSON blocks arrive as samples records: exact timestamps, channels, no seq gaps; events as events', async () => {
    const r = newRig();
    const p = prefix();
    const input = await startInput(r, 'mqtt', {
      clientId: `lg-mqtt-in-${process.pid}-blocks`,
      cleanSession: true,
      subscriptions: [
        { topic: `${p}/meltpool/binary`, decoder: 'binary-block', signal: 'meltpool.{4}' },
        { topic: `${p}/meltpool/protobuf`, decoder: 'protobuf-block', signal: 'meltpool.{4}' },
        { topic: `${p}/meltpool/json`, decoder: 'json-block', signal: 'meltpool.{4}', class: 'sensitive' },
        { topic: `${p}/events`, decoder: 'event' },
      ],
    });
    const cfg = simCfg();
    const sim = simulator(cfg, p, ['binary', 'protobuf', 'json']);
    await sim.start();
    await sim.finished;
    const published = sim.state().counters.mqttPublished;
    await waitFor(`${published} messages recorded`, () => input.stats().records >= published);
    const rs = all(r);
    expect(rs).toHaveLength(published);

    const blocks = rawSeen.filter((m) => m.topic === `${p}/meltpool/binary`).map((m) => decodeBlock(m.payload, 'binary'));
    expect(blocks).toHaveLength(32);
    for (const f of ['binary', 'protobuf', 'json']) {
      const recs = rs.filter((x) => x.signal === `meltpool.${f}`);
      expect(blockSeqs(recs, `meltpool.${f}`)).toEqual([...Array(32).keys()]);
      for (const [i, rec] of recs.entries()) {
        const b = blocks[i]!;
        expect(rec).toMatchObject({
          source: 'mqtt',
          kind: 'samples',
          contentType: CONTENT_TYPES.samplesF32,
          build: b.build,
          layer: b.layer,
          sourceTimeNs: b.firstSampleTimeNs,
          attributes: { channels: 'photodiode,pyrometer', sample_rate_hz: '10000', first_sample: String(b.firstSampleIndex), seq: String(b.seq) },
        });
        // sample k of layer L at start + exposeStart(L) + k / 10 kHz, exactly
        expect(rec.sourceTimeNs).toBe(BigInt(cfg.startTimeMs + 300 + (b.layer - 1) * 500) * 1_000_000n + BigInt(b.firstSampleIndex) * 100_000n);
        expect(rec.body!.equals(expectedBody(b))).toBe(true);
        expect(rec.class).toBe(f === 'json' ? 'sensitive' : 'internal');
      }
      // in the samples tables: the sender's block sequence and rate on every row of its block
      const table = samplesTableOf(recs);
      expect(int64s(table, 'block_seq')).toEqual(blocks.flatMap((b) => Array<number>(b.samples[0]!.length).fill(b.seq)));
      expect(new Set(table.getChild('sample_rate_hz')!.toArray() as Float64Array)).toEqual(new Set([10_000]));
    }
    const events = rs.filter((x) => x.kind === 'event');
    expect(events.map((e) => e.signal)).toEqual(events.map(() => 'machine.events'));
    const bodies = events.map((e) => JSON.parse(e.body!.toString()) as { type: string; layer: number; seq: number });
    expect(bodies.filter((e) => e.type !== 'state').map((e) => `${e.type}:${e.layer}`)).toEqual([
      'layer-start:1',
      'layer-end:1',
      'layer-start:2',
      'layer-end:2',
    ]);
    expect(bodies.map((e) => e.seq)).toEqual(bodies.map((_, i) => i));
    expect(events.find((e) => JSON.parse(e.body!.toString()).type === 'layer-end')).toMatchObject({
      contentType: CONTENT_TYPES.event,
      layer: 1,
      build: cfg.job.id,
    });
    expect(input.stats()).toMatchObject({ connection: 'connected', quarantined: {}, failedEmits: 0 });
  });
});

describe('Sparkplug B', () => {
  it('resolves aliases after asking a node that was born before the gateway came to rebirth; NDEATH marks metrics stale', async () => {
    const r = newRig();
    const p = prefix();
    const group = `LGIn${process.pid}x${run}`;
    const spSeen: string[] = [];
    const watcher = await mqtt.connectAsync(MQTT.url, {
      username: MQTT.username,
      password: MQTT.password,
      clientId: `lg-mqtt-in-spw-${process.pid}`,
      clean: true,
    });
    watcher.on('message', (t) => spSeen.push(t.split('/')[2]!));
    await watcher.subscribeAsync(`spBv1.0/${group}/#`, { qos: 0 });
    const sim = simulator(simCfg(9, 40), p, [], {}, group); // long enough to outlast a slow start of the input
    await sim.start();
    // the births went out before the gateway subscribed: its first DDATA carries unknown aliases
    await waitFor('births published', () => spSeen.includes('DBIRTH'));
    await watcher.endAsync();
    const input = await startInput(r, 'sp', {
      clientId: `lg-mqtt-in-${process.pid}-sp`,
      cleanSession: true,
      subscriptions: [{ topic: `spBv1.0/${group}/#`, decoder: 'sparkplug', qos: 0 }],
    });
    // the default signal names: group, edge node (the machine id) and device before the metric
    const device = `${group}.pbf-sim-01.Process`;
    const o2 = await waitFor('O2 values resolved by alias', () => {
      const x = all(r).filter((rec) => rec.signal === `${device}.Chamber.OxygenConcentration`);
      return x.length >= 3 ? x : undefined;
    });
    expect(input.stats().rebirthRequests).toBeGreaterThanOrEqual(1);
    for (const rec of o2) {
      const v = JSON.parse(rec.body!.toString()) as { v: number };
      expect(rec).toMatchObject({ kind: 'scalar', contentType: CONTENT_TYPES.scalar, source: 'sp' });
      expect(typeof v.v).toBe('number');
      expect(rec.sourceTimeNs).toBeGreaterThanOrEqual(BigInt(simCfg().startTimeMs) * 1_000_000n);
    }
    expect(new Set(all(r).map((x) => x.signal))).toContain(`${device}.Machine.State`);
    await sim.stop();
    const death = await waitFor('NDEATH event', () => all(r).find((x) => x.kind === 'event' && JSON.parse(x.body!.toString()).type === 'sparkplug-node-death'));
    expect(death.attributes).toMatchObject({ stale: 'true' });
    expect(input.stats().sparkplugStaleMetrics).toBeGreaterThan(5);
  });
});

describe('Sparkplug B sequence checks', () => {
  it("counts and logs seq gaps (records kept) and ignores an NDEATH whose bdSeq is not the current birth's", async () => {
    const r = newRig();
    const group = `LGSeq${process.pid}x${run++}`;
    const input = await startInput(r, 'spseq', {
      clientId: `lg-mqtt-in-${process.pid}-spseq`,
      cleanSession: true,
      subscriptions: [{ topic: `spBv1.0/${group}/#`, decoder: 'sparkplug', qos: 1 }],
    });
    const t = (type: string) => `spBv1.0/${group}/${type}/edge1`;
    const temp = (seq: number, v: number) =>
      encodeSparkplug({ timestamp: 1_772_431_200_000 + seq, seq, metrics: [{ alias: 1, datatype: 10, doubleValue: v }] });
    const send = async (topic: string, payload: Buffer) => raw.publishAsync(topic, payload, { qos: 1 });
    await send(
      t('NBIRTH'),
      encodeSparkplug({
        timestamp: 1_772_431_200_000,
        seq: 0,
        metrics: [
          { name: 'bdSeq', datatype: 8, longValue: 3 },
          { name: 'Plate/Temp', alias: 1, datatype: 10, doubleValue: 20 },
        ],
      }),
    );
    await send(t('NDATA'), temp(1, 21));
    await send(t('NDATA'), temp(4, 24)); // seq 2 and 3 never arrive
    await send(t('NDEATH'), encodeSparkplug({ timestamp: 1_772_431_200_010, metrics: [{ name: 'bdSeq', datatype: 8, longValue: 2 }] })); // an older session's will
    await send(t('NDATA'), temp(5, 25));
    const deathSentNs = BigInt(Date.now()) * 1_000_000n;
    await send(t('NDEATH'), encodeSparkplug({ timestamp: 1_772_431_200_020, metrics: [{ name: 'bdSeq', datatype: 8, longValue: 3 }] }));
    await waitFor('all six handled', () => input.stats().messages >= 6 && all(r).some((x) => x.kind === 'event'));
    expect(input.stats()).toMatchObject({ sparkplugSeqGaps: 1, sparkplugLostMessages: 2, sparkplugStaleDeaths: 1 });
    const rs = all(r);
    expect(rs.filter((x) => x.signal === `${group}.edge1.Plate.Temp`).map((x) => (JSON.parse(x.body!.toString()) as { v: number }).v)).toEqual([
      20, 21, 24, 25,
    ]);
    const deaths = rs.filter((x) => x.kind === 'event');
    expect(deaths).toHaveLength(1);
    // the death's time is its delivery, its payload's time an attribute (a will's is its session's start)
    expect(deaths[0]!.sourceTimeNs).toBeGreaterThanOrEqual(deathSentNs);
    expect(deaths[0]!.sourceTimeNs).toBeLessThanOrEqual(deaths[0]!.receiveTimeNs);
    expect(deaths[0]).toMatchObject({ signal: `${group}.edge1.NDEATH`, attributes: { stale: 'true', payload_timestamp_ms: '1772431200020' } });
  });
});

describe('bad input', () => {
  it('simulator faults: malformed blocks quarantined and counted, duplicates and reordering kept, no seq lost', async () => {
    const r = newRig();
    const p = prefix();
    const input = await startInput(r, 'faulty', {
      clientId: `lg-mqtt-in-${process.pid}-faults`,
      cleanSession: true,
      subscriptions: [{ topic: `${p}/meltpool/binary`, decoder: 'binary-block' }],
    });
    const sim = simulator(simCfg(), p, ['binary'], {
      faults: [
        { name: 'malformed', params: { every: 6, mode: 'truncate' } },
        { name: 'duplicate', params: { every: 5 } },
        { name: 'out-of-order', params: { every: 7 } },
      ],
    });
    await sim.start();
    await sim.finished;
    const seen = rawSeen.filter((m) => m.topic === `${p}/meltpool/binary`);
    await waitFor('every message handled', () => input.stats().messages >= seen.length && seen.length >= 32);
    const decodable: number[] = [];
    let bad = 0;
    for (const m of seen) {
      try {
        decodable.push(decodeBlock(m.payload, 'binary').seq);
      } catch {
        bad++;
      }
    }
    expect(bad).toBeGreaterThan(0);
    await waitFor('records committed', () => all(r).length >= decodable.length);
    const seqs = blockSeqs(all(r), 'meltpool');
    expect(seqs).toEqual(decodable); // same multiset, same order as on the wire: duplicates and reordering kept
    expect(seqs.length).toBeGreaterThan(new Set(seqs).size);
    expect(seqs.some((s, i) => i > 0 && s < seqs[i - 1]!)).toBe(true);
    // the blocks lost on the way (quarantined here) are the gaps of the samples table's block_seq
    const inTable = new Set(int64s(samplesTableOf(all(r)), 'block_seq'));
    const lost = [...Array(32).keys()].filter((b) => !decodable.includes(b));
    expect(lost.length).toBeGreaterThan(0);
    expect([...Array(32).keys()].filter((b) => !inTable.has(b))).toEqual(lost);
    expect(input.stats().quarantined).toEqual({ malformed: bad });
    expect(r.pipeline.stats().faulty!.quarantined).toBe(bad);
    await waitFor('quarantine files written', () => r.pipeline.stats().faulty!.quarantineKept === bad);
    const qdir = path.join(r.dataDir, 'quarantine', 'inputs', 'faulty');
    expect(readdirSync(qdir).filter((f) => f.endsWith('.bin'))).toHaveLength(bad);
  });

  it('JSON: bad, NaN, wrong type, missing field, oversized, unknown Sparkplug topic are quarantined per reason; good values still arrive', async () => {
    const r = newRig();
    const p = prefix();
    const input = await startInput(r, 'json', {
      clientId: `lg-mqtt-in-${process.pid}-json`,
      cleanSession: true,
      maxMessageBytes: '1KiB',
      subscriptions: [
        { topic: `${p}/json/+`, decoder: 'json', signal: 'plant.{4}', json: { value: 'data.v', timestamp: 'ts', unit: 'u' } },
        { topic: `${p}/sp`, decoder: 'sparkplug' },
      ],
    });
    const pub = (sub: string, body: string | Buffer) => raw.publishAsync(`${p}/${sub}`, body, { qos: 1 });
    await pub('json/o2', JSON.stringify({ data: { v: 61.5 }, ts: 1_772_431_200_123.5, u: 'ppm' }));
    await pub('json/o2', '{"data": {"v": 1');
    await pub('json/o2', JSON.stringify({ data: { v: null }, ts: 1 }));
    await pub('json/o2', JSON.stringify({ data: { v: [1, 2] }, ts: 1 }));
    await pub('json/o2', JSON.stringify({ data: {}, ts: 1 }));
    await pub('json/o2', JSON.stringify({ data: { v: 1 }, ts: 'yesterday' }));
    await pub('json/o2', JSON.stringify({ data: { v: 1, pad: 'x'.repeat(2000) }, ts: 1 }));
    await pub('sp', Buffer.from([1, 2, 3]));
    await pub('json/temp', JSON.stringify({ data: { v: 'ok' }, ts: 1_772_431_200_000 }));
    await waitFor('all nine handled', () => input.stats().messages >= 9 && all(r).length >= 2);
    await waitFor('quarantine counted', () => Object.values(input.stats().quarantined).reduce((a, b) => a + b, 0) >= 7);
    expect(input.stats().quarantined).toEqual({
      malformed: 1,
      nan: 1,
      'wrong-type': 1,
      'missing-field': 1,
      'bad-timestamp': 1,
      oversized: 1,
      'unknown-topic': 1,
    });
    const rs = all(r);
    expect(rs.map((x) => [x.signal, JSON.parse(x.body!.toString())])).toEqual([
      ['plant.o2', { v: 61.5, type: 'float64', unit: 'ppm' }],
      ['plant.temp', { v: 'ok', type: 'string' }],
    ]);
    expect(rs[0]!.sourceTimeNs).toBe(1_772_431_200_123_500_000n);
    await waitFor('quarantine files written', () => r.pipeline.stats().json!.quarantineKept === 7);
    const qdir = path.join(r.dataDir, 'quarantine', 'inputs', 'json');
    const sidecars = readdirSync(qdir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(path.join(qdir, f), 'utf8')) as { where: string; error: { message: string; code: string } });
    expect(sidecars).toHaveLength(7);
    expect(sidecars.every((s) => s.where.startsWith(`${p}/`) && s.error.code === 'LG_MQTT_PAYLOAD')).toBe(true);
    expect(sidecars.map((s) => s.error.message.split(':')[0]).sort()).toEqual([
      'bad-timestamp',
      'malformed',
      'missing-field',
      'nan',
      'oversized',
      'unknown-topic',
      'wrong-type',
    ]);
  });
});

describe('JSON sample arrays', () => {
  it('an array becomes one float32 samples record (one channel, or one sample of every channel per inner array); null is NaN; bad arrays are quarantined per reason', async () => {
    const r = newRig();
    const p = prefix();
    const input = await startInput(r, 'jsonsamples', {
      clientId: `lg-mqtt-in-${process.pid}-jsonsamples`,
      cleanSession: true,
      subscriptions: [
        {
          topic: `${p}/one`,
          decoder: 'json',
          signal: 'plant.pd',
          json: { value: 'data.pd', shape: 'samples', sampleRate: 'rate', timestamp: 't0', firstSample: 'first' },
        },
        {
          topic: `${p}/two`,
          decoder: 'json',
          signal: 'plant.mp',
          json: { value: 'v', shape: 'samples', fixedSampleRate: 20_000, channels: ['photodiode', 'pyrometer'] },
        },
      ],
    });
    const pub = (sub: string, body: unknown) => raw.publishAsync(`${p}/${sub}`, typeof body === 'string' ? body : JSON.stringify(body), { qos: 1 });
    await pub('one', { data: { pd: [0.5, -1.25, null, 3] }, rate: 10_000, t0: 1_772_431_200_000, first: 40 });
    await pub('two', {
      v: [
        [1, 2],
        [3, 4],
        [5, null],
      ],
    });
    await pub('one', { data: { pd: 7 }, rate: 10_000, t0: 1 }); // not an array
    await pub('one', { data: { pd: [] }, rate: 10_000, t0: 1 }); // empty
    await pub('one', { data: { pd: [1, 'x'] }, rate: 10_000, t0: 1 }); // a string sample
    await pub('one', { data: { pd: [1, 2] }, t0: 1 }); // no rate
    await pub('two', { v: [[1, 2], [3]] }); // ragged
    await pub('two', { v: [[1, 2, 3]] }); // three channels, two named
    await waitFor('all eight handled', () => input.stats().messages >= 8 && all(r).length >= 2);
    await waitFor('quarantine counted', () => Object.values(input.stats().quarantined).reduce((a, b) => a + b, 0) >= 6);
    expect(input.stats().quarantined).toEqual({ 'wrong-type': 2, malformed: 3, 'missing-field': 1 });
    const [one, two] = all(r);
    expect(one).toMatchObject({ signal: 'plant.pd', kind: 'samples', contentType: CONTENT_TYPES.samplesF32, sourceTimeNs: 1_772_431_200_000_000_000n });
    expect(one!.attributes).toMatchObject({ channels: 'pd', sample_rate_hz: '10000', first_sample: '40' });
    const f1 = Array.from({ length: 4 }, (_, i) => one!.body!.readFloatLE(4 * i));
    expect(f1.slice(0, 2)).toEqual([0.5, -1.25]);
    expect(Number.isNaN(f1[2])).toBe(true);
    expect(f1[3]).toBe(3);
    expect(two!.attributes).toMatchObject({ channels: 'photodiode,pyrometer', sample_rate_hz: '20000', first_sample: '0' });
    expect(two!.body!.length).toBe(6 * 4);
    const f2 = Array.from({ length: 6 }, (_, i) => two!.body!.readFloatLE(4 * i));
    expect(f2.slice(0, 5)).toEqual([1, 2, 3, 4, 5]);
    expect(Number.isNaN(f2[5])).toBe(true);
  });
});

describe('acknowledgement after the commit, persistent session', () => {
  it('a QoS 1 PUBACK leaves only after emit resolved; several messages share one commit', async () => {
    const r = newRig();
    const p = prefix();
    let release!: () => void;
    const held = new Promise<void>((res) => (release = res));
    const real = r.pipeline.contextFor('held');
    let emits = 0;
    const ctx: InputContext = {
      ...real,
      name: real.name,
      log: real.log,
      emit: async (d) => {
        emits++;
        await held;
        return real.emit(d);
      },
    };
    const input = r.create({ clientId: `lg-mqtt-in-${process.pid}-held`, cleanSession: true, subscriptions: [{ topic: `${p}/v`, decoder: 'json' }] });
    started.push(input);
    await input.start(ctx);
    await input.ready();
    // for each PUBACK written: was its message's record already in the buffer?
    const valueByMessageId = new Map<number, number>();
    const pubacks: boolean[] = [];
    input.mqttClient!.on('packetreceive', (pk) => {
      if (pk.cmd === 'publish') valueByMessageId.set(pk.messageId!, JSON.parse(pk.payload.toString()).value);
    });
    input.mqttClient!.on('packetsend', (pk) => {
      if (pk.cmd === 'puback') pubacks.push(all(r).some((x) => JSON.parse(x.body!.toString()).v === valueByMessageId.get(pk.messageId!)));
    });
    const pub = mqtt.connect(MQTT.url, { username: MQTT.username, password: MQTT.password, clientId: `lg-mqtt-in-pub-${process.pid}-held` });
    await Promise.all([1, 2, 3, 4, 5].map((v) => pub.publishAsync(`${p}/v`, JSON.stringify({ value: v }), { qos: 1 })));
    await waitFor('five messages received', () => input.stats().messages === 5);
    await waitFor('the commit is under way', () => emits >= 1);
    // MQTT.js would have written the PUBACKs while handling each packet; they are parked instead
    expect(pubacks).toEqual([]);
    release();
    await waitFor('five PUBACKs', () => pubacks.length === 5);
    expect(pubacks).toEqual([true, true, true, true, true]);
    // messages that arrived while a commit was held went into one commit together
    expect(input.stats().batches).toBeLessThanOrEqual(2);
    expect(
      all(r)
        .map((x) => JSON.parse(x.body!.toString()).v)
        .sort(),
    ).toEqual([1, 2, 3, 4, 5]);
    await pub.endAsync();
  });

  it('messages whose commit failed are redelivered to the next session; messages published while stopped arrive after the start (MQTT 5 and 3.1.1)', async () => {
    for (const protocolVersion of [5, 4] as const) {
      const r = newRig();
      const p = prefix();
      const clientId = `lg-mqtt-in-${process.pid}-persist-v${protocolVersion}`;
      const config = { clientId, protocolVersion, sessionExpiry: '1h', subscriptions: [{ topic: `${p}/v`, decoder: 'json' }] };
      // start from a clean slate for this client id, then keep the session from here on
      const wipe = await mqtt.connectAsync(MQTT.url, { username: MQTT.username, password: MQTT.password, clientId, clean: true, protocolVersion });
      await wipe.endAsync();

      const real = r.pipeline.contextFor('persist');
      const failing: InputContext = {
        ...real,
        name: real.name,
        log: real.log,
        emit: async () => {
          throw new Error('buffer unavailable (test)');
        },
      };
      const first = await startInput(r, 'persist', config, failing);
      await raw.publishAsync(`${p}/v`, JSON.stringify({ value: 1 }), { qos: 1 });
      await waitFor('failed emit', () => first.stats().failedEmits >= 1);
      await first.stop();

      for (const v of [2, 3, 4]) await raw.publishAsync(`${p}/v`, JSON.stringify({ value: v }), { qos: 1 });
      const second = await startInput(r, 'persist', config);
      await waitFor('all four values recorded', () => all(r).length >= 4);
      await sleep(200);
      expect(all(r).map((x) => JSON.parse(x.body!.toString()).v)).toEqual([1, 2, 3, 4]);
      await second.stop();
      const cleanup = await mqtt.connectAsync(MQTT.url, { username: MQTT.username, password: MQTT.password, clientId, clean: true, protocolVersion });
      await cleanup.endAsync();
    }
  });
});

describe('TLS and login', () => {
  it('connects over TLS with the CA file and a password', async () => {
    expect(existsSync(MQTT.caFile)).toBe(true);
    const r = newRig();
    const p = prefix();
    const input = await startInput(r, 'tls', {
      url: MQTT.tlsUrl,
      tls: { ca: MQTT.caFile },
      clientId: `lg-mqtt-in-${process.pid}-tls`,
      cleanSession: true,
      subscriptions: [{ topic: `${p}/v`, decoder: 'json' }],
    });
    await raw.publishAsync(`${p}/v`, JSON.stringify({ value: 42 }), { qos: 1 });
    await waitFor('value over TLS', () => all(r).length === 1);
    expect(JSON.parse(all(r)[0]!.body!.toString())).toEqual({ v: 42, type: 'float64' });
    expect(input.stats().connection).toBe('connected');
  });

  it('mutual TLS: with a client certificate from the CA the broker requires, values arrive; without one the input reports the refusal and keeps retrying', async () => {
    // a Mosquitto of the test's own that requires client certificates (the shared broker does not)
    const broker = await startOwnMosquitto({ mutualTls: true });
    const id = await issueClientCertificate('layergate-gateway-test');
    try {
      const r = newRig();
      const p = prefix();
      const input = await startInput(r, 'mtls', {
        url: broker.tlsUrl,
        username: undefined,
        password: undefined,
        tls: { ca: MQTT.caFile, cert: id.cert, key: id.key },
        clientId: `lg-mqtt-in-${process.pid}-mtls`,
        cleanSession: true,
        subscriptions: [{ topic: `${p}/v`, decoder: 'json' }],
      });
      const noCert = r.create({
        url: broker.tlsUrl,
        username: undefined,
        password: undefined,
        tls: { ca: MQTT.caFile },
        reconnect: { initial: '50ms', max: '200ms' },
        clientId: `lg-mqtt-in-${process.pid}-nocert`,
        cleanSession: true,
        subscriptions: [{ topic: `${p}/v`, decoder: 'json' }],
      });
      started.push(noCert);
      await noCert.start(r.pipeline.contextFor('nocert'));
      const pub = await mqtt.connectAsync(broker.url, { clientId: `lg-mqtt-in-${process.pid}-mtls-pub` });
      await pub.publishAsync(`${p}/v`, JSON.stringify({ value: 7 }), { qos: 1 });
      await pub.endAsync();
      await waitFor('value over mutual TLS', () => all(r).length === 1);
      expect(all(r)[0]).toMatchObject({ source: 'mtls', signal: `${p.replace(/\//g, '.')}.v` });
      expect(input.stats().connection).toBe('connected');
      await waitFor('the refusal reported', () => noCert.stats().lastError);
      await waitFor('retried', () => noCert.stats().reconnects >= 1);
      expect(noCert.stats().lastError).toMatch(/certificate required|handshake failure/i);
      expect(noCert.stats()).toMatchObject({ connects: 0, messages: 0 });
      expect(noCert.stats().connection).not.toBe('connected');
    } finally {
      for (const s of started.splice(0).reverse()) await s.stop().catch(() => undefined);
      await broker.stop();
      rmSync(id.dir, { recursive: true, force: true });
    }
  });

  it('a wrong password is reported in stats and logged, not thrown; the input keeps retrying with backoff', async () => {
    const r = newRig();
    const input = r.create({
      password: 'wrong-password',
      clientId: `lg-mqtt-in-${process.pid}-badpw`,
      cleanSession: true,
      reconnect: { initial: '50ms', max: '200ms' },
      subscriptions: [{ topic: 'x/y', decoder: 'json' }],
    });
    started.push(input);
    await input.start(r.pipeline.contextFor('badpw'));
    await waitFor('two reconnect attempts', () => input.stats().reconnects >= 2);
    expect(input.stats().connection).not.toBe('connected');
    expect(input.stats().lastError).toMatch(/Not authorized|Bad User Name or Password/i);
  });
});
