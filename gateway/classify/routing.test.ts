/**
 * The routing policy: the rules table computed once into a lookup, must/may, the unmatched default,
 * premises (secure by default), and the config check at load: a config that routes sensitive or
 * confidential records to an off-premises output is rejected, naming the rule and the output (through
 * loadConfig and through the real `layergate check-config`).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import { ConfigError, RoutingPolicyError } from '../plugin-api/errors.js';
import { RouteTable, effectivePremises } from './routing.js';
import type { RouteOutput } from './routing.js';
import { routingSchema } from './schema.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const plant: RouteOutput[] = [
  { name: 'lake', type: 'file-lake', premises: 'on' },
  { name: 'kafka', type: 'kafka', premises: 'on', wants: ['samples', 'scalar', 'event', 'document'] },
  { name: 'redis', type: 'redis', premises: 'on', wants: ['samples', 'scalar', 'event'] },
  { name: 'minio', type: 'minio', premises: 'on' },
  { name: 'cloud', type: 'cloud', premises: 'off' },
];
// the table of the issue: time series to Redis and Kafka, events/records to Kafka, frames/files to
// MinIO, public and internal may go to the cloud, everything stays in the lake
const issueRules = routingSchema.parse({
  rules: [
    { name: 'time-series', kinds: ['samples', 'scalar'], must: ['redis', 'kafka'] },
    { name: 'events', kinds: ['event'], must: ['kafka'] },
    { name: 'frames-and-files', kinds: ['frame', 'document'], must: ['minio'] },
    { name: 'cloud-share', classes: ['public', 'internal'], may: ['cloud'] },
    { name: 'lake', may: ['lake'] },
  ],
});

describe('RouteTable', () => {
  const t = new RouteTable(issueRules, plant);
  it.each([
    ['internal', 'scalar', ['lake', 'kafka', 'redis', 'cloud']],
    ['public', 'samples', ['lake', 'kafka', 'redis', 'cloud']],
    ['sensitive', 'samples', ['lake', 'kafka', 'redis']],
    ['confidential', 'scalar', ['lake', 'kafka', 'redis']],
    ['internal', 'event', ['lake', 'kafka', 'cloud']],
    ['sensitive', 'frame', ['lake', 'minio']],
    ['confidential', 'document', ['lake', 'minio']],
    ['internal', 'frame', ['lake', 'minio', 'cloud']],
  ] as const)('%s %s -> %j', (cls, kind, routes) => {
    expect(t.routes(cls, kind)).toEqual(routes);
  });
  it('returns one shared array per (class, kind), computed once', () => {
    expect(t.routes('internal', 'scalar')).toBe(t.routes('internal', 'scalar'));
  });
  it('explains each output\'s yes or no', () => {
    const e = t.explain('sensitive', 'scalar');
    expect(e.outputs.find((o) => o.output === 'cloud')).toEqual({ output: 'cloud', receives: false, why: 'off premises: sensitive records stay on premises' });
    expect(e.outputs.find((o) => o.output === 'redis')).toEqual({ output: 'redis', receives: true, why: 'must, by routing rule time-series' });
    expect(e.outputs.find((o) => o.output === 'minio')).toMatchObject({ receives: false });
  });

  it('no rules: every output that takes it, and an off-premises output only public and internal', () => {
    const d = new RouteTable({}, plant);
    expect(d.routes('internal', 'frame')).toEqual(['lake', 'minio', 'cloud']);
    expect(d.routes('confidential', 'event')).toEqual(['lake', 'kafka', 'redis', 'minio']);
    expect(new RouteTable({ rules: [], unmatched: 'none' }, plant).routes('internal', 'scalar')).toEqual([]);
  });

  it('may "*" leaves off-premises outputs out of sensitive records without an error', () => {
    const all = new RouteTable(routingSchema.parse({ rules: [{ name: 'everything', may: ['*'] }] }), plant);
    expect(all.routes('sensitive', 'event')).toEqual(['lake', 'kafka', 'redis', 'minio']);
    expect(all.routes('public', 'event')).toEqual(['lake', 'kafka', 'redis', 'minio', 'cloud']);
  });

  it.each([
    [
      'a must rule sending sensitive records off premises',
      { name: 'share-frames', kinds: ['frame'], must: ['cloud'] },
      'routing.rules[0] (share-frames): sends sensitive records to output "cloud", which is off premises',
    ],
    [
      'a may rule without a class limit naming an off-premises output',
      { name: 'cloud-all', may: ['cloud'] },
      'routing.rules[0] (cloud-all): lets sensitive records go to output "cloud", which is off premises',
    ],
    ['an unknown output', { name: 'typo', must: ['kafak'] }, 'routing.rules[0] (typo): no output named "kafak"'],
    ['a must output that does not take the kind', { name: 'frames-to-redis', kinds: ['frame'], must: ['redis'] }, 'routing.rules[0] (frames-to-redis): output "redis" must receive public frame records, but output "redis" (redis) does not take frame records'],
  ])('rejects %s, naming the rule and the output', (_what, rule, message) => {
    let err: unknown;
    try {
      new RouteTable(routingSchema.parse({ rules: [rule] }), plant);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RoutingPolicyError);
    expect((err as Error).message).toContain(message);
  });

  it('premises: undeclared is off; config may lower, never raise an off-premises plugin', () => {
    expect(effectivePremises(undefined, undefined, 'outputs.x')).toBe('off');
    expect(effectivePremises('on', 'off', 'outputs.x')).toBe('off');
    expect(effectivePremises(undefined, 'on', 'outputs.x')).toBe('on');
    expect(() => effectivePremises('off', 'on', 'outputs.cloud')).toThrow('outputs.cloud.premises: the output declares itself off premises; the config cannot set it to on');
  });
});

// A file lake on a share off site: the real file-lake output, declared off premises by its config
const offsiteConfig = (rule: string) => [
  'outputs:',
  '  lake: { type: file-lake }',
  '  offsite: { type: file-lake, premises: off, path: /mnt/partner-share/lake }',
  'routing:',
  '  rules:',
  `    - ${rule}`,
  '',
].join('\n');

describe('config load', () => {
  it('rejects a config whose routing sends sensitive data to an off-premises output, naming rule and output', () => {
    let err: unknown;
    try {
      loadConfig({ text: offsiteConfig('{ name: partner-share, classes: [internal, sensitive], may: [offsite] }'), env: {} });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toBe(
      '(text): invalid configuration\n' +
        '  routing.rules[0] (partner-share): lets sensitive records go to output "offsite", which is off premises; sensitive and confidential records never leave the premises (limit the rule\'s classes to public, internal)',
    );
  });

  it('the cloud sync output declares itself off premises: a rule sending frames there is rejected, and `premises: on` cannot override it', () => {
    const cloud = '  cloud: { type: cloud, endpoint: "https://s3.example.com", bucket: plant-share }';
    expect(() => loadConfig({ text: ['outputs:', cloud, 'routing: { rules: [ { name: frames-out, kinds: [frame], may: [cloud] } ] }', ''].join('\n'), env: {} }))
      .toThrow('  routing.rules[0] (frames-out): lets sensitive records go to output "cloud", which is off premises');
    expect(() => loadConfig({ text: ['outputs:', `${cloud.slice(0, -2)}, premises: on }`, ''].join('\n'), env: {} }))
      .toThrow('  outputs.cloud.premises: the output declares itself off premises; the config cannot set it to on');
  });

  it('rejects a classification rule naming an input that is not configured (a typo)', () => {
    const text = ['inputs: { camera: { type: frames, dropDir: /srv/drop } }', 'classification: { rules: [ { name: cam, input: camra, class: sensitive } ] }', ''].join('\n');
    expect(() => loadConfig({ text, env: {} })).toThrow('  classification.rules[0] (cam).input: no input named "camra" (inputs: camera)');
  });

  it('rejects an off-premises output whose own `classes` list sensitive or confidential', () => {
    const text = ['outputs:', '  offsite: { type: file-lake, premises: off, classes: [internal, confidential] }', ''].join('\n');
    expect(() => loadConfig({ text, env: {} })).toThrow(
      '  outputs.offsite.classes: lists confidential, but output "offsite" is off premises; sensitive and confidential records never leave the premises',
    );
  });

  it('accepts the same rule limited to public and internal, and routes accordingly', () => {
    const { config } = loadConfig({ text: offsiteConfig('{ name: partner-share, classes: [public, internal], may: [offsite] }'), env: {} });
    expect(config.outputs.offsite!.premises).toBe('off');
  });

  it('`layergate check-config` refuses it with exit 2 and the same line', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-route-'));
    const file = path.join(dir, 'layergate.yaml');
    writeFileSync(file, offsiteConfig('{ name: frames-out, kinds: [frame], must: [offsite] }'));
    const tsx = createRequire(import.meta.url).resolve('tsx');
    const r = spawnSync(process.execPath, ['--import', tsx, path.join(repo, 'gateway/cli/main.ts'), 'check-config', file], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('routing.rules[0] (frames-out): sends sensitive records to output "offsite", which is off premises');
    expect(r.stderr).toContain('routing.rules[0] (frames-out): sends confidential records to output "offsite", which is off premises');
  });
});

describe('layergate explain (the real CLI)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-explain-'));
  const file = path.join(dir, 'layergate.yaml');
  writeFileSync(file, [
    'inputs:',
    '  camera: { type: frames, dropDir: /srv/camera-drop }',
    '  health: { type: gateway-health }',
    'outputs:',
    '  lake: { type: file-lake }',
    '  offsite: { type: file-lake, premises: off, path: /mnt/partner-share/lake }',
    'classification:',
    '  rules:',
    '    - { name: frames, kind: frame, class: sensitive }',
    '    - { name: kpis, signal: "kpi.*", class: public }',
    'routing:',
    '  rules:',
    '    - { name: share, classes: [public, internal], may: [offsite] }',
    '    - { name: keep-all, may: [lake] }',
    '',
  ].join('\n'));
  const explain = (...args: string[]) => {
    const tsx = createRequire(import.meta.url).resolve('tsx');
    return spawnSync(process.execPath, ['--import', tsx, path.join(repo, 'gateway/cli/main.ts'), 'explain', '-c', file, ...args], { encoding: 'utf8', timeout: 60_000 });
  };

  it('names the rule, the floors and each output\'s yes or no', () => {
    const r = explain('--input', 'camera', '--signal', 'camera.powder_bed', '--kind', 'frame', '--build', 'B1', '--job-class', 'confidential');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe([
      'record       input camera, signal camera.powder_bed, kind frame, build B1',
      'class        confidential  (job B1 marked confidential)',
      'rules        frames -> sensitive',
      'base         sensitive  (rule frames)',
      'floor        confidential  (job B1 marked confidential)',
      'routes       lake',
      '  lake             yes  may, by routing rule keep-all  [premises on]',
      '  offsite          no   off premises: confidential records stay on premises  [premises off]',
      '',
    ].join('\n'));
    const kpi = JSON.parse(explain('--input', 'health', '--signal', 'kpi.utilisation', '--json').stdout);
    expect(kpi.classification).toMatchObject({ class: 'public', rule: 'rule kpis' });
    expect(kpi.routing.routes).toEqual(['lake', 'offsite']);
  });

  it('an unknown input is a usage error naming the inputs', () => {
    const r = explain('--input', 'camra', '--signal', 'x');
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`layergate explain: no input named "camra" in ${file} (inputs: camera, health)\n`);
  });
});
