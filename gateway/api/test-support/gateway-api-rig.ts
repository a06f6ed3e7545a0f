/**
 * A running gateway of a config file the test writes (any inputs and outputs: a cloud output, an
 * opcua input) with its control-plane API on 127.0.0.1 and a free port, HTTPS with the generated
 * certificate, and a client that trusts exactly that certificate. The config is a file, so the
 * `layergate` CLI can be pointed at the same gateway (`-c <configFile>`), as an operator would.
 */
import { writeFileSync } from 'node:fs';
import pino from 'pino';
import { loadConfig } from '../../config/load.js';
import { Gateway } from '../../runtime/gateway.js';
import { startControlPlane } from '../gateway-view.js';
import type { Role } from '../identity/roles.js';
import type { ControlPlane } from '../server.js';
import { type Answer, type RequestOptions, apiClient } from './api-client.js';

export type { Answer, RequestOptions } from './api-client.js';

export interface GatewayApiRig {
  configFile: string;
  gateway: Gateway;
  api: ControlPlane;
  request(method: string, url: string, opts?: RequestOptions): Promise<Answer>;
  /** an API token of this role, labelled `test-<role>` (made in the identity store, as an admin would) */
  tokenFor(role: Role): string;
  stop(): Promise<void>;
}

/** `config`: the whole config (written to `configFile` as JSON); its `api` section gets loopback and free ports (HTTPS and gRPC) */
export async function startGatewayApi(configFile: string, config: Record<string, unknown>): Promise<GatewayApiRig> {
  const apiSection = config.api as { grpc?: object } | undefined;
  writeFileSync(configFile, JSON.stringify({ ...config, api: { ...apiSection, host: '127.0.0.1', port: 0, grpc: { ...apiSection?.grpc, port: 0 } } }, null, 2));
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
  const client = apiClient(api);
  return {
    configFile,
    gateway,
    api,
    request: client.request,
    tokenFor: client.tokenFor,
    async stop() {
      client.close();
      await api.close();
      await gateway.stop();
    },
  };
}
