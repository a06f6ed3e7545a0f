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
 * A customer's build file (a 3MF whose model carries a third marker, stored uncompressed so its bytes
 * show it) arrives through the files input's drop folder: confidential by default, with no rule. It
 * and its metadata document are sealed in MinIO (the key ring opens the file to its bytes), in
 * plaintext in the lake, and nowhere in the buffer folder, the data folder or the cloud.
 *
 * The cloud half: a `cloud` output (the service harness's cloud MinIO, a bucket of its own) takes
 * what may leave the premises. Besides the frames, the MQTT input (the harness's Mosquitto) brings
 * records of kinds the cloud otherwise takes: an event of the confidential job (its build in the
 * event) and a scalar of it (its build from the job marking, a `job-class` message that also marks
 * the job confidential), both carrying the marker, and an event and a scalar of other work carrying a
 * second marker, plus an event of other work published after the confidential records, so the cloud
 * forwarder has passed them when it shows up in the bucket. Every object in the bucket is read in
 * full and in decoded form (gzip JSON lines: each line and its base64 body decoded; zstd Parquet:
 * every column read with pyarrow, test/tools); the confidential marker is in none, the other in the
 * realtime and the Parquet objects (the scan sees plaintext, and the sync ran).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, gunzipSync } from 'node:zlib';
import * as Minio from 'minio';
import mqtt from 'mqtt';
import sharp from 'sharp';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readKeyFile } from '../../gateway/crypto/keys.js';
import { AesGcmSealer, newKeyLine } from '../../gateway/crypto/sealer.js';
import { MINIO_CLOUD, MINIO_LOCAL, MQTT } from '../services/endpoints.js';
import { waitFor } from '../support/wait.js';
import { readLakeWithPyarrow, setupPython } from '../tools/pyarrow.js';
import { modelXml, tetra, threeMf } from '../../plugins/inputs/files/test-support/writers.js';

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
  const child = spawn(process.execPath, ['--import', tsx, path.join(repo, 'gateway/cli/main.ts'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
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
  const png = await sharp(pixels, { raw: { width: size, height: size, channels: 1 } })
    .png({ compressionLevel: 0 })
    .toBuffer();
  const data = Buffer.from(`Comment\0${text}`, 'latin1');
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  chunk.write('tEXt', 4, 'latin1');
  data.copy(chunk, 8);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + data.length)), 8 + data.length);
  const ihdrEnd = 8 + 25;
  return Buffer.concat([png.subarray(0, ihdrEnd), chunk, png.subarray(ihdrEnd)]);
}

/** `read(f)`, or undefined when `f` vanished since it was listed: sinks rename their temporary files into place while the walk runs */
function unlessVanished<T>(f: string, read: (f: string) => T): T | undefined {
  try {
    return read(f);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => path.join(dir, f))
    .filter((f) => unlessVanished(f, (p) => statSync(p).isFile()) === true);
}
/** the files under `dir` whose bytes contain `text` */
const holding = (dir: string, text: string): string[] => filesUnder(dir).filter((f) => unlessVanished(f, (p) => readFileSync(p).includes(text)) === true);

/** every object under `prefix` of a bucket, with its bytes */
async function objectsIn(s3: Minio.Client, bucket: string, prefix: string): Promise<Map<string, Buffer>> {
  const names: string[] = [];
  for await (const o of s3.listObjectsV2(bucket, prefix, true)) if ((o as { name?: string }).name) names.push((o as { name: string }).name);
  const out = new Map<string, Buffer>();
  for (const n of names) {
    const chunks: Buffer[] = [];
    for await (const c of await s3.getObject(bucket, n)) chunks.push(c as Buffer);
    out.set(n, Buffer.concat(chunks));
  }
  return out;
}

/**
 * Every object of the cloud bucket as text a scan can search: its bytes as stored, and decoded where
 * the bytes hide plaintext: gzip JSON lines gunzipped, with each line's base64 `body` decoded; zstd
 * Parquet read column by column with pyarrow (an independent reader, test/tools), every value.
 */
