/**
 * Frame hints out of the range every sink holds (a source time past int64 nanoseconds, a layer past
 * int32, a build that is an object): the frame is rejected at the boundary with its reason
 * (`bad-sidecar`: quarantined once, never retried for ever; an upload gets 400, not 503), and the frames
 * around it are stored. A layer out of range in the file name, which only the pipeline's check
 * catches, is reported back by the emit's result: the frame is set aside as a bad frame
 * (`out-of-range`: moved to quarantine/, never released as stored; an upload gets 400, not 201).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { openBuffer } from '../../../gateway/buffer/index.js';
import { Pipeline } from '../../../gateway/ingest/pipeline.js';
import { renderFrame } from '../../../simulator/camera.js';
import { makeConfig } from '../../../simulator/config.js';
import { SimCore } from '../../../simulator/core.js';
import { waitFor } from '../../../test/support/wait.js';
import { FrameRejected, parseSidecar } from './frame.js';
import { type FramesInput, definition } from './index.js';
import { framesConfigSchema } from './schema.js';

const log = pino({ level: 'silent' });
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const INT32_MAX = 2 ** 31 - 1;
/** 2^63 - 1 ns in ms, rounded down: the last millisecond every sink's time column holds */
const MAX_MS = 9_223_372_036_854;

async function setup(config: Record<string, unknown> = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-frames-bad-'));
  const dropDir = path.join(dir, 'drop');
  const buffer = openBuffer({ dir: path.join(dir, 'buffer'), maxBytes: 256 << 20, sinks: ['lake'] }, log);
  const pipeline = new Pipeline({
    buffer,
    outputs: [{ name: 'lake', plugin: { premises: 'on' } }],
    dataDir: dir,
    quarantineMaxBytes: 16 << 20,
    log,
    blockedRetryMs: 50,
  });
  const input = definition.create(
    framesConfigSchema.parse({ dropDir, stableFor: '100ms', rescanInterval: '100ms', thumbnail: { enabled: false }, ...config }),
    {
      dataDir: dir,
      machine: 'm1',
    },
  ) as FramesInput;
  await input.start(pipeline.contextFor('camera'));
  cleanups.push(async () => {
    await input.stop();
    await pipeline.flush();
    buffer.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, dropDir, input, pipeline, frames: () => buffer.read('lake', 100_000).filter((r) => r.signal === 'camera.powder_bed') };
}

/** the gateway quarantine's entries of the frames input (the JSON sidecars the pipeline writes) */
function gatewayQuarantine(dir: string): { where: string; error: { reason?: string; message: string } }[] {
  const q = path.join(dir, 'quarantine', 'inputs', 'camera');
  if (!existsSync(q)) return [];
  return readdirSync(q)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(path.join(q, f), 'utf8')));
}

async function frame(layer: number) {
  const cfg = makeConfig({ seed: 3, job: { totalLayers: 4, partCount: 2 }, camera: { width: 64, height: 64, bitDepth: 8 } });
  const core = new SimCore(cfg);
  return renderFrame(cfg, core.parts, layer, 'after-exposure', core.defects, cfg.startTimeMs + layer * 1000);
}

/** [JSON value, fits]: written from the ranges (record-fields.ts), not from the code under test */
type Field = readonly [unknown, boolean];
const ok = (a: fc.Arbitrary<unknown>): fc.Arbitrary<Field> => a.map((v) => [v, true] as const);
const bad = (a: fc.Arbitrary<unknown>): fc.Arbitrary<Field> => a.map((v) => [v, false] as const);
const wrongTypes = fc.oneof(fc.constant(null), fc.constant({}), fc.constant([1]), fc.boolean());
const layerField = fc.oneof(
  ok(fc.integer({ min: 0, max: INT32_MAX })),
  ok(fc.constantFrom(0, INT32_MAX)),
  bad(fc.integer({ min: INT32_MAX + 1, max: 2 ** 32 })),
  bad(fc.constantFrom(-1, 1e20, 1e300, 0.5, -0.5)),
  bad(fc.double({ noInteger: true, noNaN: true, noDefaultInfinity: true })),
  bad(fc.oneof(fc.string(), wrongTypes)),
);
const timeField = fc.oneof(
  ok(fc.double({ min: 0, max: 9.2e12, noNaN: true })),
  ok(fc.constantFrom(0, MAX_MS, 1_772_431_200_000.5)),
  bad(fc.double({ min: 9.3e12, max: Number.MAX_VALUE, noNaN: true })),
  bad(fc.constantFrom(MAX_MS + 1, 1e300, -1)),
  bad(fc.double({ max: -Number.MIN_VALUE, noNaN: true })),
  bad(fc.oneof(fc.string(), wrongTypes)),
);
const buildField = fc.oneof(
  ok(fc.string({ minLength: 1, maxLength: 256 })),
  ok(fc.nat()),
  bad(fc.constant('')),
  bad(fc.string({ minLength: 257, maxLength: 400 })),
  bad(fc.integer({ max: -1 })),
  bad(fc.constantFrom(1.5, 1e300)),
  bad(wrongTypes),
);
const phaseField = fc.oneof(
  ok(fc.string({ minLength: 1, maxLength: 64 })),
  bad(fc.constant('')),
  bad(fc.string({ minLength: 65, maxLength: 100 })),
  bad(fc.integer()),
  bad(wrongTypes),
);
const maybe = (a: fc.Arbitrary<Field>) => fc.option(a, { nil: undefined });

