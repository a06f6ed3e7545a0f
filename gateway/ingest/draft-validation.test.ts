/**
 * The ingest boundary's field ranges (record-fields.ts, checked by `Pipeline.emit` for every input):
 * a draft out of range is quarantined with its reason, the rest of its emit is stored, the emit
 * resolves (so the input acknowledges every message of the batch) and the input keeps ingesting.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { openBuffer } from '../buffer/index.js';
import type { RecordBuffer } from '../buffer/types.js';
import type { RecordDraft } from '../plugin-api/contract.js';
import { CONTENT_TYPES } from '../plugin-api/record.js';
import { Pipeline } from './pipeline.js';

const log = pino({ level: 'silent' });
let open: RecordBuffer[] = [];
afterEach(() => {
  for (const b of open) b.close();
  open = [];
});

function rig(wrap?: (b: RecordBuffer) => RecordBuffer) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lg-fields-'));
  const b = openBuffer({ dir: path.join(dataDir, 'buffer'), maxBytes: 256 << 20, sinks: ['lake'] }, log);
  open.push(b);
  const p = new Pipeline({ buffer: wrap ? wrap(b) : b, outputs: [{ name: 'lake', plugin: { premises: 'on' } }], dataDir, quarantineMaxBytes: 64 << 20, log });
  return { dataDir, b, p, ctx: p.contextFor('mqtt') };
}
function draft(signal: string, extra: Partial<Record<keyof RecordDraft, unknown>> = {}): RecordDraft {
  return { signal, kind: 'scalar', contentType: CONTENT_TYPES.scalar, body: Buffer.from('{"v":1}'), ...extra } as RecordDraft;
}

const INT64_MAX = (1n << 63n) - 1n;
const INT32_MAX = 2 ** 31 - 1;

/** a field value and whether every sink can hold it (the oracle, written from the ranges, not from the code) */
type Field = [value: unknown, valid: boolean];
const valid = (a: fc.Arbitrary<unknown>): fc.Arbitrary<Field> => a.map((v) => [v, true] as Field);
const invalid = (a: fc.Arbitrary<unknown>): fc.Arbitrary<Field> => a.map((v) => [v, false] as Field);
const absent: fc.Arbitrary<Field> = fc.constant([undefined, true] as Field);

const wrongTypes = fc.oneof(fc.double(), fc.constant(Number.NaN), fc.string(), fc.boolean(), fc.constant({}), fc.constant([1]));
const time: fc.Arbitrary<Field> = fc.oneof(
  absent,
  valid(fc.bigInt(0n, INT64_MAX)),
  valid(fc.constantFrom(0n, INT64_MAX, 1_767_225_600_000_000_000n)),
  // microseconds sent as milliseconds and the like: past 2262
  invalid(fc.bigInt(INT64_MAX + 1n, 1n << 80n)),
  invalid(fc.constantFrom(INT64_MAX + 1n, 9_300_000_000_000_000_000n)),
  invalid(fc.bigInt(-(1n << 80n), -1n)),
  invalid(wrongTypes),
  invalid(fc.constant(null)),
);
const layer: fc.Arbitrary<Field> = fc.oneof(
  absent,
  valid(fc.integer({ min: 0, max: INT32_MAX })),
  valid(fc.constantFrom(0, INT32_MAX)),
  // a uint32 beyond int32: the lake's column cannot hold it
  invalid(fc.integer({ min: INT32_MAX + 1, max: 2 ** 32 - 1 })),
  invalid(fc.constantFrom(-1, 1e20, 1e300, Number.POSITIVE_INFINITY, Number.NaN, 0.5)),
  invalid(fc.integer({ min: Number.MIN_SAFE_INTEGER, max: -1 })),
  invalid(fc.double({ noInteger: true })),
  invalid(fc.oneof(fc.string(), fc.constant({}), fc.bigInt())),
);
const build: fc.Arbitrary<Field> = fc.oneof(
  absent,
  valid(fc.string({ minLength: 1, maxLength: 256 })),
  invalid(fc.constant('')),
  invalid(fc.string({ minLength: 257, maxLength: 600 })),
  invalid(fc.oneof(fc.integer(), fc.constant({ id: 'JOB' }), fc.constant(['JOB']), fc.boolean())),
);
const attributes: fc.Arbitrary<Field> = fc.oneof(
  absent,
  valid(fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), fc.string({ maxLength: 50 }), { maxKeys: 8 })),
  invalid(fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), fc.oneof(fc.integer(), fc.constant(null), fc.constant({})), { minKeys: 1, maxKeys: 4 })),
  invalid(fc.constant({ big: 'x'.repeat(4097) })),
  invalid(fc.oneof(fc.string(), fc.integer(), fc.constant([['a', 'b']]))),
);
const signalField: fc.Arbitrary<Field> = fc.oneof(
  { weight: 6, arbitrary: absent },
  invalid(fc.constant('')),
  invalid(fc.constant('s'.repeat(1025))),
  invalid(fc.oneof(fc.integer(), fc.constant(null), fc.constant({}))),
);
const receive: fc.Arbitrary<Field> = fc.oneof(
  { weight: 4, arbitrary: absent },
  valid(fc.bigInt(0n, INT64_MAX)),
  invalid(fc.bigInt(INT64_MAX + 1n, 1n << 70n)),
  invalid(fc.double()),
);

