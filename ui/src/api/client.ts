/**
 * The UI's only way to the gateway: a typed fetch wrapper over the control-plane API (JSON, same
 * origin, the session cookie sent by the browser).
 *
 * Constraints:
 * - The session cookie is HttpOnly: scripts never see it. The session's CSRF token (from the login
 *   answer or GET /api/v1/me) is held in memory only and sent in `x-csrf-token` on every change.
 * - A 401 on a call made while logged in means the session ended (expired, idle, logged out
 *   elsewhere): the app is told once, and it goes back to the login page saying so.
 * - Errors carry the API's own `message` (`{ error, message }`), which is written for people:
 *   the UI shows it as it is, never a generic "request failed".
 */
import type { ApiErrorBody } from './types.js';

export class ApiError extends Error {
  constructor(
    /** HTTP status; 0 when the gateway did not answer */
    readonly status: number,
    /** the API's error code (LG_API_...), or '' when it sent none */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const CSRF_HEADER = 'x-csrf-token';

interface CallOptions {
  /** a 401 is an answer of this call (login, the first "who am I"), not an ended session */
  unauthenticatedIsAnswer?: boolean;
}

export class ApiClient {
  private csrfToken: string | null = null;
  private sessionEnded: (() => void) | undefined;

  /** the session's CSRF token (null after logout) */
  setCsrfToken(token: string | null): void {
    this.csrfToken = token;
  }

  /** called when a call made with a session is answered 401 */
  onSessionEnded(handler: () => void): void {
    this.sessionEnded = handler;
  }

  get<T>(path: string, opts: CallOptions = {}): Promise<T> {
    return this.call<T>('GET', path, undefined, opts);
  }

  post<T>(path: string, body?: unknown, opts: CallOptions = {}): Promise<T> {
    return this.call<T>('POST', path, body, opts);
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('PATCH', path, body, {});
  }

  delete<T>(path: string): Promise<T> {
    return this.call<T>('DELETE', path, undefined, {});
  }

  private async call<T>(method: string, path: string, body: unknown, opts: CallOptions): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET' && this.csrfToken !== null) headers[CSRF_HEADER] = this.csrfToken;
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers,
        credentials: 'same-origin',
        cache: 'no-store',
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      throw new ApiError(0, '', `the gateway did not answer (${err instanceof Error ? err.message : String(err)}); is it running?`);
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    const parsed = parseJson(text);
    if (res.ok) return parsed as T;
    const { code, message } = errorOf(res, parsed, text);
    if (res.status === 401 && !opts.unauthenticatedIsAnswer) this.sessionEnded?.();
    throw new ApiError(res.status, code, message);
  }
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function errorOf(res: Response, parsed: unknown, text: string): { code: string; message: string } {
  const body = parsed as Partial<ApiErrorBody> | undefined;
  if (body && typeof body.message === 'string') return { code: typeof body.error === 'string' ? body.error : '', message: body.message };
  return { code: '', message: `the gateway answered ${res.status} ${res.statusText}${text ? `: ${text.slice(0, 200)}` : ''}` };
}

/** the one client of the page */
export const api = new ApiClient();
