/**
 * Browser helpers for the web UI's tests: real headless Chromium from Debian, driven by playwright-core.
 *
 * What:
 * - `ensureChromium()` returns /usr/bin/chromium, installing Debian's `chromium` package (with
 *   `fonts-liberation`, so text renders the same on a bare machine) through the service harness's
 *   `aptInstall` when it is missing. The machine reaches Debian's mirror and npm only, so Playwright's
 *   own browser downloads are never used. Concurrent test workers take turns through a lock file in
 *   `.services/cache/locks/` (two apt-get runs would fight over the dpkg lock); nothing else is cached.
 * - `openBrowser()` launches that Chromium and returns one context and one page, plus `close()`.
 * - `checkAccessibility()` runs axe-core in the page and throws a readable list of the serious and
 *   critical violations.
 * - `saveScreenshot()` writes a full-page PNG to `test-artifacts/screenshots/<name>.png` (git-ignored).
 *
 * Why the flags (`CHROMIUM_ARGS`):
 * - `--headless`: no display on CI machines (Chromium's current headless mode, the full browser).
 * - `--no-sandbox`: the tests run as root in a container, where Chromium's sandbox cannot start.
 * - `--disable-gpu`: no GPU; software rendering keeps screenshots the same from machine to machine.
 * - `--disable-background-networking`, `--disable-component-update`, `--disable-sync`: no requests
 *   to Google's services (the machine reaches none of them; they would only add noise and delays).
 *
 * How a self-signed certificate is trusted: the gateway's API serves a self-signed certificate
 * (gateway/api/tls.ts). The context keeps `ignoreHTTPSErrors: false`; instead, `trustCertificate` (the
 * PEM) becomes Chromium's `--ignore-certificate-errors-spki-list=<base64 SHA-256 of the certificate's
 * SubjectPublicKeyInfo>`, which waives certificate errors only for a chain that holds exactly that
 * public key (it works because Playwright always launches with its own `--user-data-dir`, which the
 * switch requires). Any other certificate is still refused (net::ERR_CERT_AUTHORITY_INVALID), as
 * test/e2e/browser-harness.test.ts checks.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { AxeResults, Result as AxeResult, RunOptions as AxeRunOptions } from 'axe-core';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { CACHE_DIR, REPO_ROOT, aptInstall, capture, progress, step } from '../services/process.js';
import { sleep } from './wait.js';

/** Debian's Chromium (a wrapper script that runs /usr/lib/chromium/chromium) */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Debian packages installed when Chromium is missing */
const PACKAGES = ['chromium', 'fonts-liberation'] as const;

/** the launch flags every test browser gets (see the header for why) */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** where test artifacts go (git-ignored) */
export const ARTIFACTS_DIR = path.join(REPO_ROOT, 'test-artifacts');
export const SCREENSHOTS_DIR = path.join(ARTIFACTS_DIR, 'screenshots');

const INSTALL_LOCK = path.join(CACHE_DIR, 'locks', 'chromium-install.lock');
const APT_LOG = path.join(CACHE_DIR, 'logs', 'apt.log');

// ---------------------------------------------------------------------------------------------
// ensureChromium

let ensured: Promise<string> | undefined;

/**
 * The path of Debian's Chromium, /usr/bin/chromium, installed with apt-get (as root, or through
 * `sudo -n`) when missing. Checked once per process. Throws naming the step that failed (the apt-get
 * command with the tail of .services/cache/logs/apt.log, or Chromium not starting).
 */
export function ensureChromium(): Promise<string> {
  ensured ??= installChromium().catch((error: unknown) => {
    ensured = undefined;
    throw error;
  });
  return ensured;
}

