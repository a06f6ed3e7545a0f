/**
 * Who may use the API: users (scrypt-hashed passwords), API tokens for machines, browser sessions
 * and failed-login bookkeeping, in a small SQLite file of its own, `<dataDir>/api/identity.sqlite`
 * (mode 0600; never the buffer's database: it is backed up, not bounded, and outlives a buffer reset).
 *
 * Layout:
 *   users(name, role, password, created_at, updated_at)
 *   tokens(id, label, role, max_class, secret_sha256, created_by, created_at, expires_ms, revoked_at, last_used_ms)
 *   sessions(id_sha256, user, csrf, created_ms, expires_ms, seen_ms)
 *   login_failures(user, at_ms); lockouts(user, until_ms)
 *   alert_acks(id, by, at): alerts an operator acknowledged, kept while the alert lasts
 *
 * Constraints:
 * - Nothing that grants access is stored as given: passwords as scrypt hashes (./passwords.ts), token
 *   secrets and session ids as SHA-256 (they are 256-bit random, so a plain hash is enough and
 *   lookup stays O(1)). A token is shown once, when it is made: `lg_<id>_<secret>`.
 * - Several processes may use the file at once (the gateway, and the CLI's `users add` beside it):
 *   WAL mode and a busy timeout; every change is one statement or one transaction.
 * - A lockout is per user name (also for names that do not exist, so a lockout does not tell which
 *   names do); the per-address limit is the API's rate limit.
 * - The last admin cannot be removed or demoted: the gateway is never left without one.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ApiConflictError, ApiNotFoundError } from '../../plugin-api/errors.js';
import { SENSITIVITY_CLASSES } from '../../plugin-api/record.js';
import type { SensitivityClass } from '../../plugin-api/record.js';
import { hashPassword, verifyPassword } from './passwords.js';
import { type Role, roleRank } from './roles.js';

export const IDENTITY_FILE = 'identity.sqlite';
const TOKEN_PREFIX = 'lg_';
/** user names: what a login form and a log line can carry without escaping */
export const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  name TEXT PRIMARY KEY, role TEXT NOT NULL, password TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY, label TEXT NOT NULL, role TEXT NOT NULL, max_class TEXT NOT NULL, secret_sha256 TEXT NOT NULL,
  created_by TEXT NOT NULL, created_at TEXT NOT NULL, expires_ms INTEGER, revoked_at TEXT, last_used_ms INTEGER
);
CREATE TABLE IF NOT EXISTS sessions (
  id_sha256 TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL,
  created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, seen_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user);
