/**
 * Cloud sync over a constrained, failing uplink. The cloud is a dedicated MinIO in its own network
 * namespace behind a veth pair shaped with `tc` (a tbf rate limit; test/services/netns-minio.ts); the
 * test owns it and deletes namespace, link and data at the end, also on failure. Needs root (CI runs as
 * root). The outage is the link going down at MinIO's end (every packet towards it vanishes): netem
 * loss would do the same, but the CI kernel has no sch_netem.
 *
 * What is shown, in the uploader's counters and in the cloud:
 * - at a 5 Mbit/s cap on a faster link, the payload sent in any window stays within the token bucket's
 *   bound (cap x (window + burst)); how close to the cap the upload runs is a rate, measured on the
 *   wire by `npm run bench:sync` (test/bench/sync.bench.ts, target: within 10%);
 * - an outage (the link down) mid-upload, lasting through several failed attempts: nothing gets
 *   through meanwhile, the upload resumes by itself once the link is back, no confirmed part is sent
 *   twice, and the object's checksum is right;
 * - kill -9 of the process uploading (a child process) mid-upload and a restart: likewise;
 * - adaptive back-off: when the link slows down behind a deep queue mid-upload, the uploader lowers
 *   its rate well below the cap, and returns to the cap once the link clears.
 * The part record used for "no confirmed part sent twice" is the sync store's persisted part log
 * (every send started, every confirmation), read after the fact.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NETNS_MINIO_KEYS, NetnsMinio, netnsAvailable } from '../../../test/services/netns-minio.js';
import { sleep, waitFor } from '../../../test/support/wait.js';
import { CloudOutput, cloudConfigSchema, syncDir } from './index.js';
import { SyncStore } from './sync/store.js';
import { multipartEtag } from './sync/uploader.js';
import { BURST_SECONDS } from './sync/bandwidth.js';
import type { StoredRecord } from '../../../gateway/plugin-api/record.js';

const silent = pino({ level: 'silent' });
// the checkout this test belongs to
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const MiB = 1024 * 1024;
let minio: NetnsMinio;
let dir: string;

beforeAll(async () => {
  const can = netnsAvailable();
  if (!can.ok) throw new Error(`the uplink tests need a network namespace: ${can.why}`);
  minio = new NetnsMinio();
  await minio.start();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lg-uplink-'));
}, 180_000);

afterAll(async () => {
  await minio?.dispose();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

function cfg(bucket: string, extra: Record<string, unknown>) {
  return {
    endpoint: minio.endpoint,
    bucket,
    accessKey: NETNS_MINIO_KEYS.accessKey,
    secretKey: NETNS_MINIO_KEYS.secretKey,
    partSize: '5MiB',
    retry: { initial: '200ms', max: '2s' },
    stallTimeout: '4s',
    manifestAfter: '1h',
    ...extra,
  };
}

function documentRecord(body: Buffer, seq = 1): StoredRecord {
  return {
    seq,
    source: 'test',
    signal: 'report',
    kind: 'document',
    receiveTimeNs: BigInt(Date.now()) * 1_000_000n,
    class: 'internal',
    contentType: 'application/octet-stream',
    body,
    build: 'B-up',
    routes: ['cloud'],
  };
}

async function startOutput(name: string, bucket: string, extra: Record<string, unknown>): Promise<CloudOutput> {
  const out = new CloudOutput(cloudConfigSchema.parse(cfg(bucket, extra)), { dataDir: path.join(dir, name), machine: 'pbf-01' });
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

/** Each part confirmed exactly once, and never sent again after its confirmation. */
function assertNoConfirmedPartResent(log: { part: number; event: string }[], parts: number): void {
  const confirmed = log.filter((p) => p.event === 'confirmed' || p.event === 'adopted').map((p) => p.part);
  expect([...confirmed].sort((a, b) => a - b)).toEqual(Array.from({ length: parts }, (_, i) => i + 1));
  for (const part of confirmed) {
    const at = log.findIndex((p) => p.part === part && (p.event === 'confirmed' || p.event === 'adopted'));
    expect(
      log.slice(at + 1).filter((p) => p.part === part),
      `part ${part} after its confirmation`,
    ).toEqual([]);
  }
}

