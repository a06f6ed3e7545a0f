/**
 * The one-time setup token that creates the first admin: there is no default password to guess.
 *
 * While no admin exists, the gateway keeps a random token in `<dataDir>/api/setup-token` (mode
 * 0600, readable only by the gateway's user, i.e. by whoever administers the PC), prints it in its
 * log, and `layergate admin setup` prints it. `POST /api/v1/setup` with that token, a name and a
 * password creates the first admin; the file is then deleted and the token is void. An admin made
 * with `layergate users add --role admin` voids it the same way.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const SETUP_TOKEN_FILE = 'setup-token';

export function setupTokenPath(apiDir: string): string {
  return path.join(apiDir, SETUP_TOKEN_FILE);
}

/** The setup token, made when missing. */
export function ensureSetupToken(apiDir: string): string {
  const file = setupTokenPath(apiDir);
  if (existsSync(file)) {
    const t = readFileSync(file, 'utf8').trim();
    if (t.length >= 32) return t;
  }
  mkdirSync(apiDir, { recursive: true, mode: 0o700 });
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return token;
}

/** The setup token on file, if any. */
export function readSetupToken(apiDir: string): string | undefined {
  const file = setupTokenPath(apiDir);
  return existsSync(file) ? readFileSync(file, 'utf8').trim() || undefined : undefined;
}

export function setupTokenMatches(apiDir: string, presented: string): boolean {
  const expected = readSetupToken(apiDir);
  if (expected === undefined) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function voidSetupToken(apiDir: string): void {
  rmSync(setupTokenPath(apiDir), { force: true });
}
