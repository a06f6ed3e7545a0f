/**
 * Cloud sync throughput and cap tracking over a real, rate-limited link, measured in one run:
 *
 * - the link: a dedicated MinIO in a network namespace behind a veth pair limited by `tc tbf`
 *   (test/services/netns-minio.ts; needs root);
 * - baseline: a plain S3 client upload (minio `putObject`) of the same bytes over the same link: the
 *   link's capacity as a plain client sees it;
 * - sync uncapped: the cloud output from `send` to "synced" (local store write, hashing, paced
 *   multipart upload, HEAD confirmation), as a fraction of the baseline. Target >= 0.9;
 * - cap tracking: with caps below the link rate, the steady throughput on the wire (the kernel's byte
 *   counter of the link) and of payload, and the tracking error |measured - cap| / cap. Targets: wire
 *   within 10% of the cap, payload at least 90% of it. One case is a 5 Mbit/s cap on a 50 Mbit/s
 *   link, the rate the uplink integration test (plugins/outputs/cloud/uplink.int.test.ts) leaves to
 *   this bench; the test keeps what is not a rate (the token bucket's bound, resumption).
 * Rounds alternate baseline and sync; medians are reported. The bench prints PASS/MISS; it never
 * fails a build. The machine is shared, so numbers are indicative.
 *
 *   npm run bench:sync      (BENCH_LINK_MBIT=40, BENCH_ROUNDS=3)
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { NETNS_MINIO_KEYS, NetnsMinio, netnsAvailable } from '../services/netns-minio.js';
import { CloudOutput, cloudConfigSchema } from '../../plugins/outputs/cloud/index.js';
import type { StoredRecord } from '../../gateway/plugin-api/record.js';

const LINK_MBIT = Number(process.env.BENCH_LINK_MBIT ?? 40);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const MiB = 1024 * 1024;
const silent = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const can = netnsAvailable();
if (!can.ok) {
  console.error(`bench:sync needs a network namespace: ${can.why}`);
  process.exit(1);
}

const minio = new NetnsMinio();
const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-bench-sync-'));
let seq = 0;

function record(body: Buffer): StoredRecord {
  return {
    seq: ++seq,
    source: 'bench',
    signal: 'report',
    kind: 'document',
    receiveTimeNs: BigInt(Date.now()) * 1_000_000n,
    class: 'internal',
    contentType: 'application/octet-stream',
    body,
    build: 'bench',
    routes: ['cloud'],
  };
}

async function startOutput(name: string, bandwidth: Record<string, unknown>): Promise<CloudOutput> {
  const out = new CloudOutput(
    cloudConfigSchema.parse({
      endpoint: minio.endpoint,
      bucket: 'lg-bench-sync',
      accessKey: NETNS_MINIO_KEYS.accessKey,
      secretKey: NETNS_MINIO_KEYS.secretKey,
      bandwidth,
      manifestAfter: '1h',
      retry: { initial: '200ms', max: '2s' },
    }),
    { dataDir: path.join(dir, name), machine: 'bench' },
  );
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

async function waitSynced(out: CloudOutput, objects: number): Promise<void> {
  while (out.syncStore!.progress().synced.objects < objects) await sleep(20);
}

try {
  await minio.start();
  minio.shape({ rateMbit: LINK_MBIT });
  const client = minio.client();
  await client.makeBucket('lg-bench-sync');
  const size = Math.max(8 * MiB, Math.round(((LINK_MBIT * 1e6) / 8) * 5)); // about 5 s on the link
  const plain: number[] = [];
  const synced: number[] = [];
  const out = await startOutput('uncapped', { cap: 'unlimited' });
  for (let round = 0; round < ROUNDS; round++) {
    const body = randomBytes(size);
    let t = performance.now();
    await client.putObject('lg-bench-sync', `plain/${round}`, body, body.length);
    plain.push((size * 8) / ((performance.now() - t) / 1000) / 1e6);
    const body2 = randomBytes(size);
    t = performance.now();
    await out.send([record(body2)]);
    await waitSynced(out, round + 1);
    synced.push((size * 8) / ((performance.now() - t) / 1000) / 1e6);
  }
  await out.stop();

  const capRows: string[][] = [];
  let worstError = 0;
  let worstPayloadShare = Infinity;
  const capCases = [5, 10, 20].filter((c) => c < LINK_MBIT).map((capMbit) => ({ capMbit, linkMbit: LINK_MBIT }));
  if (LINK_MBIT !== 50) capCases.push({ capMbit: 5, linkMbit: 50 }); // the uplink test's configuration
  for (const { capMbit, linkMbit } of capCases) {
    minio.shape({ rateMbit: linkMbit });
    const capped = await startOutput(`cap-${capMbit}-link-${linkMbit}`, { cap: `${capMbit}Mbit`, adaptive: false });
    const capSize = Math.round(((capMbit * 1e6) / 8) * 7);
    await capped.send([record(randomBytes(capSize))]);
    const samples: { t: number; tx: number; sent: number }[] = [];
    while (capped.syncStore!.progress().synced.objects < 1) {
      samples.push({ t: performance.now(), tx: minio.txBytes(), sent: capped.syncUploader!.stats().sentBytes });
      await sleep(200);
    }
    await capped.stop();
    const started = samples.find((s) => s.sent > 0)!;
    const steady = samples.filter((s) => s.t >= started.t + 1000 && s.sent < capSize);
    const a = steady[0]!;
    const b = steady[steady.length - 1]!;
    const seconds = (b.t - a.t) / 1000;
    const wire = ((b.tx - a.tx) * 8) / seconds / 1e6;
    const payload = ((b.sent - a.sent) * 8) / seconds / 1e6;
    const error = Math.abs(wire - capMbit) / capMbit;
    worstError = Math.max(worstError, error);
    const payloadShare = payload / capMbit;
    worstPayloadShare = Math.min(worstPayloadShare, payloadShare);
    capRows.push([
      `${capMbit} Mbit/s`,
      `${linkMbit} Mbit/s`,
      wire.toFixed(2),
      payload.toFixed(2),
      `${((100 * (wire - capMbit)) / capMbit).toFixed(1)}%`,
      payloadShare.toFixed(2),
      wire <= capMbit * 1.1 ? 'yes' : 'NO',
    ]);
  }
  minio.shape({ rateMbit: LINK_MBIT });

  const fraction = median(synced) / median(plain);
  const table = (header: string[], rows: string[][]) => {
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
    console.log(line(header));
    console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const r of rows) console.log(line(r));
  };
  console.log(`cloud sync benchmark: link ${LINK_MBIT} Mbit/s (tc tbf on a veth pair), object ${(size / MiB).toFixed(1)} MiB, ${ROUNDS} rounds, medians`);
  table(
    ['upload', 'Mbit/s', 'of plain client'],
    [
      ['plain S3 client (putObject)', median(plain).toFixed(2), '1.00'],
      ['cloud sync, uncapped', median(synced).toFixed(2), fraction.toFixed(2)],
    ],
  );
  console.log();
  table(['cap', 'link', 'wire Mbit/s', 'payload Mbit/s', 'tracking error', 'payload of cap', 'at or under cap (+10%)'], capRows);
  console.log();
  console.log(`${fraction >= 0.9 ? 'PASS' : 'MISS'}: uncapped sync at ${fraction.toFixed(2)} of a plain client upload (target >= 0.90)`);
  console.log(`${worstError <= 0.1 ? 'PASS' : 'MISS'}: worst cap tracking error ${(100 * worstError).toFixed(1)}% (target <= 10%)`);
  console.log(`${worstPayloadShare >= 0.9 ? 'PASS' : 'MISS'}: lowest payload rate ${worstPayloadShare.toFixed(2)} of the cap (target >= 0.90)`);
  console.log(`rounds: plain ${plain.map((x) => x.toFixed(1)).join(', ')}; sync ${synced.map((x) => x.toFixed(1)).join(', ')} Mbit/s`);
} finally {
  await minio.dispose();
  rmSync(dir, { recursive: true, force: true });
}