async function cloudSha256(bucket: string, key: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of await minio.client().getObject(bucket, key)) h.update(c as Buffer);
  return h.digest('hex');
}

describe('cloud sync over a constrained uplink', () => {
  it("stays under a 5 Mbit/s cap on a 50 Mbit/s link: payload within the token bucket's bound", async () => {
    minio.shape({ rateMbit: 50 });
    const out = await startOutput('cap', 'lg-uplink-cap', { bandwidth: { cap: '5Mbit', adaptive: false } });
    try {
      await out.send([documentRecord(randomBytes(7 * MiB))]);
      const store = out.syncStore!;
      const samples: { t: number; tx: number; sent: number }[] = [];
      while (store.progress().synced.objects < 1) {
        samples.push({ t: performance.now(), tx: minio.txBytes(), sent: out.syncUploader!.stats().sentBytes });
        await sleep(250);
        if (samples.length > 200) throw new Error('not synced within 50 s');
      }
      // the steady part: from 1 s after the first body byte to the last sample before the end
      const started = samples.find((s) => s.sent > 0)!;
      const window = samples.filter((s) => s.t >= started.t + 1000 && s.sent < 7 * MiB);
      const a = window[0]!;
      const b = window[window.length - 1]!;
      const seconds = (b.t - a.t) / 1000;
      expect(seconds).toBeGreaterThan(5);
      const wireMbit = ((b.tx - a.tx) * 8) / seconds / 1e6;
      const payloadMbit = ((b.sent - a.sent) * 8) / seconds / 1e6;
      console.log(`cap 5 Mbit/s: wire ${wireMbit.toFixed(2)} Mbit/s, payload ${payloadMbit.toFixed(2)} Mbit/s over ${seconds.toFixed(1)} s`);
      // the bucket's guarantee: a window of W seconds carries at most cap x (W + burst); how close to
      // the cap it runs (payload and wire within 10%) is measured by bench:sync
      expect(payloadMbit).toBeLessThanOrEqual((5 * (seconds + BURST_SECONDS)) / seconds);
    } finally {
      await out.stop();
    }
  }, 90_000);

  it('resumes after an outage mid-upload (several failed attempts long): no confirmed part sent twice, checksum right', async () => {
    minio.shape({ rateMbit: 50 });
    const body = randomBytes(23 * MiB); // 5 parts
    const out = await startOutput('outage', 'lg-uplink-outage', { bandwidth: { cap: '16Mbit', adaptive: false } });
    try {
      await out.send([documentRecord(body)]);
      const store = out.syncStore!;
      const confirmed = () => store.partLog().filter((p) => p.event === 'confirmed').length;
      await waitFor('two confirmed parts', () => confirmed() >= 2 || undefined, 30_000, 50);
      const failures = () => out.syncUploader!.stats().failures;
      const failuresBefore = failures();
      minio.outage(true);
      // an answer already in this host's buffers when the link went down may still be processed: once
      // an attempt has failed, the uploader has met the outage
      await waitFor('a failed attempt', () => failures() > failuresBefore || undefined, 60_000, 50);
      const atOutage = confirmed();
      // the uploader keeps trying (and failing) on its own: three more failed attempts (each a stall
      // timeout or a refused connection, then a backoff) and nothing got through meanwhile
      await waitFor('three more failed attempts', () => failures() >= failuresBefore + 4 || undefined, 90_000, 50);
      expect(confirmed()).toBe(atOutage);
      expect(store.progress().synced.objects).toBe(0);
      expect(out.syncUploader!.stats().failures).toBeGreaterThan(0);
      minio.outage(false);
      await waitFor('the object synced after the outage', () => store.progress().synced.objects === 1 || undefined, 60_000, 100);
      assertNoConfirmedPartResent(store.partLog(), 5);
      const obj = store.objects()[0]!;
      const head = await minio.client().statObject('lg-uplink-outage', obj.key);
      expect(head.size).toBe(body.length);
      expect(head.etag.replace(/"/g, '')).toBe(multipartEtag(store.parts(obj.id).map((p) => p.md5)));
      expect(await cloudSha256('lg-uplink-outage', obj.key)).toBe(createHash('sha256').update(body).digest('hex'));
    } finally {
      minio.outage(false);
      await out.stop();
    }
  }, 180_000);

  it('resumes after kill -9 of the uploading process and a restart: no confirmed part sent twice, checksum right', async () => {
    minio.shape({ rateMbit: 50 });
    const home = path.join(dir, 'kill');
    await fs.mkdir(home, { recursive: true });
    const file = path.join(home, 'report.bin');
    const body = randomBytes(23 * MiB);
    await fs.writeFile(file, body);
    const configFile = path.join(home, 'layergate.yaml');
    await fs.writeFile(
      configFile,
      JSON.stringify({
        gateway: { machine: 'pbf-01', dataDir: path.join(home, 'data') },
        inputs: {},
        outputs: { cloud: { type: 'cloud', ...cfg('lg-uplink-kill', { bandwidth: { cap: '16Mbit', adaptive: false } }) } },
      }),
    );
    const children: ChildProcess[] = [];
    const startChild = async (args: string[]): Promise<ChildProcess> => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'plugins/outputs/cloud/test-support/sync-child.ts'), configFile, ...args], {
        cwd: repo,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let err = '';
      child.stderr!.on('data', (d: Buffer) => {
        err = (err + d.toString()).slice(-4000);
      });
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => {
          if (d.toString().includes('ready')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`sync child exited (${code}) before ready:\n${err}`)));
      });
      return child;
    };
    const storeDir = syncDir(path.join(home, 'data'), 'cloud');
    try {
      const first = await startChild(['--send', file]);
      const store = SyncStore.openExisting(storeDir);
      try {
        await waitFor('two confirmed parts', () => store.partLog().filter((p) => p.event === 'confirmed').length >= 2 || undefined, 30_000, 50);
        first.kill('SIGKILL');
        await new Promise((r) => first.once('exit', r));
        expect(store.progress().synced.objects).toBe(0);
        await startChild([]);
        await waitFor('the object synced after the restart', () => store.progress().synced.objects === 1 || undefined, 60_000, 100);
        assertNoConfirmedPartResent(store.partLog(), 5);
        const obj = store.objects()[0]!;
        expect(new Set(store.partLog().map((p) => p.uploadId)).size).toBe(1); // the same upload continued
        expect(await cloudSha256('lg-uplink-kill', obj.key)).toBe(createHash('sha256').update(body).digest('hex'));
      } finally {
        store.close();
      }
    } finally {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
  }, 120_000);
  it('backs off when the link gets congested (its queue fills) and climbs back to the cap when it clears', async () => {
    minio.shape({ rateMbit: 50 });
    const out = await startOutput('adaptive', 'lg-uplink-adaptive', { bandwidth: { cap: '16Mbit', adaptive: true } });
    try {
      await out.send([documentRecord(randomBytes(40 * MiB))]);
      const store = out.syncStore!;
      const up = () => out.syncUploader!.stats();
      await waitFor('a confirmed part', () => store.partLog().some((p) => p.event === 'confirmed') || undefined, 30_000, 50);
      expect(up().rateBitsPerSecond).toBe(16e6);
      // the uplink drops to 4 Mbit/s behind a deep (bloated) queue: other traffic, or a degraded line
      minio.shape({ rateMbit: 4, queueMs: 400 });
      await waitFor('the uploader to back off below half the cap', () => up().rateBitsPerSecond < 8e6 || undefined, 20_000, 100);
      expect(up().congestions).toBeGreaterThan(0);
      minio.shape({ rateMbit: 50 });
      await waitFor('the rate back at the cap', () => up().rateBitsPerSecond >= 16e6 * 0.99 || store.progress().synced.objects === 1 || undefined, 40_000, 100);
      expect(up().rateBitsPerSecond).toBeGreaterThanOrEqual(16e6 * 0.99);
      await waitFor('the object synced', () => store.progress().synced.objects === 1 || undefined, 40_000, 100);
    } finally {
      minio.shape({});
      await out.stop();
    }
  }, 150_000);
});
