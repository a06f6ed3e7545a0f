/**
 * A client of a running control-plane API for tests: HTTPS trusting exactly the API's own
 * certificate (or plain HTTP when it serves that), bearer tokens, session cookies with their CSRF
 * token, JSON or raw bodies, and API tokens of a role made in the identity store as an admin would.
 */
import http from 'node:http';
import https from 'node:https';
import type { Role } from '../identity/roles.js';
import type { ControlPlane } from '../server.js';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: <T = Record<string, unknown>>() => T;
  /** the body's bytes (images) */
  bytes: Buffer;
}

export interface RequestOptions {
  token?: string;
  cookie?: string;
  csrf?: string;
  body?: unknown;
  /** raw body with its own content type */
  raw?: { contentType: string; data: string | Buffer };
  headers?: Record<string, string>;
}

export interface ApiClient {
  request(method: string, url: string, opts?: RequestOptions): Promise<Answer>;
  /** an API token of this role, labelled `test-<role>` */
  tokenFor(role: Role): string;
  close(): void;
}

export function apiClient(api: ControlPlane): ApiClient {
  const agent = api.tls ? new https.Agent({ ca: api.tls.cert, keepAlive: false }) : new http.Agent({ keepAlive: false });
  const client = api.tls ? https : http;
  const request = (method: string, url: string, opts: RequestOptions = {}): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      if (opts.cookie) headers.cookie = opts.cookie;
      if (opts.csrf) headers['x-csrf-token'] = opts.csrf;
      let data: string | Buffer | undefined;
      if (opts.raw) {
        headers['content-type'] = opts.raw.contentType;
        data = opts.raw.data;
      } else if (opts.body !== undefined) {
        headers['content-type'] = 'application/json';
        data = JSON.stringify(opts.body);
      }
      const req = client.request(new URL(url, api.url), { method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const bytes = Buffer.concat(chunks);
          const text = bytes.toString('utf8');
          resolve({ status: res.statusCode!, headers: res.headers, text, json: <T>() => JSON.parse(text) as T, bytes });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(data);
    });
  return {
    request,
    tokenFor: (role) => api.identity.createToken({ label: `test-${role}`, role, maxClass: 'confidential', expiresMs: null, createdBy: 'test' }).token,
    close: () => agent.destroy(),
  };
}
