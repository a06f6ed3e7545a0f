/**
 * The canary, end to end: the real `layergate run` (child process) with the frames input (a drop
 * folder, as the machine's camera writes it), a classification rule that makes a customer's job
 * confidential by its build id, and two on-premises sinks: the file lake and the plant's MinIO (the
 * service harness's local MinIO). The images of that job
 * carry a unique marker (a PNG tEXt chunk, kept in the original bytes); one is small enough to stay
 * inline in the SQLite row, one is spooled. While the gateway runs and after it stopped, the marker
 * appears nowhere in plaintext in the buffer folder (database, WAL, shared memory file, spool), and
 * the images reach the file lake in plaintext; in MinIO they are stored sealed (the marker is in no
 * object) and the gateway's key ring opens them to the original bytes. A frame of another job
 * (sensitive, not sealed) carries a second marker that the same scans do find in the buffer and in
 * MinIO: the scans can see plaintext.
 *
 * The cloud half of the canary (the marker appears nowhere in the cloud bucket) belongs with the
 * cloud sync output and its tests.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import * as Minio from 'minio';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { readKeyFile } from '../../gateway/crypto/keys.js';
import { AesGcmSealer, newKeyLine } from '../../gateway/crypto/sealer.js';
import { MINIO_LOCAL } from '../services/endpoints.js';
import { waitFor } from '../support/wait.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tsx = createRequire(import.meta.url).resolve('tsx');
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.length = 0;
});

function layergate(args: string[]) {
  const env = { ...process.env };
  delete env.LAYERGATE_CONFIG;
  delete env.LAYERGATE_DATA_DIR;
  delete env.LAYERGATE_KEYS;
  const child = spawn(process.execPath, ['--import', tsx, path.join(repo, 'gateway/cli.ts'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, out: () => out };
}

/** A grayscale PNG with a tEXt chunk after IHDR (kept verbatim in the original bytes the gateway stores). */
async function pngWithText(size: number, text: string): Promise<Buffer> {
  const pixels = randomBytes(size * size); // noise: no compression shrinks it below the inline limit
  const png = await sharp(pixels, { raw: { width: size, height: size, channels: 1 } }).png({ compressionLevel: 0 }).toBuffer();
  const data = Buffer.from(`Comment\0${text}`, 'latin1');
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  chunk.write('tEXt', 4, 'latin1');
  data.copy(chunk, 8);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + data.length)), 8 + data.length);
  const ihdrEnd = 8 + 25;
  return Buffer.concat([png.subarray(0, ihdrEnd), chunk, png.subarray(ihdrEnd)]);
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((f) => path.join(dir, f)).filter((f) => statSync(f).isFile());
}
/** the files under `dir` whose bytes contain `text` */
const holding = (dir: string, text: string): string[] => filesUnder(dir).filter((f) => readFileSync(f).includes(text));

