/**
 * A running gateway (health input, file-lake output) with its control-plane API on 127.0.0.1 and a
 * free port, HTTPS with the generated certificate, and a client that trusts exactly that certificate.
 */
import https from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { AuditLog } from '../../audit/audit-log.js';
import { loadConfig } from '../../config/load.js';
import { Gateway } from '../../runtime/gateway.js';
import { startControlPlane } from '../gateway-view.js';
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

export interface ApiRig {
  dir: string;
  gateway: Gateway;
  api: ControlPlane;
  audit: AuditLog;
  request(method: string, url: string, opts?: RequestOptions): Promise<Answer>;
  /** an API token of this role (made in the identity store, as an admin would) */
  tokenFor(role: Role): string;
  stop(): Promise<void>;
}

/**
 * `apiYaml`: lines under `api:`; `bufferYaml`: a `buffer:` section of its own; `outputsYaml`: more
 * outputs (lines under `outputs:`, beside `lake`); `yaml`: more sections (classification, routing);
 * `inputsYaml`: more inputs (lines under `inputs:`, beside `health`: a frames input, an mqtt input)
 */
export async function startApiRig(apiYaml = '', opts: { bufferYaml?: string; outputsYaml?: string; yaml?: string; inputsYaml?: string } = {}): Promise<ApiRig> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-api-'));
  const loaded = loadConfig({
    text: [
      `gateway: { dataDir: ${dir}/data, machine: m1, deliveryThread: false }`,
      'inputs:',
      '  health: { type: gateway-health, interval: 200ms }',
      ...(opts.inputsYaml ? [opts.inputsYaml] : []),
      'outputs:',
      `  lake: { type: file-lake, path: ${dir}/lake, linger: 200ms }`,
      ...(opts.outputsYaml ? [opts.outputsYaml] : []),
      ...(opts.bufferYaml ? [opts.bufferYaml] : []),
      ...(opts.yaml ? [opts.yaml] : []),
      'api:',
      '  host: 127.0.0.1',
      '  port: 0',
      apiYaml,
    ].join('\n'),
    env: {},
  });
  const log = pino({ level: 'silent' });
  const gateway = await Gateway.start(loaded, { log });
  const api = await startControlPlane(gateway, loaded, log);
  const agent = new https.Agent({ ca: api.tls?.cert, keepAlive: false });
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
      const req = https.request(new URL(url, api.url), { method, headers, agent }, (res) => {
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
    dir,
    gateway,
    api,
    audit: gateway.audit,
    request,
    tokenFor: (role) => api.identity.createToken({ label: `test-${role}`, role, maxClass: 'confidential', expiresMs: null, createdBy: 'test' }).token,
    async stop() {
      agent.destroy();
      await api.close();
      await gateway.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
