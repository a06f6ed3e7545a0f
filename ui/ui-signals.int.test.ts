/**
 * The signals explorer in a real browser against a running gateway and simulator
 * (ui/test-support/ui-rig.ts): a signal of the OPC-UA input is searched by name, picked and plotted
 * (uPlot holds the server's buckets and the canvas has drawn them), its unit, class and outputs are
 * shown from the policy, and a drag across the chart zooms: the page asks the server again with a
 * narrower from/to and draws that. The melt-pool blocks (over MQTT) plot per channel, the channel
 * picked asked of the server by `channel=`. Axe in light and dark, a phone's width, screenshot `signals`.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkAccessibility, type OpenedBrowser, openBrowser, saveScreenshot } from '../test/support/browser.js';
import { startUiRig, type UiRig } from './test-support/ui-rig.js';

let rig: UiRig;
let browser: OpenedBrowser;
let page: Page;

const VIEWER = { user: 'viewer1', password: 'viewer-password-1' };

/** the page's globals as read inside page.evaluate (the Node-side tsconfig has no DOM types) */
interface PageGlobals {
  document: { documentElement: { scrollWidth: number } };
  innerWidth: number;
  fetch(url: string): Promise<{ json(): Promise<unknown> }>;
}

beforeAll(async () => {
  rig = await startUiRig({ meltPool: true });
  await rig.addUser('admin1', 'admin', 'admin-password-1');
  await rig.addUser(VIEWER.user, 'viewer', VIEWER.password);
  browser = await openBrowser({ trustCertificate: rig.certificatePem });
  page = browser.page;
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await rig?.stop();
});

