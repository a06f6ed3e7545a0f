/**
 * Who may call which route: every route declares the lowest role it needs (`config.access`), and one
 * `onRequest` hook, run before the body is read, enforces it.
 *
 * - `public`: no credential (health probes, login, first-admin setup).
 * - `viewer` | `operator` | `admin`: a session cookie or an API token (`Authorization: Bearer`)
 *   whose role is at least that; else 401 without a credential, 403 with one too weak.
 * - `metrics`: like `viewer`, or a client address listed in `api.metricsAllow` (a Prometheus
 *   server scrapes with no token).
 * - A state change (any method but GET, HEAD, OPTIONS) made with a session cookie must carry the
 *   session's CSRF token in `x-csrf-token` (compared in constant time); token callers are not
 *   browsers and carry no ambient credential, so they need none.
 *
 * A route registered without `access` is refused at registration (`assertDeclaresAccess`): no route can
 * be left open by forgetting to protect it.
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { ApiCsrfError, ApiForbiddenError, ApiUnauthenticatedError } from '../plugin-api/errors.js';
import { allows, type IdentityStore, type Principal } from './identity/store.js';
import type { Role } from './identity/roles.js';

export type Access = 'public' | 'metrics' | Role;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** the lowest role the route needs (see gateway/api/auth.ts) */
    access?: Access;
  }
  interface FastifyRequest {
    /** who is calling, once the access hook checked it (undefined on public routes) */
    principal?: Principal;
  }
}

export const SESSION_COOKIE = 'lg_session';
export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function assertDeclaresAccess(route: RouteOptions): void {
  const access = (route.config as { access?: Access } | undefined)?.access;
  if (access === undefined) throw new Error(`API route ${String(route.method)} ${route.url} declares no access (config.access)`);
}

export interface AccessOptions {
  identity: IdentityStore;
  sessionIdleMs: number;
  metricsAllow: readonly string[];
}

/** The principal a request's credentials name, or undefined without a valid one. */
export function principalOf(req: FastifyRequest, opts: AccessOptions): Principal | undefined {
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    return m ? opts.identity.token(m[1]!) : undefined;
  }
  const cookie = req.cookies?.[SESSION_COOKIE];
  return cookie ? opts.identity.session(cookie, opts.sessionIdleMs) : undefined;
}

export function accessHook(opts: AccessOptions) {
  const allowed = new Set(opts.metricsAllow.map(normalizeIp));
  return async (req: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const access = req.routeOptions.config?.access;
    // no route matched: the 404 handler answers, and it reveals nothing
    if (access === undefined || access === 'public') return;
    if (access === 'metrics' && allowed.has(normalizeIp(req.ip))) return;
    const principal = principalOf(req, opts);
    if (!principal) throw new ApiUnauthenticatedError('log in, or send an API token (Authorization: Bearer ...)');
    const needed: Role = access === 'metrics' ? 'viewer' : access;
    if (!allows(principal.role, needed)) {
      throw new ApiForbiddenError(
        `this needs the role ${needed} or higher; ${principal.kind === 'token' ? 'the token' : `user "${principal.name}"`} has ${principal.role}`,
      );
    }
    if (principal.kind === 'session' && !SAFE_METHODS.has(req.method)) {
      const sent = req.headers[CSRF_HEADER];
      if (typeof sent !== 'string' || !sameText(sent, principal.csrf!)) {
        throw new ApiCsrfError(`a change made with a session cookie needs the session's CSRF token in the ${CSRF_HEADER} header`);
      }
    }
    req.principal = principal;
  };
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** IPv4-mapped IPv6 (`::ffff:10.0.0.5`) compares as the IPv4 address. */
function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}
