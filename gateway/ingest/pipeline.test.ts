import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { openBuffer } from '../buffer/index.js';
import type { BufferOptions, RecordBuffer } from '../buffer/types.js';
import { GatewayStoppingError, MalformedInputError } from '../plugin-api/errors.js';
import { RouteTable } from '../classify/index.js';
import { routingSchema } from '../classify/schema.js';
import { Pipeline } from './pipeline.js';
import { quarantineReason } from '../quarantine/inputs.js';
import { quarantineSummary } from '../quarantine/summary.js';
import type { RouteTarget } from './pipeline.js';
import type { RecordDraft } from '../plugin-api/contract.js';
import { CONTENT_TYPES } from '../plugin-api/record.js';

const log = pino({ level: 'silent' });
let open: RecordBuffer[] = [];
afterEach(() => {
  for (const b of open) b.close();
  open = [];
});

function tmp(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'lg-pipe-'));
}
function buffer(dataDir: string, opts: Partial<BufferOptions> & { sinks: string[] }): RecordBuffer {
  const b = openBuffer({ dir: path.join(dataDir, 'buffer'), maxBytes: 64 << 20, ...opts }, log);
  open.push(b);
  return b;
}
function draft(signal: string, kind: RecordDraft['kind'] = 'scalar', extra: Partial<RecordDraft> = {}): RecordDraft {
  return { signal, kind, contentType: CONTENT_TYPES.scalar, body: Buffer.from('{"v":1}'), ...extra };
}
/** whether a promise has settled, readable at any moment */
const settledFlag = (p: Promise<unknown>): (() => boolean) => {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  return () => done;
};
/** the emit is parked on the buffer's space event (counted as blocked), yielding to I/O until it is */
async function blockedEmits(p: Pipeline, n: number): Promise<void> {
  for (let turn = 0; (p.stats().mqtt?.blockedEmits ?? 0) < n; turn++) {
    if (turn > 100_000) throw new Error(`never ${n} blocked emits`);
    await new Promise<void>((r) => setImmediate(r));
  }
}

describe('InputContext.emit: source, time, class, routes, commit', () => {
  const outputs: RouteTarget[] = [
    { name: 'lake', plugin: { premises: 'on' } },
    // declares nothing: off premises (secure by default), so it only ever gets public and internal
    { name: 'cloud', plugin: {} },
    { name: 'frames-only', plugin: { kinds: ['frame'], premises: 'on' } },
    { name: 'narrowed', plugin: { premises: 'on' }, classes: ['sensitive'], kinds: ['scalar', 'event'] },
  ];

  it("routes by the outputs' classes, kinds and premises, narrowed by their config", () => {
    const dataDir = tmp();
    const p = new Pipeline({ buffer: buffer(dataDir, { sinks: outputs.map((o) => o.name) }), outputs, dataDir, quarantineMaxBytes: 1 << 20, log });
    expect(p.routes('internal', 'scalar')).toEqual(['lake', 'cloud']);
    expect(p.routes('sensitive', 'scalar')).toEqual(['lake', 'narrowed']);
    expect(p.routes('sensitive', 'samples')).toEqual(['lake']);
    expect(p.routes('confidential', 'frame')).toEqual(['lake', 'frames-only']);
    expect(p.routes('public', 'frame')).toEqual(['lake', 'cloud', 'frames-only']);
  });

  it('stores records with source, receive time, the stricter class and their routes', async () => {
    const dataDir = tmp();
    const b = buffer(dataDir, { sinks: outputs.map((o) => o.name) });
    const p = new Pipeline({ buffer: b, outputs, dataDir, quarantineMaxBytes: 1 << 20, log });
    const ctx = p.contextFor('opc', 'sensitive');
    const before = BigInt(Date.now()) * 1_000_000n;
    await ctx.emit([
      draft('chamber.o2'), // no own class: the input's class
      draft('job.name', 'event', { class: 'confidential' }), // stricter than the input: kept
      draft('laser.power', 'scalar', { class: 'public' }), // laxer than the input: raised
      draft('late', 'scalar', { receiveTimeNs: 42n }),
    ]);
    const lake = b.read('lake', 100);
    expect(lake.map((r) => [r.signal, r.source, r.class])).toEqual([
      ['chamber.o2', 'opc', 'sensitive'],
      ['job.name', 'opc', 'confidential'],
      ['laser.power', 'opc', 'sensitive'],
      ['late', 'opc', 'sensitive'],
    ]);
    expect([...lake[0]!.routes].sort()).toEqual(['lake', 'narrowed']);
    expect(lake[1]!.routes).toEqual(['lake']);
    expect(lake[0]!.receiveTimeNs).toBeGreaterThanOrEqual(before);
    expect(lake[3]!.receiveTimeNs).toBe(42n);
    expect(b.read('cloud', 100)).toEqual([]); // nothing sensitive may reach it
    expect(p.stats().opc).toMatchObject({ emits: 1, records: 4, bytes: 28 });
  });
});

