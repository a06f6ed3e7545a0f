/**
 * First start: HTTPS with a generated certificate whose fingerprint `layergate api info` reports,
 * no default password, the first admin made with the one-time setup token (0600 file), and plain
 * HTTP refused off loopback.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../audit/audit-log.js';
import { loadConfig } from '../config/load.js';
import { readEndpoint } from './endpoint.js';
import { ControlPlane, apiDir } from './server.js';
import { certificateFingerprint } from './tls.js';
import { type ApiRig, startApiRig } from './test-support/api-rig.js';

let rig: ApiRig;
beforeAll(async () => {
  rig = await startApiRig();
});
afterAll(async () => {
  await rig?.stop();
});

describe('first start', () => {
  it('serves HTTPS with a generated certificate; the fingerprint on file, in endpoint.json and in the handshake agree', async () => {
    const dir = apiDir(path.join(rig.dir, 'data'));
    const onFile = certificateFingerprint(path.join(dir, 'tls', 'cert.pem'))!;
    expect(onFile.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(rig.api.tls!.fingerprint).toBe(onFile.fingerprint);
    expect(readEndpoint(dir)).toMatchObject({ url: rig.api.url, fingerprint: onFile.fingerprint, pid: process.pid });
    expect(statSync(path.join(dir, 'tls', 'key.pem')).mode & 0o077).toBe(0);
    expect(rig.api.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    // the client trusts only that certificate (the rig's agent): a request that succeeds proves the handshake
    expect((await rig.request('GET', '/healthz')).json()).toEqual({ status: 'ok' });
  });

  it('no admin and no default password: the setup token (0600) makes the first admin once, then is void', async () => {
    const dir = apiDir(path.join(rig.dir, 'data'));
    expect((await rig.request('GET', '/api/v1/setup')).json()).toEqual({ needed: true });
    const file = path.join(dir, 'setup-token');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const token = (await import('node:fs')).readFileSync(file, 'utf8').trim();
    // nothing to guess: no user exists, so no login works
    expect((await rig.request('POST', '/api/v1/login', { body: { user: 'admin', password: 'admin' } })).status).toBe(401);
    const wrong = await rig.request('POST', '/api/v1/setup', { body: { setupToken: 'x'.repeat(token.length), user: 'ada', password: 'a-long-password' } });
    expect(wrong.status).toBe(403);
    const weak = await rig.request('POST', '/api/v1/setup', { body: { setupToken: token, user: 'ada', password: 'short' } });
    expect(weak.status).toBe(400);
    const made = await rig.request('POST', '/api/v1/setup', { body: { setupToken: token, user: 'ada', password: 'a-long-password' } });
    expect(made.status).toBe(201);
    expect(() => statSync(file)).toThrow();
    const again = await rig.request('POST', '/api/v1/setup', { body: { setupToken: token, user: 'mallory', password: 'a-long-password' } });
    expect(again.status).toBe(403);
    expect(rig.api.identity.users().map((u) => [u.name, u.role])).toEqual([['ada', 'admin']]);
    expect((await rig.request('POST', '/api/v1/login', { body: { user: 'ada', password: 'a-long-password' } })).status).toBe(200);
    expect(rig.audit.entries().map((e) => e.type)).toEqual(expect.arrayContaining(['setup-refused', 'user-added', 'login']));
  });

  it('plain HTTP on a network address is refused unless forced; on loopback it serves', async () => {
    const loaded = loadConfig({
      text: `gateway: { dataDir: ${rig.dir}/plain }\napi: { host: 0.0.0.0, port: 0, grpc: { port: 0 }, tls: { enabled: false } }\n`,
      env: {},
    });
    const opts = {
      config: loaded.config.api,
      dataDir: loaded.config.gateway.dataDir,
      log: pino({ level: 'silent' }),
      audit: new AuditLog(path.join(rig.dir, 'plain-audit.jsonl')),
      source: {
        ...rig.api,
        machine: 'm',
        startedAtMs: 0,
        machineContext: () => ({}),
        inputs: () => ({}),
        buffer: () => rig.gateway.buffer.stats(),
        outputs: () => [],
        ready: () => true,
      },
      metrics: async () => ({ contentType: 'text/plain', text: '' }),
    };
    await expect(ControlPlane.start(opts)).rejects.toMatchObject({ code: 'LG_API_TLS' });
    const loopback = await ControlPlane.start({ ...opts, config: { ...opts.config, host: '127.0.0.1' } });
    try {
      expect(loopback.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const r = await fetch(`${loopback.url}/healthz`);
      expect(await r.json()).toEqual({ status: 'ok' });
    } finally {
      await loopback.close();
    }
  });
});
