/**
 * The operations and administration pages in a real browser (Debian's Chromium, headless) against a
 * gateway with the simulator (ui/test-support/ui-rig.ts, with an output that cannot reach its
 * server, so an alert stays up):
 *
 * - an admin makes a viewer and an operator, and an API token whose secret is shown once (it works
 *   as a Bearer token, and is gone after a reload);
 * - a corrupt camera file dropped into the simulator's drop folder is quarantined and listed by its
 *   reason; the admin downloads its raw bytes (the very bytes dropped), a viewer is not offered the
 *   download and is answered 403 when asking for it anyway;
 * - the operator acknowledges the failing output's alert and sees it marked; sees the OPC-UA input's
 *   certificates on the operations page;
 * - the audit log lists those actions and says the chain is intact; the losses page lists the sinks.
 *
 * Every page is checked with axe in light and dark, and photographed.
 */
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkAccessibility, type OpenedBrowser, openBrowser, saveScreenshot } from '../test/support/browser.js';
import { startUiRig, type UiRig } from './test-support/ui-rig.js';

let rig: UiRig;
let browser: OpenedBrowser;
let page: Page;

const ADMIN = { user: 'admin1', password: 'admin-password-1' };
const OPERATOR = { user: 'op1', password: 'operator-password-1' };
const VIEWER = { user: 'viewer1', password: 'viewer-password-1' };
const ALERT_ID = 'sink-failing:broken';
/** not an image: the frames input rejects it as `unknown-format` and quarantines its bytes */
const CORRUPT = Buffer.from('this is no PNG at all, only text pretending to be one\n'.repeat(8));

beforeAll(async () => {
  rig = await startUiRig({ failingOutput: true });
  await rig.addUser(ADMIN.user, 'admin', ADMIN.password);
  browser = await openBrowser({ trustCertificate: rig.certificatePem });
  page = browser.page;
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await rig?.stop();
});

const h1 = () => page.getByRole('heading', { level: 1 }).textContent();

/** axe in light and in dark, and a screenshot of each */
async function checkBothThemes(name: string): Promise<void> {
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await checkAccessibility(page, `${name}, ${scheme}`);
    await saveScreenshot(page, `${name}-${scheme}`);
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

async function logInAs(who: { user: string; password: string }, at: string): Promise<void> {
  // a test that failed logged in must not leave its session to the next
  await browser.context.clearCookies();
  await page.goto(`${rig.url}/ui/#/${at}`);
  await expect.poll(h1).toBe('Log in');
  await page.getByLabel('User name').fill(who.user);
  await page.getByLabel('Password', { exact: true }).fill(who.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect.poll(h1).not.toBe('Log in');
}

async function logOut(user: string): Promise<void> {
  await page.getByRole('button', { name: new RegExp(`^${user}`) }).click();
  await page.getByRole('button', { name: 'Log out' }).click();
  await expect.poll(h1).toBe('Log in');
}

async function goTo(path: string, title: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: title, exact: true }).click();
  await expect.poll(h1).toBe(title);
  expect(page.url()).toMatch(new RegExp(`#/${path}$`));
}

/** a request from the page with its session (and CSRF token for a change), answering the status */
function statusOf(url: string, init: { method?: string; bearer?: string } = {}): Promise<number> {
  return page.evaluate(
    async ({ url, init }) => {
      const headers: Record<string, string> = {};
      if (init.bearer) headers.authorization = `Bearer ${init.bearer}`;
      return (await fetch(url, { method: init.method ?? 'GET', headers, credentials: init.bearer ? 'omit' : 'same-origin' })).status;
    },
    { url, init },
  );
}

async function createUser(who: { user: string; password: string }, role: string): Promise<void> {
  await page.getByLabel('User name').fill(who.user);
  await page.locator('#new-user-role').selectOption(role);
  await page.getByLabel('Initial password').fill(who.password);
  await page.getByRole('button', { name: 'Create user' }).click();
  await expect.poll(() => page.locator(`tr[data-user="${who.user}"] [data-figure="role"]`).textContent()).toBe(role);
}

