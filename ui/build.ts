/**
 * Builds the web UI into dist/ui (`npm run build:ui`; `npm run build` runs it after tsc):
 * ui/src/main.tsx and its stylesheets bundled by esbuild into content-hashed app-<hash>.js and
 * app-<hash>.css (minified, with linked source maps), and index.html referencing them. Prints each
 * file's size, raw and gzipped.
 *
 * Constraints:
 * - Everything the page loads comes from this build, served by the gateway (gateway/api/routes/ui.ts):
 *   no CDN, no font or script from elsewhere; index.html has no inline script or style (the CSP
 *   forbids them).
 * - Built beside dist/ui and swapped in by two renames: a gateway that serves dist/ui meanwhile
 *   never finds it missing or half written, and no stale bundle stays beside the new one.
 * - The bundle holds ui/src and browser packages only: a module of the gateway, a plugin, the
 *   simulator or wire/ pulled in fails the build (checked here on esbuild's own list of inputs:
 *   dependency-cruiser's parser cannot read .tsx, so lint:imports does not cover ui/).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, gzipSync, constants as zlibConstants } from 'node:zlib';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const target = path.join(here, '..', 'dist', 'ui');
const outdir = `${target}.building-${process.pid}`;
const previous = `${target}.previous-${process.pid}`;

rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });

const result = await build({
  absWorkingDir: path.join(here, '..'),
  entryPoints: { app: path.join(here, 'src', 'main.tsx') },
  outdir,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  // Debian's Chromium and any browser of the last years on a panel PC or a phone
  target: ['chrome110', 'firefox115', 'safari16'],
  minify: true,
  sourcemap: 'linked',
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  tsconfig: path.join(here, 'tsconfig.json'),
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
});

const strays = Object.keys(result.metafile.inputs).filter((f) => !f.startsWith('ui/src/') && !f.startsWith('node_modules/'));
if (strays.length > 0) {
  throw new Error(`ui build: the browser bundle must not import the gateway's code (use the API); it pulled in ${strays.join(', ')}`);
}

const outputs = Object.entries(result.metafile.outputs);
const name = (suffix: string): string => {
  const found = outputs.find(([file, out]) => out.entryPoint !== undefined && file.endsWith(suffix));
  if (!found) throw new Error(`ui build: no ${suffix} output for the entry point`);
  return path.basename(found[0]);
};
const js = name('.js');
const css = outputs.map(([file]) => path.basename(file)).find((f) => /^app-.*\.css$/.test(f));
if (!css) throw new Error('ui build: no app-<hash>.css output');

const html = readFileSync(path.join(here, 'src', 'index.html'), 'utf8')
  .replace('%APP_JS%', js)
  .replace('%APP_CSS%', css);
writeFileSync(path.join(outdir, 'index.html'), html);

// precompressed beside each file (brotli and gzip at their best levels, once per build): the gateway
// sends the one the browser accepts (gateway/api/routes/ui.ts, @fastify/static preCompressed)
for (const f of [js, css, 'index.html']) {
  const data = readFileSync(path.join(outdir, f));
  writeFileSync(path.join(outdir, `${f}.br`), brotliCompressSync(data, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 11 } }));
  writeFileSync(path.join(outdir, `${f}.gz`), gzipSync(data, { level: 9 }));
}

// the swap: the old folder aside, the new one in its place, the old one gone
if (existsSync(target)) renameSync(target, previous);
renameSync(outdir, target);
rmSync(previous, { recursive: true, force: true });

const rows = [js, css, 'index.html'].map((f) => {
  const data = readFileSync(path.join(target, f));
  return { file: f, raw: statSync(path.join(target, f)).size, gzip: gzipSync(data, { level: 9 }).length, br: statSync(path.join(target, `${f}.br`)).size };
});
const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;
for (const r of rows) console.log(`ui: ${r.file.padEnd(28)} ${kib(r.raw).padStart(10)} raw ${kib(r.gzip).padStart(10)} gzip ${kib(r.br).padStart(10)} br`);
const total = rows.reduce((t, r) => ({ raw: t.raw + r.raw, gzip: t.gzip + r.gzip, br: t.br + r.br }), { raw: 0, gzip: 0, br: 0 });
console.log(
  `ui: ${'total'.padEnd(28)} ${kib(total.raw).padStart(10)} raw ${kib(total.gzip).padStart(10)} gzip ${kib(total.br).padStart(10)} br -> ${path.relative(process.cwd(), target)}`,
);