async function installChromium(): Promise<string> {
  if (!existsSync(CHROMIUM_PATH)) {
    const release = await takeInstallLock();
    try {
      // another worker may have installed it while this one waited for the lock
      if (!existsSync(CHROMIUM_PATH)) {
        try {
          await step(`chromium: apt-get install ${PACKAGES.join(' ')}`, () => aptInstall('chromium', PACKAGES), 15_000);
        } catch (error) {
          throw new Error(
            `ensureChromium: installing Debian's ${PACKAGES.join(', ')} with apt-get failed (needs root or password-less sudo, and Debian's mirror; log: ${APT_LOG})\n${(error as Error).message}`,
            { cause: error },
          );
        }
      }
    } finally {
      release();
    }
    if (!existsSync(CHROMIUM_PATH)) {
      throw new Error(`ensureChromium: apt-get installed ${PACKAGES.join(', ')} but ${CHROMIUM_PATH} is still missing (see ${APT_LOG})`);
    }
  }
  try {
    const version = (await capture(CHROMIUM_PATH, ['--version'])).trim();
    if (!/\d+\.\d+/.test(version)) throw new Error(`unexpected output: ${JSON.stringify(version)}`);
  } catch (error) {
    throw new Error(`ensureChromium: ${CHROMIUM_PATH} is installed but does not run: ${(error as Error).message}`, { cause: error });
  }
  return CHROMIUM_PATH;
}

/** The version Chromium reports, e.g. "Chromium 156.0.8078.114 built on Debian 12.11, running on Debian 12.11". */
export async function chromiumVersion(): Promise<string> {
  return (await capture(await ensureChromium(), ['--version'])).trim();
}

/**
 * An exclusive lock file holding the owner's pid; a lock whose owner is gone is taken over. Waits up to
 * 15 minutes (a cold apt-get install on a slow mirror), then fails naming the lock file.
 */
