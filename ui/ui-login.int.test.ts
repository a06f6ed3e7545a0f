/**
 * The web UI's first run and login in a real browser (Debian's Chromium, headless) against a
 * gateway with the simulator (ui/test-support/ui-rig.ts), HTTPS with the gateway's own certificate:
 * the first admin made with the setup token, a wrong token and a wrong password refused with the
 * API's words, login, logout, and a session that ends under the page sending it back to login.
 * Every page is checked with axe in light and dark, and photographed.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkAccessibility, type OpenedBrowser, openBrowser, saveScreenshot } from '../test/support/browser.js';
import { MACHINE, startUiRig, type UiRig } from './test-support/ui-rig.js';

let rig: UiRig;
let browser: OpenedBrowser;
let page: Page;

const ADMIN = { user: 'first-admin', password: 'first-admin-password' };

beforeAll(async () => {
  rig = await startUiRig();
  browser = await openBrowser({ trustCertificate: rig.certificatePem });
  page = browser.page;
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await rig?.stop();
});

/** axe in light and in dark (the system preference the page follows), and a screenshot of each */
async function checkBothThemes(name: string): Promise<void> {
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await checkAccessibility(page, `${name}, ${scheme}`);
    await saveScreenshot(page, `${name}-${scheme}`);
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

async function logIn(user: string, password: string): Promise<void> {
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

describe('first run and login in the browser', () => {
  it('without an admin, / leads to the setup form, which says where the setup token is; a wrong token is refused', async () => {
    const answer = await page.goto(rig.url);
    expect(page.url()).toBe(`${rig.url}/ui/`);
    // the shell is served with the strict policy: scripts, styles and connections from this origin only
    expect(answer?.headers()['content-security-policy']).toMatch(/^default-src 'self'; script-src 'self'; style-src 'self';/);
    expect(answer?.headers()['cache-control']).toBe('no-cache');
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Create the first admin');
    const body = await page.locator('main').textContent();
    expect(body).toContain('<dataDir>/api/setup-token');
    expect(body).toContain('layergate admin setup');
    await checkBothThemes('setup');

    await page.getByLabel('Setup token').fill('not-the-token');
    await page.getByLabel('Admin user name').fill(ADMIN.user);
    await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
    await page.getByLabel('Password again').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Create admin' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('the setup token is not the one the gateway issued');
    expect(await rig.api.identity.hasAdmin()).toBe(false);
  });

  it('the setup token makes the first admin; the login page follows with the name filled in', async () => {
    await page.getByLabel('Setup token').fill(rig.setupToken);
    await page.getByRole('button', { name: 'Create admin' }).click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Log in');
    expect(await page.getByRole('status').first().textContent()).toContain(`Admin ${ADMIN.user} created`);
    expect(await page.getByLabel('User name').inputValue()).toBe(ADMIN.user);
    expect(rig.api.identity.hasAdmin()).toBe(true);
    await checkBothThemes('login');
  });

  it('a wrong password is refused with the API message, and nothing is let in', async () => {
    await logIn(ADMIN.user, 'not-the-password');
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('wrong user name or password');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Log in');
    expect(await page.getByLabel('Password', { exact: true }).inputValue()).toBe('');
    await saveScreenshot(page, 'login-wrong-password');
  });

  it('the right password opens the dashboard with the machine name, the role in the user menu; logout comes back to login', async () => {
    await logIn(ADMIN.user, ADMIN.password);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Dashboard');
    expect(page.url()).toMatch(/\/ui\/(#\/dashboard)?$/);
    await expect.poll(() => page.locator('[data-figure="machine"]').textContent()).toBe(MACHINE);
    const nav = page.getByRole('navigation', { name: 'Pages' });
    expect(await nav.getByRole('link', { name: 'Dashboard' }).getAttribute('aria-current')).toBe('page');

    const menu = page.getByRole('button', { name: new RegExp(`^${ADMIN.user}`) });
    await menu.click();
    expect(await menu.getAttribute('aria-expanded')).toBe('true');
    expect(await page.locator('#user-menu-panel').textContent()).toContain('role admin');
    await page.getByRole('button', { name: 'Log out' }).click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Log in');
    expect(await page.getByRole('status').first().textContent()).toContain('logged out');
    // the session is over on the server too: a reload stays on the login page
    await page.reload();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Log in');
  });

  it('a reload keeps a live session; a session ended under the page sends it back to login saying it expired', async () => {
    await logIn(ADMIN.user, ADMIN.password);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Dashboard');
    await page.reload();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Dashboard');

    // end the session elsewhere, as an expiry or a logout in another tab would
    const cookie = (await browser.context.cookies()).find((c) => c.name === 'lg_session');
    expect(cookie?.httpOnly).toBe(true);
    const csrf = await page.evaluate(async () => ((await (await fetch('/api/v1/me')).json()) as { csrfToken: string }).csrfToken);
    const ended = await page.evaluate(async (token) => (await fetch('/api/v1/logout', { method: 'POST', headers: { 'x-csrf-token': token } })).status, csrf);
    expect(ended).toBe(204);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent(), { timeout: 15_000 }).toBe('Log in');
    expect(await page.getByRole('status').first().textContent()).toContain('session expired');
  });

  it('a user name locked out after failed logins is told so, with the wait, even with the right password', async () => {
    await rig.addUser('locked-user', 'viewer', 'locked-user-password');
    // api.login.maxFailures (5 by default) wrong passwords: the fifth locks the name out
    for (let i = 0; i < 5; i++) {
      await logIn('locked-user', `guess-${i}`);
      await expect.poll(() => page.getByLabel('Password', { exact: true }).inputValue()).toBe('');
    }
    await logIn('locked-user', 'locked-user-password');
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/^Locked out: too many failed logins for "locked-user": try again in \d+ s$/);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Log in');
    await saveScreenshot(page, 'login-locked-out');
  });

  it("too many attempts from one address are refused by the API's rate limit, and the page says so", async () => {
    // the remaining attempts of this minute (api.login.perAddressPerMinute, 20 by default), spent at once
    await page.evaluate(async () => {
      for (let i = 0; i < 20; i++) {
        await fetch('/api/v1/login', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ user: 'nobody', password: 'x' }),
        });
      }
    });
    await logIn(ADMIN.user, ADMIN.password);
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/^Too many login attempts from this computer: /);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Log in');
  });
});
