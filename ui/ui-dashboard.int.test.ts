/**
 * The dashboard in a real browser against a running gateway and simulator (ui/test-support/ui-rig.ts,
 * with an output that cannot reach its server): the machine's layer and the inputs' records rise and
 * the charts redraw from the status stream without a reload; the newest powder-bed thumbnail is shown;
 * the failing output is red in the flow picture and raises an alert that an operator acknowledges,
 * while a viewer is not offered that and is refused by the API when trying it anyway. Axe in light
 * and dark, desktop and phone screenshots.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkAccessibility, type OpenedBrowser, openBrowser, saveScreenshot } from '../test/support/browser.js';
import { startUiRig, type UiRig } from './test-support/ui-rig.js';

let rig: UiRig;
let browser: OpenedBrowser;
let page: Page;

const OPERATOR = { user: 'op1', password: 'operator-password-1' };
const VIEWER = { user: 'viewer1', password: 'viewer-password-1' };
const ALERT_ID = 'sink-failing:broken';
/** the browser console's errors over the whole file (a CSP violation is reported there) */
const consoleErrors: string[] = [];

beforeAll(async () => {
  rig = await startUiRig({ failingOutput: true });
  await rig.addUser('admin1', 'admin', 'admin-password-1');
  await rig.addUser(OPERATOR.user, 'operator', OPERATOR.password);
  await rig.addUser(VIEWER.user, 'viewer', VIEWER.password);
  browser = await openBrowser({ trustCertificate: rig.certificatePem });
  page = browser.page;
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await rig?.stop();
});

