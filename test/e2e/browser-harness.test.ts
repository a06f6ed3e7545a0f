/**
 * The browser helpers of test/support/browser.ts, against pages served here over HTTPS with freshly
 * generated self-signed certificates (made like the gateway API's, gateway/api/tls.ts): the trusted
 * certificate's page loads and runs its script, axe-core passes an accessible page and names the rule
 * of a serious violation, a full-page screenshot is written, and a server with any other certificate
 * (or the same one without `trustCertificate`) is refused. Needs none of the test services.
 */
import { existsSync, readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AccessibilityError,
  type OpenedBrowser,
  SCREENSHOTS_DIR,
  checkAccessibility,
  ensureChromium,
  openBrowser,
  saveScreenshot,
} from '../support/browser.js';

const ACCESSIBLE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Harness check</title>
<style>body { font-family: sans-serif; } @media (prefers-color-scheme: dark) { body { background: #111; color: #eee; } }</style></head>
<body>
<main>
  <h1>LayerGate browser harness</h1>
  <p id="out">not rendered yet</p>
  <button type="button">Refresh</button>
</main>
<script>document.getElementById('out').textContent = 'rendered by script: ' + (6 * 7);</script>
</body>
</html>`;

const INACCESSIBLE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Broken page</title></head>
<body>
<main>
  <h1>Broken page</h1>
  <img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" width="10" height="10">
  <button type="button"></button>
</main>
</body>
</html>`;

async function certificate(): Promise<{ cert: string; key: string }> {
  const now = Date.now();
  const pems = await generate([{ name: 'commonName', value: 'LayerGate browser harness' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now - 60_000),
    notAfterDate: new Date(now + 24 * 3600_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

interface Served {
  url: string;
  cert: string;
  close(): Promise<void>;
}

async function serve(): Promise<Served> {
  const { cert, key } = await certificate();
  const server = https.createServer({ cert, key }, (req, res) => {
    const body = req.url === '/inaccessible' ? INACCESSIBLE : req.url === '/' ? ACCESSIBLE : undefined;
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(body ?? 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    cert,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('browser harness (test/support/browser.ts)', () => {
  let trusted: Served;
  let other: Served;
  let opened: OpenedBrowser | undefined;

  beforeAll(async () => {
    await ensureChromium(); // apt-get install on a fresh machine
    [trusted, other] = await Promise.all([serve(), serve()]);
    opened = await openBrowser({ trustCertificate: trusted.cert, viewport: { width: 1024, height: 700 }, colorScheme: 'dark' });
  }, 600_000);

  afterAll(async () => {
    await opened?.close();
    await Promise.all([trusted?.close(), other?.close()]);
  });

  it('loads the page of the trusted self-signed certificate and runs its script', async () => {
    const { page } = opened!;
    const response = await page.goto(`${trusted.url}/`);
    expect(response?.status()).toBe(200);
    await expect.poll(() => page.textContent('#out')).toBe('rendered by script: 42');
    expect(await page.evaluate(() => (globalThis as unknown as { innerWidth: number }).innerWidth)).toBe(1024);
    expect(
      await page.evaluate(() => (globalThis as unknown as { matchMedia(q: string): { matches: boolean } }).matchMedia('(prefers-color-scheme: dark)').matches),
    ).toBe(true);
  });

  it('checkAccessibility passes an accessible page', async () => {
    const { page } = opened!;
    await page.goto(`${trusted.url}/`);
    await checkAccessibility(page, 'harness page');
  });

  it('checkAccessibility throws naming the rules of serious and critical violations', async () => {
    const { page } = opened!;
    await page.goto(`${trusted.url}/inaccessible`);
    const error = await checkAccessibility(page, 'broken page').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AccessibilityError);
    const message = (error as Error).message;
    expect(message).toContain('accessibility (broken page)');
    expect(message).toMatch(/- image-alt \[critical\] Images must have alternative text: img/);
    expect(message).toMatch(/- button-name \[critical\] Buttons must have discernible text: button/);
    expect((error as AccessibilityError).violations.map((v) => v.id).sort()).toEqual(['button-name', 'image-alt']);
    // a rule turned off is not reported
    await expect(checkAccessibility(page, 'broken page', { disableRules: ['image-alt', 'button-name'] })).resolves.toBeUndefined();
  });

  it('saveScreenshot writes a full-page PNG to test-artifacts/screenshots/', async () => {
    const { page } = opened!;
    await page.goto(`${trusted.url}/`);
    const file = await saveScreenshot(page, 'browser-harness');
    expect(file).toBe(path.join(SCREENSHOTS_DIR, 'browser-harness.png'));
    expect(existsSync(file)).toBe(true);
    const png = readFileSync(file);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(png.readUInt32BE(16)).toBe(1024); // IHDR width: the viewport's
    await expect(saveScreenshot(page, '../escape')).rejects.toThrow(/invalid name/);
  });

  it('refuses a server with another certificate', async () => {
    const { page } = opened!;
    await expect(page.goto(`${other.url}/`)).rejects.toThrow(/net::ERR_CERT_AUTHORITY_INVALID/);
  });

  it('refuses the self-signed certificate without trustCertificate', async () => {
    const plain = await openBrowser();
    try {
      await expect(plain.page.goto(`${trusted.url}/`)).rejects.toThrow(/net::ERR_CERT_AUTHORITY_INVALID/);
    } finally {
      await plain.close();
    }
  });
});
