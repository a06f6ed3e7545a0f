/**
 * The MQTT side against the real broker of the test harness (Mosquitto at MQTT.url, with its
 * user): melt-pool blocks in all three formats decode to the same content, timestamps sit exactly on
 * the simulated clock, seq is contiguous, two runs with one seed put identical bodies on the wire,
 * every message-level fault is visible to a subscriber, and Sparkplug B births, data, rebirth and
 * death (the will, on a dropped connection) behave as the spec says.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MQTT } from '../../test/services/endpoints.js';
import { makeConfig, type SimConfig } from '../config.js';
import { Simulator, type SimulatorOptions } from '../engine.js';
import { decodeBlock, decodeSparkplug, encodeSparkplug, type BlockFormat, type MachineEvent, type MeltPoolBlock } from '../../wire/index.js';
import { sleep, waitFor } from '../test-support/wait.js';

interface Received {
  topic: string;
  payload: Buffer;
}

let dir: string;
let sub: MqttClient;
const received: Received[] = [];
let runId = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'lg-sim-mqtt-'));
  sub = await mqtt.connectAsync(MQTT.url, { username: MQTT.username, password: MQTT.password, clientId: `lg-sim-test-sub-${process.pid}`, clean: true });
  sub.on('message', (topic, payload) => received.push({ topic, payload }));
  await sub.subscribeAsync([`lg-sim-test/${process.pid}/#`, `spBv1.0/LGSimTest${process.pid}/#`], { qos: 1 });
});

afterAll(async () => {
  await sub?.endAsync();
  await rm(dir, { recursive: true, force: true });
});

/** 0.2 s inerting, 2 layers of 0.5 s (0.1 s recoating), 10 kHz, 250-sample blocks: 16 blocks per layer */
function cfgOf(seed = 21): SimConfig {
  return makeConfig({
    seed,
    job: { totalLayers: 2 },
    timing: { idleS: 0, inertingS: 0.2, layerS: 0.5, recoatS: 0.1, speed: 2 },
    meltPool: { rateHz: 10_000, blockSize: 250 },
  });
}
const BLOCKS_PER_RUN = 32;

/** Run a whole (short) job against Mosquitto and return what a subscriber saw under its topic prefix. */
async function run(cfg: SimConfig, formats: BlockFormat[], extra: Partial<SimulatorOptions> = {}) {
  const prefix = `lg-sim-test/${process.pid}/run${runId++}`;
  const sim = new Simulator({
    cfg,
    dataDir: dir,
    log: pino({ level: 'silent' }),
    mqtt: {
      url: MQTT.url,
      username: MQTT.username,
      password: MQTT.password,
      clientId: `lg-sim-${process.pid}-${runId}`,
      topicPrefix: prefix,
      formats,
      sparkplugGroup: null,
    },
    ...extra,
  });
  await sim.start();
  await sim.finished;
  const published = sim.state().counters.mqttPublished;
  await sim.stop();
  // everything published with QoS 1 has been acked by the broker; give the subscriber a moment to receive it
  await waitFor(`${published} messages under ${prefix}`, () => received.filter((m) => m.topic.startsWith(`${prefix}/`)).length >= published, 10_000);
  await sleep(100);
  const mine = received.filter((m) => m.topic.startsWith(`${prefix}/`));
  const on = (suffix: string) => mine.filter((m) => m.topic === `${prefix}/${suffix}`).map((m) => m.payload);
  return { sim, prefix, on, events: on('events').map((p) => JSON.parse(p.toString()) as MachineEvent) };
}

