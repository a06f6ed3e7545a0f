/**
 * The sync store on its own (real SQLite and files in a temp folder): queue order by priority and
 * record time (oldest or newest first), retry delays, the hot tier's expiry, leftovers of a crash,
 * the manifest's view of a build, the staged totals and the chunked reading of a staged window.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SyncStore } from './store.js';
import type { NewObject } from './store.js';

let dir: string;
let store: SyncStore;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lg-sync-store-'));
  store = new SyncStore({ dir, maxBytes: 1_000_000, hotMs: 30 * 86_400_000 });
});
afterEach(async () => {
  store.close();
  await fs.rm(dir, { recursive: true, force: true });
});

const DAY_NS = 86_400_000n * 1_000_000n;
const now = () => BigInt(Date.now()) * 1_000_000n;

function obj(key: string, priority: number, recordTimeNs: bigint, build = 'B1', layers: [number, number] = [1, 1]): NewObject {
  const p = store.placeBytes(Buffer.from(`bytes of ${key}`));
  return {
    key,
    ...p,
    contentType: 'application/octet-stream',
    class: 'internal',
    mode: priority === 0 ? 'realtime' : 'continuous',
    priority,
    recordTimeNs,
    members: [{ build, firstSeq: 1, lastSeq: 2, layerMin: layers[0], layerMax: layers[1], records: 2, class: 'internal' }],
  };
}

describe('SyncStore', () => {
  it('hands out the lowest priority number first, then oldest (or newest) record time', () => {
    const t = now();
    store.enqueue({ objects: [obj('frame-old', 2, t - 3n * DAY_NS), obj('event-new', 0, t), obj('event-old', 0, t - DAY_NS), obj('ts', 1, t - 2n * DAY_NS)] });
    const drain = (order: 'oldest-first' | 'newest-first') => {
      const keys: string[] = [];
      for (let o = store.next(order); o; o = store.next(order)) {
        keys.push(o.key);
        store.markSynced(o.id, o.md5, null);
      }
      return keys;
    };
    expect(drain('oldest-first')).toEqual(['event-old', 'event-new', 'ts', 'frame-old']);
    store.enqueue({ objects: [obj('a', 0, t - DAY_NS), obj('b', 0, t)] });
    expect(drain('newest-first')).toEqual(['b', 'a']);
  });

  it('a failed object waits for its retry time; resume clears the delays', () => {
    store.enqueue({ objects: [obj('x', 0, now()), obj('y', 0, now() + 1n)] });
    const x = store.next('oldest-first')!;
    store.markFailed(x.id, 'link down', Date.now() + 60_000);
    expect(store.next('oldest-first')!.key).toBe('y');
    store.markFailed(store.next('oldest-first')!.id, 'link down', Date.now() + 60_000);
    expect(store.next('oldest-first')).toBeUndefined();
    expect(store.nextRetryInMs()).toBeGreaterThan(50_000);
    expect(store.progress().lastError).toBe('link down');
    store.clearRetryDelays();
    expect(store.next('oldest-first')!.key).toBe('x');
    expect(store.object(x.id)!.attempts).toBe(1);
  });

  it('synced copies past the hot period are removed; younger and unsynced ones stay', () => {
    const t = now();
    store.enqueue({ objects: [obj('old-synced', 0, t - 40n * DAY_NS), obj('old-unsynced', 0, t - 41n * DAY_NS), obj('young-synced', 0, t - DAY_NS)] });
    for (const o of store.objects()) if (o.key !== 'old-unsynced') store.markSynced(o.id, o.md5, null);
    const freed = store.expireHot();
    const byKey = new Map(store.objects().map((o) => [o.key, o]));
    expect(freed).toBe(byKey.get('old-synced')!.size);
    expect(byKey.get('old-synced')!.local).toBe(false);
    expect(store.localFileSize(byKey.get('old-synced')!.file)).toBeUndefined();
    expect(byKey.get('old-unsynced')!.local).toBe(true);
    expect(byKey.get('young-synced')!.local).toBe(true);
  });

  it('removes files a crash left without a row, keeps every file a row names', async () => {
    store.enqueue({ objects: [obj('kept', 0, now())] });
    const orphan = store.placeBytes(Buffer.from('placed, never committed'));
    await fs.writeFile(path.join(dir, 'objects', 'tmp', 'half-written'), 'x');
    expect(store.removeLeftovers()).toBe(1);
    expect(store.localFileSize(orphan.file)).toBeUndefined();
    expect(store.localFileSize(store.objects()[0]!.file)).toBeGreaterThan(0);
    expect(await fs.readdir(path.join(dir, 'objects', 'tmp'))).toEqual([]);
  });

  it('a build is ready for its manifest when quiet and fully synced; the manifest lists every object with its layer range', () => {
    store.enqueue({ objects: [obj('a', 0, now(), 'B9', [1, 5]), obj('b', 2, now(), 'B9', [6, 9])] });
    store.enqueue({ dedup: [{ key: 'b', member: { build: 'B9', firstSeq: 7, lastSeq: 7, layerMin: 12, layerMax: 12, records: 1, class: 'public' } }] });
    expect(store.buildsReadyForManifest(0, Date.now() + 1000)).toEqual([]);
    for (const o of store.objects()) store.markSynced(o.id, o.md5, null);
    expect(store.buildsReadyForManifest(60_000)).toEqual([]); // not quiet yet
    expect(store.buildsReadyForManifest(0, Date.now() + 1000)).toEqual(['B9']);
    const entries = store.manifestEntries('B9');
    expect(entries.map((e) => [e.key, e.layerMin, e.layerMax, e.records])).toEqual([
      ['a', 1, 5, 2],
      ['b', 6, 12, 3],
    ]);
    // the same records again (a redelivered batch) do not count twice
    store.enqueue({ dedup: [{ key: 'b', member: { build: 'B9', firstSeq: 7, lastSeq: 7, layerMin: 12, layerMax: 12, records: 1, class: 'public' } }] });
    expect(store.manifestEntries('B9').map((e) => e.records)).toEqual([2, 3]);
    store.markManifest('B9', store.buildLastRecordMs('B9'));
    expect(store.buildsReadyForManifest(0, Date.now() + 1000)).toEqual([]);
  });

  it('keeps staged totals without scanning the table, also for a store made before the totals existed', () => {
    const staged = (seq: number, window: number, size: number) => ({ seq, window, build: 'B1', bytes: Buffer.alloc(size, seq) });
    store.enqueue({ staged: [staged(1, 5, 100), staged(2, 5, 50), staged(3, 6, 10)] });
    store.enqueue({ staged: [staged(2, 5, 50)] }); // redelivered: counted once
    expect(store.progress().staged).toEqual({ records: 3, bytes: 160 });
    expect(store.localBytes()).toEqual({ total: 160, unsynced: 160 });
    // a chunk's range must hold exactly the rows the chunk read
    expect(() => store.enqueue({ unstage: [{ window: 5, firstSeq: 1, lastSeq: 2, records: 1 }] })).toThrow(/hold 2 staged records/);
    expect(store.stagedCount()).toBe(3);
    store.enqueue({ unstage: [{ window: 5, firstSeq: 1, lastSeq: 1, records: 1 }] });
    expect(store.stagedCount()).toBe(2);
    expect(store.progress().staged).toEqual({ records: 2, bytes: 60 });
    // an older store: no totals table; opening it counts once
    store.db.exec('DROP TABLE staged_totals');
    store.close();
    store = new SyncStore({ dir, maxBytes: 1_000_000, hotMs: 30 * 86_400_000 });
    expect(store.progress().staged).toEqual({ records: 2, bytes: 60 });
    store.enqueue({ staged: [staged(4, 6, 5)] });
    expect(store.progress().staged).toEqual({ records: 3, bytes: 65 });
  });

  it('reads a staged window in seq chunks bounded by records and bytes (at least one record each)', () => {
    store.enqueue({
      staged: [1, 2, 3, 4, 5, 6, 7].map((seq) => ({ seq, window: seq === 4 ? 9 : 8, build: 'B1', bytes: Buffer.alloc(seq === 6 ? 500 : 100) })),
    });
    expect(store.oldestStagedWindow(100)).toBe(8);
    expect(store.oldestStagedWindow(100, 8)).toBe(9);
    expect(store.oldestStagedWindow(8)).toBeUndefined();
    const seqs = (after: number, records: number, bytes: number) => store.stagedChunk(8, after, records, bytes).map((r) => r.seq);
    expect(seqs(0, 2, 10_000)).toEqual([1, 2]);
    expect(seqs(2, 10, 250)).toEqual([3, 5]); // seq 4 is in window 9
    expect(seqs(5, 10, 250)).toEqual([6]); // larger than maxBytes alone: a chunk of its own
    expect(seqs(6, 10, 250)).toEqual([7]);
    expect(seqs(7, 10, 250)).toEqual([]);
  });
});