async function cloudObjectsDecoded(s3: Minio.Client, bucket: string, scratch: string): Promise<Map<string, string>> {
  const stored = await objectsIn(s3, bucket, '');
  const out = new Map<string, string>();
  const parquetDir = mkdtempSync(path.join(scratch, 'cloud-parquet-'));
  const parquetNames = new Map<string, string>();
  for (const [key, bytes] of stored) {
    const text = [bytes.toString('latin1')];
    if (key.endsWith('.gz')) {
      const plain = gunzipSync(bytes).toString('utf8');
      text.push(plain);
      for (const line of plain.split('\n').filter((l) => l.trim())) {
        const body = (JSON.parse(line) as { body?: unknown }).body;
        if (typeof body === 'string') text.push(Buffer.from(body, 'base64').toString('latin1'));
      }
    }
    if (key.endsWith('.parquet')) {
      const file = `${parquetNames.size}.parquet`;
      writeFileSync(path.join(parquetDir, file), bytes);
      parquetNames.set(file, key);
    }
    out.set(key, text.join('\n'));
  }
  if (parquetNames.size > 0) {
    const dump = await readLakeWithPyarrow(parquetDir); // flat folder: files only, no datasets
    expect(Object.keys(dump.files).sort()).toEqual([...parquetNames.keys()].sort());
    for (const [file, d] of Object.entries(dump.files)) {
      const key = parquetNames.get(file)!;
      out.set(key, `${out.get(key)!}\n${JSON.stringify(d.columns)}`);
    }
  }
  return out;
}

beforeAll(async () => {
  await setupPython();
}, 600_000);

