/**
 * Redis smoke test: the harness's redis-server stores and returns values through ioredis (the gateway's
 * client), binary-safe, including a stream the way an output would append records.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { REDIS } from './endpoints.js';

const endpoints = inject('services');
const redis = new Redis(endpoints.redis.url);
const prefix = `smoke:${randomUUID()}`;

afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe('redis (real server from the test harness)', () => {
  it('is provided to tests at the fixed endpoint', () => {
    expect(endpoints.redis).toEqual(REDIS);
  });

  it('writes and reads back a binary value with a TTL', async () => {
    const value = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x0a]);
    expect(await redis.set(`${prefix}:bytes`, value, 'EX', 60)).toBe('OK');
    expect(await redis.getBuffer(`${prefix}:bytes`)).toEqual(value);
    const ttl = await redis.ttl(`${prefix}:bytes`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
  });

  it('appends to a stream and reads the entries back in order', async () => {
    const stream = `${prefix}:stream`;
    const ids: string[] = [];
    for (let seq = 1; seq <= 5; seq++) ids.push((await redis.xadd(stream, '*', 'seq', String(seq), 'signal', 'melt_pool.temp'))!);
    const entries = await redis.xrange(stream, '-', '+');
    expect(entries.map(([id]) => id)).toEqual(ids);
    expect(entries.map(([, fields]) => fields[1])).toEqual(['1', '2', '3', '4', '5']);
  });
});
