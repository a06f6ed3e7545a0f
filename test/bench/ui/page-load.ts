/**
 * Parts 1 and 2 of `npm run bench:ui` (../ui.bench.ts), against the UI rig (ui/test-support/ui-rig.ts:
 * the machine simulator and a gateway with its API, in this process):
 *   shipped  what a cold, logged-in dashboard load downloads (Playwright's responses): per kind
 *            (HTML, JS, CSS, the rest), the decoded bytes, the bytes the server put on the wire
 *            (body as sent, Content-Encoding as sent) and what gzip and brotli at zlib's default
 *            levels would make of the same bodies;
 *   first    navigation start -> the first dashboard numbers rendered (the machine's layer and an
 *            input's records, on the page's own clock: ./browser.ts), cold (a new browser context per
 *            load: empty cache, new connection, the session cookie set) and warm (a new tab in one
 *            context that has loaded the dashboard before: the hashed assets come from its cache).
 */
import { brotliCompressSync, gzipSync } from 'node:zlib';
import type { Browser, BrowserContext, Page, Response } from 'playwright-core';
import type { UiRig } from '../../../ui/test-support/ui-rig.js';
import { marks, navigationTiming, newDashboardContext, openDashboard, type SessionState } from './browser.js';

export type Kind = 'HTML' | 'JS' | 'CSS' | 'other';

export interface Shipped {
  url: string;
  kind: Kind;
  status: number;
  /** the body as the page got it (decoded) */
  bytes: number;
  /** the response body as sent (Content-Encoding applied, if any) */
  wireBytes: number;
  encoding: string;
  gzip: number;
  brotli: number;
}

export interface LoadTimes {
  /** navigation start -> layer and records both rendered, ms */
  both: number;
  layer: number;
  records: number;
  responseStart: number;
  domContentLoaded: number;
  /** HTML, JS and CSS of this load by where they came from (Resource Timing: transferSize) */
  transfer: Record<Exclude<Kind, 'other'>, Transfer>;
}

export interface Transfer {
  files: number;
  /** from the HTTP cache, nothing on the network (transferSize 0) */
  cached: number;
  /** revalidated: headers only (304) */
  revalidated: number;
  /** downloaded whole */
  downloaded: number;
  /** bytes on the network, headers included */
  bytes: number;
}

export interface PageLoadResult {
  shipped: Shipped[];
  cold: LoadTimes[];
  warm: LoadTimes[];
}

const kindOf = (r: Response): Kind => {
  const t = r.request().resourceType();
  return t === 'document' ? 'HTML' : t === 'script' ? 'JS' : t === 'stylesheet' ? 'CSS' : 'other';
};

/** the page's HTML (navigation entry), scripts and stylesheets by where they came from */
function transfers(page: Page): Promise<LoadTimes['transfer']> {
  return page.evaluate(() => {
    type Entry = { name: string; entryType: string; transferSize: number; encodedBodySize: number };
    const p = (globalThis as unknown as { performance: { getEntries(): Entry[] } }).performance;
    const out = {
      HTML: { files: 0, cached: 0, revalidated: 0, downloaded: 0, bytes: 0 },
      JS: { files: 0, cached: 0, revalidated: 0, downloaded: 0, bytes: 0 },
      CSS: { files: 0, cached: 0, revalidated: 0, downloaded: 0, bytes: 0 },
    };
    for (const e of p.getEntries()) {
      if (e.entryType !== 'navigation' && e.entryType !== 'resource') continue;
      const path = new URL(e.name).pathname;
      const kind =
        e.entryType === 'navigation' ? 'HTML' : e.entryType !== 'resource' ? null : path.endsWith('.js') ? 'JS' : path.endsWith('.css') ? 'CSS' : null;
      if (kind === null) continue;
      const t = out[kind];
      t.files++;
      t.bytes += e.transferSize;
      if (e.transferSize === 0) t.cached++;
      // a body downloaded brings its headers too; less than the body on the network is a 304 (headers only)
      else if (e.transferSize <= e.encodedBodySize) t.revalidated++;
      else t.downloaded++;
    }
    return out;
  });
}

async function loadOnce(context: BrowserContext, origin: string): Promise<LoadTimes> {
  // a revalidation answered 304 has headers on the network, no body: told apart by its status
  const notModified: Record<Kind, number> = { HTML: 0, JS: 0, CSS: 0, other: 0 };
  const onResponse = (r: Response): void => {
    if (r.status() === 304) notModified[kindOf(r)]++;
  };
  context.on('response', onResponse);
  const page = await openDashboard(context, origin, 'both').finally(() => context.off('response', onResponse));
  try {
    const transfer = await transfers(page);
    for (const k of ['HTML', 'JS', 'CSS'] as const) {
      const t = transfer[k];
      const n = Math.min(notModified[k], t.downloaded);
      t.revalidated += n;
      t.downloaded -= n;
    }
    const m = await marks(page);
    const n = await navigationTiming(page);
    return {
      both: m.both!,
      layer: m.layer!,
      records: m.records!,
      responseStart: n.responseStart,
      domContentLoaded: n.domContentLoaded,
      transfer,
    };
  } finally {
    await page.close();
  }
}

export async function measurePageLoads(
  rig: UiRig,
  browser: Browser,
  session: SessionState,
  loads: number,
  progress: (line: string) => void,
): Promise<PageLoadResult> {
  // the shipped bytes: one cold load, every response recorded
  const shipped: Shipped[] = [];
  {
    const context = await newDashboardContext(browser, session);
    const pending: Promise<void>[] = [];
    context.on('response', (r) => {
      const kind = kindOf(r);
      if (kind === 'other') {
        pending.push(
          (async () => {
            const sizes = await r
              .request()
              .sizes()
              .catch(() => ({ responseBodySize: 0 }));
            shipped.push({
              url: r.url(),
              kind,
              status: r.status(),
              bytes: Number.NaN,
              wireBytes: sizes.responseBodySize,
              encoding: '',
              gzip: Number.NaN,
              brotli: Number.NaN,
            });
          })(),
        );
        return;
      }
      pending.push(
        (async () => {
          const body = await r.body();
          const sizes = await r.request().sizes();
          const headers = await r.allHeaders();
          shipped.push({
            url: r.url(),
            kind,
            status: r.status(),
            bytes: body.length,
            wireBytes: sizes.responseBodySize,
            encoding: headers['content-encoding'] ?? 'identity',
            gzip: gzipSync(body).length,
            brotli: brotliCompressSync(body).length,
          });
        })(),
      );
    });
    try {
      const page = await openDashboard(context, rig.url, 'both');
      // the thumbnail and late API answers: give them a moment, then stop listening
      await page.waitForTimeout(1000);
      // the status stream never ends: its sizes are not awaited beyond a second
      await Promise.race([Promise.allSettled(pending), new Promise((r) => setTimeout(r, 3000))]);
    } finally {
      await context.close();
    }
  }
  progress(`shipped: ${shipped.length} responses on a cold load`);

  const cold: LoadTimes[] = [];
  for (let i = 0; i < loads; i++) {
    const context = await newDashboardContext(browser, session);
    try {
      cold.push(await loadOnce(context, rig.url));
    } finally {
      await context.close();
    }
  }
  progress(`cold: ${loads} loads`);

  const warm: LoadTimes[] = [];
  const context = await newDashboardContext(browser, session);
  try {
    await loadOnce(context, rig.url); // primes the cache
    for (let i = 0; i < loads; i++) warm.push(await loadOnce(context, rig.url));
  } finally {
    await context.close();
  }
  progress(`warm: ${loads} loads`);
  return { shipped, cold, warm };
}
