/**
 * The classification rule engine, table-driven: rule precedence (most restrictive wins, ties go to
 * the first listed), the input's class and the global default when nothing matches, the input's
 * proposal and the job marking as floors, job metadata rules (build, material), glob semantics, and
 * that the per-(input, signal, kind) cache never leaks one record's job into another's class.
 */
import { describe, expect, it } from 'vitest';
import { Classifier, jobClassOf } from './classifier.js';
import type { ClassifyContext, ClassifyInput } from './classifier.js';
import { classificationSchema } from './schema.js';
import { compileGlob } from './glob.js';

// the AM machine policy of config/layergate.example.yaml, in short
const policy = classificationSchema.parse({
  default: 'internal',
  rules: [
    { name: 'kpis', signal: 'kpi.*', class: 'public' },
    { name: 'process-values', input: 'opcua', kind: 'scalar', class: 'internal' },
    { name: 'frames', kind: 'frame', class: 'sensitive' },
    { name: 'job-names', signal: 'machine.{job_name,customer}', class: 'sensitive' },
    { name: 'scan-files', kind: 'document', signal: 'job.{scan,build}_file*', class: 'confidential' },
    { name: 'customer-x', build: 'CUSTX-*', class: 'confidential' },
    { name: 'titanium', material: 'Ti*', kind: 'samples', class: 'sensitive' },
    { name: 'kpi-but-internal', signal: 'kpi.scrap_*', class: 'internal' },
  ],
});

type Row = [what: string, record: ClassifyInput, ctx: ClassifyContext, expected: { class: string; rule: string }];
const rec = (source: string, signal: string, kind: ClassifyInput['kind'], extra: Partial<ClassifyInput> = {}): ClassifyInput => ({
  source,
  signal,
  kind,
  ...extra,
});

const rows: Row[] = [
  ['no rule matches, input sets no class: the global default', rec('mqtt', 'meltpool', 'samples'), {}, { class: 'internal', rule: 'default' }],
  ["no rule matches: the input's class", rec('mqtt', 'meltpool', 'samples'), { inputClass: 'sensitive' }, { class: 'sensitive', rule: 'input mqtt class' }],
  [
    "a rule may set a laxer class than the input's (aggregated KPIs are public)",
    rec('health', 'kpi.utilisation', 'scalar'),
    { inputClass: 'internal' },
    { class: 'public', rule: 'rule kpis' },
  ],
  [
    'most restrictive of two matching rules wins, whatever their order',
    rec('mqtt', 'kpi.scrap_rate', 'scalar'),
    {},
    { class: 'internal', rule: 'rule kpi-but-internal' },
  ],
  ['process values of the OPC-UA input are internal', rec('opcua', 'Chamber.O2', 'scalar'), {}, { class: 'internal', rule: 'rule process-values' }],
  ['frames are sensitive, from any input', rec('camera', 'camera.powder_bed', 'frame'), {}, { class: 'sensitive', rule: 'rule frames' }],
  ['job names are sensitive ({a,b} alternatives)', rec('opcua', 'machine.customer', 'event'), {}, { class: 'sensitive', rule: 'rule job-names' }],
  ['scan files are confidential', rec('mqtt', 'job.scan_file.part3', 'document'), {}, { class: 'confidential', rule: 'rule scan-files' }],
  ['a scan-file signal of another kind is not a scan file', rec('mqtt', 'job.scan_file.part3', 'event'), {}, { class: 'internal', rule: 'default' }],
  [
    "build metadata: a customer's job is confidential, every kind",
    rec('opcua', 'Chamber.O2', 'scalar', { build: 'CUSTX-0042' }),
    {},
    { class: 'confidential', rule: 'rule customer-x' },
  ],
  [
    'build metadata does not match another build',
    rec('opcua', 'Chamber.O2', 'scalar', { build: 'ACME-7' }),
    {},
    { class: 'internal', rule: 'rule process-values' },
  ],
  ['a build rule does not match a record of unknown build', rec('opcua', 'Chamber.O2', 'scalar'), {}, { class: 'internal', rule: 'rule process-values' }],
  ['material metadata (machine context)', rec('mqtt', 'meltpool', 'samples'), { material: 'Ti6Al4V' }, { class: 'sensitive', rule: 'rule titanium' }],
  ['material metadata: another material', rec('mqtt', 'meltpool', 'samples'), { material: '316L' }, { class: 'internal', rule: 'default' }],
  [
    "the input's proposal is a floor: a stricter proposal wins over the rules",
    rec('opcua', 'Chamber.O2', 'scalar', { class: 'confidential' }),
    {},
    { class: 'confidential', rule: 'proposed by input opcua' },
  ],
  [
    "the input's proposal is a floor only: a laxer proposal does not lower a rule",
    rec('camera', 'camera.powder_bed', 'frame', { class: 'public' }),
    {},
    { class: 'sensitive', rule: 'rule frames' },
  ],
  [
    'job marked confidential: every record of the job, even a public KPI',
    rec('health', 'kpi.utilisation', 'scalar', { build: 'B7' }),
    { jobClass: 'confidential' },
    { class: 'confidential', rule: 'job B7 marked confidential' },
  ],
  [
    "job marking below the rule's class changes nothing",
    rec('camera', 'camera.powder_bed', 'frame', { build: 'B7' }),
    { jobClass: 'internal' },
    { class: 'sensitive', rule: 'rule frames' },
  ],
  [
    "job marking over the input's class and the default",
    rec('mqtt', 'meltpool', 'samples', { build: 'B7' }),
    { inputClass: 'public', jobClass: 'sensitive' },
    { class: 'sensitive', rule: 'job B7 marked sensitive' },
  ],
];

