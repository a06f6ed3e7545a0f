/**
 * The policy in a running gateway (real buffer, real file-lake outputs, real audit log):
 * - a job marked confidential through the machine context makes every record of that job
 *   confidential, only that job's, and the marking is audited;
 * - enforcement in depth: with the route table deliberately broken (forced to send sensitive records
 *   to an off-premises output), the forwarder still refuses them: not delivered, counted, audited,
 *   and the cursor moves on (no retry loop), while public/internal records still reach that output.
 * - a job marked by a retained MQTT message (the `job-class` decoder of the mqtt input, real Mosquitto);
 * - a confidential record a sink refuses for good (the real Kafka broker, a record over
 *   maxMessageBytes) is kept in the sink quarantine sealed, not in plaintext; so is the raw input an
 *   input quarantines while its job is marked confidential.
 * The off-premises output is a real file lake declared `premises: off` (a share off site).
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import protobuf from 'protobufjs';
import { KAFKA, MQTT } from '../../test/services/endpoints.js';
import { readKeyFile } from '../crypto/keys.js';
import { AesGcmSealer } from '../crypto/sealer.js';
import { waitFor } from '../../test/support/wait.js';
import { verifyAuditLog } from '../audit/audit-log.js';
import type { AuditEntry } from '../audit/audit-log.js';
import { loadConfig } from '../config/load.js';
import { Gateway } from '../runtime/gateway.js';
import { CONTENT_TYPES, decodeRecord } from '../plugin-api/record.js';
import type { RecordKind, SensitivityClass } from '../plugin-api/record.js';
import type { RecordDraft } from '../plugin-api/contract.js';

const log = pino({ level: 'silent' });
const running: Gateway[] = [];
afterEach(async () => {
  for (const g of running) await g.stop();
  running.length = 0;
});

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).isFile());
}
const holding = (dir: string, text: string): string[] => filesUnder(dir).filter((f) => readFileSync(f).includes(text));
const contains = (dir: string, text: string): boolean => holding(dir, text).length > 0;
const auditEntries = (file: string): AuditEntry[] =>
  readFileSync(file, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as AuditEntry);
const event = (signal: string, note: string, extra: Partial<RecordDraft> = {}): RecordDraft => ({
  signal,
  kind: 'event',
  contentType: CONTENT_TYPES.event,
  body: Buffer.from(JSON.stringify({ type: 'note', note })),
  ...extra,
});

/** the one output of a test: a file lake that lingers an hour, so what the buffer stored for it can be read back */
const hold = (dir: string): string =>
  `outputs: { hold: { type: file-lake, linger: 1h, batchRecords: 10000, path: ${JSON.stringify(path.join(dir, 'hold'))} } }`;

async function start(config: (dir: string) => string[]): Promise<{ gw: Gateway; dir: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-policy-'));
  const lines = config(dir);
  const loaded = loadConfig({
    text: [`gateway: { dataDir: ${JSON.stringify(path.join(dir, 'data'))}, machine: m1, shutdownGraceMs: 5s }`, ...lines].join('\n'),
    env: {},
  });
  const gw = await Gateway.start(loaded, { log });
  running.push(gw);
  return { gw, dir };
}

describe('job marking through the machine context', () => {
  it('every record of the marked job is confidential, other jobs keep their class; audited once', async () => {
    const { gw } = await start((dir) => ['inputs: {}', hold(dir), 'classification: { rules: [ { name: kpis, signal: "kpi.*", class: public } ] }']);
    const ctx = gw.pipeline.contextFor('machine');
    ctx.setMachineContext({ build: 'B-100', jobClass: 'false' });
    await ctx.emit([event('kpi.utilisation', 'before the marking')]);
    ctx.setMachineContext({ jobClass: 'confidential' }); // the MES flags the running job
    await ctx.emit([event('kpi.utilisation', 'after the marking'), event('machine.events', 'x')]);
    // a frame of the marked job arriving later, while the machine already runs another job
    ctx.setMachineContext({ build: 'B-101', jobClass: 'false' });
    await ctx.emit([event('kpi.utilisation', 'next job'), event('camera.late', 'late frame of B-100', { build: 'B-100' })]);
    // a marking is never lowered for the job it was given to
    ctx.setMachineContext({ build: 'B-100', jobClass: 'internal' });
    await ctx.emit([event('kpi.utilisation', 'B-100 again')]);

    const stored = gw.buffer.read('hold', 100).map((r) => [r.build, JSON.parse(r.body!.toString()).note, r.class]);
    expect(stored).toEqual([
      ['B-100', 'before the marking', 'public'],
      ['B-100', 'after the marking', 'confidential'],
      ['B-100', 'x', 'confidential'],
      ['B-101', 'next job', 'public'],
      ['B-100', 'late frame of B-100', 'confidential'],
      ['B-100', 'B-100 again', 'confidential'],
    ]);
    expect([gw.pipeline.jobMark('B-100'), gw.pipeline.jobMark('B-101')]).toEqual(['confidential', undefined]);
    // what the API will answer for a record of the marked job
    expect(
      gw.policy.explain({ source: 'machine', signal: 'kpi.utilisation', kind: 'event', build: 'B-100' }, { jobClass: gw.pipeline.jobMark('B-100') })
        .classification,
    ).toMatchObject({ class: 'confidential', rule: 'job B-100 marked confidential', base: { class: 'public', from: 'rule kpis' } });
    const overrides = auditEntries(gw.audit.file).filter((e) => e.type === 'classification-override');
    expect(overrides.map((e) => e.data)).toEqual([
      { reason: 'job-marked', build: 'B-100', class: 'confidential', raw: 'confidential', input: 'machine', unknown: false },
    ]);
    expect(verifyAuditLog(gw.audit.file).ok).toBe(true);
  });
});