describe('routing by access pattern (the access_pattern attribute)', () => {
  const sinks = ['lake', 'redis', 'training'];
  const routes = new RouteTable(
    routingSchema.parse({
      rules: [
        { name: 'lake', may: ['lake'] },
        { name: 'live', accessPatterns: ['realtime'], must: ['redis'] },
        { name: 'training-sets', accessPatterns: ['ml_training'], must: ['training'] },
      ],
    }),
    sinks.map((name) => ({ name, premises: 'on' as const })),
  );
  function rig() {
    const dataDir = tmp();
    const b = buffer(dataDir, { sinks });
    const outputs = sinks.map((name) => ({ name, plugin: { premises: 'on' as const } }));
    const p = new Pipeline({ buffer: b, outputs, dataDir, quarantineMaxBytes: 1 << 20, log, routes });
    return { dataDir, b, p, ctx: p.contextFor('mqtt') };
  }
  const signalsIn = (b: RecordBuffer, sink: string) => b.read(sink, 100).map((r) => r.signal);

  it('sends each record where the rules for its pattern say; a record without one by the other rules', async () => {
    const { b, p, ctx } = rig();
    const result = await ctx.emit([
      draft('plain'),
      draft('tagged', 'scalar', { attributes: { operator: 'night shift' } }),
      draft('live', 'scalar', { attributes: { access_pattern: 'realtime' } }),
      draft('training', 'scalar', { attributes: { access_pattern: 'ml_training', operator: 'night shift' } }),
      draft('archived', 'scalar', { attributes: { access_pattern: 'archive' } }),
    ]);
    expect(result).toEqual({ stored: 5, quarantined: [] });
    expect(signalsIn(b, 'lake')).toEqual(['plain', 'tagged', 'live', 'training', 'archived']);
    expect(signalsIn(b, 'redis')).toEqual(['live']);
    expect(signalsIn(b, 'training')).toEqual(['training']);
    expect(b.read('lake', 100).find((r) => r.signal === 'training')!.attributes).toMatchObject({ access_pattern: 'ml_training', operator: 'night shift' });
    expect(p.routes('internal', 'scalar', 'ml_training')).toEqual(['lake', 'training']);
    expect(p.routes('internal', 'scalar')).toEqual(['lake']);
  });

  it('quarantines a record whose access_pattern is none of the five, naming the attribute and the allowed values; stores the rest', async () => {
    const { dataDir, b, p, ctx } = rig();
    const result = await ctx.emit([
      draft('before', 'scalar', { attributes: { access_pattern: 'ml_training' } }),
      draft('streaming', 'scalar', { attributes: { access_pattern: 'streaming' } }),
      draft('upper', 'scalar', { attributes: { access_pattern: 'REALTIME' } }),
      draft('after'),
    ]);
    const reason = 'attribute access_pattern must be one of realtime, batch, ml_training, research, archive, got "streaming"';
    expect(result).toEqual({
      stored: 2,
      quarantined: [
        { index: 1, reason: 'out-of-range', error: `record out of range: ${reason}` },
        { index: 2, reason: 'out-of-range', error: expect.stringContaining('attribute access_pattern must be one of') },
      ],
    });
    expect(signalsIn(b, 'lake')).toEqual(['before', 'after']);
    expect(signalsIn(b, 'training')).toEqual(['before']);
    expect(signalsIn(b, 'redis')).toEqual([]);
    await p.flush();
    expect(p.stats().mqtt).toMatchObject({ records: 2, quarantined: 2 });
    const dir = path.join(dataDir, 'quarantine', 'inputs', 'mqtt');
    const errors = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => (JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as { error: { message: string } }).error.message);
    expect(errors).toContain(`record out of range: ${reason}`);
  });
});

