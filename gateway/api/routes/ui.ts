/**
 * The web UI's static files (built by `npm run build` into dist/ui by ui/build.ts): `/` redirects to
 * `/ui/`, `/ui/` is its index.html, `/ui/<file>` its assets.
 *
 * Constraints:
 * - Public (no credential): the shell and its assets carry no data; everything the UI shows it reads
 *   from the API's data routes, each of which demands its role (../auth.ts). Only files inside dist/ui
 *   are served (@fastify/static's send: no `..`, no dotfiles, no directory listing).
 * - A strict Content-Security-Policy on every UI answer: scripts, styles and connections from this
 *   origin only, no inline script or style; images also as blob:/data: (frame thumbnails).
 * - Compression: the build's brotli or gzip copy of each file when the browser accepts one.
 * - Cache: content-hashed names (`app-<hash>.js`) are immutable for a year; index.html and anything
 *   unhashed are revalidated every time, so a new build is picked up at the next load.
 * - dist/ui is found from this module's place (the package root holds package.json), so the same
 *   code serves it when the gateway runs from source (tsx) or from dist/; checked per request, so a
 *   build made while the gateway runs is served without a restart. Missing: a 503 page that says
 *   how to build it.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

export const UI_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** app-<hash>.js, app-<hash>.css and their source maps, as ui/build.ts names them */
const HASHED = /-[A-Z0-9]{8,}\.(js|css|map|js\.map|css\.map)$/i;
const YEAR_S = 365 * 24 * 3600;

/** The package root: the nearest folder above this module with a package.json (the checkout, or /opt/layergate). */
function packageRoot(from: string): string {
  let dir = from;
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return from;
    dir = up;
  }
}

export function defaultUiDir(): string {
  return path.join(packageRoot(path.dirname(fileURLToPath(import.meta.url))), 'dist', 'ui');
}

const MISSING_PAGE = (dir: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>LayerGate: web UI not built</title></head>
<body><h1>The web UI is not built</h1>
<p>The gateway runs and its API answers, but the UI's files are missing from <code>${dir.replace(/[<>&]/g, '')}</code>.</p>
<p>Run <code>npm run build</code> (or <code>npm install</code>, which builds) in the gateway's folder, then reload this page.</p>
</body></html>
`;

function uiHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', UI_CSP)
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('cross-origin-opener-policy', 'same-origin');
}

export async function uiRoutes(app: FastifyInstance, opts: { uiDir?: string | undefined } = {}): Promise<void> {
  const root = opts.uiDir ?? defaultUiDir();
  // serve: false: no wildcard route of the plugin's own (it could not declare its access); only reply.sendFile
  // preCompressed: the build writes <file>.br and <file>.gz; the one the browser accepts is sent (a
  // third of the bytes), the plain file otherwise
  await app.register(fastifyStatic, { root, serve: false, dotfiles: 'deny', index: false, suppressWarning: true, preCompressed: true });

  app.get('/', { config: { access: 'public' }, schema: { hide: true } }, async (_req, reply) => reply.redirect('/ui/', 302));

  const serve = async (file: string, reply: FastifyReply): Promise<FastifyReply> => {
    uiHeaders(reply);
    if (!existsSync(path.join(root, 'index.html'))) {
      return reply.code(503).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(MISSING_PAGE(root));
    }
    if (file === '' || file === 'index.html') return reply.header('cache-control', 'no-cache').sendFile('index.html', { cacheControl: false });
    if (HASHED.test(file)) return reply.sendFile(file, { maxAge: YEAR_S * 1000, immutable: true });
    return reply.header('cache-control', 'no-cache').sendFile(file, { cacheControl: false });
  };
  // `/ui` and `/ui/` (the router treats a trailing slash as none): the page itself
  app.get('/ui', { config: { access: 'public' }, schema: { hide: true } }, async (_req, reply) => serve('', reply));
  app.get<{ Params: { '*': string } }>('/ui/*', { config: { access: 'public' }, schema: { hide: true } }, async (req, reply) => serve(req.params['*'], reply));
}