describe('operations and administration pages', () => {
  let quarantinedItem = '';
  let token = '';

  it('an admin makes a viewer, an operator and an API token whose secret is shown once', async () => {
    await logInAs(ADMIN, 'access');
    expect(await h1()).toBe('Users and tokens');
    await createUser(VIEWER, 'viewer');
    await createUser(OPERATOR, 'operator');
    expect(
      await page
        .getByRole('status')
        .filter({ hasText: `User ${OPERATOR.user} created with role operator` })
        .count(),
    ).toBe(1);

    await page.getByLabel('Label').fill('grafana');
    await page.locator('#new-token-role').selectOption('viewer');
    await page.locator('#new-token-class').selectOption('internal');
    await page.locator('#new-token-expiry').selectOption('30d');
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = page.locator('#token-secret-value');
    await expect.poll(() => secret.inputValue()).toMatch(/^lg_[0-9a-f]{12}_\S+$/);
    token = await secret.inputValue();
    await expect.poll(() => page.locator('tr[data-token="grafana"] [data-figure="token-state"]').textContent()).toMatch(/^valid until /);
    // the secret works as a Bearer token (no cookie sent)
    expect(await statusOf('/api/v1/status', { bearer: token })).toBe(200);
    await checkBothThemes('ops-access');

    // shown once: gone after a reload, while the token stays listed
    await page.reload();
    await expect.poll(h1).toBe('Users and tokens');
    await expect.poll(() => page.locator('tr[data-token="grafana"]').count()).toBe(1);
    expect(await page.locator('#token-secret-value').count()).toBe(0);
    expect(await page.locator('main').textContent()).not.toContain(token);
  });

  it('a corrupt camera file is quarantined, listed by its reason, and an admin downloads its raw bytes', async () => {
    writeFileSync(path.join(rig.dropDir, 'B-ops_L7_after-recoat.png'), CORRUPT);
    await goTo('quarantine', 'Quarantine');
    const row = page.locator('tr[data-reason="unknown-format"]').first();
    // the page reads the quarantine on demand: ask again until the frames input has set the file aside
    await expect
      .poll(
        async () => {
          if ((await row.count()) > 0) return true;
          await page.getByRole('button', { name: 'Refresh' }).click();
          return false;
        },
        { timeout: 20_000, interval: 500 },
      )
      .toBe(true);
    expect(await page.locator('tr[data-count="inputs/camera/unknown-format"]').textContent()).toContain('input camera');
    expect(await row.textContent()).toContain('input camera');
    quarantinedItem = (await row.getAttribute('data-item')) ?? '';
    expect(quarantinedItem).toMatch(/^\d{8}T\d{6}\.\d{3}Z-\d+/);

    // narrowed to the reason
    await page.getByLabel('Reason', { exact: true }).selectOption('unknown-format');
    await expect.poll(() => page.locator('tr[data-item]').count()).toBeGreaterThan(0);
    expect(new Set(await page.locator('tr[data-item]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-reason'))))).toEqual(
      new Set(['unknown-format']),
    );

    const [download] = await Promise.all([page.waitForEvent('download'), row.getByRole('link', { name: /^Download raw bytes/ }).click()]);
    const file = await download.path();
    expect(readFileSync(file).equals(CORRUPT)).toBe(true);
    expect(download.suggestedFilename()).toBe(`camera-${quarantinedItem}.bin`);
    await checkBothThemes('ops-quarantine');
    await logOut(ADMIN.user);
  });

  it('an operator acknowledges the failing output alert and sees it marked; sees the OPC-UA certificates', async () => {
    await logInAs(OPERATOR, 'alerts');
    expect(await h1()).toBe('Alerts');
    // the redis output on a closed port backs off: its alert comes up within a few status intervals
    const ack = page.getByRole('button', { name: /^Acknowledge: output broken is failing/ });
    await expect.poll(() => ack.count(), { timeout: 30_000 }).toBe(1);
    await ack.click();
    await expect.poll(() => page.locator('#active-alerts').textContent()).toContain(`Acknowledged by ${OPERATOR.user}`);
    expect(await ack.count()).toBe(0);
    // the server holds it: the next status events keep it marked
    await page.reload();
    await expect.poll(() => page.locator('#active-alerts').textContent(), { timeout: 15_000 }).toContain(`Acknowledged by ${OPERATOR.user}`);
    await checkBothThemes('ops-alerts');

    // a server certificate the input refused (as node-opcua files one): here the API's own certificate stands in for it
    const dataDir = /dataDir: (\S+),/.exec(rig.configText)![1]!;
    const rejectedDir = path.join(dataDir, 'pki', 'opcua', 'rejected');
    mkdirSync(rejectedDir, { recursive: true });
    writeFileSync(path.join(rejectedDir, 'machine-server.pem'), rig.certificatePem);
    const serverCert = new X509Certificate(rig.certificatePem);
    const thumbprint = serverCert.fingerprint.replace(/:/g, '').toLowerCase();

    await goTo('operations', 'Operations');
    const pki = page.locator('#pki-opcua');
    await expect.poll(() => pki.count(), { timeout: 15_000 }).toBe(1);
    expect(await pki.textContent()).toContain("Gateway's own");
    expect(await pki.textContent()).toContain('1 server certificate waiting for trust');
    const row = pki.locator(`tr[data-certificate="${thumbprint}"]`);
    expect(await row.textContent()).toContain('Waiting for trust');
    // inputs of other types get no card
    expect(await page.locator('#pki-camera').count()).toBe(0);
    await checkBothThemes('ops-operations');

    await row.getByRole('button', { name: /^Trust / }).click();
    await expect.poll(() => row.textContent()).toContain('Trusted');
    expect(await pki.getByRole('status').first().textContent()).toContain('is trusted');
    expect(readdirSync(path.join(dataDir, 'pki', 'opcua', 'trusted', 'certs'))).toContain('machine-server.pem');
    await row.getByRole('button', { name: /^Reject / }).click();
    await expect.poll(() => row.textContent()).toContain('Waiting for trust');
    await logOut(OPERATOR.user);
  });

  it('a viewer sees the quarantine without the download, and the server answers 403 to the direct request', async () => {
    await logInAs(VIEWER, 'quarantine');
    expect(await h1()).toBe('Quarantine');
    const row = page.locator(`tr[data-item="${quarantinedItem}"]`);
    await expect.poll(() => row.count()).toBe(1);
    expect(await row.getByRole('link').count()).toBe(0);
    expect(await row.textContent()).toContain('admins only');
    expect(await statusOf(`/api/v1/quarantine/inputs/camera/${quarantinedItem}/raw`)).toBe(403);
    // the admin-only page is not offered; asked for by its address it says so (and the API refuses its calls)
    const links = await page.getByRole('navigation', { name: 'Pages' }).getByRole('link').allTextContents();
    expect(links).toContain('Audit log');
    expect(links).not.toContain('Users and tokens');
    expect(await statusOf('/api/v1/users')).toBe(403);
    // the alert page offers no acknowledge
    await goTo('alerts', 'Alerts');
    await expect.poll(() => page.locator('#active-alerts').textContent(), { timeout: 15_000 }).toContain('output broken is failing');
    expect(await page.getByRole('button', { name: /^Acknowledge/ }).count()).toBe(0);
    await logOut(VIEWER.user);
  });

  it('the audit log shows those actions and that the chain is intact; the losses page lists the sinks', async () => {
    await logInAs(ADMIN, 'audit');
    expect(await h1()).toBe('Audit log');
    const chain = page.locator('[data-chain]');
    await expect.poll(() => chain.getAttribute('data-chain')).toBe('ok');
    expect(await chain.textContent()).toContain('Chain intact');
    const types = await page.locator('tr[data-audit]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-audit')));
    for (const t of ['user-added', 'token-created', 'quarantine-raw-read', 'alert-acknowledged', 'plugin-action']) expect(types).toContain(t);
    const ackRow = page.locator('tr[data-audit="alert-acknowledged"]').first();
    expect(await ackRow.textContent()).toContain(OPERATOR.user);
    expect(await ackRow.textContent()).toContain(ALERT_ID);
    await checkBothThemes('ops-audit');

    await goTo('losses', 'Losses');
    await expect.poll(() => page.locator('tr[data-sink]').count()).toBeGreaterThanOrEqual(2);
    expect(await page.locator('tr[data-sink="broken"]').textContent()).toContain('Output');
    // every sink is a configured output: nothing to drop
    expect(await page.getByRole('button', { name: /^Drop sink/ }).count()).toBe(0);
    await expect.poll(() => page.locator('#ledger').textContent()).not.toContain('Loading');
    await checkBothThemes('ops-losses');
  });

  it("an admin drops a removed output's sink after a confirmation that says what is lost; the ledger shows it", async () => {
    // remove the failing output from the running configuration (hot reload): its sink keeps its records
    const yaml = rig.configText
      .split('\n')
      .filter((l) => !l.startsWith('  broken:'))
      .join('\n');
    const applied = await page.evaluate(async (text) => {
      const me = (await (await fetch('/api/v1/me')).json()) as { csrfToken: string };
      const res = await fetch('/api/v1/config/apply', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken },
        body: JSON.stringify({ yaml: text, comment: 'remove the broken output' }),
      });
      return res.status;
    }, yaml);
    expect(applied).toBe(200);

    const sinks = page.locator('#sinks');
    const removed = sinks.locator('tr[data-sink="broken"]');
    await expect
      .poll(
        async () => {
          await sinks.getByRole('button', { name: 'Refresh' }).click();
          return (await removed.textContent()) ?? '';
        },
        { timeout: 15_000, interval: 500 },
      )
      .toContain('Removed output, holding records');
    const lag = Number(((await removed.locator('td').nth(2).textContent()) ?? '').replace(/[^\d].*$/, '').replace(/,/g, ''));

    await page.getByRole('button', { name: 'Drop sink broken' }).click();
    const dialog = page.getByRole('dialog', { name: 'Drop sink broken?' });
    await expect.poll(() => dialog.isVisible()).toBe(true);
    const words = (await dialog.textContent()) ?? '';
    expect(words).toContain('records');
    expect(words).toContain('loss ledger');
    expect(words).toContain('cannot be undone');
    await checkBothThemes('ops-losses-drop-confirm');
    // cancel first: nothing happens
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => dialog.count()).toBe(0);
    expect(await removed.count()).toBe(1);

    await page.getByRole('button', { name: 'Drop sink broken' }).click();
    await dialog.getByRole('button', { name: 'Drop sink broken' }).click();
    await expect.poll(() => sinks.getByRole('status').textContent()).toContain('Sink broken dropped');
    await expect.poll(() => removed.textContent()).toContain('Removed output, dropped');
    expect(await page.getByRole('button', { name: /^Drop sink/ }).count()).toBe(0);
    const ledgerRow = page.locator('tr[data-loss="sink-dropped"]').first();
    await expect.poll(() => ledgerRow.count()).toBe(1);
    expect(await ledgerRow.textContent()).toContain('broken');
    expect(lag).toBeGreaterThan(0);
    await saveScreenshot(page, 'ops-losses-dropped');
  });

  it('an admin resets a password, deletes a user and revokes a token, each after a confirmation', async () => {
    await goTo('access', 'Users and tokens');
    await expect.poll(() => page.locator(`tr[data-user="${VIEWER.user}"]`).count()).toBe(1);

    await page.getByRole('button', { name: `Reset password of ${VIEWER.user}` }).click();
    const reset = page.getByRole('dialog', { name: `Reset the password of ${VIEWER.user}` });
    await reset.getByLabel('New password').fill('viewer-password-2');
    await checkAccessibility(page, 'reset password dialog');
    await reset.getByRole('button', { name: 'Set password' }).click();
    await expect.poll(() => page.locator('#users').getByRole('status').first().textContent()).toContain(`Password of ${VIEWER.user} reset`);

    await page.getByRole('button', { name: `Delete user ${OPERATOR.user}` }).click();
    const del = page.getByRole('dialog', { name: `Delete user ${OPERATOR.user}?` });
    expect(await del.textContent()).toContain('can no longer log in');
    await del.getByRole('button', { name: `Delete ${OPERATOR.user}` }).click();
    await expect.poll(() => page.locator(`tr[data-user="${OPERATOR.user}"]`).count()).toBe(0);

    await page.getByRole('button', { name: 'Revoke token grafana' }).click();
    const revoke = page.getByRole('dialog', { name: 'Revoke token grafana?' });
    await revoke.getByRole('button', { name: 'Revoke grafana' }).click();
    await expect.poll(() => page.locator('tr[data-token="grafana"] [data-figure="token-state"]').textContent()).toMatch(/^revoked /);
    expect(await page.getByRole('button', { name: 'Revoke token grafana' }).count()).toBe(0);
    expect(await statusOf('/api/v1/status', { bearer: token })).toBe(401);

    // the server holds all three: the new password logs in, the old does not
    await logOut(ADMIN.user);
    await page.getByLabel('User name').fill(VIEWER.user);
    await page.getByLabel('Password', { exact: true }).fill(VIEWER.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('wrong user name or password');
    await page.getByLabel('Password', { exact: true }).fill('viewer-password-2');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(h1).not.toBe('Log in');
  });
});