async function takeInstallLock(): Promise<() => void> {
  mkdirSync(path.dirname(INSTALL_LOCK), { recursive: true });
  const deadline = Date.now() + 15 * 60_000;
  let announced = false;
  for (;;) {
    try {
      const fd = openSync(INSTALL_LOCK, 'wx');
      writeFileSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(INSTALL_LOCK, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`ensureChromium: cannot create ${INSTALL_LOCK}: ${(error as Error).message}`);
    }
    const owner = Number.parseInt(readText(INSTALL_LOCK), 10);
    if (!Number.isInteger(owner) || owner <= 0 || !alive(owner)) {
      rmSync(INSTALL_LOCK, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`ensureChromium: still waiting for process ${owner} to finish installing Chromium (lock ${INSTALL_LOCK})`);
    if (!announced) progress(`chromium: waiting for process ${owner}, which is installing Chromium`);
    announced = true;
    await sleep(1_000);
  }
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// ---------------------------------------------------------------------------------------------
// openBrowser

/**
 * Base64 of the SHA-256 of a certificate's SubjectPublicKeyInfo (DER) — the form Chromium's
 * `--ignore-certificate-errors-spki-list` and HPKP pins use.
 */
export function spkiFingerprint(certificatePem: string): string {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certificatePem);
  } catch (error) {
    throw new Error(`trustCertificate: not a PEM certificate: ${(error as Error).message}`, { cause: error });
  }
  const spki = certificate.publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

export interface OpenBrowserOptions {
  /** CSS pixels; 1280 × 800 by default */
  viewport?: { width: number; height: number };
  /** `prefers-color-scheme`; 'light' by default */
  colorScheme?: 'light' | 'dark';
  /**
   * a PEM certificate (e.g. the gateway API's generated one) to accept although no CA signed it;
   * only its public key is trusted, every other certificate error stays an error
   */
  trustCertificate?: string;
}

export interface OpenedBrowser {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** closes the context and the browser (safe to call twice) */
  close(): Promise<void>;
}

/**
 * Launch Debian's Chromium headless (installed first when missing) with one context and one page.
 * Locale en-US and time zone UTC, so dates and numbers render the same on every machine.
 */
export async function openBrowser(opts: OpenBrowserOptions = {}): Promise<OpenedBrowser> {
  const executablePath = await ensureChromium();
  const args = [...CHROMIUM_ARGS];
  if (opts.trustCertificate !== undefined) args.push(`--ignore-certificate-errors-spki-list=${spkiFingerprint(opts.trustCertificate)}`);
  let browser: Browser;
  try {
    browser = await chromium.launch({ executablePath, args, headless: true });
  } catch (error) {
    throw new Error(`openBrowser: launching ${executablePath} failed: ${(error as Error).message}`, { cause: error });
  }
  try {
    const context = await browser.newContext({
      viewport: opts.viewport ?? { width: 1280, height: 800 },
      colorScheme: opts.colorScheme ?? 'light',
      ignoreHTTPSErrors: false,
      locale: 'en-US',
      timezoneId: 'UTC',
    });
    const page = await context.newPage();
    let closing: Promise<void> | undefined;
    const close = (): Promise<void> =>
      (closing ??= (async () => {
        await context.close().catch(() => undefined);
        await browser.close();
      })());
    return { browser, context, page, close };
  } catch (error) {
    await browser.close().catch(() => undefined);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// checkAccessibility

const require = createRequire(import.meta.url);
let axeSource: string | undefined;

/** axe-core's browser bundle, read once */
function axeScript(): string {
  axeSource ??= readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  return axeSource;
}

/** the impacts that fail a check; minor and moderate findings are left to review */
const FAILING_IMPACTS = new Set(['serious', 'critical']);

/**
 * Run axe-core on the page as it is now and throw when it finds violations of impact serious or
 * critical, listing for each the rule id, impact, help text, help URL and the first targets.
 * `context` names the page or state in the message (e.g. 'login form, dark').
 * `options.disableRules` turns off named rules (say why in the test).
 */
export async function checkAccessibility(page: Page, context: string, options: { disableRules?: readonly string[] } = {}): Promise<void> {
  const installed = await page.evaluate(() => typeof (globalThis as { axe?: unknown }).axe === 'object');
  if (!installed) {
    try {
      await page.addScriptTag({ content: axeScript() });
    } catch {
      // a Content-Security-Policy without 'unsafe-inline' blocks the script tag; evaluating over the
      // DevTools protocol is not subject to the page's CSP
      await page.evaluate(axeScript());
    }
  }
  const runOptions: AxeRunOptions = {
    resultTypes: ['violations'],
    rules: Object.fromEntries((options.disableRules ?? []).map((rule) => [rule, { enabled: false }])),
  };
  const results = await page.evaluate(
    (o) => (globalThis as unknown as { axe: { run(options: unknown): Promise<AxeResults> } }).axe.run(o),
    runOptions as unknown as Record<string, unknown>,
  );
  const failing = results.violations.filter((v) => v.impact != null && FAILING_IMPACTS.has(v.impact));
  if (failing.length > 0) throw new AccessibilityError(context, results.url, failing);
}

export class AccessibilityError extends Error {
  constructor(
    readonly context: string,
    readonly url: string,
    readonly violations: readonly AxeResult[],
  ) {
    super(
      `accessibility (${context}): ${violations.length} serious or critical axe-core violation${violations.length === 1 ? '' : 's'} at ${url}\n${violations.map(describeViolation).join('\n')}`,
    );
    this.name = 'AccessibilityError';
  }
}

function describeViolation(v: AxeResult): string {
  const shown = 3;
  const targets = v.nodes.slice(0, shown).map((node) => node.target.map((t) => (Array.isArray(t) ? t.join(' >>> ') : String(t))).join(' '));
  const more = v.nodes.length > shown ? ` (and ${v.nodes.length - shown} more)` : '';
  return `  - ${v.id} [${v.impact}] ${v.help}: ${targets.join(', ')}${more}\n    ${v.helpUrl}`;
}

// ---------------------------------------------------------------------------------------------
// saveScreenshot

/**
 * A full-page PNG of the page in test-artifacts/screenshots/<name>.png (the folder is made when
 * missing, an older file of that name is replaced); returns the absolute path.
 * `name` is a file name without extension: letters, digits, '.', '_' and '-'.
 */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new Error(`saveScreenshot: invalid name ${JSON.stringify(name)} (letters, digits, '.', '_', '-')`);
  mkdirSync(SCREENSHOTS_DIR, { recursive: true });
  const file = path.join(SCREENSHOTS_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true, type: 'png' });
  return file;
}
