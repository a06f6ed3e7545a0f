/**
 * `npm run bench:ui`: what the web UI costs, in three parts, each printed as a table:
 *   1 shipped   the JavaScript, CSS and HTML a cold, logged-in dashboard load downloads: the bytes the
 *               page got, the bytes the server sent (and its Content-Encoding), and gzip and brotli
 *               (zlib's default levels) of the same bodies, for what compression would give;
 *   2 first     navigation start -> the first dashboard numbers rendered (the machine's layer and an
 *               input's records), median and p95 over `--loads` loads, cold (a new browser context
 *               each, session cookie set) and warm (a new tab of a context that loaded it before);
 *               parts 1 and 2 run against the UI rig (ui/test-support/ui-rig.ts: the simulator and a
 *               gateway with its API in this process, the layer changing every second);
 *   3 ingest    the gateway's ingest with the dashboard closed and with 1 and 5 tabs open: W1 into the
 *               file lake as `npm run bench:api` runs it (../e2e/run-case.ts, the gateway and the load
 *               generators as child processes, the API on), one steady phase cut into alternating
 *               windows (ui/ingest.ts); ingested/s and delivered/s per case and open/closed.
 * Verdict: open/closed of ingested/s >= 0.95 for every tab count (delivered/s beside it); sizes and
 * times are reported, with no target of their own.
 *
 *   npm run bench:ui                            (about 3 minutes: 10 loads each, windows of 15 s x 2 rounds)
 *   npm run bench:ui -- --long                  (30 loads each, windows of 60 s x 3 rounds: about 14 min)
 *   npm run bench:ui -- --window 30s --rounds 3 --loads 20 --tabs 0,1,5
 * BENCH_UI_LONG=1 is --long. Other options: --settle, --status-interval, --opcua-server, --skip-pages,
 * --skip-ingest, --keep, --out. Part 3 needs the shared Mosquitto of `npm run services -- up`.
 * Writes results.json and report.md to bench-results/ui-<timestamp>/ (git-ignored).
 * Exits 0 when a target is missed (it reports), 1 when a part fails, 2 when Mosquitto is down.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import type { Browser } from 'playwright-core';
import { startUiRig, type UiRig } from '../../ui/test-support/ui-rig.js';
import { chromiumVersion } from '../support/browser.js';
import { markdown, text } from './e2e/report.js';
import type { Table } from './e2e/report.js';
import { serversDown } from './e2e/sinks.js';
import { OPCUA_SERVERS, describeWorkload } from './e2e/workloads.js';
import type { OpcuaServerName } from './e2e/workloads.js';
import { launchBrowser, logIn } from './ui/browser.js';
import { type IngestResult, runIngest, schedule } from './ui/ingest.js';
import { type Kind, type LoadTimes, measurePageLoads, type PageLoadResult } from './ui/page-load.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
/** open/closed of ingested/s */
const TARGET = 0.95;

function ms(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`expected a duration like 30s, 500ms, 1m, got ${v}`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}
const count = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a whole number >= 1, got ${v}`);
  return n;
};

const program = new Command('bench:ui')
  .option('--long', 'the longer run: 30 loads, windows of 60 s, 3 rounds (also BENCH_UI_LONG=1)')
  .option('--loads <n>', 'page loads per kind (cold, warm); default 10, 30 with --long', count)
  .option('--window <d>', 'each ingest window (0, 1 or 5 tabs); default 15s, 60s with --long', (v) => ms(v) / 1000)
  .option('--rounds <n>', 'rounds of the tab counts, each reversed; default 2, 3 with --long', count)
  .option('--settle <d>', "each window's first part left out (tabs opening or closing)", (v) => ms(v) / 1000, 3)
  .option('--tabs <list>', 'tab counts of the ingest windows; the first is the closed case', (v) => v.split(',').map((x) => Number(x)), [0, 1, 5])
  .option('--status-interval <d>', 'api.statusInterval of the ingest gateway (the rig keeps its default)', ms, 1000)
  .option('--drain <d>', 'longest wait for the lake after the load stops', (v) => ms(v) / 1000, 15)
  .option('--opcua-server <name>', `W1's OPC-UA load server: ${OPCUA_SERVERS.join(' or ')}`, 'milo')
  .option('--skip-pages', 'leave out parts 1 and 2')
  .option('--skip-ingest', 'leave out part 3')
  .option('--keep', "keep the ingest case's temp folder")
  .option('--out <dir>', 'results folder (default bench-results/ui-<timestamp>)');