describe('melt-pool blocks over MQTT', () => {
  it('JSON, binary and protobuf blocks decode to the same content, seq contiguous, timestamps exact', async () => {
    const cfg = cfgOf();
    const r = await run(cfg, ['json', 'binary', 'protobuf']);
    const decoded: Record<string, MeltPoolBlock[]> = {};
    for (const f of ['json', 'binary', 'protobuf'] as const) {
      decoded[f] = r.on(`meltpool/${f}`).map((p) => decodeBlock(p, f));
      expect(decoded[f]!.map((b) => b.seq)).toEqual([...Array(BLOCKS_PER_RUN).keys()]);
    }
    for (let i = 0; i < BLOCKS_PER_RUN; i++) {
      const b = decoded.binary![i]!;
      expect(decoded.protobuf![i]).toEqual(b);
      expect({ ...decoded.json![i]!, samples: null }).toEqual({ ...b, samples: null });
      expect(decoded.json![i]!.samples).toEqual(b.samples);
      // sample i of layer L at start + exposeStart(L) + i / 10 kHz, exactly
      const exposeStartMs = 200 + (b.layer - 1) * 500 + 100;
      expect(b.firstSampleTimeNs).toBe(BigInt(cfg.startTimeMs + exposeStartMs) * 1_000_000n + BigInt(b.firstSampleIndex) * 100_000n);
      expect(b.firstSampleIndex).toBe((i % 16) * 250);
    }
    expect(r.events.filter((e) => e.type !== 'state').map((e) => `${e.type}:${e.layer}`)).toEqual([
      'layer-start:1',
      'layer-end:1',
      'layer-start:2',
      'layer-end:2',
    ]);
    expect(r.events.map((e) => e.seq)).toEqual(r.events.map((_, i) => i));
    expect(r.events.at(-1)).toMatchObject({ type: 'state', state: 'finished', timestampMs: cfg.startTimeMs + 1200 });
  });

  it('same seed, same message bodies on the wire (a second run is byte-identical)', async () => {
    const a = await run(cfgOf(77), ['binary', 'json']);
    const b = await run(cfgOf(77), ['binary', 'json']);
    for (const topic of ['meltpool/binary', 'meltpool/json', 'events']) {
      const x = a.on(topic);
      const y = b.on(topic);
      expect(x.length).toBeGreaterThan(0);
      expect(y.map((p) => p.toString('base64'))).toEqual(x.map((p) => p.toString('base64')));
    }
  });
});