const draftSpec = fc.record({ sourceTimeNs: time, layer, build, attributes, signal: signalField, receiveTimeNs: receive });
type Spec = Record<'sourceTimeNs' | 'layer' | 'build' | 'attributes' | 'signal' | 'receiveTimeNs', Field>;
const isValid = (s: Spec): boolean => Object.values(s).every(([, ok]) => ok);
function toDraft(s: Spec, signal: string): RecordDraft {
  const extra: Partial<Record<keyof RecordDraft, unknown>> = {};
  for (const k of ['sourceTimeNs', 'layer', 'build', 'attributes', 'receiveTimeNs'] as const) if (s[k][0] !== undefined) extra[k] = s[k][0];
  return draft(s.signal[0] === undefined ? signal : (s.signal[0] as string), extra);
}

describe('draft fields at the ingest boundary', () => {
  it('property: every valid draft of an emit is stored and every invalid one quarantined; the emit resolves and ingest goes on', async () => {
    const { b, p, ctx } = rig();
    let run = 0;
    let seen = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(draftSpec, { minLength: 1, maxLength: 12 }), async (specs) => {
        run++;
        const drafts = specs.map((s, i) => toDraft(s, `r${run}.${i}`));
        const before = p.stats().mqtt!;
        await ctx.emit(drafts); // resolves: the input acknowledges the whole batch
        const stored = b.read('lake', 1000, undefined, seen);
        if (stored.length > 0) seen = stored.at(-1)!.seq;
        const expected = specs.flatMap((s, i) => (isValid(s) ? [drafts[i]!] : []));
        expect(stored.map((r) => r.signal)).toEqual(expected.map((d) => d.signal));
        for (const [i, r] of stored.entries()) {
          const d = expected[i]!;
          expect(r.sourceTimeNs).toBe(d.sourceTimeNs);
          expect(r.layer).toBe(d.layer);
          expect(r.build).toBe(d.build);
        }
        const after = p.stats().mqtt!;
        expect(after.quarantined - before.quarantined).toBe(specs.length - expected.length);
        expect(after.records - before.records).toBe(expected.length);
        expect(after.failedEmits).toBe(0);
        // and the input keeps ingesting
        await ctx.emit([draft(`r${run}.after`)]);
        const next = b.read('lake', 10, undefined, seen);
        expect(next.map((r) => r.signal)).toEqual([`r${run}.after`]);
        seen = next[0]!.seq;
      }),
      { numRuns: 150 },
    );
  });

  it('property: the emit resolves with exactly the indices of the drafts it quarantined (out-of-range), and stored counts every other one', async () => {
    const { b, ctx } = rig();
    let run = 0;
    let seen = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(draftSpec, { minLength: 1, maxLength: 12 }), async (specs) => {
        run++;
        const drafts = specs.map((s, i) => toDraft(s, `q${run}.${i}`));
        const result = await ctx.emit(drafts);
        const bad = specs.flatMap((s, i) => (isValid(s) ? [] : [i]));
        expect(result.quarantined.map((q) => q.index)).toEqual(bad);
        for (const q of result.quarantined) {
          expect(q.reason).toBe('out-of-range');
          expect(q.error).toMatch(/^record out of range: /);
        }
        const good = specs.flatMap((s, i) => (isValid(s) ? [drafts[i]!.signal] : []));
        expect(result.stored).toBe(good.length);
        // and what it says was stored is what the buffer holds: every good draft, nothing else
        const stored = b.read('lake', 1000, undefined, seen);
        if (stored.length > 0) seen = stored.at(-1)!.seq;
        expect(stored.map((r) => r.signal)).toEqual(good);
      }),
      { numRuns: 150 },
    );
  });

  it('the emit result names a draft the buffer refused (unstorable) next to out-of-range ones, by its index in the array given', async () => {
    const { b, ctx } = rig(
      (real) =>
        new Proxy(real, {
          get(target, key) {
            if (key === 'append')
              return (records: Parameters<RecordBuffer['append']>[0]) => {
                if (records.some((r) => r.signal === 'unbindable')) throw new RangeError('The value is too large to be bound');
                return target.append(records);
              };
            const v = Reflect.get(target, key, target) as unknown;
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
          },
        }),
    );
    // the out-of-range one comes first, so the refused record's position in the commit (3) is not its index (4)
    const result = await ctx.emit([draft('a'), draft('huge', { layer: 3_000_000_000 }), draft('b'), draft('c'), draft('unbindable'), draft('d')]);
    expect(result).toEqual({
      stored: 4,
      quarantined: [
        { index: 1, reason: 'out-of-range', error: expect.stringContaining('layer must be an integer') },
        { index: 4, reason: 'unstorable', error: expect.stringContaining('The value is too large to be bound') },
      ],
    });
    expect(b.read('lake', 10).map((r) => r.signal)).toEqual(['a', 'b', 'c', 'd']);
    // an emit that stores everything says so
    expect(await ctx.emit([draft('e')])).toEqual({ stored: 1, quarantined: [] });
  });

  it('a time beyond int64 ns is quarantined with its reason and the others of the emit are stored', async () => {
    const { dataDir, b, p, ctx } = rig();
    await ctx.emit([draft('good.1'), draft('poison', { sourceTimeNs: 9_300_000_000_000_000_000n }), draft('good.2')]);
    expect(b.read('lake', 10).map((r) => r.signal)).toEqual(['good.1', 'good.2']);
    await p.flush();
    expect(p.stats().mqtt).toMatchObject({ records: 2, quarantined: 1, failedEmits: 0 });
    const dir = path.join(dataDir, 'quarantine', 'inputs', 'mqtt');
    const meta = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(meta).toHaveLength(1);
    const entry = JSON.parse(readFileSync(path.join(dir, meta[0]!), 'utf8'));
    expect(entry).toMatchObject({ where: 'poison', error: { reason: 'out-of-range' } });
    expect(JSON.stringify(entry)).toContain('sourceTimeNs 9300000000000000000');
  });

  it('a layer beyond int32 is quarantined, not stored wrapped around', async () => {
    const { b, p, ctx } = rig();
    await ctx.emit([draft('huge', { layer: 1e20 }), draft('uint32', { layer: 2 ** 31 }), draft('max', { layer: INT32_MAX })]);
    expect(b.read('lake', 10).map((r) => [r.signal, r.layer])).toEqual([['max', INT32_MAX]]);
    expect(p.stats().mqtt).toMatchObject({ records: 1, quarantined: 2 });
  });

  it('a record the buffer refuses inside the commit is quarantined alone; the others are stored', async () => {
    // fault injection: after the boundary check no real input can make the buffer refuse one record,
    // so the buffer's bind error (what an int64 overflow raised before the check) is injected for one signal
    const { b, p, ctx } = rig(
      (real) =>
        new Proxy(real, {
          get(target, key) {
            if (key === 'append')
              return (records: Parameters<RecordBuffer['append']>[0]) => {
                if (records.some((r) => r.signal === 'unbindable')) throw new RangeError('The value is too large to be bound');
                return target.append(records);
              };
            const v = Reflect.get(target, key, target) as unknown;
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
          },
        }),
    );
    await ctx.emit([draft('a'), draft('unbindable'), draft('b')]);
    await ctx.emit([draft('c')]);
    expect(b.read('lake', 10).map((r) => r.signal)).toEqual(['a', 'b', 'c']);
    expect(p.stats().mqtt).toMatchObject({ records: 3, quarantined: 1, failedEmits: 0 });
  });
});
