/**
 * A real Prometheus (Debian's package, started by the test through test/services/prometheus.ts)
 * scrapes the gateway's `/metrics` over HTTPS during a simulator run, as a plant's monitoring would
 * from another host: it trusts the gateway's generated certificate (`tls_config.ca_file`) and
 * authenticates with a viewer API token (`authorization`), not through `api.metricsAllow` (empty here).
 *
 * The simulator publishes melt-pool blocks and layer events to the harness's Mosquitto; the gateway
 * (the same wiring as `layergate run`: Gateway.start, then startControlPlane) ingests them with an
 * mqtt input beside its gateway-health input and delivers both to a file lake. PromQL through
 * Prometheus's HTTP API must then show the target up, the ingest and delivery counters rising per
 * input and per sink, and no series with a `signal` label. A second scrape job without the token
 * stays down: the token is what lets Prometheus in.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeConfig } from '../../simulator/config.js';
import { Simulator } from '../../simulator/engine.js';
import { MQTT } from '../../test/services/endpoints.js';
import { type OwnPrometheus, type PromSample, startOwnPrometheus } from '../../test/services/prometheus.js';
import { sleep, waitFor } from '../../test/support/wait.js';
import { loadConfig } from '../config/load.js';
import { Gateway } from '../runtime/gateway.js';
import { startControlPlane } from './gateway-view.js';
import type { ControlPlane } from './server.js';

const log = pino({ level: 'silent' });
const id = `${process.pid}-${Date.now() % 100_000}`;
const topicPrefix = `lg-api-prom/${id}`;

let dir: string;
let gateway: Gateway | undefined;
let api: ControlPlane | undefined;
let sim: Simulator | undefined;
let prometheus: OwnPrometheus | undefined;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'lg-api-prom-'));
  const loaded = loadConfig({
    text: [
      `gateway: { dataDir: ${dir}/data, machine: pbf-sim-prom }`,
      'inputs:',
      '  meltpool:',
      '    type: mqtt',
      `    url: ${MQTT.url}`,
      `    username: ${MQTT.username}`,
      `    password: ${MQTT.password}`,
      `    clientId: lg-api-prom-in-${id}`,
      '    cleanSession: true',
      '    subscriptions:',
      `      - { topic: ${topicPrefix}/meltpool/binary, decoder: binary-block, signal: meltpool }`,
      `      - { topic: ${topicPrefix}/events, decoder: event, signal: machine.events }`,
      '  health: { type: gateway-health, interval: 250ms }',
      'outputs:',
      `  lake: { type: file-lake, path: ${dir}/lake, linger: 250ms }`,
      // the API as a plant runs it, HTTPS with the generated certificate; no address may skip the token
      'api: { host: 127.0.0.1, port: 0, grpc: { port: 0 }, metricsAllow: [] }',
    ].join('\n'),
    env: {},
  });
  gateway = await Gateway.start(loaded, { log });
  api = await startControlPlane(gateway, loaded, log);

  // a simulated build of 60 one-second layers: melt-pool blocks while exposing, events per layer
  sim = new Simulator({
    cfg: makeConfig({
      seed: 23,
      job: { totalLayers: 60 },
      timing: { idleS: 0, inertingS: 0.2, layerS: 1, recoatS: 0.2, speed: 1 },
      meltPool: { rateHz: 2_000, blockSize: 200 },
    }),
    dataDir: path.join(dir, 'sim'),
    log,
    mqtt: {
      url: MQTT.url,
      username: MQTT.username,
      password: MQTT.password,
      clientId: `lg-api-prom-sim-${id}`,
      topicPrefix,
      formats: ['binary'],
      sparkplugGroup: null,
      sparkplugRateHz: 10,
    },
    controlPort: null,
  });
  await sim.start();

  // what a plant's Prometheus gets: the gateway's certificate to trust, and a viewer token in a file
  const tokenFile = path.join(dir, 'prometheus-token');
  writeFileSync(tokenFile, api.identity.createToken({ label: 'prometheus', role: 'viewer', maxClass: 'public', expiresMs: null, createdBy: 'test' }).token, {
    mode: 0o600,
  });
  chmodSync(tokenFile, 0o600);
  const target = `127.0.0.1:${api.port}`;
  const tls = { ca_file: api.tls!.certFile, server_name: 'localhost' };
  prometheus = await startOwnPrometheus({
    scrapeInterval: '1s',
    scrapeConfigs: [
      {
        job_name: 'layergate',
        scheme: 'https',
        metrics_path: '/metrics',
        static_configs: [{ targets: [target] }],
        tls_config: tls,
        authorization: { type: 'Bearer', credentials_file: tokenFile },
      },
      // the same target without a token: the API must refuse it (metricsAllow is empty)
      { job_name: 'layergate-no-token', scheme: 'https', metrics_path: '/metrics', static_configs: [{ targets: [target] }], tls_config: tls },
    ],
  });
}, 120_000);

afterAll(async () => {
  await prometheus?.stop();
  await sim?.stop();
  await api?.close();
  await gateway?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** series of `promql` keyed by one label's value */
