/**
 * Part 3 of `npm run bench:ui` (../ui.bench.ts): the gateway's ingest with the dashboard closed and
 * open. One case of `npm run bench:api`'s set-up (../e2e/run-case.ts: W1 into the file lake, the load
 * generators and the gateway as child processes, the gateway with its API as ../api/harness.ts starts
 * it, TLS with the generated certificate), whose steady phase is cut into windows with 0, 1 and 5
 * dashboard tabs open (one browser, one logged-in context, each tab its own status stream, charts
 * redrawing), in the order 0 1 5 5 1 0 0 1 5 ... (each round reversed, so a drift over the run
 * weighs on every case alike). Each window's first `settleS` (tabs opening or closing) is left out.
 *
 * Per case, over its windows:
 *   ingested/s   records committed to the buffer (the harness's input counters) per second;
 *   delivered/s  records acked by the lake, from the first ack after a window's start to the last one
 *                before its end (the lake acks W1 in batches of about a second: counted ack to ack, a
 *                window's rate does not move by a batch with where it ends);
 *   CPU          the gateway's and the browser's processes, CPU-s per second of window (/proc);
 *   updates      changes of a tab's first input records figure per tab and second (the stream is live).
 * The harness reports every LG_E2E_SAMPLE_MS (500 ms here, 1 s in the other benches).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { readEndpoint } from '../../../gateway/api/endpoint.js';
import { IdentityStore } from '../../../gateway/api/identity/store.js';
import { apiDir } from '../../../gateway/api/server.js';
import { tlsDir } from '../../../gateway/api/tls.js';
import { sleep } from '../../support/wait.js';
import { runCase } from '../e2e/run-case.js';
import type { CaseResult, TimelinePoint } from '../e2e/run-case.js';
import type { OpcuaServerName } from '../e2e/workloads.js';
import { descendantsCpuS, isChromium, launchBrowser, logIn, marks, newDashboardContext, openDashboard } from './browser.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface IngestOptions {
  windowS: number;
  settleS: number;
  rounds: number;
  tabs: number[];
  statusIntervalMs: number;
  drainS: number;
  opcuaServer: OpcuaServerName;
  keep?: boolean | undefined;
  signal: AbortSignal;
  progress: (line: string) => void;
}

export interface Window {
  tabs: number;
  /** s since the load started (approximately: the schedule starts when the load is started) */
  from: number;
  to: number;
  gatewayCpuS: number;
  browserCpuS: number;
  /** records figure changes summed over the open tabs */
  updates: number;
}

export interface CaseFigures {
  tabs: number;
  windows: number;
  seconds: number;
  ingestedPerS: number;
  deliveredPerS: number;
  /** the lowest and highest window's ingested/s */
  ingestedRange: [number, number];
  gatewayCpu: number;
  browserCpu: number;
  updatesPerTabS: number;
}

export interface IngestResult {
  c: CaseResult;
  windows: Window[];
  cases: CaseFigures[];
  errors: string[];
}

const USER = 'bench-ui';
const PASSWORD = 'bench-ui-password-1';

export function schedule(tabs: number[], rounds: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < rounds; r++) out.push(...(r % 2 === 0 ? tabs : [...tabs].reverse()));
  return out;
}

