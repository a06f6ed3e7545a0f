/**
 * The routing policy: the rules table computed once into a lookup, must/may, the unmatched default,
 * premises (secure by default), and the config check at load: a config that routes sensitive or
 * confidential records to an off-premises output is rejected, naming the rule and the output (through
 * loadConfig; the real `layergate check-config` and `layergate explain` are in
 * test/e2e/routing-cli.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import { ConfigError, RoutingPolicyError } from '../plugin-api/errors.js';
import { registry } from '../runtime/registry.js';
import { policyFromDefinitions } from './index.js';
import { RouteTable, effectivePremises } from './routing.js';
import type { RouteOutput } from './routing.js';
import { routingSchema } from './schema.js';
import { offsiteConfig } from './test-support/offsite-config.js';

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
  it("explains each output's yes or no", () => {
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
    [
      'a must output that does not take the kind',
      { name: 'frames-to-redis', kinds: ['frame'], must: ['redis'] },
      'routing.rules[0] (frames-to-redis): output "redis" must receive public frame records, but output "redis" (redis) does not take frame records',
    ],
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
    expect(() => effectivePremises('off', 'on', 'outputs.cloud')).toThrow(
      'outputs.cloud.premises: the output declares itself off premises; the config cannot set it to on',
    );
  });
});

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
    expect(() =>
      loadConfig({ text: ['outputs:', cloud, 'routing: { rules: [ { name: frames-out, kinds: [frame], may: [cloud] } ] }', ''].join('\n'), env: {} }),
    ).toThrow('  routing.rules[0] (frames-out): lets sensitive records go to output "cloud", which is off premises');
    expect(() => loadConfig({ text: ['outputs:', `${cloud.slice(0, -2)}, premises: on }`, ''].join('\n'), env: {} })).toThrow(
      '  outputs.cloud.premises: the output declares itself off premises; the config cannot set it to on',
    );
  });

  it('rejects a classification rule naming an input that is not configured (a typo)', () => {
    const text = [
      'inputs: { camera: { type: frames, dropDir: /srv/drop } }',
      'classification: { rules: [ { name: cam, input: camra, class: sensitive } ] }',
      '',
    ].join('\n');
    expect(() => loadConfig({ text, env: {} })).toThrow('  classification.rules[0] (cam).input: no input named "camra" (inputs: camera, grpc)');
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
});

describe('RouteTable: access patterns', () => {
  // a plant that sends training sets to the lake and MinIO and live values to Redis only; the
  // general rules apply to every record, with a pattern or without
  const general = [
    { name: 'events', kinds: ['event'], must: ['kafka'] },
    { name: 'lake', may: ['lake'] },
  ];
  const withPatterns = routingSchema.parse({
    rules: [
      ...general,
      { name: 'training-sets', accessPatterns: ['ml_training'], must: ['lake', 'minio'] },
      { name: 'live', accessPatterns: ['realtime'], kinds: ['samples', 'scalar'], must: ['redis'] },
    ],
  });
  const t = new RouteTable(withPatterns, plant);

  it('a rule for a pattern adds its outputs to records of that pattern only', () => {
    expect(t.routes('internal', 'scalar', 'ml_training')).toEqual(['lake', 'minio']);
    expect(t.routes('internal', 'scalar', 'realtime')).toEqual(['lake', 'redis']);
    expect(t.routes('sensitive', 'event', 'ml_training')).toEqual(['lake', 'kafka', 'minio']);
    expect(t.routes('internal', 'event', 'realtime')).toEqual(['lake', 'kafka']);
    // a pattern no rule names: the general rules, as for a record without one
    expect(t.routes('internal', 'scalar', 'archive')).toEqual(['lake']);
  });

  it('records without a pattern route exactly as without the pattern rules', () => {
    const without = new RouteTable(routingSchema.parse({ rules: general }), plant);
    for (const cls of ['public', 'internal', 'sensitive', 'confidential'] as const) {
      for (const kind of ['samples', 'scalar', 'event', 'frame', 'document'] as const) {
        expect([cls, kind, t.routes(cls, kind)]).toEqual([cls, kind, without.routes(cls, kind)]);
        expect(t.routes(cls, kind, undefined)).toBe(t.routes(cls, kind));
      }
    }
  });

  it('with only pattern rules, records without a pattern (and of other patterns) are left to routing.unmatched', () => {
    const only = routingSchema.parse({ rules: [{ name: 'training-sets', accessPatterns: ['ml_training'], must: ['lake', 'minio'] }] });
    expect(new RouteTable(only, plant).routes('internal', 'frame')).toEqual(['lake', 'minio', 'cloud']);
    expect(new RouteTable(only, plant).routes('internal', 'frame', 'batch')).toEqual(['lake', 'minio', 'cloud']);
    const none = new RouteTable({ ...only, unmatched: 'none' }, plant);
    expect(none.routes('internal', 'frame')).toEqual([]);
    expect(none.routes('internal', 'frame', 'ml_training')).toEqual(['lake', 'minio']);
  });

  it("a record without a pattern takes its kind's default (routing.defaultAccessPatterns), and one of its own wins", () => {
    const defaults = new RouteTable({ ...withPatterns, defaultAccessPatterns: { scalar: 'realtime', document: 'ml_training' } }, plant);
    expect(defaults.routes('internal', 'scalar')).toEqual(['lake', 'redis']);
    expect(defaults.routes('internal', 'document')).toEqual(['lake', 'minio']);
    expect(defaults.routes('internal', 'scalar', 'ml_training')).toEqual(['lake', 'minio']);
    // a kind without a default routes as a record without a pattern
    expect(defaults.routes('internal', 'event')).toEqual(t.routes('internal', 'event'));
    expect(defaults.explain('internal', 'scalar').outputs.find((o) => o.output === 'redis')).toEqual({
      output: 'redis',
      receives: true,
      why: 'must, by routing rule live',
    });
  });

  it("an input's accessPattern routes its records that carry none, and explain says which pattern it used", () => {
    const text = [
      'gateway: { dataDir: /tmp/lg-unused }',
      'inputs:',
      '  notebooks: { type: gateway-health, accessPattern: ml_training }',
      '  health: { type: gateway-health }',
      'outputs:',
      '  lake: { type: file-lake, path: /tmp/lg-unused/lake }',
      '  archive: { type: file-lake, path: /tmp/lg-unused/archive }',
      'routing:',
      '  defaultAccessPatterns: { scalar: realtime }',
      '  rules:',
      '    - { name: live, accessPatterns: [realtime], must: [lake] }',
      '    - { name: training, accessPatterns: [ml_training], must: [lake, archive] }',
    ].join('\n');
    const policy = policyFromDefinitions(loadConfig({ text, env: {} }).config, registry);
    const fromInput = policy.explain({ source: 'notebooks', signal: 'x', kind: 'scalar' });
    expect(fromInput.accessPattern).toBe('ml_training');
    expect(fromInput.routing.routes).toEqual(['lake', 'archive']);
    const fromKind = policy.explain({ source: 'health', signal: 'x', kind: 'scalar' });
    expect(fromKind.accessPattern).toBe('realtime');
    expect(fromKind.routing.routes).toEqual(['lake']);
    const own = policy.explain({ source: 'notebooks', signal: 'x', kind: 'scalar' }, { accessPattern: 'realtime' });
    expect(own.routing.routes).toEqual(['lake']);
  });

  it('equal sink lists are one shared array, whatever the pattern', () => {
    expect(t.routes('internal', 'scalar', 'archive')).toBe(t.routes('internal', 'scalar'));
    expect(t.routes('public', 'frame', 'ml_training')).toBe(t.routes('internal', 'scalar', 'ml_training'));
  });

  it('explains which rule sends a record of that pattern where', () => {
    const e = t.explain('internal', 'scalar', 'ml_training');
    expect(e.routes).toEqual(['lake', 'minio']);
    expect(e.outputs.find((o) => o.output === 'minio')).toEqual({ output: 'minio', receives: true, why: 'must, by routing rule training-sets' });
    expect(e.outputs.find((o) => o.output === 'redis')).toEqual({ output: 'redis', receives: false, why: 'no matching routing rule names it' });
    expect(t.explain('internal', 'scalar').outputs.find((o) => o.output === 'minio')).toMatchObject({ receives: false });
  });

  it('sensitive records of a pattern still never leave the premises: the rule is refused, each problem once', () => {
    let err: unknown;
    try {
      new RouteTable(routingSchema.parse({ rules: [{ name: 'training-share', accessPatterns: ['ml_training', 'research'], may: ['cloud'] }] }), plant);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RoutingPolicyError);
    expect((err as Error).message.split('\n')).toEqual([
      'routing.rules[0] (training-share): lets sensitive records go to output "cloud", which is off premises; sensitive and confidential records never leave the premises (limit the rule\'s classes to public, internal)',
      'routing.rules[0] (training-share): lets confidential records go to output "cloud", which is off premises; sensitive and confidential records never leave the premises (limit the rule\'s classes to public, internal)',
    ]);
    const limited = new RouteTable(
      routingSchema.parse({ rules: [{ name: 'training-share', classes: ['public', 'internal'], accessPatterns: ['ml_training'], may: ['cloud'] }] }),
      plant,
    );
    expect(limited.routes('internal', 'scalar', 'ml_training')).toEqual(['cloud']);
    // sensitive training records match no rule: unmatched: all, and the cloud is left out
    expect(limited.routes('sensitive', 'scalar', 'ml_training')).toEqual(['lake', 'kafka', 'redis', 'minio']);
  });

  it('a must output that cannot take a kind is refused once, not once per pattern', () => {
    expect(
      () =>
        new RouteTable(
          routingSchema.parse({ rules: [{ name: 'frames-live', kinds: ['frame'], accessPatterns: ['realtime', 'batch'], must: ['redis'] }] }),
          plant,
        ),
    ).toThrow(
      new RoutingPolicyError(
        ['public', 'internal', 'sensitive', 'confidential']
          .map(
            (c) =>
              `routing.rules[0] (frames-live): output "redis" must receive ${c} frame records, but output "redis" (redis) does not take frame records (it takes samples, scalar, event)`,
          )
          .join('\n'),
      ),
    );
  });

  it('the schema takes known patterns only, at least one', () => {
    expect(routingSchema.safeParse({ rules: [{ name: 'x', accessPatterns: ['streaming'], may: ['lake'] }] }).success).toBe(false);
    expect(routingSchema.safeParse({ rules: [{ name: 'x', accessPatterns: [], may: ['lake'] }] }).success).toBe(false);
  });
});