async function byLabel(promql: string, label: string): Promise<Record<string, PromSample>> {
  const out: Record<string, PromSample> = {};
  for (const s of await prometheus!.query(promql)) out[s.metric[label] ?? '(none)'] = s;
  return out;
}

describe('Prometheus scrapes /metrics over HTTPS with a viewer token during a simulator run', () => {
  it('the target is up, the ingest and delivery counters rise per input and per sink, and no series has a signal label', async () => {
    // a few scrapes in, with the simulator's blocks flowing through the mqtt input
    const first = await waitFor(
      'Prometheus to have scraped records of both inputs and deliveries to the lake',
      async () => {
        const up = await prometheus!.query('up{job="layergate"}');
        if (up.length !== 1 || up[0]!.value !== 1) return undefined;
        const inputs = await byLabel('layergate_input_records_total{job="layergate"}', 'input');
        const sinks = await byLabel('layergate_sink_delivered_records_total{job="layergate"}', 'sink');
        return (inputs.meltpool?.value ?? 0) > 0 && (inputs.health?.value ?? 0) > 0 && (sinks.lake?.value ?? 0) > 0 ? { inputs, sinks } : undefined;
      },
      30_000,
      250,
    ).catch(async (err: Error) => {
      // say why: the scrape's own error (TLS, 401, ...) as Prometheus reports it
      throw new Error(`${err.message}; targets: ${JSON.stringify(await prometheus!.targets())}`);
    });

    // up == 1 for the token job, with the instance it was configured with
    const up = await prometheus!.query('up{job="layergate"} == 1');
    expect(up.map((s) => s.metric.instance)).toEqual([`127.0.0.1:${api!.port}`]);
    // labelled per input and per sink, as configured, and nothing else
    expect(Object.keys(first.inputs).sort()).toEqual(['health', 'meltpool']);
    expect(Object.keys(first.sinks)).toEqual(['lake']);

    // a few scrapes later: every counter has risen (two instant queries apart)
    await sleep(4_000);
    const inputs = await byLabel('layergate_input_records_total{job="layergate"}', 'input');
    const sinks = await byLabel('layergate_sink_delivered_records_total{job="layergate"}', 'sink');
    expect(inputs.meltpool!.time).toBeGreaterThan(first.inputs.meltpool!.time);
    expect(inputs.meltpool!.value).toBeGreaterThan(first.inputs.meltpool!.value);
    expect(inputs.health!.value).toBeGreaterThan(first.inputs.health!.value);
    expect(sinks.lake!.value).toBeGreaterThan(first.sinks.lake!.value);

    // and as PromQL computes it over the stored samples
    const inputIncrease = await byLabel('increase(layergate_input_records_total{job="layergate"}[15s])', 'input');
    expect(Object.keys(inputIncrease).sort()).toEqual(['health', 'meltpool']);
    expect(inputIncrease.meltpool!.value).toBeGreaterThan(0);
    expect(inputIncrease.health!.value).toBeGreaterThan(0);
    const sinkIncrease = await byLabel('increase(layergate_sink_delivered_records_total{job="layergate"}[15s])', 'sink');
    expect(Object.keys(sinkIncrease)).toEqual(['lake']);
    expect(sinkIncrease.lake!.value).toBeGreaterThan(0);

    // the records carry signals (meltpool, machine.events, the health figures), yet no scraped series is labelled by one
    expect(await prometheus!.query('count by (__name__) ({job="layergate", signal!=""})')).toEqual([]);
    expect(await prometheus!.query('count(layergate_input_records_total{job="layergate"})')).toMatchObject([{ value: 2 }]);

    // without the token the same target is refused: the token, not an allowed address, let Prometheus in
    const refused = await prometheus!.query('up{job="layergate-no-token"}');
    expect(refused.map((s) => s.value)).toEqual([0]);
    const noToken = (await prometheus!.targets()).filter((t) => t.job === 'layergate-no-token');
    expect(noToken).toMatchObject([{ health: 'down', lastError: expect.stringMatching(/401/) }]);
  });
});