describe('frame hints out of range', () => {
  it('property: a sidecar is taken exactly when every field fits (build, layer, phase, timestampMs), else refused as bad-sidecar', () => {
    fc.assert(
      fc.property(fc.record({ build: maybe(buildField), layer: maybe(layerField), phase: maybe(phaseField), timestampMs: maybe(timeField) }), (f) => {
        const doc: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(f)) if (v !== undefined) doc[k] = v[0];
        const fits = Object.values(f).every((v) => v === undefined || v[1]);
        let got: ReturnType<typeof parseSidecar> | FrameRejected;
        try {
          got = parseSidecar(JSON.stringify(doc), 'x.json');
        } catch (err) {
          got = err as FrameRejected;
        }
        if (!fits) {
          expect(got).toBeInstanceOf(FrameRejected);
          expect((got as FrameRejected).reason).toBe('bad-sidecar');
          return;
        }
        expect(got).toEqual({
          ...(f.build ? { build: String(f.build[0]) } : {}),
          ...(f.layer ? { layer: f.layer[0] } : {}),
          ...(f.phase ? { phase: f.phase[0] } : {}),
          ...(f.timestampMs ? { sourceTimeMs: JSON.parse(JSON.stringify(f.timestampMs[0])) } : {}),
        });
      }),
      { numRuns: 2000 },
    );
  });

  it('drop folder: sidecars with timestampMs 9.3e12, layer 1e300 or an object as build are quarantined once; the next frame is stored', async () => {
    const s = await setup();
    const sidecars = [{ timestampMs: 9.3e12 }, { layer: 1e300 }, { build: { id: 'B-1' } }];
    for (const [i, sc] of sidecars.entries()) {
      const f = await frame(i + 1);
      await writeFile(path.join(s.dropDir, `bad-${i}.json`), JSON.stringify(sc));
      await writeFile(path.join(s.dropDir, `bad-${i}.png`), f.png);
    }
    await waitFor('three bad sidecars rejected', () => s.input.counters.rejected['bad-sidecar'] === 3, 30_000, 20);
    const good = await frame(4);
    await writeFile(path.join(s.dropDir, 'good.json'), JSON.stringify({ build: 'B-1', layer: INT32_MAX, timestampMs: MAX_MS }));
    await writeFile(path.join(s.dropDir, 'good.png'), good.png);
    await waitFor('the good frame', () => s.frames().length === 1, 30_000, 20);
    expect(s.frames()[0]).toMatchObject({ build: 'B-1', layer: INT32_MAX, sourceTimeNs: BigInt(MAX_MS) * 1_000_000n });
    expect(s.input.counters.emitFailures).toBe(0);
    expect(s.input.counters.rejected['bad-sidecar']).toBe(3);
  });

  it('upload: a source time of 1e300 or a layer past int32 is 400 with the reason, not 503; a good upload after them is 201', async () => {
    const s = await setup({ upload: { port: 0, token: 't0ken' } });
    const f = await frame(2);
    const post = (headers: Record<string, string>) =>
      fetch(s.input.uploadUrl!, { method: 'POST', body: f.png, headers: { authorization: 'Bearer t0ken', 'content-type': 'image/png', ...headers } });
    for (const [header, value] of [
      ['x-layergate-source-time-ms', '1e300'],
      ['x-layergate-source-time-ms', '9.3e12'],
      ['x-layergate-source-time-ms', '-5'],
      ['x-layergate-source-time-ms', 'yesterday'],
      ['x-layergate-layer', '99999999999999999999'],
      ['x-layergate-layer', String(2 ** 31)],
      ['x-layergate-build', 'B'.repeat(300)],
    ] as const) {
      const res = await post({ [header]: value });
      expect(res.status, `${header}: ${value}`).toBe(400);
      const body = (await res.json()) as { error: string; reason: string };
      expect(body.reason).toBe('bad-sidecar');
      expect(body.error).toContain(header);
    }
    const good = await post({ 'x-layergate-source-time-ms': String(MAX_MS), 'x-layergate-layer': String(INT32_MAX), 'x-layergate-build': 'B-2' });
    expect(good.status).toBe(201);
    expect(s.frames()).toHaveLength(1);
    expect(s.frames()[0]).toMatchObject({ build: 'B-2', layer: INT32_MAX, sourceTimeNs: BigInt(MAX_MS) * 1_000_000n });
    expect(s.input.counters.rejected['bad-sidecar']).toBe(7);
  });
});

