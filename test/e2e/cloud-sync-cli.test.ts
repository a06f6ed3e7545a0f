/**
 * `layergate sync status|pause|resume|verify` as a user runs them (the real CLI in a child process)
 * beside a running cloud output (in this process) that syncs to the harness's cloud MinIO.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from 'minio';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MINIO_CLOUD } from '../services/endpoints.js';
import { waitFor } from '../support/wait.js';
import { CloudOutput, cloudConfigSchema } from '../../plugins/outputs/cloud/index.js';
import type { StoredRecord } from '../../gateway/plugin-api/record.js';
import type { SyncProgress } from '../../plugins/outputs/cloud/sync/store.js';

// the checkout this test belongs to
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tsxLoader = createRequire(import.meta.url).resolve('tsx');
const silent = pino({ level: 'silent' });
const cloud = new Client({ ...MINIO_CLOUD });
const MiB = 1024 * 1024;

let dir: string;
let bucket: string;
let configFile: string;
let out: CloudOutput | undefined;

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.LAYERGATE_CONFIG;
    const child = spawn(process.execPath, ['--import', tsxLoader, path.join(repo, 'gateway/cli/main.ts'), ...args], { cwd: repo, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const cloudEntry = (extra: Record<string, unknown> = {}) => ({
  endpoint: `http://${MINIO_CLOUD.endPoint}:${MINIO_CLOUD.port}`,
  bucket,
  accessKey: MINIO_CLOUD.accessKey,
  secretKey: MINIO_CLOUD.secretKey,
  manifestAfter: '500ms',
  retry: { initial: '100ms', max: '1s' },
  partSize: '5MiB',
  ...extra,
});

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lg-sync-cli-'));
  bucket = `lg-sync-cli-${randomBytes(4).toString('hex')}`;
  configFile = path.join(dir, 'layergate.yaml');
});

afterEach(async () => {
  await out?.stop();
  out = undefined;
  await fs.rm(dir, { recursive: true, force: true });
  if (await cloud.bucketExists(bucket).catch(() => false)) {
    const keys: string[] = [];
    for await (const o of cloud.listObjectsV2(bucket, '', true)) keys.push((o as { name: string }).name);
    if (keys.length) await cloud.removeObjects(bucket, keys);
    await cloud.removeBucket(bucket);
  }
});

async function startCloud(extra: Record<string, unknown> = {}): Promise<CloudOutput> {
  const dataDir = path.join(dir, 'data');
  await fs.writeFile(
    configFile,
    JSON.stringify({
      gateway: { machine: 'pbf-01', dataDir },
      inputs: {},
      outputs: { cloud: { type: 'cloud', ...cloudEntry(extra) } },
    }),
  );
  out = new CloudOutput(cloudConfigSchema.parse(cloudEntry(extra)), { dataDir, machine: 'pbf-01' });
  await out.start({
    name: 'cloud',
    log: silent,
    blobs: {
      read: () => Promise.reject(new Error('none')),
      path: () => {
        throw new Error('none');
      },
    },
  });
  return out;
}

function doc(body: Buffer, seq: number, build = 'B-7'): StoredRecord {
  return {
    seq,
    source: 'test',
    signal: 'report',
    kind: 'document',
    receiveTimeNs: BigInt(Date.now()) * 1_000_000n,
    class: 'internal',
    contentType: 'application/octet-stream',
    body,
    build,
    layer: seq,
    routes: ['cloud'],
  };
}

async function status(): Promise<SyncProgress> {
  const r = await cli(['sync', 'status', '-c', configFile, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { output: string; progress: SyncProgress }[])[0]!.progress;
}

describe('layergate sync', () => {
  it('pause stops uploads of a running gateway, status shows the queue, rate and ETA, resume continues', async () => {
    const o = await startCloud({ bandwidth: { cap: '6Mbit', adaptive: false } });
    const paused = await cli(['sync', 'pause', '-c', configFile]);
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toBe('paused cloud\n');
    await waitFor('the uploader to see the pause', () => o.syncUploader!.stats().state === 'paused' || undefined, 5000);
    await o.send([doc(randomBytes(12 * MiB), 1)]);
    await new Promise((r) => setTimeout(r, 1500));
    let p = await status();
    expect(p.paused).toBe(true);
    expect(p.queued).toEqual({ objects: 1, bytes: 12 * MiB });
    expect(p.synced.objects).toBe(0);
    const text = await cli(['sync', 'status', '-c', configFile]);
    expect(text.stdout).toContain('cloud output cloud  [PAUSED]');
    expect(text.stdout).toMatch(/queued +1 objects, 12\.0 MiB left/);

    expect((await cli(['sync', 'resume', '-c', configFile])).stdout).toBe('resumed cloud\n');
    // 12 MiB at 6 Mbit/s is about 17 s: look while it runs (a CLI start takes seconds on a busy machine)
    await waitFor('a measured rate', () => (o.syncStore!.progress().rate?.bytesPerSecond ?? 0) > 0 || undefined, 10_000, 100);
    p = await status();
    expect(p.paused).toBe(false);
    expect(p.queued.objects).toBe(1);
    expect(p.etaSeconds).not.toBeNull();
    expect(p.etaSeconds!).toBeGreaterThan(0);
    expect(p.etaSeconds!).toBeLessThan(30);
    expect(p.rate!.bytesPerSecond * 8).toBeLessThanOrEqual(6e6 * 1.05);
    await waitFor('synced', () => o.syncStore!.progress().synced.objects === 1 || undefined, 60_000, 100);
    p = await status();
    expect(p.queued.objects).toBe(0);
    expect(p.etaSeconds).toBe(0);
    expect(p.synced).toEqual({ objects: 1, bytes: 12 * MiB });
  }, 90_000);

  it('verify passes against the manifest, fails (exit 3) when an object in the cloud was changed, and names what is missing', async () => {
    const o = await startCloud();
    const a = randomBytes(3000);
    await o.send([doc(a, 1), doc(randomBytes(5000), 2)]);
    const manifestKey = o.manifestKey('B-7');
    await waitFor('the manifest', () => o.syncStore!.progress().builds.find((b) => b.build === 'B-7')?.manifestAtMs || undefined, 20_000, 100);
    const ok = await cli(['sync', 'verify', 'B-7', '-c', configFile, '--deep']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('2 objects');
    expect(ok.stdout).toContain('  OK');
    expect(manifestKey).toBe('layergate/machine=pbf-01/build=B-7/manifest.json');

    // someone overwrites one object with other bytes of the same size
    const key = `layergate/blobs/sha256/${createHash('sha256').update(a).digest('hex').slice(0, 2)}/${createHash('sha256').update(a).digest('hex')}`;
    await cloud.putObject(bucket, key, randomBytes(3000), 3000, { 'x-amz-meta-sha256': createHash('sha256').update(a).digest('hex') });
    const shallow = await cli(['sync', 'verify', 'B-7', '-c', configFile]);
    expect(shallow.code).toBe(0); // size and metadata still match: only --deep can tell
    const deep = await cli(['sync', 'verify', 'B-7', '-c', configFile, '--deep', '--json']);
    expect(deep.code).toBe(3);
    const report = JSON.parse(deep.stdout) as { ok: boolean; problems: { key: string; problem: string }[] }[];
    expect(report[0]!.ok).toBe(false);
    expect(report[0]!.problems).toEqual([{ key, problem: expect.stringMatching(/^content sha256 [0-9a-f]{64}, manifest says /) }]);

    await cloud.removeObject(bucket, key);
    const missing = await cli(['sync', 'verify', 'B-7', '-c', configFile]);
    expect(missing.code).toBe(3);
    expect(missing.stdout).toContain(`${key}: missing`);

    const none = await cli(['sync', 'verify', 'B-nope', '-c', configFile]);
    expect(none.code).toBe(3);
    expect(none.stderr).toContain('no readable manifest for build "B-nope"');
  }, 90_000);
});
