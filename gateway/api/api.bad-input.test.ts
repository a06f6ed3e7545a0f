/**
 * Bad requests are refused with a clear status and change nothing: oversized bodies, wrong content
 * types, prototype-poisoning keys, unknown fields, wrong types.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HANDSHAKE_TIMEOUT_MS, HEADERS_TIMEOUT_MS } from './server.js';
import { type ApiRig, startApiRig } from './test-support/api-rig.js';

let rig: ApiRig;
let admin: string;
beforeAll(async () => {
  rig = await startApiRig();
  admin = rig.tokenFor('admin');
});
afterAll(async () => {
  await rig?.stop();
});

describe('bad input', () => {
  it('each is refused with its status and a message naming the problem; no user is created by any of them', async () => {
    const good = { name: 'bob', role: 'viewer', password: 'a-long-password' };
    const cases: [string, Parameters<ApiRig['request']>[2], number, RegExp][] = [
      ['2 MiB body', { raw: { contentType: 'application/json', data: JSON.stringify({ ...good, pad: 'x'.repeat(2 << 20) }) } }, 413, /too large/i],
      ['text/plain', { raw: { contentType: 'text/plain', data: JSON.stringify(good) } }, 415, /application\/json, not text\/plain/],
      [
        '__proto__ key',
        { raw: { contentType: 'application/json', data: `{"__proto__":{"role":"admin"},"name":"bob","role":"viewer","password":"a-long-password"}` } },
        400,
        /forbidden prototype property/,
      ],
      [
        'constructor.prototype',
        { raw: { contentType: 'application/json', data: `{"constructor":{"prototype":{"x":1}},"name":"bob","role":"viewer","password":"a-long-password"}` } },
        400,
        /forbidden prototype property/,
      ],
      ['unknown field', { body: { ...good, isAdmin: true } }, 400, /isAdmin/],
      ['wrong type', { body: { ...good, role: 7 } }, 400, /role/],
      ['not a role', { body: { ...good, role: 'root' } }, 400, /role/],
      ['malformed JSON', { raw: { contentType: 'application/json', data: '{"name": "bob",' } }, 400, /json/i],
    ];
    for (const [what, opts, status, message] of cases) {
      const r = await rig.request('POST', '/api/v1/users', { token: admin, ...opts });
      expect(r.status, what).toBe(status);
      expect(r.json<{ message: string }>().message, what).toMatch(message);
    }
    expect(rig.api.identity.users()).toEqual([]);
    expect(({} as Record<string, unknown>).role).toBeUndefined();
  });

  it('a half-open client (no TLS handshake) is cut within the handshake timeout, and the server keeps answering others', async () => {
    const net = await import('node:net');
    const { port } = new URL(rig.api.url);
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    // a TLS handshake never started: the connection is closed by the server, not held for ever
    const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now())));
    const t0 = Date.now();
    expect((await rig.request('GET', '/healthz')).status).toBe(200);
    const at = await closed;
    expect(at - t0).toBeLessThan(HANDSHAKE_TIMEOUT_MS + 5_000);
  }, 30_000);

  it('a client that sends its headers byte by byte is cut by the header timeout', async () => {
    const tls = await import('node:tls');
    const { port } = new URL(rig.api.url);
    const socket = tls.connect({ port: Number(port), host: '127.0.0.1', ca: rig.api.tls!.cert });
    // the server's close may meet a byte in flight
    socket.on('error', () => undefined);
    await new Promise((r) => socket.once('secureConnect', r));
    const t0 = Date.now();
    const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now())));
    const request = `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(200)}`;
    let i = 0;
    const drip = setInterval(() => {
      if (!socket.destroyed && i < request.length) socket.write(request[i++]!);
    }, 200);
    const at = await closed;
    clearInterval(drip);
    expect(at - t0).toBeLessThan(HEADERS_TIMEOUT_MS + 5_000);
    expect(i).toBeLessThan(request.length);
  }, 30_000);
});