describe('canary: a confidential job leaves no plaintext in the buffer or the cloud and still reaches the on-premises lake', () => {
  it('marker absent from buffer.sqlite, its WAL and the spool, from MinIO objects and from every cloud object; frames in plaintext in the lake, sealed in MinIO', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-canary-'));
    const dataDir = path.join(dir, 'data');
    const dropDir = path.join(dir, 'drop');
    const filesDrop = path.join(dir, 'files-drop');
    const lake = path.join(dir, 'lake');
    const keyFile = path.join(dir, 'layergate.keys');
    writeFileSync(keyFile, `${newKeyLine('k1')}\n`);
    chmodSync(keyFile, 0o600);
    const marker = `CANARY-${randomBytes(8).toString('hex')}`;
    const plainMarker = `PLAINTEXT-${randomBytes(8).toString('hex')}`;
    const cloudMarker = `OFFSITE-${randomBytes(8).toString('hex')}`; // other work: may leave the premises
    const afterMarker = `AFTER-${randomBytes(8).toString('hex')}`; // other work, published after the confidential records
    const buildFileMarker = `BUILDFILE-${randomBytes(8).toString('hex')}`; // a customer's build file: confidential by default
    const bucket = `lg-canary-${process.pid}-${Date.now()}`;
    const cloudBucket = `lg-canary-cloud-${process.pid}-${Date.now()}`;
    const topics = `lg-canary/${process.pid}-${randomBytes(4).toString('hex')}`;
    const cfg = path.join(dir, 'layergate.yaml');
    writeFileSync(
      cfg,
      [
        `gateway: { dataDir: ${JSON.stringify(dataDir)}, machine: m1, shutdownGraceMs: 5s }`,
        'api: { host: 127.0.0.1, port: 0, grpc: { port: 0 } }',
        'buffer: { inlineMaxBytes: 64KiB }',
        `encryption: { keyFile: ${JSON.stringify(keyFile)} }`,
        'classification:',
        '  rules:',
        '    - { name: customer-x, build: "CUSTX-*", class: confidential }',
        'inputs:',
        `  camera: { type: frames, dropDir: ${JSON.stringify(dropDir)}, stableFor: 100ms, rescanInterval: 200ms, release: delete, thumbnail: { enabled: false } }`,
        // build files, CAD models and CT scans: a build file is the customer's IP, confidential without any rule
        `  parts: { type: files, dropDir: ${JSON.stringify(filesDrop)}, stableFor: 100ms, rescanInterval: 200ms, release: delete }`,
        `  plant: { type: mqtt, url: "${MQTT.url}", username: ${MQTT.username}, password: ${MQTT.password}, clientId: ${topics.replace(/\W/g, '-')}, cleanSession: true, subscriptions: [`,
        `    { topic: "${topics}/job", decoder: job-class },`,
        `    { topic: "${topics}/events/+", decoder: event },`,
        `    { topic: "${topics}/scalars/+", decoder: json } ] }`,
        'outputs:',
        `  lake: { type: file-lake, linger: 0, path: ${JSON.stringify(lake)} }`,
        `  minio: { type: minio, endPoint: ${MINIO_LOCAL.endPoint}, port: ${MINIO_LOCAL.port}, tls: false, accessKey: ${MINIO_LOCAL.accessKey}, secretKey: ${MINIO_LOCAL.secretKey}, bucket: ${bucket}, linger: 0 }`,
        // off the premises: takes what may leave (public, internal) of every kind; time series compacted per 1 s window
        `  cloud: { type: cloud, endpoint: "http://${MINIO_CLOUD.endPoint}:${MINIO_CLOUD.port}", accessKey: ${MINIO_CLOUD.accessKey}, secretKey: ${MINIO_CLOUD.secretKey}, bucket: ${cloudBucket}, batchWindow: 1s, retry: { initial: 200ms, max: 1s } }`,
        '',
      ].join('\n'),
    );

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
    // the 3MF's model stored uncompressed: its marker is plaintext in the file's bytes, so a scan would see it
    const buildFile = threeMf(modelXml([tetra(12)], buildFileMarker), { deflate: false });
    expect(buildFile.includes(buildFileMarker)).toBe(true);
    mkdirSync(filesDrop, { recursive: true });
    writeFileSync(path.join(filesDrop, 'job-0042.3mf.tmp'), buildFile);
    renameSync(path.join(filesDrop, 'job-0042.3mf.tmp'), path.join(filesDrop, 'job-0042.3mf'));

    // the plant's MQTT: first other work (an event of job ACME-7, a scalar while no job is known), then the
    // confidential job marked (job-class, naming its build), an event and a scalar of it with the marker,
    // then another event of other work
    const broker = await mqtt.connectAsync(MQTT.url, {
      username: MQTT.username,
      password: MQTT.password,
      clientId: `lg-canary-pub-${process.pid}`,
      clean: true,
    });
    try {
      const pub = (sub: string, body: unknown) => broker.publishAsync(`${topics}/${sub}`, JSON.stringify(body), { qos: 1 });
      await waitFor(
        'MQTT input subscribed',
        async () => {
          await pub('events/notes', { type: 'note', build: 'ACME-7', text: cloudMarker });
          return holding(lake, cloudMarker).length > 0;
        },
        30_000,
        1_000,
      );
      await pub('scalars/operator', { value: `operator note ${cloudMarker}` });
      await waitFor(
        'the scalar of other work in the lake',
        () => holding(lake, cloudMarker).some((f) => f.includes(`${path.sep}scalars${path.sep}`)),
        30_000,
        100,
      );
      await pub('job', { class: 'confidential', build: 'CUSTX-0042' });
      await pub('events/notes', { type: 'recipe', build: 'CUSTX-0042', text: marker });
      await pub('scalars/operator', { value: `operator note ${marker}` });
      await pub('events/notes', { type: 'note', build: 'ACME-7', text: afterMarker });
    } finally {
      await broker.endAsync();
    }

    // delivered to the lake, in plaintext: both confidential images (and the other job's), the confidential event and scalar
    await waitFor('images in the lake', () => holding(lake, marker).length >= 2 && holding(lake, plainMarker).length >= 1, 45_000, 100);
    const ofJob = (table: string) => (f: string) => f.includes(`${path.sep}${table}${path.sep}machine=m1${path.sep}build=CUSTX-0042${path.sep}`);
    await waitFor(
      'confidential event and scalar in the lake',
      () => {
        const files = holding(lake, marker);
        return files.some(ofJob('events')) && files.some(ofJob('scalars')) && holding(lake, afterMarker).length >= 1;
      },
      30_000,
      100,
    );
    await waitFor('the build file in the lake', () => holding(lake, buildFileMarker).length >= 1, 30_000, 100);
    const lakeImages = holding(lake, marker).flatMap((f) => unlessVanished(f, (p) => readFileSync(p)) ?? []);
    expect(lakeImages.some((b) => b.equals(frames[0]![1]))).toBe(true);
    expect(lakeImages.some((b) => b.equals(frames[1]![1]))).toBe(true);

    // the plant's MinIO: confidential objects sealed (the key ring opens them), the other job's in plaintext
    const s3 = new Minio.Client({ ...MINIO_LOCAL, port: MINIO_LOCAL.port });
    const objects = (): Promise<Map<string, Buffer>> => objectsIn(s3, bucket, 'objects/');
    let stored = new Map<string, Buffer>();
    await waitFor(
      'frames in MinIO',
      async () => {
        stored = await objects().catch(() => new Map<string, Buffer>());
        // three frames, the build file and its metadata document
        return stored.size >= 5;
      },
      45_000,
      500,
    );
    const sealedNames = [...stored.keys()].filter((n) => n.endsWith('.sealed') && !n.includes('signal=files'));
    const sealedFiles = [...stored.keys()].filter((n) => n.endsWith('.sealed') && n.includes('signal=files'));
    expect(sealedNames).toHaveLength(2);
    // the build file and its metadata document, both sealed; the key ring opens the file to its bytes
    expect(sealedFiles).toHaveLength(2);
    expect([...stored.values()].filter((b) => b.includes(marker) || b.includes(buildFileMarker))).toEqual([]);
    expect([...stored.values()].filter((b) => b.includes(plainMarker))).toHaveLength(1);
    const ring = new AesGcmSealer(readKeyFile(keyFile));
    const opened = sealedNames.map((n) => ring.open(stored.get(n)!));
    expect(opened.some((b) => b.equals(frames[0]![1]))).toBe(true);
    expect(opened.some((b) => b.equals(frames[1]![1]))).toBe(true);
    expect(sealedFiles.map((n) => ring.open(stored.get(n)!)).some((b) => b.equals(buildFile))).toBe(true);

    // the cloud: other work arrives (realtime JSON lines and batch Parquet), including the event published
    // after the confidential records; the confidential marker is in no object, however decoded
    const cloud = new Minio.Client({ ...MINIO_CLOUD });
    let inCloud = new Map<string, string>();
    const withText = (text: string) => [...inCloud].filter(([, t]) => t.includes(text)).map(([k]) => k);
    await waitFor(
      'other work in the cloud',
      async () => {
        inCloud = await cloudObjectsDecoded(cloud, cloudBucket, dir).catch(() => new Map<string, string>());
        return withText(afterMarker).length > 0 && withText(cloudMarker).some((k) => k.endsWith('.parquet'));
      },
      45_000,
      1_000,
    );
    expect(withText(cloudMarker)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^layergate\/machine=m1\/build=ACME-7\/realtime\/part-[^/]+\.jsonl\.gz$/),
        expect.stringMatching(/\/timeseries\/scalars\/[^/]+\/part-[^/]+\.parquet$/),
      ]),
    );
    expect(withText(marker)).toEqual([]);
    expect(withText(buildFileMarker)).toEqual([]);
    expect(withText(plainMarker)).toEqual([]); // frames are sensitive: on the premises only
    expect([...inCloud.keys()].filter((k) => k.includes('CUSTX'))).toEqual([]);

    // while running: the WAL holds the latest commits
    const bufferDir = path.join(dataDir, 'buffer');
    const files = filesUnder(bufferDir).map((f) => path.relative(bufferDir, f));
    expect(files).toContain('buffer.sqlite');
    expect(files).toContain('buffer.sqlite-wal');
    expect(files.some((f) => f.startsWith('spool'))).toBe(true);
    expect(holding(bufferDir, plainMarker).length).toBeGreaterThan(0); // the scan sees plaintext where there is some
    expect(holding(bufferDir, marker)).toEqual([]);
    expect(holding(bufferDir, buildFileMarker)).toEqual([]);

    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
    expect(holding(bufferDir, marker)).toEqual([]);
    expect(holding(dataDir, marker)).toEqual([]); // nor anywhere else in the data folder (quarantine, keys, audit)
    expect(holding(dataDir, buildFileMarker)).toEqual([]);

    // the sync store on disk (under the data folder) holds other work, never the confidential marker
    expect(filesUnder(path.join(dataDir, 'sync', 'cloud')).length).toBeGreaterThan(0);
    // a last look at the cloud once the gateway stopped (it flushed on the way out)
    inCloud = await cloudObjectsDecoded(cloud, cloudBucket, dir);
    expect(withText(marker)).toEqual([]);
    expect(withText(buildFileMarker)).toEqual([]);
    expect(withText(afterMarker).length).toBeGreaterThan(0);

    // leave the shared MinIO as found
    const all: string[] = [];
    for await (const o of s3.listObjectsV2(bucket, '', true)) if ((o as { name?: string }).name) all.push((o as { name: string }).name);
    await s3.removeObjects(bucket, all);
    await s3.removeBucket(bucket);
    const cloudKeys = [...(await objectsIn(cloud, cloudBucket, '')).keys()];
    await cloud.removeObjects(cloudBucket, cloudKeys);
    await cloud.removeBucket(cloudBucket);

    // the run and the job marking are in the audit log, chain intact
    const verify = layergate(['audit', 'verify', '-c', cfg]);
    expect(await verify.exited).toBe(0);
    expect(verify.out()).toMatch(/^OK .*audit\.jsonl: 2 entries, chain intact/);
    const audit = readFileSync(path.join(dataDir, 'audit', 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> });
    expect(audit.map((e) => e.type)).toEqual(['config-loaded', 'classification-override']);
    expect(audit[1]!.data).toMatchObject({ reason: 'job-marked', build: 'CUSTX-0042', class: 'confidential', input: 'plant' });
  }, 150_000);
});