describe('enforcement in depth: a broken router', () => {
  it('an off-premises output is still refused sensitive records by its forwarder: not delivered, counted, audited, cursor moved on', async () => {
    const { gw, dir } = await start((dir) => [
      'inputs: {}',
      'outputs:',
      `  lake: { type: file-lake, linger: 0, path: ${JSON.stringify(path.join(dir, 'lake'))} }`,
      `  offsite: { type: file-lake, premises: off, linger: 0, path: ${JSON.stringify(path.join(dir, 'offsite'))} }`,
    ]);
    // the policy itself is right: offsite gets internal, never sensitive
    expect(gw.policy.routes.routes('internal', 'event')).toEqual(['lake', 'offsite']);
    expect(gw.policy.routes.routes('sensitive', 'event')).toEqual(['lake']);
    // ... now break it, as a routing bug would: every record to both outputs
    const broken = ['lake', 'offsite'];
    gw.policy.routes.routes = (_cls: SensitivityClass, _kind: RecordKind) => broken;

    const ctx = gw.pipeline.contextFor('opcua', 'internal');
    await ctx.emit([
      event('job.name', 'SENSITIVE-8c1f customer name', { class: 'sensitive' }),
      event('machine.events', 'INTERNAL-2b7d layer done'),
      event('job.params', 'CONFIDENTIAL-55aa scan speed', { class: 'confidential' }),
    ]);

    const offsite = (): ReturnType<Gateway['stats']>['forwarders'][number] => gw.stats().forwarders.find((f) => f.sink === 'offsite')!;
    await waitFor('offsite forwarder done', () => offsite().lagRecords === 0 && offsite().sentRecords === 1, 15_000, 50);
    await waitFor('lake delivered', () => contains(path.join(dir, 'lake'), 'CONFIDENTIAL-55aa'), 15_000, 50);

    // not delivered off premises; the internal record was
    expect(contains(path.join(dir, 'offsite'), 'INTERNAL-2b7d')).toBe(true);
    expect(contains(path.join(dir, 'offsite'), 'SENSITIVE-8c1f')).toBe(false);
    expect(contains(path.join(dir, 'offsite'), 'CONFIDENTIAL-55aa')).toBe(false);
    // counted, no retry loop, the cursor moved past them
    expect(offsite()).toMatchObject({ offPremisesRefused: 2, sentRecords: 1, failures: 0, lagRecords: 0 });
    expect(gw.buffer.read('offsite', 10)).toEqual([]);
    // audited, in an intact chain
    const refused = auditEntries(gw.audit.file).filter((e) => e.type === 'route-refused');
    // the three records are the buffer's first: the sensitive one at its origin, the confidential third
    const first = gw.buffer.stats().oldestSeq!;
    expect(refused.map((e) => e.data)).toEqual([
      {
        reason: 'off-premises',
        sink: 'offsite',
        records: 2,
        firstSeq: first,
        lastSeq: first + 2,
        classes: { sensitive: 1, confidential: 1 },
        sources: ['opcua'],
      },
    ]);
    expect(verifyAuditLog(gw.audit.file).ok).toBe(true);
  });
});

