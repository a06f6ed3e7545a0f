/**
 * The configuration page in a real browser (Debian's Chromium, headless) against the UI rig's gateway
 * (ui/test-support/ui-rig.ts): an admin changes the file-lake output's linger through the form
 * generated from the JSON Schema, sees the diff, applies it with a comment and finds it running and
 * in the versions list; rolls back to the version before through the UI; an invalid value shows the
 * loader's problem line at its field. Text typed into a field stays there while live status events
 * re-render the page, until the field is left (each edit below waits for two). A viewer is offered no configuration page and the API refuses
 * its apply (403). axe in light and dark on the form, the YAML view, the diff and the versions.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkAccessibility, type OpenedBrowser, openBrowser, saveScreenshot } from '../test/support/browser.js';
import { startUiRig, type UiRig } from './test-support/ui-rig.js';

let rig: UiRig;
let browser: OpenedBrowser;
let page: Page;

const ADMIN = { user: 'config-admin', password: 'config-admin-password' };
const VIEWER = { user: 'config-viewer', password: 'config-viewer-password' };
const LINGER = '#cfg-outputs_lake_linger';

beforeAll(async () => {
  rig = await startUiRig();
  await rig.addUser(ADMIN.user, 'admin', ADMIN.password);
  await rig.addUser(VIEWER.user, 'viewer', VIEWER.password);
  browser = await openBrowser({ trustCertificate: rig.certificatePem });
  page = browser.page;
  // counts the live status events the page receives (window.statusEvents), to type across them
  await page.addInitScript({
    content: `{
      const Native = window.EventSource;
      window.EventSource = class extends Native {
        constructor(url, init) {
          super(url, init);
          this.addEventListener('status', () => { window.statusEvents = (window.statusEvents ?? 0) + 1; });
        }
      };
    }`,
  });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await rig?.stop();
});

/** the running gateway's lake linger, as the API reports it (effective, units resolved) */
async function runningLinger(): Promise<unknown> {
  return page.evaluate(async () => {
    const answer = (await (await fetch('/api/v1/config')).json()) as { config: { outputs: { lake: { linger: unknown } } } };
    return answer.config.outputs.lake.linger;
  });
}

