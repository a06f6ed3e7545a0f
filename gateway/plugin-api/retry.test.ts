import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Sleeper, exponentialDelay, fullJitterDelay } from './retry.js';

describe('exponentialDelay', () => {
  it('doubles from initialMs per attempt and stops at maxMs', () => {
    const b = { initialMs: 100, maxMs: 1000 };
    expect([0, 1, 2, 3, 4, 5].map((n) => exponentialDelay(n, b))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('treats a negative attempt as the first and survives any number of attempts', () => {
    expect(exponentialDelay(-3, { initialMs: 50, maxMs: 500 })).toBe(50);
    expect(exponentialDelay(10_000, { initialMs: 50, maxMs: 500 })).toBe(500);
  });
});

describe('fullJitterDelay', () => {
  it('is uniform below the exponential ceiling, in whole ms', () => {
    const b = { initialMs: 100, maxMs: 1000 };
    expect(fullJitterDelay(3, b, () => 0)).toBe(0);
    expect(fullJitterDelay(3, b, () => 0.5)).toBe(400);
    expect(fullJitterDelay(3, b, () => 0.999999)).toBe(799);
    expect(fullJitterDelay(20, b, () => 0.5)).toBe(500);
  });
});

describe('Sleeper', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sleeps the given time', async () => {
    const s = new Sleeper();
    let done = false;
    void s.sleep(1000).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
  });

  it('wake() ends the sleep in progress at once and does not affect the next one', async () => {
    const s = new Sleeper();
    let first = false;
    void s.sleep(60_000).then(() => (first = true));
    s.wake();
    await vi.advanceTimersByTimeAsync(0);
    expect(first).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    let second = false;
    void s.sleep(100).then(() => (second = true));
    await vi.advanceTimersByTimeAsync(99);
    expect(second).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(second).toBe(true);
    s.wake(); // nothing in progress: no effect
  });

  it('ends on the source event when given one, and unsubscribes', async () => {
    const s = new Sleeper();
    const source = new EventEmitter();
    let done = false;
    void s.sleep(5000, source, 'append').then(() => (done = true));
    expect(source.listenerCount('append')).toBe(1);
    source.emit('append');
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(true);
    expect(source.listenerCount('append')).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
