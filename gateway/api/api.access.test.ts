/**
 * Who may call what, walked from the server's own route table: 401 without credentials, 403 for
 * every role below a route's minimum, through at its minimum; CSRF on session-cookie changes;
 * login brute force locked out; a revoked token refused at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES, roleRank } from './identity/roles.js';
import { type ApiRig, startApiRig } from './test-support/api-rig.js';

let rig: ApiRig;

beforeAll(async () => {
  rig = await startApiRig(['  login: { maxFailures: 5, lockout: 1500ms, perAddressPerMinute: 1000 }'].join('\n'));
});
afterAll(async () => {
  await rig?.stop();
});

/** a concrete URL for a route pattern (its parameters filled with well-formed values) */
function concrete(url: string): string {
  return url.replace(':name', 'nobody').replace(':id', '0123456789ab').replace(':seq', '1');
}

async function login(user: string, password: string): Promise<{ cookie: string; csrf: string }> {
  const r = await rig.request('POST', '/api/v1/login', { body: { user, password } });
  expect(r.status).toBe(200);
  const setCookie = [r.headers['set-cookie']].flat()[0]!;
  expect(setCookie).toMatch(/HttpOnly/i);
  expect(setCookie).toMatch(/SameSite=Strict/i);
  expect(setCookie).toMatch(/Secure/i);
  return { cookie: setCookie.split(';')[0]!, csrf: r.json<{ csrfToken: string }>().csrfToken };
}

