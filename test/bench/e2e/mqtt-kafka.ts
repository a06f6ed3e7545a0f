/**
 * MQTT -> Kafka at full speed, through the gateway and through a bare bridge, in the same run:
 *   json:    200,000 QoS 1 JSON scalars ({"value": n}); reference 45,000 msg/s and 2.0 CPU-s per
 *            100,000 messages for the gateway (mqtt input, json decoder -> buffer -> kafka output,
 *            all defaults: persistent session, buffer synchronous FULL, idempotent producer acks=all)
 *   block4k: 4 KiB melt-pool blocks (binary-block decoder); target: gateway >= 0.8 of the bare bridge
 * The publisher is the raw-socket flood of load.ts (its own process) writing to a Mosquitto of the
 * benchmark's own (test/services/mosquitto.ts `startBenchBroker`: no cap on a session's queue, so a
 * subscriber that falls behind finds its messages queued, none dropped; the shared broker drops past
 * 1,000). The bare side is bridge.ts: MQTT.js -> kafkajs. Each side is timed from the publisher's
 * start until Kafka acked every message (gateway: the forwarder's sent records, sampled every 100 ms;
 * bare: its acked count), and its process's CPU time over the same span is taken.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBenchBroker } from '../../services/mosquitto.js';
import { KAFKA } from '../../services/endpoints.js';
import { sleep } from '../../support/wait.js';
import { Child, gatewayNodeArgs, harnessScript } from './children.js';
import type { HarnessCommand, HarnessMessage, HarnessSample, LoadCommand, LoadMessage } from './protocol.js';
import { deleteKafkaTopics, kafkaRecords } from './sinks.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export type FlowKind = 'json' | 'block4k';

export interface FlowSide {
  messages: number;
  seconds: number;
  msgPerS: number;
  cpuS: number;
  cpuPer100k: number;
  /** records counted in the Kafka topic afterwards (a grouped message counts its records) */
  atKafka: number;
}

export interface FlowResult {
  kind: FlowKind;
  n: number;
  gateway: FlowSide | null;
  bare: FlowSide | null;
  ratio: number;
  errors: string[];
}

const STALL_MS = 30_000;

async function timeUntil(n: number, count: () => Promise<{ done: number; cpuUs: number }>, start: () => void): Promise<Omit<FlowSide, 'atKafka'>> {
  const c0 = await count();
  const t0 = performance.now();
  start();
  let last = c0;
  let lastChange = t0;
  for (;;) {
    await sleep(100);
    const c = await count();
    if (c.done !== last.done) lastChange = performance.now();
    last = c;
    if (c.done - c0.done >= n || performance.now() - lastChange > STALL_MS) break;
  }
  const seconds = (lastChange - t0) / 1000;
  const messages = last.done - c0.done;
  const cpuS = (last.cpuUs - c0.cpuUs) / 1e6;
  return { messages, seconds, msgPerS: messages / seconds, cpuS, cpuPer100k: (cpuS / Math.max(1, messages)) * 1e5 };
}

function flood(url: string, topic: string, n: number, kind: FlowKind, logFile: string): Child<LoadMessage, LoadCommand> {
  return new Child<LoadMessage, LoadCommand>('flood publisher', path.join(here, 'load.ts'), ['flood', url, topic, String(n), kind], logFile);
}

async function bareSide(url: string, kind: FlowKind, n: number, logs: string): Promise<FlowSide> {
  const id = `lge2e-bare-${randomBytes(3).toString('hex')}`;
  const topic = `lg-e2e/${id}/flood`;
  const bridge = new Child<LoadMessage, LoadCommand>(
    'bare bridge',
    path.join(here, 'bridge.ts'),
    [url, topic, `${id}.flow`],
    path.join(logs, `bridge-${kind}.log`),
  );
  const pub = flood(url, topic, n, kind, path.join(logs, `flood-bare-${kind}.log`));
  try {
    await Promise.all([bridge.next('ready', 60_000), pub.next('ready', 60_000)]);
    const count = async () => {
      const p = bridge.next('counts', 10_000);
      bridge.send({ type: 'counts' });
      const c = await p;
      return { done: c.units, cpuUs: c.cpuUs };
    };
    const r = await timeUntil(n, count, () => pub.send({ type: 'start' }));
    return { ...r, atKafka: await kafkaRecords(id) };
  } finally {
    await pub.kill();
    await bridge.kill();
    await deleteKafkaTopics(id).catch(() => undefined);
  }
}

