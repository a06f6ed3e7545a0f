/**
 * The redis output against real Redis: the shared server of the test harness for delivery, a dedicated
 * one (test/services/dedicated.ts, AOF with fsync always) for ACL refusals and the restart test. Every
 * check reads back with a second ioredis client, the way a dashboard would.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CONTENT_TYPES } from '../../../gateway/plugin-api/record.js';
import { REDIS } from '../../../test/services/endpoints.js';
import { DedicatedRedis, selfSignedCert } from '../../../test/services/dedicated.js';
import { waitFor } from '../../../test/support/wait.js';
import { definition as fileLake } from '../file-lake/index.js';
import { expectSinkConfigFailing, recordingLog, samplesDraft, scalarDrafts, simulatorSource, sinkOutage, sinkRig } from '../../../test/support/sink-harness.js';
import type { SimulatedSource, SinkRig } from '../../../test/support/sink-harness.js';
import { type RedisOutput, definition } from './index.js';

const rigs: SinkRig[] = [];
const sources: SimulatedSource[] = [];
let reader: Redis;
let dedicated: DedicatedRedis;
beforeAll(async () => {
  reader = new Redis(REDIS.url);
  dedicated = new DedicatedRedis();
  await dedicated.start();
}, 120_000);
afterEach(async () => {
  for (const s of sources.splice(0)) await s.stop();
  for (const r of rigs.splice(0)) await r.close();
});
afterAll(async () => {
  reader.disconnect();
  await dedicated.dispose();
});

function output(config: Record<string, unknown>, url: string = REDIS.url): RedisOutput {
  return definition.create(definition.configSchema.parse({ url, ...config }), { dataDir: '/nonexistent', machine: 'pbf-sim' }) as RedisOutput;
}

type Entry = Record<string, Buffer>;
/** all entries of a stream as field -> raw value */
async function entries(client: Redis, key: string): Promise<Entry[]> {
  const raw = await client.xrangeBuffer(key, '-', '+');
  return raw.map(([, fields]) => {
    const e: Entry = {};
    for (let i = 0; i < fields.length; i += 2) e[fields[i]!.toString()] = fields[i + 1]!;
    return e;
  });
}