describe('faults on the wire', () => {
  it('duplicate: every n-th message arrives twice with the same seq and bytes', async () => {
    const r = await run(cfgOf(), ['binary'], { faults: [{ name: 'duplicate', params: { every: 4 } }] });
    const msgs = r.on('meltpool/binary');
    const seqs = msgs.map((p) => decodeBlock(p, 'binary').seq);
    expect(msgs).toHaveLength(BLOCKS_PER_RUN + BLOCKS_PER_RUN / 4);
    for (let i = 0; i < BLOCKS_PER_RUN; i++) expect(seqs.filter((s) => s === i)).toHaveLength(i % 4 === 0 ? 2 : 1);
    const i8 = seqs.indexOf(8);
    expect(msgs[i8 + 1]!.equals(msgs[i8]!)).toBe(true);
  });

  it('out-of-order: every n-th message comes after its successor; none lost', async () => {
    const r = await run(cfgOf(), ['binary', 'json'], { faults: [{ name: 'out-of-order', params: { every: 5 } }] });
    for (const f of ['binary', 'json'] as const) {
      const seqs = r.on(`meltpool/${f}`).map((p) => decodeBlock(p, f).seq);
      expect([...seqs].sort((a, b) => a - b)).toEqual([...Array(BLOCKS_PER_RUN).keys()]);
      expect(seqs.slice(0, 12)).toEqual([1, 0, 2, 3, 4, 6, 5, 7, 8, 9, 11, 10]);
    }
  });

  it('malformed: exactly every n-th message fails to decode (truncated, or garbage header)', async () => {
    for (const mode of ['truncate', 'garbage']) {
      const r = await run(cfgOf(), ['binary', 'protobuf'], { faults: [{ name: 'malformed', params: { every: 6, mode } }] });
      for (const f of ['binary', 'protobuf'] as const) {
        const msgs = r.on(`meltpool/${f}`);
        expect(msgs).toHaveLength(BLOCKS_PER_RUN);
        const bad = msgs.map((p, i) => {
          try {
            decodeBlock(p, f);
            return -1;
          } catch {
            return i;
          }
        });
        const badIdx = bad.filter((i) => i >= 0);
        if (f === 'binary' || mode === 'truncate') expect(badIdx, `${f}/${mode}`).toEqual([0, 6, 12, 18, 24, 30]);
        else
          expect(
            badIdx.every((i) => i % 6 === 0),
            `${f}/${mode}`,
          ).toBe(true); // garbage may still parse as some protobuf
        if (mode === 'truncate') expect(msgs[6]!.length).toBeLessThan(msgs[7]!.length);
      }
    }
  });

  it('burst: 10x the samples and messages at 10x the rate, timestamps exact at the new rate', async () => {
    const r = await run(cfgOf(), ['binary'], { faults: [{ name: 'burst', params: { factor: 10 } }] });
    const blocks = r.on('meltpool/binary').map((p) => decodeBlock(p, 'binary'));
    expect(blocks).toHaveLength(BLOCKS_PER_RUN * 10);
    expect(blocks.map((b) => b.seq)).toEqual([...Array(BLOCKS_PER_RUN * 10).keys()]);
    for (const b of blocks) expect(b.sampleRateHz).toBe(100_000);
    for (let i = 1; i < blocks.length; i++)
      if (blocks[i]!.layer === blocks[i - 1]!.layer) expect(blocks[i]!.firstSampleTimeNs - blocks[i - 1]!.firstSampleTimeNs).toBe(250n * 10_000n);
  });

  it('nan and out-of-range values, clock skew and sensor dropout show in what a subscriber decodes', async () => {
    const cfg = cfgOf();
    const r = await run(cfg, ['json', 'binary'], {
      faults: [
        { name: 'nan', params: { every: 100 } },
        { name: 'out-of-range', params: { every: 125 } },
        { name: 'clock-skew', params: { offsetMs: -3000 } },
      ],
    });
    const json = r.on('meltpool/json').map((p) => JSON.parse(p.toString()) as { firstSampleTimeNs: string; channels: { samples: (number | null)[] }[] });
    const pd = json.flatMap((b) => b.channels[0]!.samples);
    expect(pd.filter((v) => v === null)).toHaveLength(pd.length / 100);
    expect(pd.filter((v) => v === 1e6).length).toBeGreaterThan(0);
    const bin = r.on('meltpool/binary').map((p) => decodeBlock(p, 'binary'));
    expect(bin.flatMap((b) => Array.from(b.samples[1]!)).filter(Number.isNaN).length).toBeGreaterThan(0);
    expect(bin[0]!.firstSampleTimeNs).toBe(BigInt(cfg.startTimeMs + 300 - 3000) * 1_000_000n);
    expect(r.events[0]!.timestampMs).toBe(cfg.startTimeMs - 3000);

    const dropped = await run(cfgOf(), ['binary'], { faults: [{ name: 'sensor-dropout', params: {} }] });
    expect(dropped.on('meltpool/binary')).toHaveLength(0);
    expect(dropped.events.length).toBeGreaterThan(0); // the controller still reports its state
    expect(dropped.sim.state().counters.blocksDroppedByDropout).toBe(BLOCKS_PER_RUN);
  });
});

