/**
 * The frames input against hostile neighbours on the same machine or network, through the real
 * path (drop folder / upload route -> Pipeline -> SQLite buffer), real files and real loopback
 * sockets: symbolic links planted in the drop folder are never followed (nothing of their target
 * reaches the log, the gateway quarantine or quarantine/), and slow-drip uploads with a valid
 * token neither hold the upload slots past the configured pace nor keep a camera out.
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { openBuffer } from '../../../gateway/buffer/index.js';
import type { RecordBuffer } from '../../../gateway/buffer/types.js';
import { Pipeline } from '../../../gateway/ingest/pipeline.js';
import type { StoredRecord } from '../../../gateway/plugin-api/record.js';
import { renderFrame } from '../../../simulator/camera.js';
import { makeConfig } from '../../../simulator/config.js';
import { SimCore } from '../../../simulator/core.js';
import { waitFor } from '../../../test/support/wait.js';
import { type FramesInput, definition } from './index.js';
import { framesConfigSchema } from './schema.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const until = <T>(what: string, fn: () => T | undefined | false | null, ms = 15_000): Promise<T> => waitFor(what, fn, ms, 20);

interface Setup {
  dir: string;
  dropDir: string;
  buffer: RecordBuffer;
  input: FramesInput;
  logText: () => string;
  frames: () => StoredRecord[];
}

/** `plant` fills the drop folder before the input starts, so that one listing sees all of it. */
async function setup(config: Record<string, unknown> = {}, plant?: (dropDir: string) => void): Promise<Setup> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-frames-hostile-'));
  const dropDir = path.join(dir, 'drop');
  mkdirSync(dropDir);
  plant?.(dropDir);
  const lines: string[] = [];
  // every level, so that nothing a log line could carry escapes the check
  const log = pino({ level: 'trace' }, { write: (s: string) => void lines.push(s) });
  const buffer = openBuffer({ dir: path.join(dir, 'buffer'), maxBytes: 64 * 1024 * 1024, sinks: ['lake'] }, log);
  const pipeline = new Pipeline({
    buffer,
    outputs: [{ name: 'lake', plugin: { premises: 'on' } }],
    dataDir: dir,
    quarantineMaxBytes: 16 << 20,
    log,
    blockedRetryMs: 50,
  });
  const input = definition.create(framesConfigSchema.parse({ dropDir, stableFor: '100ms', rescanInterval: '100ms', ...config }), {
    dataDir: dir,
    machine: 'm1',
  }) as FramesInput;
  await input.start(pipeline.contextFor('camera'));
  cleanups.push(async () => {
    await input.stop();
    await pipeline.flush();
    buffer.close();
    await rm(dir, { recursive: true, force: true });
  });
  return {
    dir,
    dropDir,
    buffer,
    input,
    logText: () => lines.join(''),
    frames: () => buffer.read('lake', 100_000).filter((r) => r.signal === 'camera.powder_bed'),
  };
}

async function simFrame(layer: number) {
  const cfg = makeConfig({
    seed: 11,
    job: { totalLayers: 5, partCount: 4 },
    timing: { idleS: 0, inertingS: 0.2, layerS: 0.5, recoatS: 0.1, speed: 2 },
    meltPool: { rateHz: 1000, blockSize: 100 },
    camera: { width: 128, height: 128, bitDepth: 8 },
  });
  const core = new SimCore(cfg);
  return renderFrame(cfg, core.parts, layer, 'after-exposure', core.defects, cfg.startTimeMs + layer * 1000);
}

/** Every entry under `dir`, links reported as links and never followed. */
function walk(dir: string): { file: string; link: boolean; bytes?: Buffer }[] {
  const out: { file: string; link: boolean; bytes?: Buffer }[] = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    const st = lstatSync(file);
    if (st.isSymbolicLink()) out.push({ file, link: true });
    else if (st.isDirectory()) out.push(...walk(file));
    else if (st.isFile()) out.push({ file, link: false, bytes: readFileSync(file) });
  }
  return out;
}