CREATE TABLE IF NOT EXISTS login_failures (user TEXT NOT NULL, at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS login_failures_by_user ON login_failures(user, at_ms);
CREATE TABLE IF NOT EXISTS lockouts (user TEXT PRIMARY KEY, until_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS alert_acks (id TEXT PRIMARY KEY, by TEXT NOT NULL, at TEXT NOT NULL);
PRAGMA user_version = 1;
`;

/** Who a request is, once its cookie or token was checked. */
export interface Principal {
  kind: 'session' | 'token';
  /** the user's name, or the token's label */
  name: string;
  role: Role;
  /** the most sensitive class this caller may read (tokens may be limited; users see every class) */
  maxClass: SensitivityClass;
  /** the token's id (kind token) */
  tokenId?: string;
  /** the session's CSRF token (kind session): state changes must echo it */
  csrf?: string;
}

export interface UserInfo {
  name: string;
  role: Role;
  createdAt: string;
  updatedAt: string;
}

export interface TokenInfo {
  id: string;
  label: string;
  role: Role;
  maxClass: SensitivityClass;
  createdBy: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

export type LoginResult = { ok: true; user: UserInfo } | { ok: false; lockedUntilMs?: number };

export interface LoginPolicy {
  maxFailures: number;
  windowMs: number;
  lockoutMs: number;
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

function equalHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

interface UserRow {
  name: string;
  role: Role;
  password: string;
  created_at: string;
  updated_at: string;
}

interface TokenRow {
  id: string;
  label: string;
  role: Role;
  max_class: SensitivityClass;
  secret_sha256: string;
  created_by: string;
  created_at: string;
  expires_ms: number | null;
  revoked_at: string | null;
  last_used_ms: number | null;
}

export class IdentityStore {
  readonly file: string;
  private readonly db: Database.Database;
  /** a password check for names that do not exist costs the same as for names that do */
  private dummyHash: Promise<string> | undefined;

  constructor(apiDir: string) {
    mkdirSync(apiDir, { recursive: true, mode: 0o700 });
    this.file = path.join(apiDir, IDENTITY_FILE);
    this.db = new Database(this.file, { timeout: 5_000 });
    chmodSync(this.file, 0o600);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(SCHEMA);
  }

  close(): void {
    this.db.close();
  }

  // ---- users ----------------------------------------------------------------------------------

  hasAdmin(): boolean {
    return this.db.prepare("SELECT 1 FROM users WHERE role = 'admin' LIMIT 1").get() !== undefined;
  }

  users(): UserInfo[] {
    return (this.db.prepare('SELECT * FROM users ORDER BY name').all() as UserRow[]).map(userInfo);
  }

  user(name: string): UserInfo | undefined {
    const row = this.db.prepare('SELECT * FROM users WHERE name = ?').get(name) as UserRow | undefined;
    return row && userInfo(row);
  }

  async addUser(name: string, role: Role, password: string): Promise<UserInfo> {
    if (!USER_NAME.test(name)) throw new RangeError(`user name "${name}": letters, digits, . _ @ - (1-64, starting with a letter or digit)`);
    const hash = await hashPassword(password);
    const now = new Date().toISOString();
    try {
      this.db.prepare('INSERT INTO users VALUES (?, ?, ?, ?, ?)').run(name, role, hash, now, now);
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new ApiConflictError(`user "${name}" exists already`);
      throw e;
    }
    return this.user(name)!;
  }

  /** Add the first admin, only while there is none (the setup flow): false when one exists already. */
  async addFirstAdmin(name: string, password: string): Promise<boolean> {
    if (!USER_NAME.test(name)) throw new RangeError(`user name "${name}": letters, digits, . _ @ - (1-64, starting with a letter or digit)`);
    const hash = await hashPassword(password);
    const now = new Date().toISOString();
    // checked and inserted in one transaction: two setup requests at once make one admin
    return this.db
      .transaction(() => {
        if (this.hasAdmin()) return false;
        this.db.prepare("INSERT INTO users VALUES (?, 'admin', ?, ?, ?)").run(name, hash, now, now);
        return true;
      })
      .immediate();
  }

  async setPassword(name: string, password: string): Promise<void> {
    const hash = await hashPassword(password);
    const r = this.db.prepare('UPDATE users SET password = ?, updated_at = ? WHERE name = ?').run(hash, new Date().toISOString(), name);
    if (r.changes === 0) throw new ApiNotFoundError(`no user "${name}"`);
    // a new password ends the sessions opened with the old one
    this.db.prepare('DELETE FROM sessions WHERE user = ?').run(name);
  }

  setRole(name: string, role: Role): void {
    this.db
      .transaction(() => {
        const u = this.user(name);
        if (!u) throw new ApiNotFoundError(`no user "${name}"`);
        if (u.role === 'admin' && role !== 'admin') this.assertNotLastAdmin(name);
        this.db.prepare('UPDATE users SET role = ?, updated_at = ? WHERE name = ?').run(role, new Date().toISOString(), name);
      })
      .immediate();
  }

  removeUser(name: string): void {
    this.db
      .transaction(() => {
        const u = this.user(name);
        if (!u) throw new ApiNotFoundError(`no user "${name}"`);
        if (u.role === 'admin') this.assertNotLastAdmin(name);
        this.db.prepare('DELETE FROM users WHERE name = ?').run(name);
        this.db.prepare('DELETE FROM sessions WHERE user = ?').run(name);
      })
      .immediate();
  }

  private assertNotLastAdmin(name: string): void {
    const others = this.db.prepare("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND name <> ?").get(name) as { n: number };
    if (others.n === 0) throw new ApiConflictError(`"${name}" is the last admin: add another admin first`);
  }

  // ---- login ----------------------------------------------------------------------------------

  /**
   * Check a login. A locked-out name is refused without checking the password; a wrong password
   * counts a failure and locks the name out after `maxFailures` within `windowMs`.
   */
  async login(name: string, password: string, policy: LoginPolicy, now = Date.now()): Promise<LoginResult> {
    const locked = this.db.prepare('SELECT until_ms FROM lockouts WHERE user = ?').get(name) as { until_ms: number } | undefined;
    if (locked && locked.until_ms > now) return { ok: false, lockedUntilMs: locked.until_ms };
    const row = this.db.prepare('SELECT * FROM users WHERE name = ?').get(name) as UserRow | undefined;
    this.dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
    const good = await verifyPassword(password, row?.password ?? (await this.dummyHash));
    if (row && good) {
      this.db.prepare('DELETE FROM login_failures WHERE user = ?').run(name);
      this.db.prepare('DELETE FROM lockouts WHERE user = ?').run(name);
      return { ok: true, user: userInfo(row) };
    }
    return this.db
      .transaction((): LoginResult => {
        this.db.prepare('DELETE FROM login_failures WHERE at_ms < ?').run(now - policy.windowMs);
        this.db.prepare('INSERT INTO login_failures VALUES (?, ?)').run(name, now);
        const { n } = this.db.prepare('SELECT COUNT(*) AS n FROM login_failures WHERE user = ?').get(name) as { n: number };
        if (n >= policy.maxFailures) {
          const until = now + policy.lockoutMs;
          this.db.prepare('INSERT OR REPLACE INTO lockouts VALUES (?, ?)').run(name, until);
          this.db.prepare('DELETE FROM login_failures WHERE user = ?').run(name);
          return { ok: false, lockedUntilMs: until };
        }
        return { ok: false };
      })
      .immediate();
  }

  // ---- sessions -------------------------------------------------------------------------------

  /** A new session for `user`: its id (the cookie) and CSRF token, shown once. */
  createSession(user: string, ttlMs: number, now = Date.now()): { id: string; csrf: string; expiresMs: number } {
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(32).toString('base64url');
    const expiresMs = now + ttlMs;
    this.db.prepare('DELETE FROM sessions WHERE expires_ms <= ?').run(now);
    this.db.prepare('INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)').run(sha256(id), user, csrf, now, expiresMs, now);
    return { id, csrf, expiresMs };
  }

  /** The principal of a session cookie, or undefined when it is unknown, expired or idle too long. */
  session(id: string, idleMs: number, now = Date.now()): Principal | undefined {
    const key = sha256(id);
    const row = this.db
      .prepare('SELECT s.user, s.csrf, s.expires_ms, s.seen_ms, u.role FROM sessions s JOIN users u ON u.name = s.user WHERE s.id_sha256 = ?')
      .get(key) as { user: string; csrf: string; expires_ms: number; seen_ms: number; role: Role } | undefined;
    if (!row) return undefined;
    if (row.expires_ms <= now || row.seen_ms + idleMs <= now) {
      this.db.prepare('DELETE FROM sessions WHERE id_sha256 = ?').run(key);
      return undefined;
    }
    // written at most every few seconds: a status stream polls often
    if (now - row.seen_ms > 5_000) this.db.prepare('UPDATE sessions SET seen_ms = ? WHERE id_sha256 = ?').run(now, key);
    return { kind: 'session', name: row.user, role: row.role, maxClass: 'confidential', csrf: row.csrf };
  }

  endSession(id: string): void {
    this.db.prepare('DELETE FROM sessions WHERE id_sha256 = ?').run(sha256(id));
  }

  // ---- alerts ---------------------------------------------------------------------------------

  acknowledgeAlert(id: string, by: string): { by: string; at: string } {
    const at = new Date().toISOString();
    this.db.prepare('INSERT OR REPLACE INTO alert_acks VALUES (?, ?, ?)').run(id, by, at);
    return { by, at };
  }

  /** Acknowledgements of the alerts in `active`; those of alerts no longer active are forgotten (a new occurrence is news again). */
  alertAcks(active: readonly string[]): Map<string, { by: string; at: string }> {
    const rows = this.db.prepare('SELECT id, by, at FROM alert_acks').all() as { id: string; by: string; at: string }[];
    const keep = new Set(active);
    const stale = rows.filter((r) => !keep.has(r.id));
    if (stale.length > 0) {
      const del = this.db.prepare('DELETE FROM alert_acks WHERE id = ?');
      this.db.transaction(() => {
        for (const r of stale) del.run(r.id);
      })();
    }
    return new Map(rows.filter((r) => keep.has(r.id)).map((r) => [r.id, { by: r.by, at: r.at }]));
  }

  // ---- tokens ---------------------------------------------------------------------------------

  /** Make a token; the returned `token` is the only time its secret exists outside a hash. */
  createToken(opts: { label: string; role: Role; maxClass: SensitivityClass; expiresMs: number | null; createdBy: string }): {
    token: string;
    info: TokenInfo;
  } {
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    this.db
      .prepare('INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)')
      .run(id, opts.label, opts.role, opts.maxClass, sha256(secret), opts.createdBy, new Date().toISOString(), opts.expiresMs);
    return { token: `${TOKEN_PREFIX}${id}_${secret}`, info: this.tokenInfo(id)! };
  }

  tokens(): TokenInfo[] {
    return (this.db.prepare('SELECT * FROM tokens ORDER BY created_at, id').all() as TokenRow[]).map(tokenInfo);
  }

  tokenInfo(id: string): TokenInfo | undefined {
    const row = this.db.prepare('SELECT * FROM tokens WHERE id = ?').get(id) as TokenRow | undefined;
    return row && tokenInfo(row);
  }

  /** Revoke a token: refused from the next request on. */
  revokeToken(id: string): TokenInfo {
    // revoking twice keeps the first time
    this.db.prepare('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(new Date().toISOString(), id);
    const info = this.tokenInfo(id);
    if (!info) throw new ApiNotFoundError(`no token "${id}"`);
    return info;
  }

  /** The principal of a bearer token, or undefined when it is malformed, unknown, revoked or expired. */
  token(presented: string, now = Date.now()): Principal | undefined {
    const m = /^lg_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/.exec(presented);
    if (!m) return undefined;
    const row = this.db.prepare('SELECT * FROM tokens WHERE id = ?').get(m[1]) as TokenRow | undefined;
    if (!row || !equalHex(row.secret_sha256, sha256(m[2]!))) return undefined;
    if (row.revoked_at !== null || (row.expires_ms !== null && row.expires_ms <= now)) return undefined;
    if (row.last_used_ms === null || now - row.last_used_ms > 60_000) this.db.prepare('UPDATE tokens SET last_used_ms = ? WHERE id = ?').run(now, row.id);
    return { kind: 'token', name: row.label, role: row.role, maxClass: row.max_class, tokenId: row.id };
  }
}

function userInfo(r: UserRow): UserInfo {
  return { name: r.name, role: r.role, createdAt: r.created_at, updatedAt: r.updated_at };
}

function tokenInfo(r: TokenRow): TokenInfo {
  return {
    id: r.id,
    label: r.label,
    role: r.role,
    maxClass: r.max_class,
    createdBy: r.created_by,
    createdAt: r.created_at,
    expiresAt: iso(r.expires_ms),
    revokedAt: r.revoked_at,
    lastUsedAt: iso(r.last_used_ms),
  };
}

/** Whether `role` may do what `needed` allows. */
export function allows(role: Role, needed: Role): boolean {
  return roleRank(role) >= roleRank(needed);
}

/** Whether a caller limited to `maxClass` may see records of class `cls`. */
export function mayRead(maxClass: SensitivityClass, cls: SensitivityClass): boolean {
  return SENSITIVITY_CLASSES.indexOf(cls) <= SENSITIVITY_CLASSES.indexOf(maxClass);
}
