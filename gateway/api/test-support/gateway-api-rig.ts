/**
 * A running gateway of a config file the test writes (any inputs and outputs: a cloud output, an
 * opcua input) with its control-plane API on 127.0.0.1 and a free port, HTTPS with the generated
 * certificate, and a client that trusts exactly that certificate. The config is a file, so the
 * `layergate` CLI can be pointed at the same gateway (`-c <configFile>`), as an operator would.
 */
import { writeFileSync } from 'node:fs';
import https from 'node:https';
import pino from 'pino';
import { loadConfig } from '../../config/load.js';
import { Gateway } from '../../runtime/gateway.js';
import { startControlPlane } from '../gateway-view.js';
import type { Role } from '../identity/roles.js';
import type { ControlPlane } from '../server.js';

export interface Answer {
  status: number;
  text: string;
  json: <T = Record<string, unknown>>() => T;
}

export interface RequestOptions {
  token?: string;
  body?: unknown;
}

export interface GatewayApiRig {
  configFile: string;
  gateway: Gateway;
  api: ControlPlane;
  request(method: string, url: string, opts?: RequestOptions): Promise<Answer>;
  /** an API token of this role, labelled `test-<role>` (made in the identity store, as an admin would) */
  tokenFor(role: Role): string;
  stop(): Promise<void>;
}

/** `config`: the whole config (written to `configFile` as JSON); its `api` section gets loopback and a free port */
export async function startGatewayApi(configFile: string, config: Record<string, unknown>): Promise<GatewayApiRig> {
  writeFileSync(configFile, JSON.stringify({ ...config, api: { ...(config.api as object | undefined), host: '127.0.0.1', port: 0 } }, null, 2));
  const loaded = loadConfig({ file: configFile, env: {} });
  const log = pino({ level: 'silent' });
  const gateway = await Gateway.start(loaded, { log });
  let api: ControlPlane;
  try {
    api = await startControlPlane(gateway, loaded, log);
  } catch (err) {
    await gateway.stop();
    throw err;
  }
  const agent = new https.Agent({ ca: api.tls?.cert, keepAlive: false });
  const request = (method: string, url: string, opts: RequestOptions = {}): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = {};
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      let data: string | undefined;
      if (opts.body !== undefined) {
        headers['content-type'] = 'application/json';
        data = JSON.stringify(opts.body);
      }
      const req = https.request(new URL(url, api.url), { method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode!, text, json: <T>() => JSON.parse(text) as T });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(data);
    });
  return {
    configFile,
    gateway,
    api,
    request,
    tokenFor: (role) => api.identity.createToken({ label: `test-${role}`, role, maxClass: 'confidential', expiresMs: null, createdBy: 'test' }).token,
    async stop() {
      agent.destroy();
      await api.close();
      await gateway.stop();
    },
  };
}
