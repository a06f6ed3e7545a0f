/**
 * The arithmetic of bandwidth control: bit-rate parsing, the schedule, the token bucket (on a clock the
 * test drives, so the numbers are exact), the congestion controller fed with transfer reports, and the
 * paced file stream against the real clock. The same parts over a real link: test/sync/uplink.test.ts.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BACKOFF_FACTOR,
  CongestionController,
  LATENCY_RATIO,
  LATENCY_SLACK_MS,
  MIN_FACTOR,
  RECOVERY_STEP,
  ThrottledFileStream,
  TokenBucket,
  scheduledCap,
} from './bandwidth.js';
import { parseBitRate } from '../../../../gateway/config/units.js';

describe('parseBitRate', () => {
  it('reads the units a network engineer writes', () => {
    expect(parseBitRate('20Mbit')).toBe(20e6);
    expect(parseBitRate('5 Mbit/s')).toBe(5e6);
    expect(parseBitRate('800kbit')).toBe(800e3);
    expect(parseBitRate('1Gbit')).toBe(1e9);
    expect(parseBitRate('2.5mbps')).toBe(2.5e6);
    expect(parseBitRate(12345)).toBe(12345);
    expect(parseBitRate('unlimited')).toBe(Infinity);
    expect(parseBitRate('20MB')).toBeUndefined();
    expect(parseBitRate('fast')).toBeUndefined();
    expect(parseBitRate(0)).toBeUndefined();
  });
});

describe('scheduledCap', () => {
  const shifts = [{ days: [1, 2, 3, 4, 5], from: '06:00', to: '22:00', bitsPerSecond: 20e6 }];
  it('applies a window on its days and the default outside it', () => {
    expect(scheduledCap(shifts, Infinity, new Date(2026, 11, 1, 10, 0))).toBe(20e6); // a Tuesday
    expect(scheduledCap(shifts, Infinity, new Date(2026, 11, 1, 22, 0))).toBe(Infinity);
    expect(scheduledCap(shifts, Infinity, new Date(2026, 11, 1, 5, 59))).toBe(Infinity);
    expect(scheduledCap(shifts, Infinity, new Date(2026, 11, 6, 10, 0))).toBe(Infinity); // a Sunday
  });
  it('a window past midnight belongs to the day it started', () => {
    const night = [{ days: [5], from: '22:00', to: '06:00', bitsPerSecond: 1e6 }]; // Friday night
    expect(scheduledCap(night, 9e6, new Date(2026, 11, 4, 23, 0))).toBe(1e6); // Friday 23:00
    expect(scheduledCap(night, 9e6, new Date(2026, 11, 5, 3, 0))).toBe(1e6); // Saturday 03:00
    expect(scheduledCap(night, 9e6, new Date(2026, 11, 5, 23, 0))).toBe(9e6); // Saturday 23:00
  });
  it('first match wins', () => {
    const both = [
      { from: '08:00', to: '09:00', bitsPerSecond: 1e6 },
      { from: '00:00', to: '24:00', bitsPerSecond: 5e6 },
    ];
    expect(scheduledCap(both, Infinity, new Date(2026, 0, 1, 8, 30))).toBe(1e6);
    expect(scheduledCap(both, Infinity, new Date(2026, 0, 1, 12, 0))).toBe(5e6);
  });
});

describe('TokenBucket', () => {
  it('lets through exactly the rate over time, with a small burst', () => {
    let now = 0;
    const bucket = new TokenBucket(1_000_000, () => now); // 1 MB/s, burst max(16 KiB, 200 ms) = 200 KB
    expect(bucket.take(200_000)).toBe(0);
    expect(bucket.take(10_000)).toBeCloseTo(10, 6); // in debt: wait 10 ms
    now += 10;
    // sending 1 MB in 16 KiB chunks, waiting as told, takes 1 s
    let sent = 0;
    const start = now;
    while (sent < 1_000_000) {
      now += bucket.take(16_384);
      sent += 16_384;
    }
    expect((now - start) / 1000).toBeCloseTo(sent / 1_000_000, 2);
  });
  it('never holds more than its burst after idling, and follows a rate change', () => {
    let now = 0;
    const bucket = new TokenBucket(1_000_000, () => now);
    now += 60_000; // a minute idle
    expect(bucket.take(200_000)).toBe(0);
    expect(bucket.take(1000)).toBeGreaterThan(0);
    bucket.setRate(Infinity);
    expect(bucket.take(1e9)).toBe(0);
    bucket.setRate(100_000);
    now += 1000;
    expect(bucket.take(20_000)).toBe(0); // the burst at the new rate: 20 KB
    expect(bucket.take(100_000)).toBeCloseTo(1000, 0);
  });
});

describe('CongestionController', () => {
  const MB = 1_000_000;
  it('backs off multiplicatively on rising latency and recovers additively', () => {
    const c = new CongestionController();
    const clean = { bytes: 8 * MB, durationMs: 4000, latencyMs: 20, allowedBytesPerSecond: 2 * MB };
    expect(c.observe(clean)).toBe(false);
    expect(c.factor).toBe(1);
    expect(c.observe({ ...clean, latencyMs: 20 * 3 + 51 })).toBe(true);
    expect(c.factor).toBeCloseTo(BACKOFF_FACTOR);
    expect(c.effectiveRate(2 * MB)).toBeCloseTo(2 * MB * BACKOFF_FACTOR);
    expect(c.observe(clean)).toBe(false);
    expect(c.factor).toBeCloseTo(BACKOFF_FACTOR + RECOVERY_STEP);
    for (let i = 0; i < 10; i++) c.observe(clean);
    expect(c.factor).toBe(1);
  });
  it('counts throughput far below the allowed rate as congestion, and has a floor', () => {
    const c = new CongestionController();
    for (let i = 0; i < 20; i++) c.observe({ bytes: 8 * MB, durationMs: 16_000, latencyMs: 20, allowedBytesPerSecond: 2 * MB }); // 0.5 MB/s
    expect(c.factor).toBe(MIN_FACTOR);
    expect(c.congestions).toBe(20);
  });
  it('uncapped: full speed until the link gets slower than the best seen, then paces below it', () => {
    const c = new CongestionController();
    expect(c.effectiveRate(Infinity)).toBe(Infinity);
    c.observe({ bytes: 8 * MB, durationMs: 2000, latencyMs: 20, allowedBytesPerSecond: Infinity }); // 4 MB/s
    expect(c.effectiveRate(Infinity)).toBe(Infinity);
    expect(c.observe({ bytes: 8 * MB, durationMs: 4000, latencyMs: 20, allowedBytesPerSecond: Infinity })).toBe(true); // 2 MB/s: shared
    expect(c.effectiveRate(Infinity)).toBeCloseTo(4 * MB * BACKOFF_FACTOR);
    c.failed();
    expect(c.factor).toBeCloseTo(BACKOFF_FACTOR * BACKOFF_FACTOR);
  });
  it('latency probes: a round trip well above the idle baseline backs off, clean probes give back half a step', () => {
    const c = new CongestionController();
    expect(c.observeProbe(2)).toBe(false);
    expect(c.observeProbe(40)).toBe(false); // within baseline x 3 + 50 ms
    expect(c.factor).toBe(1);
    expect(c.observeProbe(400)).toBe(true);
    expect(c.factor).toBeCloseTo(BACKOFF_FACTOR);
    expect(c.observeProbe(3)).toBe(false);
    expect(c.factor).toBeCloseTo(BACKOFF_FACTOR + RECOVERY_STEP / 2);
  });
  it('a slow-draining link mid-part backs off, an unknown probe past the threshold counts, and neither recovers', () => {
    const c = new CongestionController();
    expect(c.probeThresholdMs()).toBe(Infinity); // no baseline yet: nothing is judged slow
    expect(c.observeInFlight(0.9 * MB, MB)).toBe(false); // drains at 90 % of what the bucket allows
    expect(c.factor).toBe(1);
    expect(c.observeInFlight(0.25 * MB, MB)).toBe(true); // a 4 Mbit/s link under a 16 Mbit/s cap
    expect(c.factor).toBeCloseTo(BACKOFF_FACTOR);
    expect(c.observeInFlight(0.25 * MB, Infinity)).toBe(false); // uncapped: the part's end judges
    expect(c.factor).toBeCloseTo(BACKOFF_FACTOR);
    c.observeProbe(2);
    expect(c.probeThresholdMs()).toBe(2 * LATENCY_RATIO + LATENCY_SLACK_MS);
  });
  it('small transfers say nothing about throughput', () => {
    const c = new CongestionController();
    expect(c.observe({ bytes: 1000, durationMs: 1000, latencyMs: 5, allowedBytesPerSecond: MB })).toBe(false);
  });
});

describe('ThrottledFileStream', () => {
  it('reads the range exactly, paced by the bucket (real clock)', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lg-throttle-'));
    try {
      const file = path.join(dir, 'f');
      const bytes = randomBytes(300_000);
      await fs.writeFile(file, bytes);
      const bucket = new TokenBucket(400_000);
      bucket.take(80_000); // start with an empty bucket: the burst is not part of the measurement
      let progress = 0;
      const t0 = performance.now();
      const chunks: Buffer[] = [];
      for await (const c of new ThrottledFileStream(file, 1000, 200_000, bucket, (n) => {
        progress += n;
      }))
        chunks.push(c as Buffer);
      const seconds = (performance.now() - t0) / 1000;
      expect(Buffer.concat(chunks).equals(bytes.subarray(1000, 201_000))).toBe(true);
      expect(progress).toBe(200_000);
      // 200 kB at 400 kB/s: at least 0.5 s (never faster than the rate)
      expect(seconds).toBeGreaterThanOrEqual(0.45);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
