import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BatchingEmitter } from './batching.js';
import type { RecordDraft } from './contract.js';

function draft(n: number): RecordDraft {
  return { signal: `s${n}`, kind: 'scalar', contentType: 'application/json', body: Buffer.from(String(n)) };
}

/** An emit whose commits the test settles by hand, one per call, in call order. */
function manualEmit() {
  const calls: { drafts: RecordDraft[]; resolve: () => void; reject: (err: Error) => void }[] = [];
  const emit = (drafts: RecordDraft[]) => new Promise<void>((resolve, reject) => calls.push({ drafts, resolve, reject }));
  return { calls, emit };
}

/** Let queued microtasks and one setImmediate turn run. */
async function turn(): Promise<void> {
  await vi.advanceTimersToNextTimerAsync();
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

describe('BatchingEmitter', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setImmediate', 'setTimeout'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('emits what arrived in one turn as one batch, on the next turn', async () => {
    const { calls, emit } = manualEmit();
    const e = new BatchingEmitter({ emit, maxBatch: 100 });
    for (let i = 0; i < 3; i++) e.push(draft(i));
    expect(calls).toHaveLength(0);
    await turn();
    expect(calls).toHaveLength(1);
    expect(calls[0]!.drafts.map((d) => d.signal)).toEqual(['s0', 's1', 's2']);
  });

  it('gathers while an emit is in flight and sends the rest after its commit, one emit at a time', async () => {
    const { calls, emit } = manualEmit();
    const e = new BatchingEmitter({ emit, maxBatch: 100 });
    e.push(draft(0));
    await turn();
    expect(calls).toHaveLength(1);
    for (let i = 1; i <= 4; i++) e.push(draft(i));
    await turn();
    expect(calls).toHaveLength(1); // still in flight: nothing else goes
    calls[0]!.resolve();
    await turn();
    expect(calls).toHaveLength(2);
    expect(calls[1]!.drafts.map((d) => d.signal)).toEqual(['s1', 's2', 's3', 's4']);
    calls[1]!.resolve();
    await turn();
    expect(e.committedRecords).toBe(5);
    expect(e.committedBatches).toBe(2);
    expect(e.idle).toBe(true);
  });

  it('puts at most maxBatch units in one emit, in arrival order', async () => {
    const { calls, emit } = manualEmit();
    const e = new BatchingEmitter({ emit, maxBatch: 2 });
    for (let i = 0; i < 5; i++) e.push(draft(i));
    await turn();
    expect(calls.map((c) => c.drafts.length)).toEqual([2]);
    calls[0]!.resolve();
    await turn();
    calls[1]!.resolve();
    await turn();
    calls[2]!.resolve();
    await turn();
    expect(calls.map((c) => c.drafts.map((d) => d.signal))).toEqual([['s0', 's1'], ['s2', 's3'], ['s4']]);
    expect(e.committedRecords).toBe(5);
  });

  it('counts messages, not drafts, as units for enqueue; a message with no drafts still waits for its batch', async () => {
    const { calls, emit } = manualEmit();
    const e = new BatchingEmitter({ emit, maxBatch: 2 });
    const a = e.enqueue([draft(0), draft(1), draft(2)]);
    const b = e.enqueue([]);
    const c = e.enqueue([draft(3)]);
    await turn();
    expect(calls.map((x) => x.drafts.length)).toEqual([3]);
    let settled = false;
    void a.then(() => (settled = true));
    await turn();
    expect(settled).toBe(false); // resolves only after the commit
    calls[0]!.resolve();
    expect(await a).toBe(true);
    expect(await b).toBe(true);
    await turn();
    calls[1]!.resolve();
    expect(await c).toBe(true);
    expect(e.committedBatches).toBe(2);
  });

  it('resolves false for a failed commit, counts it, reports it once and does not retry it', async () => {
    const { calls, emit } = manualEmit();
    const failed: [string, number, number][] = [];
    const e = new BatchingEmitter({ emit, maxBatch: 10, onFailed: (err, records, units) => failed.push([(err as Error).message, records, units]) });
    const a = e.enqueue([draft(0), draft(1)]);
    const b = e.enqueue([draft(2)]);
    await turn();
    calls[0]!.reject(new Error('buffer refused'));
    expect(await a).toBe(false);
    expect(await b).toBe(false);
    await turn();
    expect(calls).toHaveLength(1);
    expect(failed).toEqual([['buffer refused', 3, 2]]);
    expect({ failedBatches: e.failedBatches, failedRecords: e.failedRecords, failedUnits: e.failedUnits, committedRecords: e.committedRecords }).toEqual({
      failedBatches: 1,
      failedRecords: 3,
      failedUnits: 2,
      committedRecords: 0,
    });
    // the next batch goes as usual
    const c = e.enqueue([draft(3)]);
    await turn();
    calls[1]!.resolve();
    expect(await c).toBe(true);
  });

  it('skips the emit of a batch without drafts but counts and resolves it', async () => {
    const emit = vi.fn(async () => undefined);
    const committed: [number, number][] = [];
    const e = new BatchingEmitter({ emit, maxBatch: 10, onCommitted: (records, units) => committed.push([records, units]) });
    const a = e.enqueue([]);
    await turn();
    expect(await a).toBe(true);
    expect(emit).not.toHaveBeenCalled();
    expect(committed).toEqual([[0, 1]]);
    expect(e.committedBatches).toBe(1);
  });

  it('drain emits everything that waits, batch after batch, and resolves once all settled', async () => {
    vi.useRealTimers();
    const seen: number[] = [];
    const e = new BatchingEmitter({ emit: async (d) => void seen.push(d.length), maxBatch: 3 });
    for (let i = 0; i < 7; i++) e.push(draft(i));
    await e.drain();
    expect(seen).toEqual([3, 3, 1]);
    expect(e.idle).toBe(true);
    expect(e.committedRecords).toBe(7);
  });

  it('refuses a maxBatch below 1', () => {
    expect(() => new BatchingEmitter({ emit: async () => undefined, maxBatch: 0 })).toThrow(RangeError);
  });
});
