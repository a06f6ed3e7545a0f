/**
 * The running buffer through the API, as `layergate buffer stats|losses` read it while the gateway
 * runs: its figures and input quarantine, the loss ledger, for a viewer and no one without a
 * credential; and the local token the API writes for the CLI at each start.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/wait.js';
import { lossJson } from '../buffer/report.js';
import { CONTENT_TYPES } from '../plugin-api/record.js';
import { InputQuarantine } from '../quarantine/inputs.js';
import { gatewayMetrics, statusSourceOf } from './gateway-view.js';
import { LOCAL_TOKEN_LABEL, localTokenPath, readLocalToken } from './local-credential.js';
import { apiDir, ControlPlane } from './server.js';
import { type ApiRig, startApiRig } from './test-support/api-rig.js';

let rig: ApiRig;
let viewer: string;
let dataDir: string;
beforeAll(async () => {
  rig = await startApiRig();
  viewer = rig.tokenFor('viewer');
  dataDir = rig.gateway.config.gateway.dataDir;
});
afterAll(async () => {
  await rig?.stop();
});

interface BufferAnswer {
  path: string;
  records: number;
  newestSeq: number | null;
  oldestReceiveTimeNs: string | null;
  oldestReceiveTime: string | null;
  sinks: { sink: string; cursor: number }[];
  quarantine: { input: string; reason: string; items: number; bytes: number }[];
}

describe('GET /api/v1/buffer', () => {
  it("a viewer gets the running buffer's figures (ns as strings) and the input quarantine per reason", async () => {
    const q = new InputQuarantine(dataDir, 1 << 20);
    const counters = { quarantined: 0, quarantinedByReason: {}, quarantineKept: 0, quarantineNotKept: 0, quarantineNotKeptBytes: 0 };
    q.quarantine('health', pino({ level: 'silent' }), counters, 'test', new Error('malformed: not a health figure'), Buffer.from('garbage'), undefined);
    await q.flush();
    const first = await waitFor('records in the buffer', async () => {
      const a = (await rig.request('GET', '/api/v1/buffer', { token: viewer })).json<BufferAnswer>();
      return a.records > 0 ? a : undefined;
    });
    const direct = rig.gateway.buffer.stats();
    expect(first.path).toBe(direct.path);
    expect(first.path.startsWith(path.join(dataDir, 'buffer'))).toBe(true);
    expect(first.records).toBeLessThanOrEqual(direct.records);
    expect(first.oldestReceiveTimeNs).toMatch(/^\d{19}$/);
    expect(first.oldestReceiveTime).toBe(new Date(Number(BigInt(first.oldestReceiveTimeNs!) / 1_000_000n)).toISOString());
    expect(first.sinks.map((s) => s.sink)).toEqual(['lake']);
    expect(first.quarantine).toEqual([{ input: 'health', reason: 'malformed', items: 1, bytes: 7 }]);
    // the health input keeps adding: the next answer is the buffer now, not a copy
    const later = await waitFor('more records', async () => {
      const a = (await rig.request('GET', '/api/v1/buffer', { token: viewer })).json<BufferAnswer>();
      return a.newestSeq! > first.newestSeq! ? a : undefined;
    });
    expect(later.records).toBeGreaterThanOrEqual(first.records);
  });

  it('no credential: 401, nothing about the buffer', async () => {
    const r = await rig.request('GET', '/api/v1/buffer');
    expect(r.status).toBe(401);
    expect(r.json()).toEqual({ error: 'LG_API_UNAUTHENTICATED', message: expect.any(String) });
    expect(r.text).not.toContain(dataDir);
  });
});

describe('GET /api/v1/losses', () => {
  it('a viewer gets the loss ledger newest first, as the buffer has it', async () => {
    const lost = (signal: string) => ({
      source: 'opc',
      signal,
      kind: 'scalar' as const,
      class: 'internal' as const,
      contentType: CONTENT_TYPES.scalar,
      receiveTimeNs: BigInt(Date.now()) * 1_000_000n,
      body: Buffer.from('{"v":1}'),
      routes: ['lake'],
    });
    // records the buffer could not store (a full disk): accounted in the ledger with the next commit
    rig.gateway.buffer.noteUnstored([lost('chamber.o2')], 'disk-full');
    await waitFor('the first loss', () => rig.gateway.buffer.losses(10).length === 1);
    rig.gateway.buffer.noteUnstored([lost('laser.power'), lost('laser.power')], 'disk-full');
    await waitFor('the second loss', () => rig.gateway.buffer.losses(10).length === 2);
    const r = await rig.request('GET', '/api/v1/losses?limit=10', { token: viewer });
    expect(r.status).toBe(200);
    const ledger = r.json<{ signal: string; records: number; reason: string; atNs: string; at: string }[]>();
    expect(ledger.map((e) => [e.signal, e.records, e.reason])).toEqual([
      ['laser.power', 2, 'disk-full'],
      ['chamber.o2', 1, 'disk-full'],
    ]);
    expect(ledger).toEqual(JSON.parse(JSON.stringify(rig.gateway.buffer.losses(10).map(lossJson))));
    expect(ledger[0]!.atNs).toMatch(/^\d{19}$/);
    const one = (await rig.request('GET', '/api/v1/losses?limit=1', { token: viewer })).json<unknown[]>();
    expect(one).toEqual([ledger[0]]);
    // the default is 100
    expect((await rig.request('GET', '/api/v1/losses', { token: viewer })).json()).toEqual(ledger);
  });

  it('a bad limit is 400; no credential 401', async () => {
    for (const q of ['limit=0', 'limit=ten', 'limit=100001', 'limit=1&other=2']) {
      const r = await rig.request('GET', `/api/v1/losses?${q}`, { token: viewer });
      expect(r.status, q).toBe(400);
      expect(r.json()).toMatchObject({ error: 'LG_API_INVALID' });
    }
    expect((await rig.request('GET', '/api/v1/losses')).status).toBe(401);
  });

  it('both routes are in the OpenAPI document', async () => {
    const doc = (await rig.request('GET', '/api/v1/openapi.json', { token: viewer })).json<{ paths: Record<string, unknown> }>();
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/v1/buffer', '/api/v1/losses']));
  });
});

describe('the local token', () => {
  it('is written mode 0600 at start: a viewer token that reads the buffer and nothing an operator may', async () => {
    const file = localTokenPath(apiDir(dataDir));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const token = readLocalToken(apiDir(dataDir));
    expect((await rig.request('GET', '/api/v1/buffer', { token })).status).toBe(200);
    expect((await rig.request('GET', '/api/v1/me', { token })).json()).toMatchObject({ name: LOCAL_TOKEN_LABEL, kind: 'token', role: 'viewer' });
    expect((await rig.request('GET', '/api/v1/users', { token })).status).toBe(403);
  });

  it("a new start revokes the previous start's token and writes its own", async () => {
    const dir = apiDir(dataDir);
    const before = readLocalToken(dir);
    const registry = gatewayMetrics(rig.gateway);
    const second = await ControlPlane.start({
      config: rig.gateway.config.api,
      dataDir,
      log: pino({ level: 'silent' }),
      audit: rig.gateway.audit,
      source: statusSourceOf(rig.gateway, Date.now()),
      metrics: async () => ({ contentType: registry.contentType, text: await registry.metrics() }),
      buffer: () => rig.gateway.buffer,
    });
    try {
      const after = readLocalToken(dir);
      expect(after).not.toBe(before);
      expect(statSync(localTokenPath(dir)).mode & 0o777).toBe(0o600);
      expect((await rig.request('GET', '/api/v1/buffer', { token: before })).status).toBe(401);
      expect((await rig.request('GET', '/api/v1/buffer', { token: after })).status).toBe(200);
      const local = second.identity.tokens().filter((t) => t.label === LOCAL_TOKEN_LABEL);
      expect(local.map((t) => t.revokedAt === null)).toEqual([false, true]);
    } finally {
      await second.close();
    }
  });
});