export async function runIngest(o: IngestOptions): Promise<IngestResult> {
  process.env.LG_E2E_SAMPLE_MS ??= '500';
  const plan = schedule(o.tabs, o.rounds);
  const windows: Window[] = [];
  const errors: string[] = [];
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  const pages: Page[] = [];
  let origin = '';
  let driver: Promise<void> | undefined;
  let stop = false;
  const root = process.pid;
  const gatewayCpu = () => descendantsCpuS(root, (c) => c.includes('harness'));
  const browserCpu = () => descendantsCpuS(root, isChromium);

  const setTabs = async (n: number): Promise<void> => {
    while (pages.length > n) await pages.pop()!.close();
    while (pages.length < n) pages.push(await openDashboard(context!, origin, 'records', 60_000));
  };
  const updates = async (): Promise<number> => (await Promise.all(pages.map((p) => marks(p).then((m) => m.updates)))).reduce((a, b) => a + b, 0);

  const drive = async (t0: number): Promise<void> => {
    for (let i = 0; i < plan.length && !stop; i++) {
      const start = t0 + i * o.windowS * 1000;
      await setTabs(plan[i]!);
      const measureFrom = start + o.settleS * 1000;
      await sleep(Math.max(0, measureFrom - Date.now()));
      const g0 = gatewayCpu();
      const b0 = browserCpu();
      const u0 = await updates();
      const from = Date.now();
      await sleep(Math.max(0, start + o.windowS * 1000 - Date.now()));
      const to = Date.now();
      windows.push({
        tabs: plan[i]!,
        from: (from - t0) / 1000,
        to: (to - t0) / 1000,
        gatewayCpuS: gatewayCpu() - g0,
        browserCpuS: browserCpu() - b0,
        updates: (await updates()) - u0,
      });
      o.progress(`window ${i + 1}/${plan.length}: ${plan[i]} tab(s), ${((to - from) / 1000).toFixed(1)} s measured`);
    }
    await setTabs(0);
  };

  try {
    const c = await runCase({
      workload: 'W1',
      sink: 'lake',
      scale: 1,
      // the windows, and a second for the last one's end
      durationS: plan.length * o.windowS + 1,
      drainTimeoutS: o.drainS,
      progress: o.progress,
      keep: o.keep,
      signal: o.signal,
      opcuaServer: o.opcuaServer,
      harnessScript: path.join(here, '..', 'api', 'harness.ts'),
      extraConfig: { api: { host: '127.0.0.1', port: 0, grpc: { port: 0 }, statusInterval: `${o.statusIntervalMs}ms` } },
      onSteadyStart: async ({ dataDir }) => {
        const dir = apiDir(dataDir);
        const endpoint = readEndpoint(dir);
        if (!endpoint) throw new Error(`the gateway wrote no ${path.join(dir, 'endpoint.json')}: its API is not listening`);
        const store = new IdentityStore(dir);
        try {
          // an admin first: without one the UI offers the first-run setup instead of the login form
          await store.addFirstAdmin('bench-admin', 'bench-admin-password-1');
          await store.addUser(USER, 'viewer', PASSWORD);
        } finally {
          store.close();
        }
        origin = endpoint.url.replace(/\/+$/, '');
        browser = await launchBrowser(readFileSync(path.join(tlsDir(dir), 'cert.pem'), 'utf8'));
        const session = await logIn(browser, origin, USER, PASSWORD);
        context = await newDashboardContext(browser, session);
        // a first tab opened and closed: the browser's start-up stays out of the first window
        await setTabs(1);
        await setTabs(0);
        o.progress(`API at ${origin}; browser logged in as ${USER} (viewer); schedule ${plan.join(' ')} tabs, ${o.windowS} s each`);
        driver = drive(Date.now());
        driver.catch(() => undefined);
      },
      onSteadyEnd: async () => {
        stop = true;
        try {
          await driver;
        } catch (err) {
          errors.push(`dashboard tabs: ${(err as Error).message.split('\n')[0]}`);
        }
      },
    });
    return { c, windows, cases: figures(c.timeline, windows, o.tabs), errors: [...errors, ...c.errors] };
  } finally {
    stop = true;
    await browser?.close().catch(() => undefined);
  }
}

/** the timeline's value at the last point at or before t (points every LG_E2E_SAMPLE_MS) */
function at(points: TimelinePoint[], t: number): TimelinePoint | undefined {
  let best: TimelinePoint | undefined;
  for (const p of points) if (p.t <= t) best = p;
  return best;
}

function figures(timeline: TimelinePoint[], windows: Window[], tabs: number[]): CaseFigures[] {
  const steady = timeline.filter((p) => p.phase === 'steady');
  return tabs.map((n) => {
    const ws = windows.filter((w) => w.tabs === n);
    let ingested = 0;
    let ingestedS = 0;
    let delivered = 0;
    let deliveredS = 0;
    const rates: number[] = [];
    for (const w of ws) {
      const inside = steady.filter((p) => p.t >= w.from && p.t <= w.to);
      const a = at(steady, w.from) ?? inside[0];
      const b = inside[inside.length - 1];
      if (a && b && b.t > a.t) {
        ingested += b.ingested - a.ingested;
        ingestedS += b.t - a.t;
        rates.push((b.ingested - a.ingested) / (b.t - a.t));
      }
      // ack to ack: the first point after a rise in delivered within the window, to the last such point
      const acks = inside.filter((p, i) => i > 0 && p.delivered > inside[i - 1]!.delivered);
      const first = acks[0];
      const last = acks[acks.length - 1];
      if (first && last && last.t > first.t) {
        delivered += last.delivered - first.delivered;
        deliveredS += last.t - first.t;
      }
    }
    const seconds = ws.reduce((s, w) => s + (w.to - w.from), 0);
    return {
      tabs: n,
      windows: ws.length,
      seconds,
      ingestedPerS: ingestedS > 0 ? ingested / ingestedS : Number.NaN,
      deliveredPerS: deliveredS > 0 ? delivered / deliveredS : Number.NaN,
      ingestedRange: [Math.min(...rates), Math.max(...rates)],
      gatewayCpu: ws.reduce((s, w) => s + w.gatewayCpuS, 0) / seconds,
      browserCpu: ws.reduce((s, w) => s + w.browserCpuS, 0) / seconds,
      updatesPerTabS: n === 0 ? Number.NaN : ws.reduce((s, w) => s + w.updates, 0) / n / seconds,
    };
  });
}
