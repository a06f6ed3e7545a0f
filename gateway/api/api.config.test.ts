/**
 * The configuration over the API: the effective config (redacted), a candidate checked with the
 * messages `check-config` prints, and the JSON Schema the UI's forms come from.
 */
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
        'outputs.s3.type: unknown output type, expected one of "file-lake", "kafka", "redis", "minio", "cloud", got "s3-cloud"',
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
});