async function gatewaySide(url: string, kind: FlowKind, n: number, tmp: string): Promise<FlowSide> {
  const id = `lge2e-flow-${randomBytes(3).toString('hex')}`;
  const topic = `lg-e2e/${id}/flood`;
  const config = {
    gateway: { machine: 'bench-e2e', dataDir: path.join(tmp, `data-${kind}`) },
    log: { level: 'warn' },
    inputs: {
      mqtt: {
        type: 'mqtt',
        url,
        clientId: `lg-e2e-gw-${id}`,
        subscriptions: [{ topic, decoder: kind === 'json' ? 'json' : 'binary-block', signal: kind === 'json' ? 'flow.value' : 'flow.meltpool' }],
      },
    },
    outputs: { kafka: { type: 'kafka', brokers: [...KAFKA.brokers], topicPrefix: id } },
  };
  const file = path.join(tmp, `flow-${kind}.yaml`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  const gw = new Child<HarnessMessage, HarnessCommand>(
    'gateway',
    harnessScript(),
    [file],
    path.join(tmp, 'logs', `gateway-flow-${kind}.log`),
    { ...process.env, LG_E2E_SAMPLE_MS: '100' },
    gatewayNodeArgs(),
  );
  const pub = flood(url, topic, n, kind, path.join(tmp, 'logs', `flood-gw-${kind}.log`));
  let last: HarnessSample | undefined;
  gw.on((m) => {
    if (m.type === 'sample') last = m;
  });
  try {
    await Promise.all([gw.next('ready', 120_000), pub.next('ready', 60_000)]);
    const readyBy = Date.now() + 60_000;
    for (;;) {
      const s = await gw.next('sample', 10_000);
      const state = (s.inputPlugins.mqtt as { connection?: string } | undefined)?.connection;
      if (state === 'connected') break;
      if (Date.now() > readyBy) throw new Error(`the gateway's MQTT input is ${state} after 60 s`);
    }
    await sleep(500);
    const count = async () => {
      const s = last!;
      return { done: s.sinks[0]!.sentRecords, cpuUs: s.cpuUs };
    };
    const r = await timeUntil(n, count, () => pub.send({ type: 'start' }));
    // an orderly stop: it exits by itself, and a SIGTERM meanwhile would lose what node writes at exit (--cpu-prof)
    const stopped = gw.next('stopped', 30_000);
    gw.send({ type: 'stop' });
    await stopped;
    return { ...r, atKafka: await kafkaRecords(id) };
  } finally {
    await pub.kill();
    await gw.kill(5000, 15_000);
    await deleteKafkaTopics(id).catch(() => undefined);
  }
}

export async function runFlow(kind: FlowKind, n: number, progress: (line: string) => void): Promise<FlowResult> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'lg-bench-e2e-flow-'));
  mkdirSync(path.join(tmp, 'logs'));
  const broker = await startBenchBroker();
  const errors: string[] = [];
  let gateway: FlowSide | null = null;
  let bare: FlowSide | null = null;
  try {
    progress(`MQTT -> Kafka, ${kind}: ${n.toLocaleString('en-US')} messages through the bare MQTT.js -> kafkajs bridge`);
    bare = await bareSide(broker.url, kind, n, path.join(tmp, 'logs')).catch((err: unknown) => {
      errors.push(`bare: ${(err as Error).message}`);
      return null;
    });
    progress(`MQTT -> Kafka, ${kind}: ${n.toLocaleString('en-US')} messages through the gateway`);
    gateway = await gatewaySide(broker.url, kind, n, tmp).catch((err: unknown) => {
      errors.push(`gateway: ${(err as Error).message}`);
      return null;
    });
  } finally {
    await broker.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
  return { kind, n, gateway, bare, ratio: gateway && bare ? gateway.msgPerS / bare.msgPerS : Number.NaN, errors };
}