describe('frames input: symbolic links in the drop folder', () => {
  it('a sidecar that links to a secret file (or to a directory) is refused unread: the frame is quarantined as bad-sidecar, no byte of the target in the log, the gateway quarantine or quarantine/', async () => {
    const secretDir = mkdtempSync(path.join(os.tmpdir(), 'lg-frames-secret-'));
    cleanups.push(() => rm(secretDir, { recursive: true, force: true }));
    const secretText = 'root:$6$SECRET-SHADOW-HASH-0123456789abcdef:19000:0:99999:7:::\n';
    const secret = path.join(secretDir, 'shadow');
    writeFileSync(secret, secretText);
    mkdirSync(path.join(secretDir, 'keys'));
    writeFileSync(path.join(secretDir, 'keys', 'gateway.key'), 'SECRET-KEY-MATERIAL-fedcba9876543210');

    const frames = await Promise.all([simFrame(1), simFrame(2), simFrame(3)]);
    const s = await setup({}, (dropDir) => {
      writeFileSync(path.join(dropDir, 'a_L00001_after-exposure.png'), frames[0]!.png);
      symlinkSync(secret, path.join(dropDir, 'a_L00001_after-exposure.json'));
      writeFileSync(path.join(dropDir, 'b_L00002_after-exposure.png'), frames[1]!.png);
      symlinkSync(path.join(secretDir, 'keys'), path.join(dropDir, 'b_L00002_after-exposure.json'));
      // a well-behaved frame with a real sidecar keeps flowing next to them
      writeFileSync(path.join(dropDir, 'c_L00003_after-exposure.png'), frames[2]!.png);
      writeFileSync(path.join(dropDir, 'c_L00003_after-exposure.json'), JSON.stringify({ build: 'B-good', layer: 3 }));
      // a symlinked image is not taken either (and not read)
      symlinkSync(secret, path.join(dropDir, 'd_L00004_after-exposure.png'));
    });
    await until(
      'two frames refused for their sidecar and the good one committed',
      () => s.input.counters.rejected['bad-sidecar'] === 2 && s.frames().length === 1,
    );

    expect(s.frames()[0]).toMatchObject({ build: 'B-good', layer: 3 });
    const quarantineDir = path.join(s.dropDir, 'quarantine');
    const quarantined = readdirSync(quarantineDir).sort();
    expect(quarantined).toEqual(['a_L00001_after-exposure.png', 'b_L00002_after-exposure.png']);
    // the links are gone from the drop folder; their targets are untouched
    expect(existsSync(path.join(s.dropDir, 'a_L00001_after-exposure.json'))).toBe(false);
    expect(lstatSync(path.join(s.dropDir, 'b_L00002_after-exposure.json'), { throwIfNoEntry: false })).toBeUndefined();
    expect(readFileSync(secret, 'utf8')).toBe(secretText);
    // the symlinked image is left where it is, never taken
    expect(lstatSync(path.join(s.dropDir, 'd_L00004_after-exposure.png')).isSymbolicLink()).toBe(true);
    await new Promise((r) => setTimeout(r, 300)); // a few more listings
    expect(s.input.counters.rejected['bad-sidecar']).toBe(2);
    expect(s.frames()).toHaveLength(1);

    // nothing of the targets anywhere: log lines, quarantine/, the gateway quarantine, the buffer
    for (const needle of ['SECRET-SHADOW-HASH', 'root:$6$', 'SECRET-KEY-MATERIAL']) {
      expect(s.logText()).not.toContain(needle);
      for (const f of walk(s.dir)) {
        if (!f.link) expect(f.bytes!.includes(needle), `${f.file} holds ${needle}`).toBe(false);
      }
    }
    // and no link was carried into quarantine/, where a later reader would follow it
    expect(walk(quarantineDir).filter((f) => f.link)).toEqual([]);
    expect(s.logText()).toContain('is a symbolic link or not a regular file; not followed, not read');
  });
});

/** A POST that sends `chunk` every `everyMs` and never finishes by itself; resolves its status and when it came. */
function drip(url: URL, token: string, chunk: number, everyMs: number) {
  const started = Date.now();
  const req = http.request({
    host: url.hostname,
    port: url.port,
    path: url.pathname,
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-length': 50_000_000 },
  });
  const timer = setInterval(() => {
    if (!req.destroyed) req.write(Buffer.alloc(chunk, 0x41));
  }, everyMs);
  const answer = new Promise<{ status: number; ms: number }>((resolve) => {
    req.on('response', (res) => {
      clearInterval(timer);
      res.resume();
      resolve({ status: res.statusCode!, ms: Date.now() - started });
    });
    // the server closes after its answer; a write racing the close is expected
    req.on('error', () => undefined);
  });
  cleanups.push(() => {
    clearInterval(timer);
    req.destroy();
  });
  return { answer, req };
}

