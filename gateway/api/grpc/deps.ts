/**
 * What the gRPC API's handlers are given: the same parts of the running gateway the HTTPS API's
 * routes get (../deps.ts), plus the input context its Store calls emit through and the buffer's
 * append signal its live streams follow. Handlers reach the gateway only through this.
 */
import type { Logger } from 'pino';
import type { LoadedConfig } from '../../config/load.js';
import type { InputContext } from '../../plugin-api/contract.js';
import type { GatewayControl } from '../deps.js';
import type { GatewayData } from '../gateway-data.js';
import type { IdentityStore } from '../identity/store.js';
import type { ApiConfig } from '../schema.js';
import type { StatusSampler } from '../status.js';

/** The data path as Store and StreamRecords use it. */
export interface GatewayIngest {
  /** the input context of `api.grpc.input`: classified, routed and committed like any input's */
  context(name: string): InputContext;
  /** `listener` runs after every buffer commit; the function returned stops that */
  onAppend(listener: () => void): () => void;
}

export interface GrpcDeps {
  config: ApiConfig;
  identity: IdentityStore;
  log: Logger;
  status: StatusSampler;
  /** the gateway's buffer, policy and sealer (absent: the record and explain calls answer UNIMPLEMENTED) */
  data?: GatewayData | undefined;
  ingest?: GatewayIngest | undefined;
  loaded?: (() => LoadedConfig) | undefined;
  control?: GatewayControl | undefined;
  /** <dataDir>/api: the configuration history lives beside it */
  apiDir: string;
}
