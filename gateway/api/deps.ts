/**
 * What the API's routes are given: the identity store, the running gateway's status and metrics,
 * the audit log, and the API's own settings. Routes reach the gateway only through this.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import type { LoadedConfig } from '../config/load.js';
import type { KnownSink, RecordBuffer } from '../buffer/types.js';
import type { ApplyMeta, ApplyResult } from '../runtime/gateway.js';
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
  /** changes to the running gateway: configuration apply and rollback, removed outputs' sinks; absent: those answer 404 */
  control?: GatewayControl | undefined;
  /** the built web UI's folder (default: dist/ui of the package, ./routes/ui.ts) */
  uiDir?: string | undefined;
}

/** A configuration applied: what changed, and whether the gateway's file now holds it. */
export interface AppliedConfig extends ApplyResult {
  /** the file written, or why it was not (the running configuration is the applied one either way) */
  file: { path: string; written: true } | { path: string; written: false; reason: string } | null;
}

/** What the API may change in the running gateway (./gateway-view.ts wires it to the gateway). */
export interface GatewayControl {
  /** apply a YAML text (ConfigProblems when it does not load, ConfigApplyError when it cannot be applied) */
  apply(text: string, meta: ApplyMeta): Promise<AppliedConfig>;
  /** apply the text of a version in the history again */
  rollback(version: number, meta: ApplyMeta): Promise<AppliedConfig>;
  /** every sink the buffer knows, the removed outputs' among them */
  sinks(): KnownSink[];
  /** give up a removed output's undelivered records (into the loss ledger) and its cursor */
  dropSink(name: string, by: string): { records: number; bytes: number };
}

/** Routes are declared with zod schemas: validated, serialized and typed from one declaration. */
export function typed(app: FastifyInstance) {
  return app.withTypeProvider<ZodTypeProvider>();
}