/** A well-behaved camera: sends the whole frame at once, retries on 503 as Retry-After asks (faster here). */
async function camera(url: URL, token: string, body: Buffer): Promise<{ status: number; ms: number; refused: number }> {
  const started = Date.now();
  let refused = 0;
  for (;;) {
    // a new connection per try, as a camera's simple HTTP client does (no keep-alive pool whose
    // reuse after a 503 could add the server's keep-alive timeout to the measured time)
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          agent: false,
          headers: { authorization: `Bearer ${token}`, 'content-length': body.length },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    if (status !== 503) return { status, ms: Date.now() - started, refused };
    refused++;
    await new Promise((res) => setTimeout(res, 100));
  }
}

describe('frames input: slow-drip uploads', () => {
  const token = 'hostile-test-token';
  /** what a 1 s bodyGrace guarantees: answers at the grace's end (+ ~0.1 s), 2 s of it slack for a loaded machine */
  const GRACE_BOUND_MS = 3_000;

  it('four uploads dripping below upload.minBytesPerSecond end with 408 within bodyGrace + a little, and a camera gets its frame in promptly', async () => {
    const s = await setup({ upload: { port: 0, token, minBytesPerSecond: '1KiB', bodyGrace: '1s' } });
    const url = new URL(s.input.uploadUrl!);
    // rendered before the timed part: it shares this process (and its event loop) with the server
    const f = await simFrame(1);
    const slow = [0, 1, 2, 3].map(() => drip(url, token, 8, 100)); // 80 B/s
    await until('the four slow uploads hold all four slots', () => s.input.uploadsInProgress === 4);
    const good = await camera(url, token, f.png);
    const answers = await Promise.all(slow.map((d) => d.answer));
    expect(answers.map((a) => a.status)).toEqual([408, 408, 408, 408]);
    // 1 s grace, then their ~100 bytes are due within 0.1 s more (typically ~1.1-1.2 s); the rest of
    // 3 s is slack for a loaded machine, far below the size / rate (5 s and more) a skipped grace
    // check used to add when its timer woke a millisecond before the grace's end
    for (const a of answers) expect(a.ms).toBeLessThanOrEqual(GRACE_BOUND_MS);
    expect(good.status).toBe(201);
    // the 4th slow upload gets 408 at the grace's end, freeing a slot for the camera's next retry
    expect(good.ms).toBeLessThanOrEqual(GRACE_BOUND_MS);
    expect(s.input.uploadsInProgress).toBe(0);
    expect(s.frames()).toHaveLength(1);
  }, 20_000);

  it('four uploads dripping just above the minimum rate cannot take the last slot past bodyGrace: one gets 408, the camera gets its frame in', async () => {
    const s = await setup({ upload: { port: 0, token, minBytesPerSecond: 100, bodyGrace: '1s' } });
    const url = new URL(s.input.uploadUrl!);
    const f = await simFrame(2);
    const slow = [0, 1, 2, 3].map(() => drip(url, token, 50, 100)); // 500 B/s: 50 MB would take a day
    await until('the four slow uploads hold all four slots', () => s.input.uploadsInProgress === 4);
    const good = await camera(url, token, f.png);
    expect(good.status).toBe(201);
    // typically ~1.0-1.1 s (bodyGrace + a retry); it took 6 s, one run in three, when the last
    // upload's grace check woke 1 ms early and was put off to its pace deadline 5 s later
    expect(good.ms).toBeLessThanOrEqual(GRACE_BOUND_MS);
    const first = await Promise.race(slow.map((d) => d.answer));
    expect(first.status).toBe(408);
    expect(first.ms).toBeLessThanOrEqual(GRACE_BOUND_MS); // typically ~1.1 s, see the first slow-drip test
    // the other three keep their slots (they are within the pace), the reserved one stays free
    expect(s.input.uploadsInProgress).toBe(3);
    expect(s.frames()).toHaveLength(1);
  }, 20_000);
});