interface Options {
  long?: boolean;
  loads?: number;
  window?: number;
  rounds?: number;
  settle: number;
  tabs: number[];
  statusInterval: number;
  drain: number;
  opcuaServer: OpcuaServerName;
  skipPages?: boolean;
  skipIngest?: boolean;
  keep?: boolean;
  out?: string;
}

const fmt = (x: number, d = 0): string => (Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '-');
const kb = (x: number): string => (Number.isFinite(x) ? `${fmt(x / 1024, 1)} KiB` : '-');
const msf = (x: number): string => (Number.isFinite(x) ? `${fmt(x, 0)} ms` : '-');

function quantile(xs: number[], q: number): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  // nearest rank
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

const started = Date.now();
const clock = (): string => {
  const s = Math.round((Date.now() - started) / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
};

function shippedTable(r: PageLoadResult): Table {
  const head = ['kind', 'files', 'bytes (decoded)', 'sent by the server (encoding)', 'gzip -6', 'brotli q11', 'largest file'];
  const kinds: Kind[] = ['HTML', 'JS', 'CSS'];
  const row = (label: string, files: typeof r.shipped): string[] => {
    const sum = (f: (s: (typeof files)[number]) => number) => files.reduce((n, s) => n + f(s), 0);
    const enc = [...new Set(files.map((s) => s.encoding))].join(', ') || '-';
    const largest = [...files].sort((a, b) => b.bytes - a.bytes)[0];
    return [
      label,
      fmt(files.length),
      kb(sum((s) => s.bytes)),
      `${kb(sum((s) => s.wireBytes))} (${enc})`,
      kb(sum((s) => s.gzip)),
      kb(sum((s) => s.brotli)),
      largest ? `${path.basename(new URL(largest.url).pathname) || '/'} ${kb(largest.bytes)}` : '-',
    ];
  };
  const main = r.shipped.filter((s) => s.kind !== 'other');
  const rows = kinds.map((k) =>
    row(
      k,
      main.filter((s) => s.kind === k),
    ),
  );
  rows.push(row('HTML + JS + CSS', main));
  const other = r.shipped.filter((s) => s.kind === 'other');
  const images = other.filter((s) => /thumbnail|\.(png|jpe?g|svg|webp)$/.test(new URL(s.url).pathname));
  const api = other.filter((s) => !images.includes(s));
  const otherRow = (label: string, files: typeof other): string[] => [
    label,
    fmt(files.length),
    '-',
    `${kb(files.reduce((n, s) => n + s.wireBytes, 0))} (as sent)`,
    '-',
    '-',
    '-',
  ];
  rows.push(otherRow('not counted: API answers (status stream open)', api));
  rows.push(otherRow('not counted: powder-bed thumbnails', images));
  return { head, rows };
}

function firstTable(r: PageLoadResult): Table {
  const head = [
    'load',
    'n',
    'first numbers p50 / p95 / max',
    'layer p50',
    'input records p50',
    'first byte p50',
    'DOMContentLoaded p50',
    'HTML+JS+CSS on the network p50',
    'HTML / JS / CSS: downloaded, 304, from cache (all loads)',
  ];
  const row = (label: string, xs: LoadTimes[]): string[] => {
    const q = (f: (l: LoadTimes) => number, p: number) => quantile(xs.map(f), p);
    const kinds = ['HTML', 'JS', 'CSS'] as const;
    const sum = (k: (typeof kinds)[number], f: (t: LoadTimes['transfer']['HTML']) => number) => xs.reduce((n, l) => n + f(l.transfer[k]), 0);
    return [
      label,
      fmt(xs.length),
      `${msf(q((l) => l.both, 0.5))} / ${msf(q((l) => l.both, 0.95))} / ${msf(q((l) => l.both, 1))}`,
      msf(q((l) => l.layer, 0.5)),
      msf(q((l) => l.records, 0.5)),
      msf(q((l) => l.responseStart, 0.5)),
      msf(q((l) => l.domContentLoaded, 0.5)),
      kb(q((l) => kinds.reduce((n, k) => n + l.transfer[k].bytes, 0), 0.5)),
      kinds.map((k) => `${sum(k, (t) => t.downloaded)}, ${sum(k, (t) => t.revalidated)}, ${sum(k, (t) => t.cached)}`).join(' / '),
    ];
  };
  return {
    head,
    rows: [row('cold (new context, cookie set)', r.cold), row('warm (new tab, same context)', r.warm)],
  };
}

function ingestTable(r: IngestResult): Table {
  const closed = r.cases[0];
  const head = [
    'dashboard tabs',
    'windows x s measured',
    'ingested/s',
    'window range',
    'delivered/s (ack to ack)',
    'gateway CPU (cores)',
    'browser CPU (cores)',
    'figure updates per tab/s',
    'open/closed ingested',
    'open/closed delivered',
  ];
  const rows = r.cases.map((c) => [
    c.tabs === 0 ? 'closed (no browser page)' : `${c.tabs} open`,
    `${c.windows} x ${fmt(c.seconds / Math.max(1, c.windows), 1)}`,
    fmt(c.ingestedPerS),
    `${fmt(c.ingestedRange[0])} - ${fmt(c.ingestedRange[1])}`,
    fmt(c.deliveredPerS),
    fmt(c.gatewayCpu, 2),
    fmt(c.browserCpu, 2),
    fmt(c.updatesPerTabS, 2),
    closed && c !== closed ? fmt(c.ingestedPerS / closed.ingestedPerS, 3) : '-',
    closed && c !== closed ? fmt(c.deliveredPerS / closed.deliveredPerS, 3) : '-',
  ]);
  return { head, rows };
}

function ingestVerdicts(r: IngestResult): string[] {
  const closed = r.cases[0];
  if (!closed) return ['FAIL  no closed case: no ratio'];
  return r.cases
    .filter((c) => c !== closed)
    .flatMap((c) =>
      (
        [
          ['ingested/s', (x: typeof c) => x.ingestedPerS],
          ['delivered/s', (x: typeof c) => x.deliveredPerS],
        ] as const
      ).map(([what, f]) => {
        const ratio = f(c) / f(closed);
        const pass = Number.isFinite(ratio) && ratio >= TARGET;
        return `${pass ? 'PASS' : 'FAIL'}  ${c.tabs} tab(s) open/closed ${what} >= ${TARGET}: ${fmt(ratio, 3)} (${fmt(f(c))} vs ${fmt(f(closed))})`;
      }),
    );
}

async function main(): Promise<void> {
  const o = program.parse().opts<Options>();
  const long = o.long === true || process.env.BENCH_UI_LONG === '1';
  const loads = o.loads ?? (long ? 30 : 10);
  const windowS = o.window ?? (long ? 60 : 15);
  const rounds = o.rounds ?? (long ? 3 : 2);
  if (!(OPCUA_SERVERS as readonly string[]).includes(o.opcuaServer)) throw new InvalidArgumentError(`unknown OPC-UA server ${o.opcuaServer}`);
  if (o.tabs.some((n) => !Number.isInteger(n) || n < 0) || o.tabs.length < 2)
    throw new InvalidArgumentError('--tabs: a list of at least two whole numbers, the first the closed case');
  if (o.settle >= windowS) throw new InvalidArgumentError(`--settle (${o.settle} s) must be shorter than --window (${windowS} s)`);
  if (!o.skipIngest) {
    const down = await serversDown(['lake'], true);
    if (down.length > 0) {
      console.error(
        `bench:ui part 3 needs the shared Mosquitto (W1's MQTT scalars), and it does not answer: ${down.join(', ')}.\nStart it with \`npm run services -- up\` (or --skip-ingest).`,
      );
      process.exit(2);
    }
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const out = o.out ?? path.join(repo, 'bench-results', `ui-${stamp}`);
  mkdirSync(out, { recursive: true });
  const abort = new AbortController();
  process.on('SIGINT', () => {
    if (abort.signal.aborted) process.exit(130);
    console.log('\ninterrupted: stopping and cleaning up (Ctrl-C again to leave at once)');
    abort.abort();
  });
  const plan = schedule(o.tabs, rounds);
  console.log(
    `bench:ui: ${os.cpus().length} CPUs, load average ${os.loadavg()[0]!.toFixed(1)}; ${await chromiumVersion()}; results in ${path.relative(process.cwd(), out)}` +
      `\n  parts 1-2: ${loads} cold and ${loads} warm dashboard loads against the UI rig` +
      `\n  part 3: ${describeWorkload('W1', 1)} into the lake; tabs ${plan.join(' ')}, ${windowS} s windows (first ${o.settle} s left out); api.statusInterval ${o.statusInterval} ms`,
  );

  const failures: string[] = [];
  let pages: PageLoadResult | undefined;
  let ingest: IngestResult | undefined;

  if (!o.skipPages && !abort.signal.aborted) {
    let rig: UiRig | undefined;
    let browser: Browser | undefined;
    try {
      console.log(`[${clock()} pages] starting the UI rig (simulator + gateway + API)`);
      rig = await startUiRig();
      // an admin first: without one the UI offers the first-run setup instead of the login form
      await rig.addUser('bench-admin', 'admin', 'bench-admin-password-1');
      await rig.addUser('bench-ui', 'viewer', 'bench-ui-password-1');
      browser = await launchBrowser(rig.certificatePem);
      const session = await logIn(browser, rig.url, 'bench-ui', 'bench-ui-password-1');
      pages = await measurePageLoads(rig, browser, session, loads, (l) => console.log(`[${clock()} pages] ${l}`));
    } catch (err) {
      failures.push(`pages: ${(err as Error).message.split('\n')[0]}`);
      console.log(`[${clock()} pages] FAILED ${(err as Error).message}`);
    } finally {
      await browser?.close().catch(() => undefined);
      await rig?.stop();
    }
  }

  if (!o.skipIngest && !abort.signal.aborted) {
    try {
      ingest = await runIngest({
        windowS,
        settleS: o.settle,
        rounds,
        tabs: o.tabs,
        statusIntervalMs: o.statusInterval,
        drainS: o.drain,
        opcuaServer: o.opcuaServer,
        keep: o.keep,
        signal: abort.signal,
        progress: (l) => console.log(`[${clock()} ingest] ${l}`),
      });
    } catch (err) {
      failures.push(`ingest: ${(err as Error).message.split('\n')[0]}`);
      console.log(`[${clock()} ingest] FAILED ${(err as Error).message}`);
    }
  }

  const sections: { title: string; table: Table }[] = [];
  if (pages) {
    sections.push({
      title: '1. shipped on a cold, logged-in dashboard load, up to the first numbers and 1 s more (KiB = 1,024 bytes)',
      table: shippedTable(pages),
    });
    sections.push({ title: `2. navigation start -> first dashboard numbers (layer and input records), ${loads} loads each`, table: firstTable(pages) });
  }
  if (ingest) sections.push({ title: `3. ingest, W1 x lake, dashboard closed vs open (${windowS} s windows, ${rounds} rounds)`, table: ingestTable(ingest) });
  const verdicts = ingest ? ingestVerdicts(ingest) : [];
  const errors = ingest?.errors ?? [];
  for (const s of sections) console.log(`\n${s.title}:\n${text(s.table)}`);
  console.log('');
  for (const v of verdicts) console.log(v);
  for (const f of failures) console.log(`FAILED  ${f}`);
  for (const e of errors.slice(0, 20)) console.log(`error   ${e}`);
  const ingestPass = verdicts.filter((v) => v.includes('ingested/s'));
  const verdict = ingest
    ? `verdict: ${ingestPass.every((v) => v.startsWith('PASS')) ? 'PASS' : 'FAIL'} (open/closed ingested/s >= ${TARGET} with ${o.tabs.slice(1).join(' and ')} tab(s))`
    : 'verdict: - (no ingest part)';
  console.log(verdict);
  const note =
    `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), shared by the gateway, the load generators, Chromium and the servers: the figures are indicative. ` +
    'W1 is a fixed rate the gateway keeps up with: ingested/s stays at the offered rate unless the dashboard slows the data path, and the CPU columns show what it costs.';
  console.log(`\n${note}`);

  const md = [
    `# bench:ui ${new Date(started).toISOString()}`,
    '',
    note,
    '',
    ...sections.flatMap((s) => [`## ${s.title}`, '', markdown(s.table), '']),
    '## Verdicts',
    '',
    ...verdicts.map((v) => `- ${v}`),
    ...failures.map((f) => `- FAILED ${f}`),
    `- ${verdict}`,
    ...(errors.length ? ['', '## Errors', '', ...errors.map((e) => `- ${e}`)] : []),
    '',
  ].join('\n');
  writeFileSync(path.join(out, 'report.md'), md);
  writeFileSync(
    path.join(out, 'results.json'),
    `${JSON.stringify({ startedAt: new Date(started).toISOString(), options: { ...o, loads, windowS, rounds }, pages, ingest: ingest && { ...ingest, c: { ...ingest.c, timeline: undefined } }, verdicts, failures }, null, 2)}\n`,
  );
  console.log(`wrote ${path.relative(process.cwd(), path.join(out, 'report.md'))} and results.json`);
  if (failures.length > 0 || errors.length > 0) process.exitCode = 1;
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
