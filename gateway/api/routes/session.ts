/**
 * First-admin setup, login, logout and "who am I".
 *
 * - `POST /api/v1/setup` creates the first admin with the one-time setup token
 *   (./../identity/setup-token.ts), and only while no admin exists.
 * - `POST /api/v1/login` answers a session cookie (HttpOnly, SameSite=Strict, Secure over TLS) and
 *   the session's CSRF token in the body. Failed logins lock the user name out after
 *   `api.login.maxFailures` within `api.login.window`; each client address is also rate limited.
 *   Every login, failed login and lockout goes to the audit log (the name tried, the address; never
 *   the password).
 * - `GET /api/v1/me` answers who is calling and, for a session, its CSRF token again: a reloaded UI
 *   page keeps only the HttpOnly cookie. Only this origin's scripts can read the answer (no CORS), so
 *   a cross-site form still cannot learn it.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiLockedOutError, ApiSetupError, ApiUnauthenticatedError } from '../../plugin-api/errors.js';
import { SESSION_COOKIE } from '../auth.js';
import { type ApiDeps, typed } from '../deps.js';
import { passwordProblem } from '../identity/passwords.js';
import { ROLES } from '../identity/roles.js';
import { setupTokenMatches, voidSetupToken } from '../identity/setup-token.js';
import { USER_NAME } from '../identity/store.js';

const userName = z.string().regex(USER_NAME, 'letters, digits, . _ @ - (1-64, starting with a letter or digit)');
const password = z.string().min(1).max(1024);
const sessionAnswer = z.object({ user: z.string(), role: z.enum(ROLES), csrfToken: z.string(), expiresAt: z.string() });

export function sessionRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const r = typed(app);
  const limit = { max: deps.config.login.perAddressPerMinute, timeWindow: 60_000 };

  r.get('/api/v1/setup', { config: { access: 'public' }, schema: { response: { 200: z.object({ needed: z.boolean() }) } } }, async () => ({
    needed: !deps.identity.hasAdmin(),
  }));

  r.post(
    '/api/v1/setup',
    {
      config: { access: 'public', rateLimit: limit },
      schema: {
        body: z.strictObject({ setupToken: z.string().min(1).max(256), user: userName, password }),
        response: { 201: z.object({ user: z.string(), role: z.literal('admin') }) },
      },
    },
    async (req, reply) => {
      const { setupToken, user, password: pw } = req.body;
      if (deps.identity.hasAdmin() || !setupTokenMatches(deps.apiDir, setupToken)) {
        deps.audit.append('setup-refused', { user, address: req.ip });
        throw new ApiSetupError(
          deps.identity.hasAdmin() ? 'an admin exists already: log in as that admin' : 'the setup token is not the one the gateway issued',
        );
      }
      const problem = passwordProblem(pw);
      if (problem) throw new RangeError(problem);
      if (!(await deps.identity.addFirstAdmin(user, pw))) throw new ApiSetupError('an admin exists already: log in as that admin');
      voidSetupToken(deps.apiDir);
      deps.audit.append('user-added', { user, role: 'admin', by: 'setup-token', address: req.ip });
      deps.log.info({ user }, 'api: first admin created; the setup token is void');
      return reply.code(201).send({ user, role: 'admin' as const });
    },
  );

  r.post(
    '/api/v1/login',
    {
      config: { access: 'public', rateLimit: limit },
      schema: { body: z.strictObject({ user: z.string().min(1).max(64), password }), response: { 200: sessionAnswer } },
    },
    async (req, reply) => {
      const { user, password: pw } = req.body;
      const l = deps.config.login;
      const result = await deps.identity.login(user, pw, { maxFailures: l.maxFailures, windowMs: l.window, lockoutMs: l.lockout });
      if (!result.ok) {
        const locked = result.lockedUntilMs !== undefined;
        deps.audit.append(locked ? 'login-locked-out' : 'login-failed', {
          user,
          address: req.ip,
          ...(locked ? { until: new Date(result.lockedUntilMs!).toISOString() } : {}),
        });
        if (locked) {
          const seconds = Math.ceil((result.lockedUntilMs! - Date.now()) / 1000);
          reply.header('retry-after', String(seconds));
          throw new ApiLockedOutError(`too many failed logins for "${user}": try again in ${seconds} s`);
        }
        throw new ApiUnauthenticatedError('wrong user name or password');
      }
      const session = deps.identity.createSession(result.user.name, deps.config.sessionTtl);
      deps.audit.append('login', { user: result.user.name, role: result.user.role, address: req.ip });
      reply.setCookie(SESSION_COOKIE, session.id, {
        httpOnly: true,
        sameSite: 'strict',
        secure: deps.secureCookies,
        path: '/',
        maxAge: Math.floor(deps.config.sessionTtl / 1000),
      });
      return { user: result.user.name, role: result.user.role, csrfToken: session.csrf, expiresAt: new Date(session.expiresMs).toISOString() };
    },
  );

  r.post('/api/v1/logout', { config: { access: 'viewer' }, schema: { response: { 204: z.null() } } }, async (req, reply) => {
    const cookie = req.cookies[SESSION_COOKIE];
    if (cookie && req.principal?.kind === 'session') deps.identity.endSession(cookie);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.code(204).send(null);
  });

  r.get(
    '/api/v1/me',
    {
      config: { access: 'viewer' },
      schema: {
        response: {
          200: z.object({
            name: z.string(),
            kind: z.enum(['session', 'token']),
            role: z.enum(ROLES),
            maxClass: z.string(),
            /** the session's CSRF token again (a reloaded UI page has only its cookie); null for API tokens, which need none */
            csrfToken: z.string().nullable(),
          }),
        },
      },
    },
    async (req) => {
      const p = req.principal!;
      return { name: p.name, kind: p.kind, role: p.role, maxClass: p.maxClass, csrfToken: p.kind === 'session' ? p.csrf! : null };
    },
  );
}
