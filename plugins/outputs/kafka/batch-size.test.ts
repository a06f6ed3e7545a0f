import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BROKER_DEFAULT_MAX_MESSAGE_BYTES, RECORD_BATCH_OVERHEAD, batchBudget, packRequests, recordBytes, splitInTwo, varintBytes } from './batch-size.js';
import type { Sized } from './batch-size.js';

interface Item extends Sized {
  id: number;
}

const item = (id: number, lane: string, bytes: number, budget = 1000): Item => ({ id, lane, bytes, budget });
const ids = (rs: Item[][]) => rs.map((r) => r.map((x) => x.id));

describe('record sizes', () => {
  it('varints: zigzag lengths as Kafka writes them', () => {
    expect(varintBytes(0)).toBe(1);
    expect(varintBytes(63)).toBe(1);
    expect(varintBytes(64)).toBe(2);
    expect(varintBytes(8191)).toBe(2);
    expect(varintBytes(8192)).toBe(3);
    expect(varintBytes(1_048_576)).toBe(4);
  });

  it('a record bound is at least its key, value and headers plus framing', () => {
    const r = recordBytes(20, 4096, 6, 180);
    expect(r).toBeGreaterThanOrEqual(20 + 4096 + 180 + 1 + 1 + 1 + 2 + 1 + 2);
    expect(r).toBeLessThan(20 + 4096 + 180 + 30);
  });

  it("the budget leaves the batch header and headroom below the broker's limit", () => {
    expect(batchBudget(BROKER_DEFAULT_MAX_MESSAGE_BYTES)).toBeLessThan(BROKER_DEFAULT_MAX_MESSAGE_BYTES - RECORD_BATCH_OVERHEAD);
    expect(batchBudget(BROKER_DEFAULT_MAX_MESSAGE_BYTES)).toBeGreaterThan(1_040_000);
    expect(batchBudget(100)).toBe(1024); // a misread limit never makes every record too large
  });
});

describe('packRequests', () => {
  it('everything that fits goes in one request, in order', () => {
    const items = [item(1, 'a', 100), item(2, 'b', 100), item(3, 'a', 100)];
    expect(ids(packRequests(items).requests)).toEqual([[1, 3, 2]]);
  });

  it('cuts a lane at its budget; chunk k of every lane goes into request k (3 MB of 4 KiB records to one partition: 3 requests, not 750)', () => {
    const items = Array.from({ length: 750 }, (_, i) => item(i, 't/0', 4200, batchBudget(BROKER_DEFAULT_MAX_MESSAGE_BYTES)));
    const { requests, oversized } = packRequests(items);
    expect(oversized).toEqual([]);
    expect(requests).toHaveLength(Math.ceil((750 * 4200) / batchBudget(BROKER_DEFAULT_MAX_MESSAGE_BYTES)));
    expect(requests.flat().map((x) => x.id)).toEqual(items.map((x) => x.id));

    const mixed = [item(1, 'a', 600), item(2, 'b', 300), item(3, 'a', 600), item(4, 'b', 300), item(5, 'b', 300), item(6, 'a', 600)];
    // a: 600 each, one per request; b: 900 in all, fits the first
    expect(ids(packRequests(mixed).requests)).toEqual([[1, 2, 4, 5], [3], [6]]);
  });

  it('each lane has its own budget (topics with different limits)', () => {
    const items = [item(1, 'small/0', 300, 500), item(2, 'big/0', 300, 5000), item(3, 'small/0', 300, 500), item(4, 'big/0', 300, 5000)];
    expect(ids(packRequests(items).requests)).toEqual([[1, 2, 4], [3]]);
  });

  it('a record over its budget is oversized, never sent; the others are', () => {
    const { requests, oversized } = packRequests([item(1, 'a', 100), item(2, 'a', 1001), item(3, 'a', 100)]);
    expect(oversized.map((x) => x.id)).toEqual([2]);
    expect(ids(requests)).toEqual([[1, 3]]);
  });

  it('property: every record placed once, no lane over budget in a request, lane order kept', () => {
    const arb = fc.array(fc.record({ lane: fc.constantFrom('a/0', 'a/1', 'b/0'), bytes: fc.integer({ min: 1, max: 1200 }) }), { maxLength: 300 });
    fc.assert(
      fc.property(arb, (spec) => {
        const items = spec.map((s, id) => item(id, s.lane, s.bytes));
        const { requests, oversized } = packRequests(items);
        const placed = [...requests.flat(), ...oversized].map((x) => x.id).sort((x, y) => x - y);
        expect(placed).toEqual(items.map((x) => x.id));
        for (const r of requests) {
          expect(r.length).toBeGreaterThan(0);
          const perLane = new Map<string, number>();
          for (const x of r) perLane.set(x.lane, (perLane.get(x.lane) ?? 0) + x.bytes);
          for (const total of perLane.values()) expect(total).toBeLessThanOrEqual(1000);
        }
        for (const lane of ['a/0', 'a/1', 'b/0']) {
          const sent = requests
            .flat()
            .filter((x) => x.lane === lane)
            .map((x) => x.id);
          expect(sent).toEqual([...sent].sort((x, y) => x - y));
        }
      }),
    );
  });
});

describe('splitInTwo', () => {
  it('one lane: halves of its records, in order', () => {
    expect(ids(splitInTwo([item(1, 'a', 1), item(2, 'a', 1), item(3, 'a', 1)]))).toEqual([[1, 2], [3]]);
  });

  it('several lanes: by lanes, each lane unchanged (an accepted lane goes again as the same batch)', () => {
    const req = [item(1, 'a', 1), item(2, 'b', 1), item(3, 'a', 1), item(4, 'c', 1)];
    expect(ids(splitInTwo(req))).toEqual([[1, 2, 3], [4]]);
  });

  it('a single record cannot be split', () => {
    expect(splitInTwo([item(1, 'a', 1)])).toEqual([]);
    expect(splitInTwo([])).toEqual([]);
  });
});
