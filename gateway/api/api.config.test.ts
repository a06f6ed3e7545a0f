/**
 * The configuration over the API: the effective config (redacted), a candidate checked with the
 * messages `check-config` prints, and the JSON Schema the UI's forms come from.
 */
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigHistory, historyPath } from '../config/history.js';
import { type ApiRig, startApiRig } from './test-support/api-rig.js';

interface RunningConfig {
  gateway: { machine: string };
  buffer: { maxBytes: number };
  inputs: Record<string, unknown>;
}

let rig: ApiRig;
let admin: string;
beforeAll(async () => {
  rig = await startApiRig();
  admin = rig.tokenFor('admin');
});
afterAll(async () => {
  await rig?.stop();
});

describe('configuration over the API', () => {
  it('GET /api/v1/config: the running configuration with defaults applied, as an object and as the same YAML', async () => {
    const r = await rig.request('GET', '/api/v1/config', { token: admin });
    expect(r.status).toBe(200);
    const body = r.json<{ origin: string; config: RunningConfig; yaml: string }>();
    expect(body.origin).toBe('(text)');
    expect(body.config.gateway.machine).toBe('m1');
    expect(body.config.buffer.maxBytes).toBe(1024 ** 3);
    expect(body.config.inputs.health).toMatchObject({ type: 'gateway-health', interval: 200 });
    expect(YAML.parse(body.yaml)).toEqual(body.config);
  });

  it('POST /api/v1/config/validate: problems as check-config names them, one per path; a good candidate with its warnings; nothing applied', async () => {
    const bad = await rig.request('POST', '/api/v1/config/validate', {
      token: admin,
      body: { yaml: 'buffer: { maxBytes: huge }\noutputs:\n  s3: { type: s3-cloud }\n' },
    });
    expect(bad.status).toBe(200);
    expect(bad.json()).toEqual({
      ok: false,
      problems: [
        'buffer.maxBytes: expected a byte size like 512MiB or 8GiB, got "huge"',
        'outputs.s3.type: unknown output type, expected one of "file-lake", "kafka", "redis", "minio", "cloud", "postgres", "mongodb", got "s3-cloud"',
      ],
      warnings: [],
      summary: null,
    });
    const good = await rig.request('POST', '/api/v1/config/validate', {
      token: admin,
      body: { yaml: 'gateway: { machine: m2 }\nbuffer: { maxBytes: 2GiB }\n' },
    });
    const answer = good.json<{ ok: boolean; summary: string }>();
    expect(answer.ok).toBe(true);
    expect(YAML.parse(answer.summary).buffer.maxBytes).toBe(2 * 1024 ** 3);
    // the running gateway is untouched
    const now = (await rig.request('GET', '/api/v1/config', { token: admin })).json<{ config: RunningConfig }>();
    expect(now.config.gateway.machine).toBe('m1');
  });

  it('GET /api/v1/config/schema: the whole configuration as JSON Schema, every section and plugin', async () => {
    const r = await rig.request('GET', '/api/v1/config/schema', { token: rig.tokenFor('viewer') });
    expect(r.status).toBe(200);
    const schema = r.json<{ properties: Record<string, unknown> }>();
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['gateway', 'buffer', 'api', 'inputs', 'outputs']));
    expect(r.text).toContain('"opcua"');
  });

  it('versions: the start recorded the running text; a later version, its text with secrets hidden, and the diff between them', async () => {
    const list = (await rig.request('GET', '/api/v1/config/versions', { token: admin })).json<{ n: number; author: string; origin: string }[]>();
    expect(list).toEqual([expect.objectContaining({ n: 1, author: 'file', origin: '(text)' })]);
    const first = (await rig.request('GET', '/api/v1/config/versions/1', { token: admin })).json<{ text: string }>();
    expect(first.text).toContain('machine: m1');
    // a later start with another file (as `layergate run` after an edit) adds version 2
    const history = new ConfigHistory(historyPath(path.join(rig.dir, 'data')));
    try {
      const next = `${first.text.replace('machine: m1', 'machine: m2')}\nx-notes:\n  password: hunter2-plain\n  token: \${GRAFANA_TOKEN}\n  url: mqtt://ops:s3cret@broker:1883\n`;
      expect(history.record(next, { author: 'ada', comment: 'new machine name', origin: '/etc/layergate/layergate.yaml' }).n).toBe(2);
      // the same text again is no new version
      expect(history.record(next, { author: 'ada', comment: 'again', origin: '(text)' }).n).toBe(2);
    } finally {
      history.close();
    }
    const second = (await rig.request('GET', '/api/v1/config/versions/2', { token: admin })).json<{ version: { comment: string }; text: string }>();
    expect(second.version.comment).toBe('new machine name');
    expect(second.text).not.toContain('hunter2-plain');
    expect(second.text).not.toContain('s3cret');
    expect(second.text).toContain('${GRAFANA_TOKEN}');
    const diff = (await rig.request('GET', '/api/v1/config/diff?from=1&to=2', { token: admin })).json<{ diff: string }>().diff;
    expect(diff).toMatch(/^-.*machine: m1/m);
    expect(diff).toMatch(/^\+.*machine: m2/m);
    expect(diff).not.toContain('hunter2-plain');
    expect((await rig.request('GET', '/api/v1/config/versions/9', { token: admin })).status).toBe(404);
    expect((await rig.request('GET', '/api/v1/config/versions', { token: rig.tokenFor('operator') })).status).toBe(403);
  });
});