describe('redis output (real Redis)', () => {
  it('simulator records reach Redis streams: every routed seq, readable without the gateway, latest hash, no class not routed here', async () => {
    const prefix = `lgt:${randomUUID().slice(0, 8)}`;
    const out = output({ keyPrefix: prefix, notify: true });
    const sub = new Redis(REDIS.url);
    const notes: { signal: string; seq: number; count: number }[] = [];
    await sub.subscribe(out.notifyChannel);
    sub.on('message', (_c: string, m: string) => notes.push(JSON.parse(m) as { signal: string; seq: number; count: number }));
    const r = await sinkRig([{ name: 'redis', plugin: out, classes: ['internal'] }]);
    rigs.push(r);
    const src = await simulatorSource(r);
    sources.push(src);
    await src.committed();
    await r.drained('redis');
    const routed = r.routed('redis');
    expect(r.routed('all').some((x) => x.class === 'sensitive')).toBe(true);

    const signals = (await reader.smembers(out.signalsKey)).sort();
    expect(signals).toEqual(['machine.events', 'meltpool.binary']);
    const got: Entry[] = [];
    for (const s of signals) for (const e of await entries(reader, out.streamKey(s))) got.push({ ...e, signal: Buffer.from(s) });
    const seqs = [...new Set(got.map((e) => Number(e.seq!.toString())))].sort((a, b) => a - b);
    expect(seqs).toEqual(routed.map((x) => x.seq));
    expect(got.every((e) => e.class!.toString() === 'internal')).toBe(true);
    // a dashboard decodes a block from the entry alone: channels, rate, first sample, float32 LE body
    const blocks = got.filter((e) => e.signal!.toString() === 'meltpool.binary');
    expect(blocks.map((e) => Number(JSON.parse(e.attributes!.toString()).seq))).toEqual([...Array(32).keys()]);
    for (const e of blocks) {
      const original = routed.find((x) => x.seq === Number(e.seq!.toString()))!;
      expect(e.channels!.toString()).toBe('photodiode,pyrometer');
      expect(e.sample_rate_hz!.toString()).toBe('10000');
      expect(e.first_sample!.toString()).toBe(original.attributes!.first_sample);
      expect(e.time_ns!.toString()).toBe(String(original.sourceTimeNs));
      expect(e.body!.equals(original.body!)).toBe(true);
      expect(e.body!.readFloatLE(0)).toBe(original.body!.readFloatLE(0));
    }
    // latest: the newest entry of each signal
    const latest = await reader.hgetallBuffer(out.latestKey('meltpool.binary'));
    expect(latest.seq!.toString()).toBe(blocks[blocks.length - 1]!.seq!.toString());
    await waitFor('notifications', () => notes.reduce((n, x) => n + x.count, 0) >= routed.length, 10_000);
    expect(notes.every((n) => signals.includes(n.signal))).toBe(true);
    sub.disconnect();
  });

  it('scalars carry v/unit fields; MAXLEN ~ bounds a stream; a redelivered batch is findable by seq; one notification per batch and signal', async () => {
    const prefix = `lgt:${randomUUID().slice(0, 8)}`;
    const out = output({ keyPrefix: prefix, maxLen: 100, notify: true });
    const sub = new Redis(REDIS.url);
    const notes: { signal: string; seq: number; count: number }[] = [];
    await sub.subscribe(out.notifyChannel);
    sub.on('message', (_c: string, m: string) => notes.push(JSON.parse(m) as { signal: string; seq: number; count: number }));
    const r = await sinkRig([{ name: 'redis', plugin: out, forwarder: { batchSize: 50 } }]);
    rigs.push(r);
    for (let i = 0; i < 10; i++) await r.emit(scalarDrafts(100, 'chamber.o2'));
    await r.drained('redis');
    const len = await reader.xlen(out.streamKey('chamber.o2'));
    expect(len).toBeGreaterThanOrEqual(100);
    expect(len).toBeLessThan(400); // approximate trim: whole macro nodes, never the full 1000
    const last = (await entries(reader, out.streamKey('chamber.o2'))).pop()!;
    const newest = r.routed('redis').pop()!;
    expect(last.seq!.toString()).toBe(String(newest.seq));
    expect(last.v!.toString()).toBe(String(JSON.parse(newest.body!.toString()).v));
    expect(last.unit!.toString()).toBe('ppm');
    expect(last.content_type!.toString()).toBe(CONTENT_TYPES.scalar);
    const latest = await reader.hgetall(out.latestKey('chamber.o2'));
    expect(latest).toMatchObject({ seq: String(newest.seq), v: last.v!.toString(), class: 'internal' });
    expect(await reader.smembers(out.signalsKey)).toEqual(['chamber.o2']);
    // one notification per batch of 50 and signal, naming its newest seq
    await waitFor('notifications', () => notes.length >= 20, 10_000);
    expect(notes.map((n) => n.count)).toEqual(Array(20).fill(50));
    expect(notes.at(-1)).toEqual({ signal: 'chamber.o2', seq: newest.seq, count: 50 });
    sub.disconnect();
  });

  it('the latest hash is replaced, not merged: a field the newest entry lacks does not linger', async () => {
    const prefix = `lgt:${randomUUID().slice(0, 8)}`;
    const out = output({ keyPrefix: prefix });
    const r = await sinkRig([{ name: 'redis', plugin: out }]);
    rigs.push(r);
    await r.emit(scalarDrafts(3, 'chamber.o2'));
    await r.drained('redis');
    expect(await reader.hget(out.latestKey('chamber.o2'), 'build')).toBe('JOB-7');
    await r.emit(scalarDrafts(1, 'chamber.o2').map(({ build: _build, layer: _layer, ...d }) => d));
    await r.drained('redis');
    const latest = await reader.hgetall(out.latestKey('chamber.o2'));
    expect(latest.seq).toBe(String(r.routed('redis').at(-1)!.seq));
    expect(latest.build).toBeUndefined();
    expect(latest.layer).toBeUndefined();
  });

  it('an ACL user without write permission (NOPERM) is a failing sink, not a refusal of the records: kept in the buffer, logged at error; delivered once granted', async () => {
    const admin = new Redis(dedicated.url);
    const user = `lg-ro-${randomUUID().slice(0, 6)}`;
    await admin.call('ACL', 'SETUSER', user, 'on', '>ro-password', '~*', '+@read', '+ping', '+hello', '+client');
    const out = output({ keyPrefix: `lgt:${randomUUID().slice(0, 8)}`, username: user, password: 'ro-password' }, dedicated.url);
    const { log, lines } = recordingLog();
    const r = await sinkRig([{ name: 'redis', plugin: out, forwarder: { log, backoff: { initialMs: 50, maxMs: 200 } } }]);
    rigs.push(r);
    await r.emit(scalarDrafts(5, 'chamber.o2'));
    await expectSinkConfigFailing(r, 'redis', 5, 'not-authorized', lines);
    expect(r.forwarders.get('redis')!.stats().configFailure!.action).toContain('ACL SETUSER');
    expect(await admin.exists(out.streamKey('chamber.o2'))).toBe(0);
    // the permission the operator was told to grant: the same output delivers the backlog
    await admin.call('ACL', 'SETUSER', user, '+@all');
    await r.drained('redis');
    expect((await admin.xrange(out.streamKey('chamber.o2'), '-', '+')).length).toBe(5);
    expect(r.forwarders.get('redis')!.stats()).toMatchObject({ sentRecords: 5, quarantinedRecords: 0, configFailure: null });
    await admin.call('ACL', 'DELUSER', user);
    admin.disconnect();
  });

  it('a wrong password (WRONGPASS) is a failing sink: kept in the buffer, logged at error with what to fix; delivered with the right one', async () => {
    const admin = new Redis(dedicated.url);
    const user = `lg-rw-${randomUUID().slice(0, 6)}`;
    await admin.call('ACL', 'SETUSER', user, 'on', '>rw-password', '~*', '+@all');
    const prefix = `lgt:${randomUUID().slice(0, 8)}`;
    const wrong = output({ keyPrefix: prefix, username: user, password: 'not-the-password' }, dedicated.url);
    const { log, lines } = recordingLog();
    const r = await sinkRig([{ name: 'redis', plugin: wrong, forwarder: { log, backoff: { initialMs: 50, maxMs: 200 } } }]);
    rigs.push(r);
    await r.emit(scalarDrafts(4, 'chamber.o2'));
    await expectSinkConfigFailing(r, 'redis', 4, 'not-authorized', lines);
    expect(r.forwarders.get('redis')!.stats().configFailure!.action).toContain('password');
    const right = output({ keyPrefix: prefix, username: user, password: 'rw-password' }, dedicated.url);
    await r.replaceOutput('redis', right);
    await r.drained('redis');
    expect((await admin.xrange(right.streamKey('chamber.o2'), '-', '+')).length).toBe(4);
    expect(r.forwarders.get('redis')!.stats()).toMatchObject({ sentRecords: 4, quarantinedRecords: 0 });
    await admin.call('ACL', 'DELUSER', user);
    admin.disconnect();
  });

  it('TLS (dedicated Redis with a TLS-only port): rediss:// with the CA delivers and reads back', async () => {
    const certDir = path.join(dedicated.dir, 'tls');
    mkdirSync(certDir, { recursive: true });
    const pem = await selfSignedCert(certDir);
    const tlsRedis = new DedicatedRedis(pem);
    try {
      await tlsRedis.start();
      expect(tlsRedis.url.startsWith('rediss://')).toBe(true);
      const out = output({ keyPrefix: 'lgt-tls', tls: { ca: pem.ca } }, tlsRedis.url);
      const r = await sinkRig([{ name: 'redis', plugin: out }]);
      rigs.push(r);
      await r.emit(scalarDrafts(5, 'chamber.o2'));
      await r.drained('redis');
      const client = new Redis(tlsRedis.url, { tls: { ca: readFileSync(pem.ca) } });
      const got = await entries(client, out.streamKey('chamber.o2'));
      client.disconnect();
      expect(got.map((e) => Number(e.seq!.toString()))).toEqual(r.routed('redis').map((x) => x.seq));
      // a plain-text client gets nothing from the TLS port
      const plain = new Redis(tlsRedis.url.replace('rediss://', 'redis://'), {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
        connectTimeout: 1000,
        commandTimeout: 1000,
      });
      plain.on('error', () => undefined);
      await expect(plain.connect().then(() => plain.ping())).rejects.toThrow();
      plain.disconnect();
    } finally {
      await tlsRedis.dispose();
    }
  }, 60_000);

  it('Redis killed and restarted (dedicated, AOF fsync always): the backlog drains, nothing acknowledged is lost, the other sink never paused', async () => {
    const prefix = `lgt:${randomUUID().slice(0, 8)}`;
    const out = output({ keyPrefix: prefix, commandTimeout: '2s', connectTimeout: '1s' }, dedicated.url);
    const r = await sinkRig([
      { name: 'redis', plugin: out, forwarder: { backoff: { initialMs: 100, maxMs: 500 } } },
      {
        name: 'lake',
        plugin: fileLake.create(fileLake.configSchema.parse({ path: path.join(dedicated.dir, `lake-${prefix.slice(4)}`) }), {
          dataDir: dedicated.dir,
          machine: 'pbf-sim',
        }),
        forwarder: { linger: 0 },
      },
    ]);
    rigs.push(r);
    let n = 0;
    await sinkOutage({
      label: 'redis restart',
      r,
      sink: 'redis',
      other: 'lake',
      server: 'Redis',
      downHow: 'SIGKILL',
      duplicatesIn: 'in the streams',
      burst: () => [...scalarDrafts(10, 'chamber.o2'), samplesDraft('meltpool.a', n++ * 100, 100)],
      pauseMs: 50,
      deliveringBefore: 200,
      deliveringTimeoutMs: 30_000,
      downMs: 3000,
      otherDeliveredAbove: 300,
      otherLagBelow: 200,
      sinkLagAbove: 300,
      stopServer: () => dedicated.stop({ kill: true }),
      startServer: () => dedicated.start(),
      drainTimeoutMs: 60_000,
      readBack: async () => {
        const client = new Redis(dedicated.url);
        const got = [...(await entries(client, out.streamKey('chamber.o2'))), ...(await entries(client, out.streamKey('meltpool.a')))];
        client.disconnect();
        return got.map((e) => Number(e.seq!.toString()));
      },
    });
  }, 120_000);
});