async function logInAs(who: { user: string; password: string }): Promise<void> {
  await page.goto(`${rig.url}/ui/#/dashboard`);
  await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Log in');
  await page.getByLabel('User name').fill(who.user);
  await page.getByLabel('Password', { exact: true }).fill(who.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Dashboard');
}

async function logOut(user: string): Promise<void> {
  await page.getByRole('button', { name: new RegExp(`^${user}`) }).click();
  await page.getByRole('button', { name: 'Log out' }).click();
  await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Log in');
}

/**
 * The page's globals as these tests read them inside page.evaluate (the Node-side tsconfig has no
 * DOM types; casts are erased, so the evaluated functions still reference nothing of this module).
 */
interface PageGlobals {
  document: {
    documentElement: { dataset: Record<string, string | undefined>; scrollWidth: number };
    activeElement: { id: string; textContent: string | null } | null;
  };
  innerWidth: number;
  stayed?: boolean;
}

const figure = (name: string) => page.locator(`[data-figure="${name}"]`).first();
const number = async (text: string | null): Promise<number> => Number((text ?? '').replace(/[^\d.]/g, ''));
const opcuaRecords = async (): Promise<number> => number(await page.locator('tr[data-input="opcua"] [data-figure="records"]').textContent());
const chartPixels = (label: string): Promise<string> =>
  page
    .getByRole('figure', { name: new RegExp(label) })
    .locator('canvas')
    .evaluate((c) => (c as unknown as { toDataURL(): string }).toDataURL());

describe('the dashboard, live', () => {
  it('layer and record counts rise and the charts redraw from the status stream, without a reload', async () => {
    await logInAs(OPERATOR);
    // a mark in the page's own global scope: a reload or navigation would wipe it
    await page.evaluate(() => {
      (globalThis as unknown as PageGlobals).stayed = true;
    });
    await expect.poll(async () => (await figure('layer').textContent()) ?? '', { timeout: 20_000 }).toMatch(/^\d+$/);
    const layer = await number(await figure('layer').textContent());
    await expect.poll(opcuaRecords, { timeout: 20_000 }).toBeGreaterThan(0);
    const records = await opcuaRecords();
    const chart = await chartPixels('Input opcua');
    expect(await figure('build').textContent()).toMatch(/^B-/);

    await expect.poll(async () => number(await figure('layer').textContent()), { timeout: 20_000 }).toBeGreaterThan(layer);
    await expect.poll(opcuaRecords, { timeout: 20_000 }).toBeGreaterThan(records);
    await expect.poll(() => chartPixels('Input opcua'), { timeout: 20_000 }).not.toBe(chart);
    expect(await page.getByRole('figure', { name: /Input opcua/ }).textContent()).toMatch(/records\/s/);
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).stayed)).toBe(true);
    expect(await page.locator('.stream').textContent()).toBe('Live');
  });

  it('the newest powder-bed thumbnail is shown, decoded', async () => {
    const img = page.getByRole('img', { name: /^Powder bed, camera camera/ });
    await expect.poll(() => img.count(), { timeout: 30_000 }).toBeGreaterThan(0);
    await expect
      .poll(
        () =>
          img.first().evaluate((el) => {
            const img = el as unknown as { complete: boolean; naturalWidth: number };
            return img.complete ? img.naturalWidth : 0;
          }),
        { timeout: 15_000 },
      )
      .toBeGreaterThan(0);
    expect(await img.first().getAttribute('alt')).toMatch(/build B-\d+, layer \d+/);
  });

  it('the failing output is red in the flow picture and named in the outputs table', async () => {
    const flow = page.getByRole('img', { name: /Data flow/ });
    await expect.poll(() => page.locator('.flow-edge-stopped').count(), { timeout: 20_000 }).toBeGreaterThan(0);
    expect(await page.locator('.flow-edge-ok').count()).toBeGreaterThan(0);
    expect(await flow.locator('desc').textContent()).toMatch(/output broken: [\d.]+ records\/s, failing, retrying/);
    expect(await page.locator('tr[data-output="broken"]').textContent()).toContain('Stopped');
    expect(await page.locator('tr[data-output="lake"]').textContent()).not.toContain('Stopped');
  });

  it('the live dashboard, charts and thumbnail included, keeps within its Content-Security-Policy', () => {
    // checked before the first axe run: the test helper's own script injection is refused by this CSP
    // (and then evaluated over DevTools), which the console reports too
    expect(consoleErrors.filter((e) => /Content Security Policy|Refused to/i.test(e)).map((e) => e.slice(0, 300))).toEqual([]);
  });

  it('an operator acknowledges the alert; it stays listed with who saw it', async () => {
    const alerts = page.getByRole('region', { name: /^Alerts/ });
    const ack = alerts.getByRole('button', { name: /^Acknowledge: output broken is failing/ });
    await expect.poll(() => ack.count(), { timeout: 20_000 }).toBe(1);
    await checkAccessibility(page, 'dashboard with an alert, light');
    await saveScreenshot(page, 'dashboard-operator-light');
    await ack.click();
    await expect.poll(() => alerts.textContent()).toContain(`Acknowledged by ${OPERATOR.user}`);
    expect(rig.api.identity.alertAcks([ALERT_ID]).get(ALERT_ID)?.by).toBe(OPERATOR.user);
    await logOut(OPERATOR.user);
  });

  it('a viewer is not offered acknowledgement, and the API refuses it from the viewer session (403)', async () => {
    await logInAs(VIEWER);
    const alerts = page.getByRole('region', { name: /^Alerts/ });
    await expect.poll(() => alerts.textContent(), { timeout: 20_000 }).toContain('output broken is failing');
    expect(await alerts.getByRole('button').count()).toBe(0);
    const refused = await page.evaluate(async (id) => {
      const me = (await (await fetch('/api/v1/me')).json()) as { csrfToken: string; role: string };
      const r = await fetch(`/api/v1/alerts/${encodeURIComponent(id)}/ack`, { method: 'POST', headers: { 'x-csrf-token': me.csrfToken } });
      return { role: me.role, status: r.status, body: (await r.json()) as { error: string } };
    }, ALERT_ID);
    expect(refused).toMatchObject({ role: 'viewer', status: 403, body: { error: 'LG_API_FORBIDDEN' } });
  });

  it('is accessible in light and dark, and fits a phone', async () => {
    // the charts and the thumbnail are there before checking
    await expect.poll(() => page.locator('.chart canvas').count(), { timeout: 20_000 }).toBeGreaterThan(0);
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await checkAccessibility(page, `dashboard, ${scheme}`);
      await saveScreenshot(page, `dashboard-${scheme}`);
    }
    // the toggle overrides the system's choice and is remembered across a reload
    await page.getByRole('button', { name: 'Dark theme' }).click();
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).document.documentElement.dataset.theme)).toBe('light');
    await page.reload();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Dashboard');
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).document.documentElement.dataset.theme)).toBe('light');
    expect(await page.getByRole('button', { name: 'Dark theme' }).getAttribute('aria-pressed')).toBe('false');

    await page.setViewportSize({ width: 390, height: 844 });
    await expect
      .poll(() =>
        page.evaluate(() => {
          const g = globalThis as unknown as PageGlobals;
          return g.document.documentElement.scrollWidth <= g.innerWidth + 1;
        }),
      )
      .toBe(true);
    await checkAccessibility(page, 'dashboard, phone');
    await saveScreenshot(page, 'dashboard-phone');

    // keyboard: the first Tab reaches the skip button, which moves focus into the page
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).document.activeElement?.textContent)).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).document.activeElement?.id)).toBe('main');
  });
});
