/**
 * The cloud output's actions through the control-plane API (gateway/plugin-api/actions.ts) of a
 * running gateway that syncs to the harness's cloud MinIO: an operator pauses sync and uploads stop
 * (the sync store, `layergate sync status` and the live status agree), resumes and they continue; a
 * viewer reads but may not pause; every change is audited with who made it.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'minio';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main as layergate } from '../../../gateway/cli/main.js';
import { type GatewayApiRig, startGatewayApi } from '../../../gateway/api/test-support/gateway-api-rig.js';
import type { GatewayStatus } from '../../../gateway/api/status.js';
import { MINIO_CLOUD } from '../../../test/services/endpoints.js';
import { sleep, waitFor } from '../../../test/support/wait.js';
import type { SyncProgress } from './sync/store.js';

const cloud = new Client({ ...MINIO_CLOUD });
const ACTIONS = '/api/v1/plugins/cloud/cloud/actions';

let dir: string;
let bucket: string;
let rig: GatewayApiRig | undefined;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lg-cloud-api-'));
  bucket = `lg-cloud-api-${randomBytes(4).toString('hex')}`;
});

afterEach(async () => {
  await rig?.stop();
  rig = undefined;
  await fs.rm(dir, { recursive: true, force: true });
  if (await cloud.bucketExists(bucket).catch(() => false)) {
    const keys = await objectKeys();
    if (keys.length) await cloud.removeObjects(bucket, keys);
    await cloud.removeBucket(bucket);
  }
});

async function objectKeys(): Promise<string[]> {
  if (!(await cloud.bucketExists(bucket).catch(() => false))) return [];
  const keys: string[] = [];
  for await (const o of cloud.listObjectsV2(bucket, '', true)) keys.push((o as { name: string }).name);
  return keys;
}

/** `layergate ...` in this process, its stdout and exit code */
async function cli(args: string[]): Promise<{ code: number; stdout: string }> {
  const write = process.stdout.write.bind(process.stdout);
  let stdout = '';
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  }) as typeof process.stdout.write;
  try {
    const code = await layergate(['node', 'layergate', ...args]);
    return { code, stdout };
  } finally {
    process.stdout.write = write;
    process.exitCode = undefined;
  }
}

function startGateway(): Promise<GatewayApiRig> {
  return startGatewayApi(path.join(dir, 'layergate.json'), {
    gateway: { machine: 'pbf-01', dataDir: path.join(dir, 'data'), deliveryThread: false },
    // a scalar every 200 ms, synced as realtime objects: uploads that go on until paused
    inputs: { health: { type: 'gateway-health', interval: '200ms' } },
    outputs: {
      cloud: {
        type: 'cloud',
        endpoint: `http://${MINIO_CLOUD.endPoint}:${MINIO_CLOUD.port}`,
        bucket,
        accessKey: MINIO_CLOUD.accessKey,
        secretKey: MINIO_CLOUD.secretKey,
        modes: { scalar: 'realtime' },
        bandwidth: { cap: '20Mbit', adaptive: false },
        retry: { initial: '100ms', max: '1s' },
      },
    },
    api: { statusInterval: '250ms' },
  });
}

type StatusRows = { output: string; progress: SyncProgress }[];

