/**
 * The web UI's static routes (routes/ui.ts) on a bare fastify with the same access declaration
 * check as the API: public, a strict CSP, index.html revalidated and hashed assets immutable, only
 * files inside the UI folder, and a 503 page saying how to build when the folder is missing.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertDeclaresAccess } from './auth.js';
import { UI_CSP, defaultUiDir, uiRoutes } from './routes/ui.js';

let dir: string;
const JS = `console.log(${JSON.stringify('x'.repeat(2000))})`;
const apps: FastifyInstance[] = [];

async function appWith(uiDir: string): Promise<FastifyInstance> {
  const app = Fastify({ routerOptions: { ignoreTrailingSlash: true } });
  const access: string[] = [];
  app.addHook('onRoute', (route) => {
    assertDeclaresAccess(route);
    access.push(`${String(route.method)} ${route.url} ${route.config?.access}`);
  });
  await uiRoutes(app, { uiDir });
  await app.ready();
  expect(access.every((a) => a.endsWith(' public'))).toBe(true);
  apps.push(app);
  return app;
}

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'lg-ui-routes-'));
  mkdirSync(path.join(dir, 'ui'));
  writeFileSync(path.join(dir, 'ui', 'index.html'), '<!doctype html><title>t</title><script type="module" src="/ui/app-ABCDEFGH.js"></script>');
  writeFileSync(path.join(dir, 'ui', 'app-ABCDEFGH.js'), JS);
  // as ui/build.ts writes them beside each file
  writeFileSync(path.join(dir, 'ui', 'app-ABCDEFGH.js.br'), brotliCompressSync(JS));
  writeFileSync(path.join(dir, 'ui', 'app-ABCDEFGH.js.gz'), gzipSync(JS));
  writeFileSync(path.join(dir, 'ui', '.secret'), 'no');
  writeFileSync(path.join(dir, 'outside.txt'), 'no');
});
afterAll(async () => {
  for (const a of apps) await a.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('web UI static routes', () => {
  it('/ redirects to /ui/; /ui/ is index.html with the CSP, revalidated every time', async () => {
    const app = await appWith(path.join(dir, 'ui'));
    const root = await app.inject('/');
    expect(root.statusCode).toBe(302);
    expect(root.headers.location).toBe('/ui/');
    for (const url of ['/ui/', '/ui', '/ui/index.html']) {
      const r = await app.inject(url);
      expect(r.statusCode, url).toBe(200);
      expect(r.headers['content-type']).toMatch(/^text\/html/);
      expect(r.headers['cache-control']).toBe('no-cache');
      expect(r.headers['content-security-policy']).toBe(UI_CSP);
      expect(r.body).toContain('app-ABCDEFGH.js');
    }
    expect(UI_CSP).toContain("default-src 'self'");
    expect(UI_CSP).toContain("script-src 'self'");
    expect(UI_CSP).not.toContain('unsafe-inline');
  });

  it('hashed assets are immutable for a year; nothing outside the folder, no dotfiles', async () => {
    const app = await appWith(path.join(dir, 'ui'));
    const js = await app.inject('/ui/app-ABCDEFGH.js');
    expect(js.statusCode).toBe(200);
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect((await app.inject('/ui/../outside.txt')).statusCode).not.toBe(200);
    expect((await app.inject('/ui/%2e%2e/outside.txt')).statusCode).not.toBe(200);
    expect((await app.inject('/ui/.secret')).statusCode).not.toBe(200);
    expect((await app.inject('/ui/missing.js')).statusCode).toBe(404);
  });

  it("sends the build's brotli or gzip copy the browser accepts, the plain file otherwise, each the same bytes unpacked", async () => {
    const app = await appWith(path.join(dir, 'ui'));
    const br = await app.inject({ url: '/ui/app-ABCDEFGH.js', headers: { 'accept-encoding': 'gzip, deflate, br' } });
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers['content-type']).toMatch(/javascript/);
    expect(br.rawPayload.length).toBeLessThan(JS.length / 4);
    expect(brotliDecompressSync(br.rawPayload).toString()).toBe(JS);
    const gz = await app.inject({ url: '/ui/app-ABCDEFGH.js', headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.rawPayload).toString()).toBe(JS);
    const plain = await app.inject({ url: '/ui/app-ABCDEFGH.js', headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body).toBe(JS);
    // index.html has no compressed copy here: sent plain even to a browser that accepts br
    const html = await app.inject({ url: '/ui/', headers: { 'accept-encoding': 'br' } });
    expect(html.statusCode).toBe(200);
    expect(html.body).toContain('app-ABCDEFGH.js');
  });

  it('a missing build answers 503 with a page that says to run npm run build', async () => {
    const app = await appWith(path.join(dir, 'not-built'));
    const r = await app.inject('/ui/');
    expect(r.statusCode).toBe(503);
    expect(r.headers['content-type']).toMatch(/^text\/html/);
    expect(r.body).toContain('npm run build');
  });

  it('the default folder is dist/ui of the package', () => {
    expect(defaultUiDir()).toBe(path.resolve(import.meta.dirname, '..', '..', 'dist', 'ui'));
  });
});