async function checkBothThemes(name: string, screenshot?: string): Promise<void> {
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await checkAccessibility(page, `${name}, ${scheme}`);
    if (screenshot) await saveScreenshot(page, scheme === 'light' ? screenshot : `${screenshot}-dark`);
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

async function logIn(user: string, password: string): Promise<void> {
  await page.goto(`${rig.url}/ui/`);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Dashboard');
}

const statusEvents = (): Promise<number> => page.evaluate<number>('window.statusEvents ?? 0');

/**
 * Type into a field and leave it only after two live status events re-rendered the page: the text
 * typed must still be there (a re-render that put the document's value back would lose the edit).
 */
async function typeAcrossStatus(selector: string, text: string): Promise<void> {
  await page.locator(selector).fill(text);
  const seen = await statusEvents();
  await expect.poll(statusEvents, { timeout: 10_000 }).toBeGreaterThanOrEqual(seen + 2);
  expect(await page.locator(selector).inputValue()).toBe(text);
  await page.locator(selector).press('Tab');
  await expect.poll(() => page.locator('.config-state').textContent(), { timeout: 10_000 }).not.toBe('No changes');
}

async function tab(name: string): Promise<void> {
  await page.getByRole('tab', { name }).click();
}

async function openLake(): Promise<void> {
  await tab('Form');
  const box = page.locator('#cfg-outputs_lake-box');
  if ((await box.getAttribute('open')) === null) await box.locator('> summary').click();
}

describe('the configuration page', () => {
  it('an admin changes the lake linger in the generated form, sees the diff, applies it: it runs and is a version', async () => {
    await logIn(ADMIN.user, ADMIN.password);
    expect(await page.getByRole('navigation', { name: 'Pages' }).getByRole('link').allTextContents()).toContain('Configuration');
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Configuration' }).click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Configuration');
    await page.locator('#config-outputs').waitFor();
    const before = await runningLinger();

    await openLake();
    expect(await page.locator(LINGER).inputValue()).toBe('500ms');
    await checkBothThemes('config form', 'config-form');
    await typeAcrossStatus(LINGER, '2s');

    // the same document in the YAML view
    await tab('YAML');
    expect(await page.locator('#config-yaml').inputValue()).toContain('linger: 2s');
    await checkBothThemes('config YAML view');

    await tab('Review and apply');
    const diff = page.getByRole('region', { name: 'Diff of the candidate against the running configuration' });
    await expect.poll(() => diff.locator('.diff-add').allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining('linger: 2s')]));
    expect((await diff.locator('.diff-del').allTextContents()).join('\n')).toContain('linger: 500ms');
    await checkBothThemes('config diff', 'config-diff');

    await page.getByLabel('Comment (kept with the version)').fill('lake lingers longer');
    await page.getByRole('button', { name: 'Apply to the running gateway' }).click();
    const result = page.locator('.config-result');
    await expect.poll(() => result.textContent(), { timeout: 20_000 }).toContain('version 2 is in force');
    expect(await result.textContent()).toContain('restarted lake');
    expect(await runningLinger()).not.toEqual(before);
    expect(await runningLinger()).toBe(2000);

    await tab('Versions');
    const row = page.locator('tr[data-version="2"]');
    await expect.poll(() => row.textContent()).toContain('lake lingers longer');
    expect(await row.textContent()).toContain(ADMIN.user);
    await page.getByRole('button', { name: 'Show diff' }).click();
    await expect.poll(() => page.getByRole('region', { name: 'Diff from version 1 to version 2' }).textContent()).toContain('+  lake: { type: file-lake');
    await checkBothThemes('config versions', 'config-versions');
  });

  it('rolls back to version 1 through the UI after a confirmation: the running gateway is back', async () => {
    await tab('Versions');
    await page.getByRole('button', { name: 'Roll back to version 1' }).click();
    const dialog = page.getByRole('dialog', { name: 'Roll back to version 1?' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Roll back to version 1' }).click();
    await expect.poll(() => page.locator('.config-result').textContent(), { timeout: 20_000 }).toContain('Rolled back to the text of version 1');
    expect(await page.locator('.config-result').textContent()).toContain('version 3 is in force');
    expect(await runningLinger()).toBe(500);
    await expect.poll(() => page.locator('tr[data-version="3"]').textContent()).toContain('rollback to version 1');
    // the editor starts again from the version in force
    await openLake();
    expect(await page.locator(LINGER).inputValue()).toBe('500ms');
  });

  it("an invalid value shows the loader's problem line at its field and nothing changes in the running gateway", async () => {
    await openLake();
    await typeAcrossStatus(LINGER, '-5s');
    await page.getByRole('button', { name: 'Validate' }).click();
    const problems = page.locator('.config-problems');
    await expect.poll(() => problems.textContent()).toContain('outputs.lake.linger: expected a duration');
    expect(await page.locator(LINGER).getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('#cfg-outputs_lake_linger-problem').textContent()).toContain('expected a duration');
    await checkAccessibility(page, 'config form with a problem');
    expect(await runningLinger()).toBe(500);
    await page.getByRole('button', { name: 'Discard changes' }).click();
  });

  it('a viewer is offered no configuration page, and the API refuses its apply (403)', async () => {
    await page.getByRole('button', { name: new RegExp(`^${ADMIN.user}`) }).click();
    await page.getByRole('button', { name: 'Log out' }).click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Log in');
    await logIn(VIEWER.user, VIEWER.password);
    expect(await page.getByRole('navigation', { name: 'Pages' }).getByRole('link').allTextContents()).not.toContain('Configuration');
    const status = await page.evaluate(async () => {
      const me = (await (await fetch('/api/v1/me')).json()) as { csrfToken: string };
      const res = await fetch('/api/v1/config/apply', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken },
        body: JSON.stringify({ yaml: 'outputs: {}', comment: 'not mine to apply' }),
      });
      return res.status;
    });
    expect(status).toBe(403);
    await page.goto(`${rig.url}/ui/#/config`);
    await expect.poll(() => page.locator('main').textContent()).toContain('Only admins see and change the configuration');
  });
});
