/**
 * What the API's routes are given: the identity store, the running gateway's status and metrics,
 * the audit log, and the API's own settings. Routes reach the gateway only through this.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import type { LoadedConfig } from '../config/load.js';
import type { RecordBuffer } from '../buffer/types.js';
import type { GatewayData } from './gateway-data.js';
import type { IdentityStore } from './identity/store.js';
import type { ApiConfig } from './schema.js';
import type { StatusSampler } from './status.js';

export interface ApiDeps {
  config: ApiConfig;
  /** <dataDir>/api: identity store, setup token, generated certificate */
  apiDir: string;
  identity: IdentityStore;
  audit: AuditLog;
  log: Logger;
  status: StatusSampler;
  ready(): boolean;
  /** Prometheus text exposition of the gateway's metrics */
  metrics(): Promise<{ contentType: string; text: string }>;
  /** cookies are marked Secure when the API is served over TLS */
  secureCookies: boolean;
  /** the configuration the gateway runs with (GET /api/v1/config); absent: that answers 404 */
  loaded?: (() => LoadedConfig) | undefined;
  /** the gateway's quarantine, buffer and policy for the data reads (audit, quarantine, signals); absent: those answer 404 */
  data?: GatewayData | undefined;
  /** the running buffer: its figures and its loss ledger (GET /api/v1/buffer, /losses); absent: those answer 404 */
  buffer?: (() => Pick<RecordBuffer, 'stats' | 'losses'>) | undefined;
}

/** Routes are declared with zod schemas: validated, serialized and typed from one declaration. */
export function typed(app: FastifyInstance) {
  return app.withTypeProvider<ZodTypeProvider>();
}
