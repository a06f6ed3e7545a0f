/**
 * A running gateway (health input, file-lake output) with its control-plane API on 127.0.0.1 and a
 * free port, HTTPS with the generated certificate, and a client that trusts exactly that certificate.
 */
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
import { type Answer, type RequestOptions, apiClient } from './api-client.js';

export type { Answer, RequestOptions } from './api-client.js';

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
      ...(apiYaml.includes('grpc:') ? [] : ['  grpc: { port: 0 }']),
      apiYaml,
    ].join('\n'),
    env: {},
  });
  const log = pino({ level: 'silent' });
  const gateway = await Gateway.start(loaded, { log });
  const api = await startControlPlane(gateway, loaded, log);
  const client = apiClient(api);
  return {
    dir,
    gateway,
    api,
    audit: gateway.audit,
    request: client.request,
    tokenFor: client.tokenFor,
    async stop() {
      client.close();
      await api.close();
      await gateway.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