describe('block policy', () => {
  function full(dataDir: string) {
    // room for a handful of rows only; internal records must wait, never be dropped
    const b = buffer(dataDir, { sinks: ['lake'], maxBytes: 1000, fullPolicy: { internal: 'block' } });
    const p = new Pipeline({
      buffer: b,
      outputs: [{ name: 'lake', plugin: { premises: 'on' } }],
      dataDir,
      quarantineMaxBytes: 1 << 20,
      log,
      blockedRetryMs: 60_000,
    });
    return { b, p, ctx: p.contextFor('mqtt') };
  }
  const batch = (n: number, tag: string) => Array.from({ length: n }, (_, i) => draft(`${tag}.${i}`, 'scalar', { body: Buffer.alloc(100, 1) }));

  it("emit waits for the buffer's space event and then stores everything, dropping nothing", async () => {
    const { b, p, ctx } = full(tmp());
    await ctx.emit(batch(5, 'first'));
    const waiting = ctx.emit(batch(5, 'second'));
    const waitingSettled = settledFlag(waiting);
    // blocked: only the space event (or the 60 s retry) can move it on, so "not settled" is final here
    await blockedEmits(p, 1);
    expect(waitingSettled()).toBe(false);
    expect(p.stats().mqtt!.blockedEmits).toBe(1);
    // the sink acknowledges the first batch: delivered records make room, 'space' wakes the emit
    const first = b.read('lake', 100);
    b.ack('lake', first.at(-1)!.seq);
    await waiting;
    expect(b.read('lake', 100).map((r) => r.signal)).toEqual(batch(5, 'second').map((d) => d.signal));
    expect(b.losses()).toEqual([]);
    expect(p.stats().mqtt).toMatchObject({ emits: 2, records: 10, failedEmits: 0 });
  });

  it('at shutdown a waiting emit rejects with GatewayStoppingError and nothing of it is stored', async () => {
    const { b, p, ctx } = full(tmp());
    await ctx.emit(batch(5, 'first'));
    const waiting = ctx.emit(batch(5, 'second'));
    const waitingSettled = settledFlag(waiting);
    await blockedEmits(p, 1);
    expect(waitingSettled()).toBe(false);
    p.abortBlocked();
    await expect(waiting).rejects.toBeInstanceOf(GatewayStoppingError);
    expect(b.stats().records).toBe(5);
    expect(p.stats().mqtt!.failedEmits).toBe(1);
  });
});

describe('quarantine', () => {
  it('counts, and keeps the raw bytes with a JSON sidecar under quarantine/inputs/<input>/', async () => {
    const dataDir = tmp();
    const p = new Pipeline({ buffer: buffer(dataDir, { sinks: [] }), outputs: [], dataDir, quarantineMaxBytes: 1 << 20, log });
    const ctx = p.contextFor('mqtt');
    const raw = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
    expect(ctx.quarantine('spBv1.0/g/DDATA/n/d', new MalformedInputError('bad protobuf'), raw)).toBeUndefined();
    await p.flush();
    const dir = path.join(dataDir, 'quarantine', 'inputs', 'mqtt');
    const files = readdirSync(dir).sort();
    expect(files).toHaveLength(2);
    expect(files[0]).toMatch(/^\d{8}T\d{6}\.\d{3}Z-\d+\.bin$/);
    expect(readFileSync(path.join(dir, files[0]!))).toEqual(raw);
    const side = JSON.parse(readFileSync(path.join(dir, files[1]!), 'utf8'));
    expect(side).toMatchObject({
      input: 'mqtt',
      where: 'spBv1.0/g/DDATA/n/d',
      size: 4,
      file: files[0],
      error: { name: 'MalformedInputError', code: 'LG_INPUT_MALFORMED', message: 'bad protobuf' },
      sha256: '5f78c33274e43fa9de5659265c1d917e25c03722dcb0b8d27db8d5feaa813953', // sha256sum of de ad be ef
    });
    expect(p.stats().mqtt).toMatchObject({ quarantined: 1, quarantineKept: 1, quarantineNotKept: 0 });
  });

  it('is bounded: past the cap items are counted, not kept', async () => {
    const dataDir = tmp();
    const p = new Pipeline({ buffer: buffer(dataDir, { sinks: [] }), outputs: [], dataDir, quarantineMaxBytes: 5000, log });
    const ctx = p.contextFor('frames');
    for (let i = 0; i < 4; i++) ctx.quarantine(`file-${i}.png`, new Error('not a PNG'), Buffer.alloc(2000, i));
    await p.flush();
    const files = readdirSync(path.join(dataDir, 'quarantine', 'inputs', 'frames'));
    expect(files.filter((f) => f.endsWith('.bin'))).toHaveLength(2);
    expect(p.stats().frames).toMatchObject({ quarantined: 4, quarantineKept: 2, quarantineNotKept: 2, quarantineNotKeptBytes: 4000 });

    // the cap counts what an earlier run left behind
    const again = new Pipeline({ buffer: open[0]!, outputs: [], dataDir, quarantineMaxBytes: 5000, log });
    again.contextFor('frames').quarantine('x', new Error('still bad'), Buffer.alloc(2000));
    await again.flush();
    expect(again.stats().frames).toMatchObject({ quarantined: 1, quarantineKept: 0, quarantineNotKept: 1 });
  });

  it('never throws, even when the folder cannot be written', async () => {
    const dataDir = tmp();
    const b = buffer(dataDir, { sinks: [] });
    writeFileSync(path.join(dataDir, 'quarantine'), 'a file where the folder should be');
    chmodSync(path.join(dataDir, 'quarantine'), 0o400);
    const p = new Pipeline({ buffer: b, outputs: [], dataDir, quarantineMaxBytes: 1 << 20, log });
    const ctx = p.contextFor('opc');
    expect(() => ctx.quarantine('ns=2;s=Chamber.O2', new Error('BadTypeMismatch'), Buffer.from('x'))).not.toThrow();
    // an Error-like without message, and no raw bytes: still fine
    expect(() => ctx.quarantine('ns=2;s=X', undefined as unknown as Error)).not.toThrow();
    await p.flush();
    expect(p.stats().opc).toMatchObject({ quarantined: 2, quarantineKept: 0, quarantineNotKept: 2 });
  });
});