describe('canary: a confidential job leaves no plaintext in the buffer and still reaches the on-premises lake', () => {
  it('marker absent from buffer.sqlite, its WAL and the spool and from MinIO objects; frames in plaintext in the lake, sealed in MinIO', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-canary-'));
    const dataDir = path.join(dir, 'data');
    const dropDir = path.join(dir, 'drop');
    const lake = path.join(dir, 'lake');
    const keyFile = path.join(dir, 'layergate.keys');
    writeFileSync(keyFile, `${newKeyLine('k1')}\n`);
    chmodSync(keyFile, 0o600);
    const marker = `CANARY-${randomBytes(8).toString('hex')}`;
    const plainMarker = `PLAINTEXT-${randomBytes(8).toString('hex')}`;
    const bucket = `lg-canary-${process.pid}-${Date.now()}`;
    const cfg = path.join(dir, 'layergate.yaml');
    writeFileSync(cfg, [
      `gateway: { dataDir: ${JSON.stringify(dataDir)}, machine: m1, shutdownGraceMs: 5s }`,
      'buffer: { inlineMaxBytes: 64KiB }',
      `encryption: { keyFile: ${JSON.stringify(keyFile)} }`,
      'classification:',
      '  rules:',
      '    - { name: customer-x, build: "CUSTX-*", class: confidential }',
      'inputs:',
      `  camera: { type: frames, dropDir: ${JSON.stringify(dropDir)}, stableFor: 100ms, rescanInterval: 200ms, release: delete, thumbnail: { enabled: false } }`,
      'outputs:',
      `  lake: { type: file-lake, linger: 0, path: ${JSON.stringify(lake)} }`,
      `  minio: { type: minio, endPoint: ${MINIO_LOCAL.endPoint}, port: ${MINIO_LOCAL.port}, useSSL: false, accessKey: ${MINIO_LOCAL.accessKey}, secretKey: ${MINIO_LOCAL.secretKey}, bucket: ${bucket}, linger: 0 }`,
      '',
    ].join('\n'));

    const gw = layergate(['run', '-c', cfg]);
    await waitFor('gateway running', () => gw.out().includes('layergate running'), 30_000, 50);
    mkdirSync(dropDir, { recursive: true });
    const frames: [string, Buffer][] = [
      ['CUSTX-0042_L1_after-exposure.png', await pngWithText(32, marker)], // ~1 KiB: inline in the row
      ['CUSTX-0042_L2_after-exposure.png', await pngWithText(400, marker)], // ~160 KiB: spooled
      ['ACME-7_L1_after-exposure.png', await pngWithText(32, plainMarker)], // sensitive: stored as is
    ];
    expect(frames[0]![1].length).toBeLessThan(64 * 1024);
    expect(frames[1]![1].length).toBeGreaterThan(64 * 1024);
    for (const [name, bytes] of frames) {
      writeFileSync(path.join(dropDir, `${name}.tmp`), bytes);
      renameSync(path.join(dropDir, `${name}.tmp`), path.join(dropDir, name));
    }

    // delivered to the lake, in plaintext: both confidential images (and the other job's)
    await waitFor('images in the lake', () => holding(lake, marker).length >= 2 && holding(lake, plainMarker).length >= 1, 45_000, 100);
    const lakeImages = holding(lake, marker).map((f) => readFileSync(f));
    expect(lakeImages.some((b) => b.equals(frames[0]![1]))).toBe(true);
    expect(lakeImages.some((b) => b.equals(frames[1]![1]))).toBe(true);

    // the plant's MinIO: confidential objects sealed (the key ring opens them), the other job's in plaintext
    const s3 = new Minio.Client({ ...MINIO_LOCAL, port: MINIO_LOCAL.port });
    const objects = async (): Promise<Map<string, Buffer>> => {
      const names: string[] = [];
      for await (const o of s3.listObjectsV2(bucket, 'objects/', true)) if ((o as { name?: string }).name) names.push((o as { name: string }).name);
      const out = new Map<string, Buffer>();
      for (const n of names) {
        const chunks: Buffer[] = [];
        for await (const c of await s3.getObject(bucket, n)) chunks.push(c as Buffer);
        out.set(n, Buffer.concat(chunks));
      }
      return out;
    };
    let stored = new Map<string, Buffer>();
    await waitFor('frames in MinIO', async () => {
      stored = await objects().catch(() => new Map<string, Buffer>());
      return stored.size >= 3;
    }, 45_000, 500);
    const sealedNames = [...stored.keys()].filter((n) => n.endsWith('.sealed'));
    expect(sealedNames).toHaveLength(2);
    expect([...stored.values()].filter((b) => b.includes(marker))).toEqual([]);
    expect([...stored.values()].filter((b) => b.includes(plainMarker))).toHaveLength(1);
    const ring = new AesGcmSealer(readKeyFile(keyFile));
    const opened = sealedNames.map((n) => ring.open(stored.get(n)!));
    expect(opened.some((b) => b.equals(frames[0]![1]))).toBe(true);
    expect(opened.some((b) => b.equals(frames[1]![1]))).toBe(true);

    // while running: the WAL holds the latest commits
    const bufferDir = path.join(dataDir, 'buffer');
    const files = filesUnder(bufferDir).map((f) => path.relative(bufferDir, f));
    expect(files).toContain('buffer.sqlite');
    expect(files).toContain('buffer.sqlite-wal');
    expect(files.some((f) => f.startsWith('spool'))).toBe(true);
    expect(holding(bufferDir, plainMarker).length).toBeGreaterThan(0); // the scan sees plaintext where there is some
    expect(holding(bufferDir, marker)).toEqual([]);

    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
    expect(holding(bufferDir, marker)).toEqual([]);
    expect(holding(dataDir, marker)).toEqual([]); // nor anywhere else in the data folder (quarantine, keys, audit)

    // leave the shared MinIO as found
    const all: string[] = [];
    for await (const o of s3.listObjectsV2(bucket, '', true)) if ((o as { name?: string }).name) all.push((o as { name: string }).name);
    await s3.removeObjects(bucket, all);
    await s3.removeBucket(bucket);

    // the run is in the audit log, chain intact
    const verify = layergate(['audit', 'verify', '-c', cfg]);
    expect(await verify.exited).toBe(0);
    expect(verify.out()).toMatch(/^OK .*audit\.jsonl: 1 entries, chain intact/);
  });
});
