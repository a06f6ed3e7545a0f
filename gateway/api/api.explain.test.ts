/**
 * `GET /api/v1/explain` on a running gateway (real pipeline, buffer, file-lake outputs, HTTPS API):
 * the running policy answers as `layergate explain --json` does for the same config when no job is
 * marked; a job marked confidential through the running pipeline's machine context raises its records
 * in the running answer (and in the CLI's client of it, over the local token and the pinned
 * certificate), which the config file alone cannot tell.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { policyFromDefinitions } from '../classify/index.js';
import { type ExplainAnswer, type ExplainQuery, explainAnswer, explainJson, explainText } from '../classify/explain-report.js';
import { registry } from '../runtime/registry.js';
import { runningExplain } from '../cli/running-gateway.js';
import { type ApiRig, startApiRig } from './test-support/api-rig.js';

let rig: ApiRig;
let viewer: string;

beforeAll(async () => {
  rig = await startApiRig('', {
    outputsYaml: '  offsite: { type: file-lake, premises: off, linger: 200ms }',
    yaml: [
      'classification:',
      '  rules:',
      '    - { name: kpis, signal: "kpi.*", class: public }',
      '    - { name: laser, signal: "laser.*", class: sensitive, description: process parameters }',
      '    - { name: recipes, kind: document, class: confidential }',
      '    - { name: ti64, material: "Ti6Al4V*", signal: "melt.*", class: sensitive }',
      // records without an access pattern match no routing rule: unmatched: all, as without these
      'routing:',
      '  rules:',
      '    - { name: archive, accessPatterns: [archive], must: [lake] }',
      '    - { name: training-share, classes: [public, internal], accessPatterns: [ml_training], may: [lake, offsite] }',
    ].join('\n'),
  });
  viewer = rig.tokenFor('viewer');
});
afterAll(async () => {
  await rig?.stop();
});

type Running = ExplainAnswer & { jobMark: string | null };

const url = (q: Partial<ExplainQuery>): string => `/api/v1/explain?${new URLSearchParams(q as Record<string, string>)}`;

/** what `layergate explain --json` prints for the same config with no gateway running */
const offline = (q: ExplainQuery): ExplainAnswer => explainJson(explainAnswer(policyFromDefinitions(rig.gateway.config, registry), q));

async function ask(q: ExplainQuery): Promise<Running> {
  const r = await rig.request('GET', url(q), { token: viewer });
  expect(r.status, r.text).toBe(200);
  return r.json<Running>();
}

const questions: ExplainQuery[] = [
  { input: 'health', signal: 'kpi.utilisation', kind: 'scalar' },
  { input: 'health', signal: 'laser.power', kind: 'scalar', build: 'B-1' },
  { input: 'health', signal: 'build.recipe', kind: 'document' },
  { input: 'health', signal: 'gateway.cpu', kind: 'event', class: 'sensitive' },
  { input: 'health', signal: 'kpi.utilisation', kind: 'event', build: 'B-2', jobClass: 'yes' },
  { input: 'health', signal: 'melt.pool', kind: 'samples', material: 'Ti6Al4V-grade23' },
];