describe('cloud sync through the API', () => {
  it('an operator pauses sync and uploads stop; a viewer may not; resume continues; status, CLI and audit agree', async () => {
    const r = (rig = await startGateway());
    const viewer = r.tokenFor('viewer');
    const operator = r.tokenFor('operator');
    const syncStatus = async (): Promise<SyncProgress> => {
      const a = await r.request('GET', `${ACTIONS}/sync-status`, { token: viewer });
      expect(a.status, a.text).toBe(200);
      const rows = a.json<StatusRows>();
      expect(rows.map((x) => x.output)).toEqual(['cloud']);
      return rows[0]!.progress;
    };
    const cliStatus = async (): Promise<SyncProgress> => {
      const c = await cli(['sync', 'status', '-c', r.configFile, '--json']);
      expect(c.code).toBe(0);
      return JSON.parse(c.stdout)[0].progress as SyncProgress;
    };
    const cloudStatus = async () => {
      const a = await r.request('GET', '/api/v1/status', { token: viewer });
      expect(a.status).toBe(200);
      return a.json<GatewayStatus>().outputs.find((o) => o.name === 'cloud')!;
    };

    // uploads run
    await waitFor('3 objects synced', async () => (await syncStatus()).synced.objects >= 3 || undefined, 30_000, 100);
    expect((await objectKeys()).length).toBeGreaterThanOrEqual(3);

    // a viewer reads, but may not pause: nothing changes
    const refused = await r.request('POST', `${ACTIONS}/sync-pause`, { token: viewer });
    expect(refused.status).toBe(403);
    expect(refused.json()).toMatchObject({ error: 'LG_API_FORBIDDEN' });
    expect((await syncStatus()).paused).toBe(false);

    // an operator pauses
    const paused = await r.request('POST', `${ACTIONS}/sync-pause`, { token: operator });
    expect([paused.status, paused.json()]).toEqual([200, { output: 'cloud', paused: true }]);
    expect((await syncStatus()).paused).toBe(true);
    expect((await cliStatus()).paused).toBe(true);
    expect((await cli(['sync', 'status', '-c', r.configFile])).stdout).toContain('cloud output cloud  [PAUSED]');
    // the uploader sees the pause within a second; from then on nothing reaches the cloud
    await sleep(1500);
    const before = { keys: (await objectKeys()).length, progress: await syncStatus() };
    await sleep(3000);
    const during = await syncStatus();
    expect((await objectKeys()).length).toBe(before.keys);
    expect(during.synced).toEqual(before.progress.synced);
    expect(during.queued.objects).toBeGreaterThan(before.progress.queued.objects);
    // the live status shows it: paused, nothing sent, the queue, the cap
    const live = await waitFor(
      'the status to show the queue',
      async () => {
        const o = await cloudStatus();
        return o.sync && o.sync.queue.objects >= during.queued.objects ? o.sync : undefined;
      },
      5000,
      100,
    );
    expect(live).toMatchObject({ paused: true, bandwidth: { usedBitsPerSecond: 0, capBitsPerSecond: 20_000_000 } });
    expect(live.queue.bytes).toBeGreaterThan(0);
    // the same content as `layergate sync status --json`
    expect(Object.keys(await syncStatus()).sort()).toEqual(Object.keys(await cliStatus()).sort());

    // an operator resumes: the queue drains into the cloud
    const resumed = await r.request('POST', `${ACTIONS}/sync-resume`, { token: operator });
    expect([resumed.status, resumed.json()]).toEqual([200, { output: 'cloud', paused: false }]);
    expect((await cliStatus()).paused).toBe(false);
    await waitFor(
      'the queue of the pause synced',
      async () => (await syncStatus()).synced.objects >= during.synced.objects + during.queued.objects || undefined,
      30_000,
      100,
    );
    expect((await objectKeys()).length).toBeGreaterThanOrEqual(before.keys + during.queued.objects);
    const after = await waitFor(
      'the status to show sync running',
      async () => ((await cloudStatus()).sync?.paused === false ? (await cloudStatus()).sync : undefined),
      5000,
      100,
    );
    expect(after!.bandwidth.capBitsPerSecond).toBe(20_000_000);

    // audited: who paused and resumed which output (the viewer's refusal changed nothing, so it is not an action)
    const audited = r.gateway.audit.entries().filter((e) => e.type === 'plugin-action');
    expect(audited.map((e) => e.data)).toEqual([
      { type: 'cloud', instance: 'cloud', action: 'sync-pause', input: {}, user: 'test-operator' },
      { type: 'cloud', instance: 'cloud', action: 'sync-resume', input: {}, user: 'test-operator' },
    ]);

    // documented in the OpenAPI document with their schemas
    const openapi = await r.request('GET', '/api/v1/openapi.json', { token: viewer });
    expect(openapi.status).toBe(200);
    const paths = openapi.json<{ paths: Record<string, Record<string, unknown>> }>().paths;
    expect(Object.keys(paths['/api/v1/plugins/cloud/{instance}/actions/sync-pause'] ?? {})).toContain('post');
    expect(Object.keys(paths['/api/v1/plugins/cloud/{instance}/actions/sync-status'] ?? {})).toContain('get');

    // an output the config does not have
    const unknown = await r.request('POST', '/api/v1/plugins/cloud/nope/actions/sync-pause', { token: operator });
    expect(unknown.status).toBe(404);
    expect(unknown.json()).toMatchObject({ error: 'LG_API_NOT_FOUND', message: expect.stringContaining('"nope"') });
    expect(r.gateway.audit.entries().filter((e) => e.type === 'plugin-action')).toHaveLength(2);
  }, 90_000);
});