describe('a layer out of range in the file name (only the pipeline catches it)', () => {
  // the default pattern takes build, layer and phase from the name: <build>_L<layer>_<phase>.<ext>
  const badNames = ['B-1_L99999999999999999999_after-exposure.png', 'B-1_L3000000000_after-exposure.png'];

  it('drop folder: the frame ends in quarantine/ with its sidecar, counted out-of-range, never released as stored; the same image under a good name is stored', async () => {
    const s = await setup();
    const f = await frame(1);
    // a sidecar that does not override the layer travels with its image
    await writeFile(path.join(s.dropDir, 'B-1_L3000000000_after-exposure.json'), JSON.stringify({ build: 'B-1' }));
    for (const name of badNames) await writeFile(path.join(s.dropDir, name), f.png);
    await waitFor('both frames rejected as out-of-range', () => s.input.counters.rejected['out-of-range'] === 2, 30_000, 20);

    const quarantineDir = path.join(s.dropDir, 'quarantine');
    expect(readdirSync(quarantineDir).sort()).toEqual([...badNames, 'B-1_L3000000000_after-exposure.json'].sort());
    for (const name of badNames) expect(readFileSync(path.join(quarantineDir, name)).equals(f.png)).toBe(true);
    // not released: nothing left in the drop folder, nothing in processed/, nothing stored
    expect(readdirSync(s.dropDir).filter((n) => n !== 'quarantine')).toEqual([]);
    expect(existsSync(path.join(s.dropDir, 'processed'))).toBe(false);
    expect(s.input.counters).toMatchObject({ released: 0, frames: 0, emitFailures: 0 });
    expect(s.frames()).toHaveLength(0);
    // the reason is kept with the record in the gateway quarantine, once per frame
    await s.pipeline.flush();
    const entries = gatewayQuarantine(s.dir);
    expect(entries).toHaveLength(2);
    for (const e of entries) {
      expect(e.error.reason).toBe('out-of-range');
      expect(e.error.message).toContain('layer must be an integer in 0..2147483647');
    }

    // the same bytes under a corrected name: stored, not released as a duplicate of the rejected ones
    await writeFile(path.join(s.dropDir, 'B-1_L00004_after-exposure.png'), f.png);
    await waitFor('the good frame stored', () => s.frames().length === 1, 30_000, 20);
    expect(s.frames()[0]).toMatchObject({ build: 'B-1', layer: 4 });
    await waitFor('the good frame released', () => s.input.counters.released === 1, 30_000, 20);
    expect(s.input.counters.duplicates).toBe(0);
    expect(s.input.counters.rejected['out-of-range']).toBe(2);
    expect(readdirSync(path.join(s.dropDir, 'processed'))).toEqual(['B-1_L00004_after-exposure.png']);
  });

  it('upload: a file name whose layer is out of range is 400 with the reason, not 201; the same image under a good name is 201', async () => {
    const s = await setup({ upload: { port: 0, token: 't0ken' } });
    const f = await frame(2);
    const post = (name: string) =>
      fetch(s.input.uploadUrl!, {
        method: 'POST',
        body: f.png,
        headers: { authorization: 'Bearer t0ken', 'content-type': 'image/png', 'x-layergate-file-name': name },
      });
    for (const name of badNames) {
      const res = await post(name);
      expect(res.status, name).toBe(400);
      const body = (await res.json()) as { error: string; reason: string };
      expect(body.reason).toBe('out-of-range');
      expect(body.error).toContain(name);
      expect(body.error).toContain('layer must be an integer in 0..2147483647');
    }
    expect(s.frames()).toHaveLength(0);
    const good = await post('B-2_L00007_after-exposure.png');
    expect(good.status).toBe(201);
    expect(s.frames()).toHaveLength(1);
    expect(s.frames()[0]).toMatchObject({ build: 'B-2', layer: 7 });
    expect(s.input.counters).toMatchObject({ uploads: 1, duplicates: 0 });
    expect(s.input.counters.rejected['out-of-range']).toBe(2);
  });
});