describe('access to every route', () => {
  it('the route table is what the server registered, and every route but the probes, login, setup and the UI shell needs a credential', () => {
    const routes = rig.api.app.apiRoutes;
    expect(routes.length).toBeGreaterThan(10);
    const open = routes.filter((r) => r.access === 'public').map((r) => `${r.method} ${r.url}`);
    expect(open.sort()).toEqual(
      [
        'GET /api/v1/setup',
        'GET /healthz',
        'GET /readyz',
        'HEAD /api/v1/setup',
        'HEAD /healthz',
        'HEAD /readyz',
        'POST /api/v1/login',
        'POST /api/v1/setup',
        // the web UI's static files (routes/ui.ts): no data, served to anyone so the login page can load
        'GET /',
        'HEAD /',
        'GET /ui',
        'HEAD /ui',
        'GET /ui/*',
        'HEAD /ui/*',
      ].sort(),
    );
    // nothing under /api or /metrics is public but login and setup
    expect(open.filter((r) => / \/(api|metrics)/.test(r) && !r.includes('/api/v1/login') && !r.includes('/api/v1/setup'))).toEqual([]);
  });

  it('401 without credentials and with a forged token; 403 for every role below the minimum; not refused at the minimum', async () => {
    const tokens = Object.fromEntries(ROLES.map((r) => [r, rig.tokenFor(r)]));
    const checked: string[] = [];
    for (const route of rig.api.app.apiRoutes) {
      if (route.access === 'public') continue;
      const url = concrete(route.url);
      const none = await rig.request(route.method, url);
      expect(none.status, `${route.method} ${route.url} without a credential`).toBe(401);
      if (route.method !== 'HEAD') expect(none.json()).toMatchObject({ error: 'LG_API_UNAUTHENTICATED' });
      const forged = await rig.request(route.method, url, { token: `lg_0123456789ab_${'A'.repeat(43)}` });
      expect(forged.status, `${route.method} ${route.url} with a forged token`).toBe(401);
      const needed = route.access === 'metrics' ? 'viewer' : route.access;
      for (const role of ROLES) {
        if (route.url.endsWith('/stream')) continue; // an event stream that is let in never ends; its refusals are checked above and below
        const r = await rig.request(route.method, url, { token: tokens[role]! });
        if (roleRank(role) < roleRank(needed)) {
          expect(r.status, `${route.method} ${route.url} as ${role}`).toBe(403);
          if (route.method !== 'HEAD') expect(r.json()).toMatchObject({ error: 'LG_API_FORBIDDEN' });
        } else {
          expect([401, 403], `${route.method} ${route.url} as ${role}: ${r.text}`).not.toContain(r.status);
        }
      }
      checked.push(`${route.method} ${route.url}`);
    }
    expect(checked).toContain('GET /api/v1/status');
    expect(checked).toContain('POST /api/v1/users');
    expect(checked).toContain('GET /metrics');
  });

  it("the plugins' actions are routes of the table, each with its action's role (walked with the others above)", () => {
    const actions = rig.api.app.apiRoutes.filter((r) => r.url.startsWith('/api/v1/plugins/')).map((r) => `${r.method} ${r.url} ${r.access}`);
    expect(actions).toEqual(
      expect.arrayContaining([
        'GET /api/v1/plugins/cloud/:instance/actions/sync-status viewer',
        'POST /api/v1/plugins/cloud/:instance/actions/sync-pause operator',
        'POST /api/v1/plugins/cloud/:instance/actions/sync-resume operator',
        'GET /api/v1/plugins/opcua/:instance/actions/pki-list viewer',
        'POST /api/v1/plugins/opcua/:instance/actions/pki-trust operator',
        'POST /api/v1/plugins/opcua/:instance/actions/pki-reject operator',
      ]),
    );
  });

  it('a session cookie needs the CSRF token for a change; without it nothing changes', async () => {
    await rig.api.identity.addUser('csrf-admin', 'admin', 'a-long-password-1');
    const s = await login('csrf-admin', 'a-long-password-1');
    const body = { name: 'eve', role: 'admin', password: 'another-long-pass' };
    const refused = await rig.request('POST', '/api/v1/users', { cookie: s.cookie, body });
    expect(refused.status).toBe(403);
    expect(refused.json()).toMatchObject({ error: 'LG_API_CSRF' });
    const wrong = await rig.request('POST', '/api/v1/users', { cookie: s.cookie, csrf: 'x'.repeat(43), body });
    expect(wrong.status).toBe(403);
    expect(rig.api.identity.user('eve')).toBeUndefined();
    // a read needs none; the change with the token goes through
    expect((await rig.request('GET', '/api/v1/users', { cookie: s.cookie })).status).toBe(200);
    expect((await rig.request('POST', '/api/v1/users', { cookie: s.cookie, csrf: s.csrf, body })).status).toBe(201);
    expect(rig.api.identity.user('eve')?.role).toBe('admin');
    // logout ends the session at once
    expect((await rig.request('POST', '/api/v1/logout', { cookie: s.cookie, csrf: s.csrf })).status).toBe(204);
    expect((await rig.request('GET', '/api/v1/users', { cookie: s.cookie })).status).toBe(401);
  });

  it('a login brute force is locked out (even the right password), audited, and let in again after the lockout', async () => {
    await rig.api.identity.addUser('operator1', 'operator', 'the-right-password');
    for (let i = 0; i < 4; i++) expect((await rig.request('POST', '/api/v1/login', { body: { user: 'operator1', password: `guess-${i}` } })).status).toBe(401);
    const fifth = await rig.request('POST', '/api/v1/login', { body: { user: 'operator1', password: 'guess-4' } });
    expect(fifth.status).toBe(429);
    expect(fifth.json()).toMatchObject({ error: 'LG_API_LOCKED_OUT' });
    const right = await rig.request('POST', '/api/v1/login', { body: { user: 'operator1', password: 'the-right-password' } });
    expect(right.status).toBe(429);
    expect(right.headers['retry-after']).toBeDefined();
    const entries = rig.audit.entries().filter((e) => e.data.user === 'operator1');
    expect(entries.filter((e) => e.type === 'login-failed')).toHaveLength(4);
    expect(entries.filter((e) => e.type === 'login-locked-out').length).toBeGreaterThanOrEqual(1);
    expect(JSON.stringify(entries)).not.toContain('guess-');
    await new Promise((r) => setTimeout(r, 1600));
    expect((await rig.request('POST', '/api/v1/login', { body: { user: 'operator1', password: 'the-right-password' } })).status).toBe(200);
  });

  it('a revoked token is refused from the next request on', async () => {
    const admin = rig.tokenFor('admin');
    const made = await rig.request('POST', '/api/v1/tokens', {
      token: admin,
      body: { label: 'grafana', role: 'viewer', maxClass: 'internal', expiresIn: '30d' },
    });
    expect(made.status).toBe(201);
    const { token, info } = made.json<{ token: string; info: { id: string; expiresAt: string } }>();
    expect(Date.parse(info.expiresAt) - Date.now()).toBeGreaterThan(29 * 24 * 3600_000);
    expect((await rig.request('GET', '/api/v1/status', { token })).status).toBe(200);
    // the secret is shown once: the list has no trace of it
    const list = await rig.request('GET', '/api/v1/tokens', { token: admin });
    // lg_<id>_<secret>: the secret (base64url, which may itself hold "_") is everything after the id
    const secret = /^lg_[^_]+_(.+)$/.exec(token)![1]!;
    expect(secret.length).toBeGreaterThan(16);
    expect(list.text).not.toContain(secret);
    expect((await rig.request('DELETE', `/api/v1/tokens/${info.id}`, { token: admin })).status).toBe(200);
    expect((await rig.request('GET', '/api/v1/status', { token })).status).toBe(401);
    expect(rig.audit.entries().map((e) => e.type)).toEqual(expect.arrayContaining(['token-created', 'token-revoked']));
  });
});
