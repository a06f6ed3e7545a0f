/**
 * Builds and layers in a real browser against a running gateway and simulator (ui/test-support/ui-rig.ts,
 * whose camera writes two PNG frames per 1 s layer, with the melt-pool blocks over MQTT): the running
 * build's layer strip shows decoded thumbnails of at least two layers; a layer's process values and
 * melt-pool statistics per channel come from the signals route at the layer's window; a frame opens full size, the arrow keys move to the previous layer, Escape closes
 * it and focus goes back. Axe in light and dark (and with the dialog open), a phone's width,
 * screenshots `builds` and `builds-frame`.
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
  document: {
    documentElement: { scrollWidth: number };
    activeElement: { getAttribute(n: string): string | null; textContent: string | null } | null;
    querySelectorAll(s: string): Iterable<{ tagName: string; className: unknown; id: string; getBoundingClientRect(): { right: number } }>;
  };
  innerWidth: number;
}
interface Img {
  complete: boolean;
  naturalWidth: number;
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
  await page.goto(`${rig.url}/ui/#/builds`);
  await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Log in');
  await page.getByLabel('User name').fill(VIEWER.user);
  await page.getByLabel('Password', { exact: true }).fill(VIEWER.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Builds and layers');
}

/** elements that reach past the right edge of the window, when the page scrolls sideways */
function overflowing(): string[] {
  const g = globalThis as unknown as PageGlobals;
  if (g.document.documentElement.scrollWidth <= g.innerWidth + 1) return [];
  return [...g.document.querySelectorAll('body *')]
    .filter((e) => e.getBoundingClientRect().right > g.innerWidth + 1)
    .map((e) => `${e.tagName}.${String(e.className)}#${e.id}`)
    .slice(0, 8);
}

/** layers of the strip whose thumbnail has loaded and decoded */
const decodedThumbnails = (): Promise<number> =>
  page.locator('.layer-strip img').evaluateAll((imgs) => imgs.filter((i) => (i as unknown as Img).complete && (i as unknown as Img).naturalWidth > 0).length);

describe('builds and layers', () => {
  it('the running build’s layer strip shows the camera’s thumbnails, decoded, for at least two layers', async () => {
    await logIn();
    // the page reads the frames again every 10 s: new layers come in without a reload
    await expect.poll(decodedThumbnails, { timeout: 45_000, interval: 500 }).toBeGreaterThanOrEqual(2);
    expect(await page.getByLabel('Build', { exact: true }).inputValue()).toMatch(/^B-/);
    const strip = page.getByRole('list', { name: /^Layers of build B-/ });
    expect(await strip.locator('img').first().getAttribute('alt')).toMatch(/^Powder bed, camera camera, build B-\S+, layer \d+/);
    // the newest layer is the current one, its values read at its window
    const current = strip.locator('button[aria-current="true"]');
    expect(await current.count()).toBe(1);
    const values = page.getByRole('region', { name: 'Process values of the layer' });
    await expect.poll(() => values.locator('tbody tr td.num').first().textContent(), { timeout: 20_000, interval: 500 }).toMatch(/^-?[\d.]+(e[-+]?\d+)?$/);
    // melt-pool statistics: a row per channel of the blocks, with numbers
    const melt = page.getByRole('region', { name: 'Melt-pool statistics of the layer' });
    await expect.poll(() => melt.locator('tbody tr').count(), { timeout: 20_000, interval: 500 }).toBe(2);
    expect(await melt.locator('tbody').textContent()).toMatch(/photodiode/);
    expect(await melt.locator('tbody').textContent()).toMatch(/pyrometer/);
    // blocks that reach the gateway after the page read the window show at its next read (every 10 s):
    // the wait spans two of them
    await expect.poll(() => melt.locator('tbody tr').first().textContent(), { timeout: 25_000, interval: 500 }).toMatch(/^meltpool \/ \w+-?[\d.]+/);
  }, 120_000); // waits on the simulator's layers and the page's 10 s reads

  it('the arrow keys move along the strip; a frame opens full size, the arrows change layer, Escape closes it', async () => {
    const strip = page.getByRole('list', { name: /^Layers of build B-/ });
    const current = strip.locator('button[aria-current="true"]');
    const layerOf = async (l: typeof current): Promise<number> => Number(await l.getAttribute('data-layer'));
    // the current layer (the newest exposed one) has a layer before it: the list is read every 10 s
    await expect.poll(async () => (await layerOf(current)) - (await layerOf(strip.locator('button').first())), { timeout: 30_000 }).toBeGreaterThan(0);
    const newest = await layerOf(current);
    await current.focus();
    await page.keyboard.press('ArrowLeft');
    await expect.poll(async () => Number(await strip.locator('button[aria-current="true"]').getAttribute('data-layer'))).toBeLessThan(newest);
    const picked = Number(await strip.locator('button[aria-current="true"]').getAttribute('data-layer'));
    await expect
      .poll(() => page.evaluate(() => (globalThis as unknown as PageGlobals).document.activeElement?.getAttribute('data-layer')))
      .toBe(String(picked));

    // Enter on the current layer opens it
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog');
    await expect.poll(() => dialog.count()).toBe(1);
    expect(await dialog.getByRole('heading').textContent()).toMatch(new RegExp(`layer ${picked}\\b`));
    const image = dialog.getByRole('img');
    await expect
      .poll(() => image.evaluate((i) => ((i as unknown as Img).complete ? (i as unknown as Img).naturalWidth : 0)), { timeout: 15_000 })
      .toBeGreaterThan(0);
    await checkAccessibility(page, 'builds, frame open');
    await saveScreenshot(page, 'builds-frame');

    // picked is older than the newest: there is a next layer
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => dialog.getByRole('heading').textContent()).toMatch(new RegExp(`layer ${picked + 1}\\b`));
    await page.keyboard.press('ArrowLeft');
    await expect.poll(() => dialog.getByRole('heading').textContent()).toMatch(new RegExp(`layer ${picked}\\b`));

    await page.keyboard.press('Escape');
    await expect.poll(() => dialog.count()).toBe(0);
    // focus back on the layer it was opened from
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).document.activeElement?.getAttribute('data-layer'))).toBe(String(picked));
  });

  it('is accessible in light and dark, and fits a phone', async () => {
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await checkAccessibility(page, `builds, ${scheme}`);
    }
    await page.emulateMedia({ colorScheme: 'light' });
    await saveScreenshot(page, 'builds');
    await page.setViewportSize({ width: 390, height: 844 });
    await expect.poll(() => page.evaluate(overflowing)).toEqual([]);
    await checkAccessibility(page, 'builds, phone');
    await page.setViewportSize({ width: 1280, height: 800 });
  });
});