describe('job marking from an MQTT message (real Mosquitto)', () => {
  it('a retained job-class message marks the job it names; its events become confidential', async () => {
    const prefix = `lg-test/policy-${process.pid}-${Date.now()}`;
    const { gw } = await start((dir) => [
      'inputs:',
      '  mes:',
      '    type: mqtt',
      `    url: ${MQTT.url}`,
      `    username: ${MQTT.username}`,
      `    password: ${MQTT.password}`,
      `    clientId: lg-policy-${process.pid}-${Date.now()}`,
      '    subscriptions:',
      `      - { topic: "${prefix}/events", decoder: event, signal: machine.events }`,
      `      - { topic: "${prefix}/job-class", decoder: job-class }`,
      hold(dir),
    ]);
    const pub = await mqtt.connectAsync(MQTT.url, { username: MQTT.username, password: MQTT.password, protocolVersion: 5 });
    try {
      const send = (n: number, build: string) => pub.publishAsync(`${prefix}/events`, JSON.stringify({ type: 'layer_done', build, layer: n }), { qos: 1 });
      const stored = () => gw.buffer.read('hold', 100).map((r) => `${r.build}/${JSON.parse(r.body!.toString()).layer}:${r.class}`);
      await waitFor(
        'mqtt input subscribed',
        async () => {
          await send(0, 'B-1');
          return stored().length > 0;
        },
        20_000,
        300,
      );
      await pub.publishAsync(`${prefix}/job-class`, JSON.stringify({ build: 'B-2', class: 'confidential' }), { qos: 1, retain: true });
      await waitFor('marking applied', () => gw.audit.lastOf('classification-override') !== undefined, 10_000, 50);
      await send(1, 'B-2');
      await send(2, 'B-1');
      await waitFor('events stored', () => stored().length >= 3 && stored().at(-1)!.startsWith('B-1/2'), 10_000, 50);
      const after = stored().filter((s) => !s.endsWith('/0:internal'));
      expect(after).toEqual(['B-2/1:confidential', 'B-1/2:internal']);
      expect(gw.audit.lastOf('classification-override')!.data).toMatchObject({ build: 'B-2', class: 'confidential', input: 'mes' });
    } finally {
      await pub.publishAsync(`${prefix}/job-class`, '', { qos: 1, retain: true }); // clear the retained marking
      await pub.endAsync();
    }
  });
});

describe('encryption at rest in the sink quarantine', () => {
  it('a confidential record refused for good by Kafka is quarantined sealed; the key ring opens it', async () => {
    const { gw, dir } = await start((dir) => [
      'inputs: {}',
      'outputs:',
      `  kafka: { type: kafka, brokers: ${JSON.stringify(KAFKA.brokers)}, topicPrefix: lg-policy-${process.pid}-${Date.now()}, maxMessageBytes: 300 }`,
      `  hold: { type: file-lake, linger: 1h, path: ${JSON.stringify(path.join(dir, 'hold'))} }`,
    ]);
    const marker = `CANARY-Q-${Date.now()}`;
    await gw.pipeline.contextFor('mes').emit([event('job.parameters', `${marker} ${'x'.repeat(400)}`, { class: 'confidential' })]);
    const kafka = () => gw.stats().forwarders.find((f) => f.sink === 'kafka')!;
    await waitFor('refused and quarantined', () => kafka().quarantinedRecords === 1, 30_000, 100);
    const qdir = path.join(dir, 'data', 'quarantine', 'outputs', 'kafka');
    expect(filesUnder(qdir).length).toBe(2);
    expect(holding(qdir, marker)).toEqual([]);
    const sidecar = JSON.parse(readFileSync(filesUnder(qdir).find((f) => f.endsWith('.json'))!, 'utf8'));
    expect(sidecar).toMatchObject({ records: 1, error: { reason: 'too-large' } });
    expect(sidecar.sealed).toMatch(/^confidential bodies sealed/);
    const reader = protobuf.Reader.create(readFileSync(filesUnder(qdir).find((f) => f.endsWith('.records'))!));
    const rec = decodeRecord(reader.bytes());
    const sealer = new AesGcmSealer(readKeyFile(path.join(dir, 'data', 'keys', 'layergate.keys')));
    expect(JSON.parse(sealer.open(rec.body!).toString()).note).toContain(marker);
  });
});

describe('encryption at rest in the input quarantine', () => {
  it('raw input quarantined while the job is marked confidential is sealed; other raw input is kept as is', async () => {
    const { gw, dir } = await start((dir) => ['inputs: {}', hold(dir)]);
    const ctx = gw.pipeline.contextFor('camera');
    const qdir = path.join(dir, 'data', 'quarantine', 'inputs', 'camera');
    ctx.quarantine('B-1_L1.png', new Error('corrupt: not an image'), Buffer.from('PLAIN-RAW-4d1e'));
    ctx.setMachineContext({ build: 'B-2', jobClass: 'confidential' });
    ctx.quarantine('B-2_L1.png', new Error('corrupt: not an image'), Buffer.from('CANARY-RAW-9a0b'));
    await gw.pipeline.flush();
    expect(holding(qdir, 'PLAIN-RAW-4d1e')).toHaveLength(1);
    expect(holding(qdir, 'CANARY-RAW-9a0b')).toEqual([]);
    const sealedFile = filesUnder(qdir).find((f) => f.endsWith('.bin.sealed'))!;
    const sealer = new AesGcmSealer(readKeyFile(path.join(dir, 'data', 'keys', 'layergate.keys')));
    expect(sealer.open(readFileSync(sealedFile)).toString()).toBe('CANARY-RAW-9a0b');
    const sidecar = JSON.parse(readFileSync(sealedFile.replace(/\.bin\.sealed$/, '.json'), 'utf8'));
    expect(sidecar).toMatchObject({ where: 'B-2_L1.png', size: 15, file: path.basename(sealedFile) });
    expect(sidecar.sealed).toMatch(/^AES-256-GCM, key /);
  });
});