async function logIn(): Promise<void> {
  await page.goto(`${rig.url}/ui/#/signals`);
  await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Log in');
  await page.getByLabel('User name').fill(VIEWER.user);
  await page.getByLabel('Password', { exact: true }).fill(VIEWER.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Signals');
}

/** elements that reach past the right edge of the window (tag.class#id), when the page scrolls sideways */
function overflowing(): string[] {
  const g = globalThis as unknown as PageGlobals & {
    document: { querySelectorAll(s: string): Iterable<{ tagName: string; className: unknown; id: string; getBoundingClientRect(): { right: number } }> };
  };
  if (g.document.documentElement.scrollWidth <= g.innerWidth + 1) return [];
  return [...g.document.querySelectorAll('body *')]
    .filter((e) => e.getBoundingClientRect().right > g.innerWidth + 1)
    .map((e) => `${e.tagName}.${String(e.className)}#${e.id}`)
    .slice(0, 8);
}

/** a numeric scalar signal of the opcua input with values in the last minute, asked of the API from the page's session */
async function numericSignal(): Promise<string | null> {
  return page.evaluate(async () => {
    const g = globalThis as unknown as PageGlobals;
    const list = (await (await g.fetch('/api/v1/signals')).json()) as { signals: { source: string; signal: string; kind: string }[] };
    for (const s of list.signals.filter((x) => x.source === 'opcua' && x.kind === 'scalar')) {
      const q = new URLSearchParams({ source: s.source, signal: s.signal, from: new Date(Date.now() - 60_000).toISOString(), points: '50' });
      const v = (await (await g.fetch(`/api/v1/signals/values?${q.toString()}`)).json()) as {
        numeric?: boolean;
        buckets?: { min: number | null; max: number | null }[];
      };
      // one that moves, so the band and the line have something to show
      if (v.numeric && (v.buckets ?? []).some((b) => b.min !== null && b.max !== null && b.max > b.min)) return s.signal;
    }
    return null;
  });
}

/** whether the opcua signal has values between `fromAgoMs` and `toAgoMs` before now, asked of the API from the page's session */
function hasValuesBetween(signal: string, fromAgoMs: number, toAgoMs: number): Promise<boolean> {
  return page.evaluate(
    async ([name, fromAgo, toAgo]) => {
      const g = globalThis as unknown as PageGlobals;
      const now = Date.now();
      const q = new URLSearchParams({
        source: 'opcua',
        signal: name,
        from: new Date(now - fromAgo).toISOString(),
        to: new Date(now - toAgo).toISOString(),
        points: '10',
      });
      const v = (await (await g.fetch(`/api/v1/signals/values?${q.toString()}`)).json()) as { buckets?: { count: number }[] };
      return (v.buckets ?? []).some((b) => b.count > 0);
    },
    [signal, fromAgoMs, toAgoMs] as const,
  );
}

const valuesRequest = () => page.waitForRequest((r) => r.url().includes('/api/v1/signals/values?'), { timeout: 20_000 });
const rangeOf = (url: string) => {
  const q = new URL(url).searchParams;
  return { from: Date.parse(q.get('from') ?? ''), to: Date.parse(q.get('to') ?? ''), signal: q.get('signal') };
};

describe('the signals explorer', () => {
  let signal: string;
  let chartId: string;

  it('finds a signal by name, plots it with the server’s buckets, and says its unit, class and outputs', async () => {
    await logIn();
    await expect.poll(numericSignal, { timeout: 30_000, interval: 500 }).not.toBeNull();
    signal = (await numericSignal())!;
    // the list is read once the page opens: read it again now that the signal is known to have values
    await page.getByRole('button', { name: 'Reload list' }).click();
    await page.getByLabel('Search signals').fill(signal);
    const box = page.getByRole('checkbox', { name: new RegExp(`^${signal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `) });
    await expect.poll(() => box.count(), { timeout: 10_000 }).toBe(1);
    const asked = valuesRequest();
    await box.check();
    expect(rangeOf((await asked).url()).signal).toBe(signal);

    const panel = page.locator(`section.signal-panel[data-signal="${signal}"]`);
    const chart = panel.locator('.signal-chart-canvas');
    await expect.poll(async () => Number(await chart.getAttribute('data-points')), { timeout: 20_000 }).toBeGreaterThan(0);
    chartId = (await chart.getAttribute('id'))!;
    // the canvas has drawn: pixels of the line's colour, not only the background and the axes
    const drawn = await chart.locator('canvas').evaluate((c) => {
      const canvas = c as unknown as {
        width: number;
        height: number;
        getContext(k: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } };
      };
      const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let coloured = 0;
      // the light theme's --chart-line is #0b57a4 (blue): count bluish pixels
      for (let i = 0; i < d.length; i += 4) if (d[i + 3]! > 0 && d[i + 2]! > 120 && d[i]! < 90) coloured++;
      return coloured;
    });
    expect(drawn).toBeGreaterThan(20);
    expect(await panel.locator('figcaption').textContent()).toMatch(/values in \d+ buckets, min/);
    expect(await panel.locator('[data-figure="class"]').textContent()).toMatch(/^(public|internal|sensitive|confidential)$/);
    // why: the policy's answer, with the outputs
    await expect
      .poll(() => panel.getByRole('list', { name: `Outputs of ${signal}` }).textContent(), { timeout: 10_000 })
      .toMatch(/lake: (receives it|does not receive it)/);
    expect(await panel.locator('.signal-why').textContent()).toMatch(/^Class \w+ by /);
  });

  it('zooming by a drag across the chart asks the server again for the narrower range', async () => {
    // the stretch zoomed to must hold values: wait until the signal has some 30 s back, then show the last minute again
    await expect.poll(() => hasValuesBetween(signal, 45_000, 25_000), { timeout: 60_000, interval: 1_000 }).toBe(true);
    const shown = valuesRequest();
    await page.getByRole('button', { name: 'Now' }).click();
    await shown;
    const chart = page.locator(`#${chartId}`);
    const before = { from: Date.parse((await chart.getAttribute('data-from'))!), to: Date.parse((await chart.getAttribute('data-to'))!) };
    const over = chart.locator('.u-over');
    await over.scrollIntoViewIfNeeded();
    const b = (await over.boundingBox())!;
    const asked = valuesRequest();
    await page.mouse.move(b.x + b.width * 0.3, b.y + b.height / 2);
    await page.mouse.down();
    await page.mouse.move(b.x + b.width * 0.5, b.y + b.height / 2, { steps: 5 });
    await page.mouse.move(b.x + b.width * 0.7, b.y + b.height / 2, { steps: 5 });
    await page.mouse.up();
    const zoomed = rangeOf((await asked).url());
    expect(zoomed.signal).toBe(signal);
    expect(zoomed.from).toBeGreaterThan(before.from);
    expect(zoomed.to).toBeLessThan(before.to);
    const span = zoomed.to - zoomed.from;
    expect(span).toBeGreaterThan((before.to - before.from) * 0.3);
    expect(span).toBeLessThan((before.to - before.from) * 0.5);
    // drawn at the new range
    await expect.poll(async () => Date.parse((await chart.getAttribute('data-from'))!)).toBe(zoomed.from);
    await expect.poll(async () => Number(await chart.getAttribute('data-points')), { timeout: 20_000 }).toBeGreaterThan(0);
    // panning by keyboard asks again too
    const panned = valuesRequest();
    await page.getByRole('button', { name: '← Earlier' }).press('Enter');
    const earlier = rangeOf((await panned).url());
    expect(earlier.to).toBeLessThan(zoomed.to);
    expect(earlier.to - earlier.from).toBe(span);
  });

  it('a melt-pool signal (sample blocks) plots a channel, and another channel is asked for by name', async () => {
    await page.getByRole('button', { name: 'Now' }).click();
    await page.getByLabel('Search signals').fill('');
    await page.getByLabel('Kind').selectOption('samples');
    const box = page.getByRole('checkbox', { name: /^meltpool meltpool · samples/ });
    await expect.poll(() => box.count(), { timeout: 10_000 }).toBe(1);
    await box.check();
    const panel = page.locator('section.signal-panel[data-signal="meltpool"]');
    const chart = panel.locator('.signal-chart-canvas');
    await expect.poll(async () => Number(await chart.getAttribute('data-points')), { timeout: 20_000 }).toBeGreaterThan(0);
    expect(await panel.locator('figcaption').textContent()).toMatch(/^meltpool \(photodiode\): [\d,]+ samples in \d+ buckets/);
    const channel = panel.getByLabel('Channel');
    expect(await channel.locator('option').allTextContents()).toEqual(['photodiode', 'pyrometer']);
    const asked = valuesRequest();
    await channel.selectOption('pyrometer');
    expect(new URL((await asked).url()).searchParams.get('channel')).toBe('pyrometer');
    await expect.poll(() => panel.locator('figcaption').textContent(), { timeout: 20_000 }).toMatch(/^meltpool \(pyrometer\): [\d,]+ samples/);
  });

  it('is accessible in light and dark, and fits a phone', async () => {
    // back to the last minute (the panned range may predate the rig's first values)
    await page.getByRole('button', { name: 'Now' }).click();
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      // every chart drawn again in the theme's colours, with its values
      await expect
        .poll(
          async () =>
            Math.min(
              ...(await page
                .locator('.signal-chart-canvas')
                .evaluateAll((els) => els.map((e) => Number((e as unknown as { dataset: { points?: string } }).dataset.points)))),
            ),
          {
            timeout: 20_000,
          },
        )
        .toBeGreaterThan(0);
      await checkAccessibility(page, `signals, ${scheme}`);
    }
    await page.emulateMedia({ colorScheme: 'light' });
    await saveScreenshot(page, 'signals');
    await page.setViewportSize({ width: 390, height: 844 });
    // nothing wider than the screen (the offenders are named when something is)
    await expect.poll(() => page.evaluate(overflowing)).toEqual([]);
    await checkAccessibility(page, 'signals, phone');
    await page.setViewportSize({ width: 1280, height: 800 });
  });
});