describe('Sparkplug B', () => {
  it('NBIRTH/DBIRTH with names and aliases, DDATA by alias, rebirth on NCMD, NDEATH as the will on a dropped connection', async () => {
    const group = `LGSimTest${process.pid}`;
    const cfg = makeConfig({ seed: 5, machineId: 'sp-node', timing: { idleS: 0, inertingS: 1, layerS: 1, recoatS: 0.25, speed: 1 }, process: { rateHz: 10 } });
    const sim = new Simulator({
      cfg,
      dataDir: dir,
      log: pino({ level: 'silent' }),
      mqtt: {
        url: MQTT.url,
        username: MQTT.username,
        password: MQTT.password,
        clientId: `lg-sim-sp-${process.pid}`,
        formats: [],
        sparkplugGroup: group,
        sparkplugRateHz: 5,
      },
    });
    const base = `spBv1.0/${group}`;
    const seen = () => received.filter((m) => m.topic.startsWith(`${base}/`));
    const of = (type: string) => seen().filter((m) => m.topic.split('/')[2] === type);
    try {
      await sim.start();
      await waitFor('DBIRTH and 4 DDATA', () => of('DBIRTH').length === 1 && of('DDATA').length >= 4, 10_000);
      const nbirth = decodeSparkplug(of('NBIRTH')[0]!.payload);
      expect(of('NBIRTH')[0]!.topic).toBe(`${base}/NBIRTH/sp-node`);
      expect(nbirth.seq).toBe(0);
      expect(nbirth.metrics.find((m) => m.name === 'bdSeq')?.longValue).toBe(0n);
      expect(nbirth.metrics.find((m) => m.name === 'Node Control/Rebirth')?.booleanValue).toBe(false);
      const dbirth = decodeSparkplug(of('DBIRTH')[0]!.payload);
      expect(of('DBIRTH')[0]!.topic).toBe(`${base}/DBIRTH/sp-node/Process`);
      expect(dbirth.seq).toBe(1);
      const aliases = new Map(dbirth.metrics.map((m) => [m.alias, m.name]));
      expect(aliases.size).toBe(dbirth.metrics.length);
      expect([...aliases.values()]).toContain('Chamber/OxygenConcentration');
      expect(dbirth.metrics.find((m) => m.name === 'Job/Id')?.stringValue).toBe('B-0001');
      const ddata = of('DDATA').map((m) => decodeSparkplug(m.payload));
      for (const d of ddata) {
        for (const m of d.metrics) {
          expect(m.name ?? '').toBe(''); // aliases only
          expect(aliases.has(m.alias)).toBe(true);
        }
        expect(d.timestamp! % 200).toBe(cfg.startTimeMs % 200); // 5 Hz on the simulated grid
      }
      expect(ddata.map((d) => d.seq)).toEqual(ddata.map((_, i) => i + 2));
      const o2Alias = [...aliases].find(([, n]) => n === 'Chamber/OxygenConcentration')![0];
      expect(ddata[0]!.metrics.find((m) => m.alias === o2Alias)?.doubleValue).toBeGreaterThan(1000); // still inerting

      // rebirth on request
      await sub.publishAsync(
        `${base}/NCMD/sp-node`,
        encodeSparkplug({ timestamp: Date.now(), metrics: [{ name: 'Node Control/Rebirth', datatype: 11, booleanValue: true }] }),
      );
      await waitFor('a second NBIRTH', () => of('NBIRTH').length === 2 && of('DBIRTH').length === 2, 5000);
      expect(decodeSparkplug(of('NBIRTH')[1]!.payload).seq).toBe(0);

      // a dropped connection: the broker publishes the will (NDEATH with the session's bdSeq), then a new session is born
      sim.setCondition('fault', 'mqtt-disconnect', true, { downMs: 500 });
      await waitFor('NDEATH', () => of('NDEATH').length === 1, 10_000);
      const death = decodeSparkplug(of('NDEATH')[0]!.payload);
      expect(death.metrics.find((m) => m.name === 'bdSeq')?.longValue).toBe(0n);
      await waitFor('the NBIRTH of the new session', () => of('NBIRTH').length === 3, 10_000);
      expect(decodeSparkplug(of('NBIRTH')[2]!.payload).metrics.find((m) => m.name === 'bdSeq')?.longValue).toBe(1n);
      expect(sim.state().counters.mqttDisconnects).toBe(1);
    } finally {
      await sim.stop();
    }
    // a clean stop announces its own death for the current session
    await waitFor('the final NDEATH', () => of('NDEATH').length === 2, 5000);
    expect(decodeSparkplug(of('NDEATH')[1]!.payload).metrics.find((m) => m.name === 'bdSeq')?.longValue).toBe(1n);
  });
});
