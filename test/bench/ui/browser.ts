/**
 * The browser side of `npm run bench:ui` (../ui.bench.ts): Debian's Chromium through playwright-core,
 * launched as the UI tests launch it (test/support/browser.ts: the same flags, only the API's own
 * certificate trusted), a logged-in session made once through the login form and reused as a stored
 * cookie, and in every dashboard page an init script (it runs before the page's own code, outside its
 * CSP) that notes, on the page's clock (performance.now(), 0 = navigation start), when the first
 * dashboard numbers are rendered and how often the input records figure changes afterwards.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, ensureChromium, spkiFingerprint } from '../../support/browser.js';

export type SessionState = Awaited<ReturnType<BrowserContext['storageState']>>;

export async function launchBrowser(certificatePem: string): Promise<Browser> {
  const executablePath = await ensureChromium();
  return chromium.launch({
    executablePath,
    headless: true,
    args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${spkiFingerprint(certificatePem)}`],
  });
}

/** the page's view of itself, as the init script leaves it on globalThis.__lgBench */
export interface PageMarks {
  /** performance.now() when a number first showed in the machine's layer figure */
  layer?: number;
  /** ... in an input's records figure */
  records?: number;
  /** ... when both had (the "first dashboard numbers") */
  both?: number;
  /** changes of the first input's records figure (the status stream redrawing the page) */
  updates: number;
}

/**
 * Runs in the page before its scripts: a MutationObserver on the whole document checks the figures
 * after every batch of DOM changes (no polling, no animation-frame granularity).
 */
const INIT_SCRIPT = `(() => {
  const marks = { updates: 0 };
  globalThis.__lgBench = marks;
  let lastRecords = null;
  const check = () => {
    const now = performance.now();
    if (marks.layer === undefined) {
      const l = document.querySelector('[data-figure="layer"]');
      if (l && /^\\d+$/.test((l.textContent || '').trim())) marks.layer = now;
    }
    const r = document.querySelector('tr[data-input] [data-figure="records"]');
    const text = r ? (r.textContent || '').trim() : '';
    if (/\\d/.test(text)) {
      if (marks.records === undefined) marks.records = now;
      if (lastRecords !== null && text !== lastRecords) marks.updates++;
      lastRecords = text;
    }
    if (marks.both === undefined && marks.layer !== undefined && marks.records !== undefined) marks.both = now;
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, characterData: true });
})();`;

const CONTEXT_OPTIONS = {
  viewport: { width: 1280, height: 800 },
  colorScheme: 'light' as const,
  ignoreHTTPSErrors: false,
  locale: 'en-US',
  timezoneId: 'UTC',
};

export async function newDashboardContext(browser: Browser, session?: SessionState): Promise<BrowserContext> {
  const context = await browser.newContext({ ...CONTEXT_OPTIONS, ...(session ? { storageState: session } : {}) });
  await context.addInitScript({ content: INIT_SCRIPT });
  return context;
}

/** Logs in through the login form once and returns the session (its cookie) for new contexts. */
export async function logIn(browser: Browser, origin: string, user: string, password: string): Promise<SessionState> {
  const context = await browser.newContext(CONTEXT_OPTIONS);
  try {
    const page = await context.newPage();
    await page.goto(`${origin}/ui/#/dashboard`);
    await page.getByLabel('User name').fill(user, { timeout: 30_000 });
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor({ timeout: 30_000 });
    return await context.storageState();
  } finally {
    await context.close();
  }
}

export const dashboardUrl = (origin: string): string => `${origin}/ui/#/dashboard`;

/** Opens the dashboard in a new page of `context` and waits until the first numbers are there. */
export async function openDashboard(context: BrowserContext, origin: string, want: 'both' | 'records', timeoutMs = 30_000): Promise<Page> {
  const page = await context.newPage();
  await page.goto(dashboardUrl(origin), { waitUntil: 'commit' });
  await page.waitForFunction((w) => (globalThis as unknown as { __lgBench?: PageMarks }).__lgBench?.[w] !== undefined, want, {
    timeout: timeoutMs,
    polling: 50,
  });
  return page;
}

export function marks(page: Page): Promise<PageMarks> {
  return page.evaluate(() => ({ ...(globalThis as unknown as { __lgBench: PageMarks }).__lgBench }));
}

/** the page's Navigation Timing (ms from navigation start) */
export function navigationTiming(page: Page): Promise<{ responseStart: number; domContentLoaded: number; load: number }> {
  return page.evaluate(() => {
    const n = (
      globalThis as unknown as {
        performance: { getEntriesByType(t: string): { responseStart: number; domContentLoadedEventEnd: number; loadEventEnd: number }[] };
      }
    ).performance.getEntriesByType('navigation')[0];
    return { responseStart: n?.responseStart ?? Number.NaN, domContentLoaded: n?.domContentLoadedEventEnd ?? Number.NaN, load: n?.loadEventEnd ?? Number.NaN };
  });
}

// ---------------------------------------------------------------------------------------------
// CPU of processes from /proc (the browser's and the gateway's, per measured window)

const TICKS_PER_S = 100;

/** CPU-s (user + system) of every live descendant of `root` whose command line matches `match` */
export function descendantsCpuS(root: number, match: (cmdline: string) => boolean): number {
  const parent = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // after the command: state(0) ppid(1) ... utime(11) stime(12)
      parent.set(Number(entry), Number(f[1]));
      cpu.set(Number(entry), (Number(f[11]) + Number(f[12])) / TICKS_PER_S);
    } catch {
      // gone meanwhile
    }
  }
  let total = 0;
  for (const [pid, s] of cpu) {
    let p: number | undefined = pid;
    while (p !== undefined && p > 1 && p !== root) p = parent.get(p);
    if (p !== root || pid === root) continue;
    try {
      if (match(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '))) total += s;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

export const isChromium = (cmdline: string): boolean => /chrom/i.test(cmdline.split(' ')[0] ?? '');