describe('GET /api/v1/explain', () => {
  it('a viewer gets the running policy, equal to the offline `layergate explain --json` for the same config', async () => {
    for (const q of questions) {
      const { jobMark, ...answer } = await ask(q);
      expect(jobMark).toBeNull();
      expect(answer, JSON.stringify(q)).toEqual(offline(q));
      // printed the same, key for key
      expect(JSON.stringify(explainJson(answer))).toBe(JSON.stringify(offline(q)));
    }
    const [kpi, laser, recipe, proposed, marked, melt] = await Promise.all(questions.map(ask));
    expect([kpi!.classification.class, kpi!.classification.rule, kpi!.routing.routes]).toEqual(['public', 'rule kpis', ['lake', 'offsite']]);
    expect([laser!.classification.class, laser!.routing.routes]).toEqual(['sensitive', ['lake']]);
    expect(laser!.classification.matched).toEqual([{ rule: 'laser', class: 'sensitive', description: 'process parameters' }]);
    expect([recipe!.classification.class, recipe!.routing.routes]).toEqual(['confidential', ['lake']]);
    expect(proposed!.classification).toMatchObject({ class: 'sensitive', rule: 'proposed by input health', base: { class: 'internal', from: 'default' } });
    expect(marked!.classification).toMatchObject({ class: 'confidential', rule: 'job B-2 marked confidential' });
    expect([melt!.classification.class, melt!.classification.rule]).toEqual(['sensitive', 'rule ti64']);
    expect(kpi!.premises).toEqual({ lake: 'on', offsite: 'off' });
  });

  it('with an access pattern: routed by the rules for it, the pattern named in the answer, as offline', async () => {
    const q: ExplainQuery = { input: 'health', signal: 'kpi.utilisation', kind: 'scalar', accessPattern: 'archive' };
    const { jobMark: _none, ...archived } = await ask(q);
    expect(archived).toEqual(offline(q));
    expect(archived.accessPattern).toBe('archive');
    expect(archived.routing.routes).toEqual(['lake']);
    expect(archived.routing.outputs).toEqual([
      { output: 'lake', receives: true, why: 'must, by routing rule archive' },
      { output: 'offsite', receives: false, why: 'no matching routing rule names it' },
    ]);
    expect(explainText(archived)).toContain('record       input health, signal kpi.utilisation, kind scalar, access pattern archive\n');
    expect(Object.keys(explainJson(archived)).slice(0, 5)).toEqual(['input', 'signal', 'kind', 'build', 'accessPattern']);

    // the training rule shares public and internal records only; sensitive training records stay on the premises
    const training = await ask({ ...q, accessPattern: 'ml_training' });
    expect(training.routing.outputs.find((o) => o.output === 'offsite')).toEqual({
      output: 'offsite',
      receives: true,
      why: 'may, by routing rule training-share',
    });
    const laser = await ask({ input: 'health', signal: 'laser.power', kind: 'scalar', accessPattern: 'ml_training' });
    expect([laser.classification.class, laser.routing.routes]).toEqual(['sensitive', ['lake']]);

    // without one: routed as before, and no accessPattern in the answer
    const plain = await ask({ input: 'health', signal: 'kpi.utilisation', kind: 'scalar' });
    expect(plain.routing.routes).toEqual(['lake', 'offsite']);
    expect(plain).not.toHaveProperty('accessPattern');
    expect(explainText(plain)).not.toContain('access pattern');

    // the CLI's client of the running gateway asks with it
    const cli = await runningExplain({ config: rig.gateway.config }, q, (m) => new Error(m));
    expect(explainJson(cli!.answer)).toEqual(explainJson(archived));

    const bad = await rig.request('GET', `${url({ input: 'health', signal: 'x' })}&accessPattern=streaming`, { token: viewer });
    expect(bad.status).toBe(400);
  });

  it('no credential: 401; an input the gateway does not run: 404 naming its inputs; a bad kind: 400', async () => {
    const none = await rig.request('GET', url({ input: 'health', signal: 'kpi.utilisation' }));
    expect(none.status).toBe(401);
    expect(none.json()).toMatchObject({ error: 'LG_API_UNAUTHENTICATED' });
    expect(none.text).not.toContain('kpi');
    const unknown = await rig.request('GET', url({ input: 'camera', signal: 'x' }), { token: viewer });
    expect(unknown.status).toBe(404);
    expect(unknown.json()).toMatchObject({
      error: 'LG_API_NOT_FOUND',
      message: `no input named "camera" in the running gateway's configuration (inputs: health, grpc)`,
    });
    const bad = await rig.request('GET', `${url({ input: 'health', signal: 'x' })}&kind=hologram`, { token: viewer });
    expect(bad.status).toBe(400);
    // described with the others
    const openapi = await rig.request('GET', '/api/v1/openapi.json', { token: viewer });
    expect(openapi.status).toBe(200);
    expect(Object.keys(openapi.json<{ paths: Record<string, unknown> }>().paths)).toContain('/api/v1/explain');
  });

  it('a job marked confidential through the running pipeline raises its records in the running answer only', async () => {
    const q: ExplainQuery = { input: 'health', signal: 'kpi.utilisation', kind: 'scalar', build: 'B-7' };
    const before = await ask(q);
    expect([before.classification.class, before.jobMark]).toEqual(['public', null]);

    // the machine's input reports the job and the MES flags it, as an input does (gateway/ingest/pipeline.ts)
    rig.gateway.pipeline.contextFor('health').setMachineContext({ build: 'B-7', jobClass: 'confidential' });

    const after = await ask(q);
    expect(after.jobMark).toBe('confidential');
    expect(after.classification).toMatchObject({
      class: 'confidential',
      rule: 'job B-7 marked confidential',
      base: { class: 'public', from: 'rule kpis' },
      floors: [{ from: 'job B-7 marked confidential', class: 'confidential' }],
    });
    expect(after.routing.routes).toEqual(['lake']);
    expect(after.routing.outputs.find((o) => o.output === 'offsite')).toMatchObject({ receives: false });
    // the config file alone cannot know: the offline answer keeps the rule's class
    const file = offline(q);
    expect([file.classification.class, file.routing.routes]).toEqual(['public', ['lake', 'offsite']]);
    // another job keeps its class; a weaker marking asked about does not lower the one held
    const other = await ask({ ...q, build: 'B-8' });
    expect([other.classification.class, other.jobMark]).toEqual(['public', null]);
    const weaker = await ask({ ...q, jobClass: 'internal' });
    expect([weaker.classification.class, weaker.jobMark]).toEqual(['confidential', 'confidential']);

    // the CLI's client of the running gateway (local token, pinned certificate) gets the same, and prints it as offline does
    const cli = await runningExplain({ config: rig.gateway.config }, q, (m) => new Error(m));
    expect(cli?.endpoint).toMatchObject({ pid: process.pid, url: rig.api.url });
    expect(cli?.jobMark).toBe('confidential');
    const { jobMark: _held, ...answer } = after;
    expect(explainJson(cli!.answer)).toEqual(explainJson(answer));
    expect(explainText(cli!.answer)).toContain('class        confidential  (job B-7 marked confidential)\n');
    expect(explainText(cli!.answer)).toContain('floor        confidential  (job B-7 marked confidential)\n');
    expect(explainText(file)).toContain('class        public  (rule kpis)\n');
  });
});