describe('machine context: every record is stamped with the job and layer at ingest', () => {
  it('fills build/layer from the context set by another input, says so when unknown, never overrides the input', async () => {
    const dataDir = tmp();
    const b = buffer(dataDir, { sinks: ['lake'] });
    const p = new Pipeline({ buffer: b, outputs: [{ name: 'lake', plugin: {} }], dataDir, quarantineMaxBytes: 1 << 20, log });
    const machine = p.contextFor('opcua');
    const camera = p.contextFor('frames');

    await camera.emit([draft('before-any-job')]);
    machine.setMachineContext({ build: 'JOB-42', layer: 7, state: 'exposing', feedstockLot: 'LOT-316L-9' });
    await camera.emit([draft('during-layer-7'), draft('own-layer', 'scalar', { build: 'JOB-41', layer: 3 })]);
    machine.setMachineContext({ layer: 8, state: 'recoating' });
    await camera.emit([draft('during-layer-8')]);

    const got = b.read('lake', 10).map((r) => ({
      signal: r.signal,
      build: r.build,
      layer: r.layer,
      context: r.attributes?.context,
      state: r.attributes?.machine_state,
      lot: r.attributes?.feedstock_lot,
    }));
    expect(got).toEqual([
      { signal: 'before-any-job', build: undefined, layer: undefined, context: 'unknown', state: undefined, lot: undefined },
      { signal: 'during-layer-7', build: 'JOB-42', layer: 7, context: undefined, state: 'exposing', lot: 'LOT-316L-9' },
      { signal: 'own-layer', build: 'JOB-41', layer: 3, context: undefined, state: 'exposing', lot: 'LOT-316L-9' },
      { signal: 'during-layer-8', build: 'JOB-42', layer: 8, context: undefined, state: 'recoating', lot: 'LOT-316L-9' },
    ]);
    expect(camera.machineContext()).toEqual({ build: 'JOB-42', layer: 8, state: 'recoating', feedstockLot: 'LOT-316L-9' });
  });
});

describe('quarantine reasons', () => {
  it("takes the error's own reason, else a leading kebab word of its message, else its code or name", () => {
    const own = Object.assign(new MalformedInputError('frame.png: truncated png'), { reason: 'corrupt' });
    expect(quarantineReason(own)).toBe('corrupt');
    expect(quarantineReason(new MalformedInputError('unknown-alias: alias 7 of G/n has no birth'))).toBe('unknown-alias');
    expect(quarantineReason(new MalformedInputError('Not JSON: unexpected token'))).toBe('LG_INPUT_MALFORMED');
    expect(quarantineReason(new TypeError('x is undefined'))).toBe('TypeError');
  });

  it('summarises the quarantine folder per input and reason, from the sidecars the pipeline wrote', async () => {
    const dataDir = tmp();
    const p = new Pipeline({
      buffer: buffer(dataDir, { sinks: ['lake'] }),
      outputs: [{ name: 'lake', plugin: {} }],
      dataDir,
      quarantineMaxBytes: 1 << 20,
      log,
    });
    p.contextFor('cam').quarantine('a.png', Object.assign(new MalformedInputError('a.png: bad'), { reason: 'corrupt' }), Buffer.alloc(10));
    p.contextFor('cam').quarantine('b.png', Object.assign(new MalformedInputError('b.png: bad'), { reason: 'corrupt' }), Buffer.alloc(20));
    p.contextFor('opc').quarantine('ns=2;s=O2', new MalformedInputError('nan: value is NaN'));
    await p.flush();
    expect(quarantineSummary(dataDir)).toEqual([
      { input: 'cam', reason: 'corrupt', items: 2, bytes: 30 },
      { input: 'opc', reason: 'nan', items: 1, bytes: 0 },
    ]);
    expect(quarantineSummary(path.join(dataDir, 'nothing-here'))).toEqual([]);
  });
});
