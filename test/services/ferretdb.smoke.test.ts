/**
 * FerretDB smoke test: the harness's MongoDB wire-protocol server stores and returns documents through
 * the official `mongodb` driver (the gateway's client) on its plain and TLS listeners, answers as a
 * replica set primary (so the driver uses retryable writes), and refuses a duplicate `_id` the way
 * MongoDB does (the mongodb output's idempotence rests on it).
 */
import { randomUUID } from 'node:crypto';
import { MongoClient, MongoServerError } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { MONGODB } from './endpoints.js';

const client = new MongoClient(MONGODB.url, { serverSelectionTimeoutMS: 5000 });
const database = `smoke_${randomUUID().slice(0, 8)}`;

afterAll(async () => {
  await client.db(database).dropDatabase();
  await client.close();
});

describe('ferretdb (real server from the test harness)', () => {
  it('answers hello as the primary of the harness replica set, with MongoDB limits', async () => {
    const hello = await client.db('admin').command({ hello: 1 });
    expect(hello).toMatchObject({ isWritablePrimary: true, setName: MONGODB.replicaSet, maxBsonObjectSize: 16 * 1024 * 1024 });
    expect(hello.logicalSessionTimeoutMinutes).toBeGreaterThan(0);
  });

  it('inserts and finds documents; a duplicate _id is refused with 11000', async () => {
    const c = client.db(database).collection<{ _id: string; layer: number; at: Date }>('smoke');
    const at = new Date('2026-01-02T03:04:05.678Z');
    await c.insertMany([
      { _id: 'm:1', layer: 1, at },
      { _id: 'm:2', layer: 2, at },
    ]);
    expect(await c.find({ layer: { $gte: 2 } }).toArray()).toEqual([{ _id: 'm:2', layer: 2, at }]);
    const err = await c.insertOne({ _id: 'm:1', layer: 9, at }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MongoServerError);
    expect((err as MongoServerError).code).toBe(11000);
  });

  it('serves the same data over TLS, trusting the harness CA', async () => {
    const tls = new MongoClient(MONGODB.tlsUrl, { tls: true, tlsCAFile: MONGODB.caFile, serverSelectionTimeoutMS: 5000 });
    try {
      expect(await tls.db(database).collection('smoke').countDocuments()).toBe(2);
    } finally {
      await tls.close();
    }
  });
});
