/**
 * Frames input throughput, end to end: 2048x2048 8-bit PNG frames (the simulator's camera
 * rendering, each frame distinct so dedup never shortcuts) dropped into the drop folder ->
 * decoded, validated, thumbnailed -> committed to the real SQLite buffer (synchronous FULL, bodies
 * spooled) -> source file released to processed/. Target from the issue: >= 2 frames/s on one core.
 *
 * Baselines measured in the same run, on the same files and disk:
 *   (a) sharp alone: read the file, metadata and a full decode (what validation cannot do without);
 *   (b) plain file copy of the same files (the floor of any ingest that keeps the bytes).
 * "One core": the input runs with concurrency 1 and libvips with one thread per image
 * (sharp.concurrency(1)), so one frame is worked on at a time. Reports PASS/MISS; never fails a build.
 *
 *   npm run bench:inputs   (or: npx tsx test/bench/inputs-frames.bench.ts; FRAMES=n to change the count)
 */
import { copyFile, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import sharp from 'sharp';
import { openBuffer } from '../../gateway/buffer/index.js';
import { Pipeline } from '../../gateway/ingest/pipeline.js';
import { renderIntensity } from '../../simulator/camera.js';
import { makeConfig } from '../../simulator/config.js';
import { SimCore } from '../../simulator/core.js';
import { FramesInput } from '../../plugins/inputs/frames/index.js';
import { framesConfigSchema } from '../../plugins/inputs/frames/schema.js';

const N = Number(process.env.FRAMES ?? 24);
const SIZE = 2048;
const TARGET_FPS = 2;
const log = pino({ level: 'silent' });
sharp.concurrency(1);

async function makeFrames(dir: string): Promise<string[]> {
  const cfg = makeConfig({ seed: 11, camera: { width: SIZE, height: SIZE, bitDepth: 8 } });
  const core = new SimCore(cfg);
  const intensity = renderIntensity(cfg, core.parts, 40, 'after-exposure', core.defects);
  const px = Buffer.alloc(SIZE * SIZE);
  for (let i = 0; i < px.length; i++) px[i] = Math.max(0, Math.min(255, Math.round((intensity[i] as number) * 255)));
  const names: string[] = [];
  for (let k = 0; k < N; k++) {
    // a distinct frame each time: a few pixels carry the frame number
    px.writeUInt32BE(k, 0);
    const png = await sharp(px, { raw: { width: SIZE, height: SIZE, channels: 1 } })
      .toColourspace('b-w')
      .png({ compressionLevel: 6, adaptiveFiltering: false })
      .toBuffer();
    const name = `B-0001_L${String(k + 1).padStart(5, '0')}_after-exposure.png`;
    await writeFile(path.join(dir, name), png);
    names.push(name);
  }
  return names;
}

async function main(): Promise<void> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'lg-bench-frames-'));
  try {
    const staging = path.join(root, 'staging');
    await mkdir(staging, { recursive: true });
    process.stdout.write(`rendering ${N} distinct ${SIZE}x${SIZE} 8-bit PNG frames ... `);
    const names = await makeFrames(staging);
    const bytes = (await Promise.all(names.map((n) => readFile(path.join(staging, n))))).reduce((s, b) => s + b.length, 0);
    console.log(`${(bytes / N / 1e6).toFixed(2)} MB per frame`);

    // (b) plain copy
    const copyDir = path.join(root, 'copy');
    await mkdir(copyDir);
    let t0 = performance.now();
    for (const n of names) await copyFile(path.join(staging, n), path.join(copyDir, n));
    const copyS = (performance.now() - t0) / 1000;

    // (a) sharp alone: read + metadata + full decode
    t0 = performance.now();
    for (const n of names) {
      const b = await readFile(path.join(staging, n));
      await sharp(b).metadata();
      await sharp(b).raw().toBuffer();
    }
    const sharpS = (performance.now() - t0) / 1000;

    // end to end
    const dropDir = path.join(root, 'drop');
    await mkdir(dropDir);
    const buffer = openBuffer({ dir: path.join(root, 'buffer'), maxBytes: 4 * 1024 ** 3, sinks: ['lake'] }, log);
    const pipeline = new Pipeline({ buffer, outputs: [{ name: 'lake', plugin: { premises: 'on' } }], dataDir: root, quarantineMaxBytes: 1 << 20, log });
    const input = new FramesInput(framesConfigSchema.parse({ dropDir, stableFor: '50ms', rescanInterval: '50ms', concurrency: 1 }));
    await input.start(pipeline.contextFor('camera'));
    t0 = performance.now();
    // renamed into place, as a camera does
    for (const n of names) await rename(path.join(copyDir, n), path.join(dropDir, n));
    while (input.counters.released < N) {
      if (performance.now() - t0 > 300_000) throw new Error(`only ${input.counters.released} of ${N} frames released after 300 s`);
      await new Promise((r) => setTimeout(r, 5));
    }
    const e2eS = (performance.now() - t0) / 1000;
    await input.stop();
    const stored = buffer.read('lake', 10_000).filter((r) => r.signal === 'camera.powder_bed').length;
    const left = (await readdir(dropDir)).filter((n) => n.endsWith('.png')).length;
    buffer.close();
    if (stored !== N || left !== 0) throw new Error(`expected ${N} frames stored and none left, got ${stored} stored, ${left} left`);
    if (input.counters.rejected.corrupt > 0) throw new Error('frames were rejected');

    const fps = (s: number) => N / s;
    const e2e = fps(e2eS);
    const rows: [string, string, string, string][] = [
      [
        'end to end (drop -> commit -> release)',
        e2e.toFixed(2),
        `${TARGET_FPS}`,
        `${(e2e / TARGET_FPS).toFixed(2)}x target ${e2e >= TARGET_FPS ? 'PASS' : 'MISS'}`,
      ],
      ['(a) sharp read+metadata+decode alone', fps(sharpS).toFixed(2), '-', `e2e = ${(e2e / fps(sharpS)).toFixed(2)} of it`],
      ['(b) plain file copy', fps(copyS).toFixed(2), '-', `e2e = ${(e2e / fps(copyS)).toFixed(3)} of it`],
    ];
    console.log(`\nframes input, ${N} frames of ${SIZE}x${SIZE} 8-bit PNG (thumbnail on, buffer synchronous FULL, input concurrency 1, sharp.concurrency(1))`);
    const w = [42, 10, 8, 30];
    console.log(['case', 'frames/s', 'target', 'ratio'].map((h, i) => h.padEnd(w[i]!)).join(' '));
    for (const r of rows) console.log(r.map((c, i) => c.padEnd(w[i]!)).join(' '));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