describe('Classifier: precedence, defaults, floors, job metadata', () => {
  const c = new Classifier(policy);
  it.each(rows)('%s', (_what, record, ctx, expected) => {
    expect(c.classify(record, ctx)).toEqual(expected);
    // the pipeline's allocation-free call decides the same class
    expect(c.classOf(record.source, record.signal, record.kind, record.build, record.class, ctx.inputClass, ctx.jobClass, ctx.material)).toBe(expected.class);
  });

  it('a tie between rules of the same class names the first listed', () => {
    const t = new Classifier(
      classificationSchema.parse({
        rules: [
          { name: 'first', signal: 'a.*', class: 'sensitive' },
          { name: 'second', kind: 'scalar', class: 'sensitive' },
        ],
      }),
    );
    expect(t.classify(rec('x', 'a.b', 'scalar')).rule).toBe('rule first');
    // also when the first is a job-metadata rule, evaluated per record
    const j = new Classifier(
      classificationSchema.parse({
        rules: [
          { name: 'job', build: 'B*', class: 'sensitive' },
          { name: 'signal', signal: 'a.*', class: 'sensitive' },
        ],
      }),
    );
    expect(j.classify(rec('x', 'a.b', 'scalar', { build: 'B1' })).rule).toBe('rule job');
    expect(j.classify(rec('x', 'a.b', 'scalar', { build: 'C1' })).rule).toBe('rule signal');
  });

  it('the cache per (input, signal, kind) keeps build rules per record: the same signal of two jobs gets two classes', () => {
    const k = new Classifier(policy);
    const classes = ['CUSTX-1', 'ACME-1', 'CUSTX-2', undefined, 'CUSTX-3'].map(
      (build) => k.classify(rec('opcua', 'Chamber.O2', 'scalar', build ? { build } : {})).class,
    );
    expect(classes).toEqual(['confidential', 'internal', 'confidential', 'internal', 'confidential']);
  });

  it('explain lists every matching rule, the base and the floors', () => {
    const e = new Classifier(policy).explain(rec('mqtt', 'kpi.scrap_rate', 'scalar', { build: 'CUSTX-9', class: 'sensitive' }), {});
    expect(e.matched.map((m) => `${m.rule}:${m.class}`)).toEqual(['kpis:public', 'customer-x:confidential', 'kpi-but-internal:internal']);
    expect(e.base).toEqual({ class: 'confidential', from: 'rule customer-x' });
    expect(e.floors).toEqual([{ from: 'proposed by input mqtt', class: 'sensitive' }]);
    expect(e).toMatchObject({ class: 'confidential', rule: 'rule customer-x' });
  });
});

describe('job markings and globs', () => {
  it.each([
    ['confidential', 'confidential'],
    ['Sensitive', 'sensitive'],
    ['true', 'confidential'],
    ['1', 'confidential'],
    ['false', undefined],
    ['', undefined],
    ['none', undefined],
    ['top-secret', 'confidential'],
  ] as const)('marking %j reads as %s', (raw, cls) => {
    expect(jobClassOf(raw).class).toBe(cls);
  });
  it('an unknown marking is read as confidential and says so', () => {
    expect(jobClassOf('top-secret')).toEqual({ class: 'confidential', unknown: true });
  });

  it.each([
    ['camera.*', 'camera.powder_bed', true],
    ['camera.*', 'camera', false],
    ['*', 'lpbf/m1/x', true],
    ['lpbf.?1.*', 'lpbf.m1.meltpool', true],
    ['machine.{job_name,customer}', 'machine.customer', true],
    ['machine.{job_name,customer}', 'machine.state', false],
    ['a+b(c)', 'a+b(c)', true],
    ['a.b', 'axb', false],
  ] as const)('glob %j on %j: %s', (pattern, value, expected) => {
    expect(compileGlob(pattern).test(value)).toBe(expected);
  });
  it('a "{" without "}" is a config error naming the rule', () => {
    const r = classificationSchema.safeParse({ rules: [{ name: 'bad', signal: 'a.{b,c', class: 'public' }] });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(['rules', 0, 'signal']);
  });
  it('two rules with one name are a config error', () => {
    const r = classificationSchema.safeParse({
      rules: [
        { name: 'x', class: 'public' },
        { name: 'x', class: 'internal' },
      ],
    });
    expect(r.error!.issues[0]!.message).toBe('duplicate rule name "x"');
  });
});
