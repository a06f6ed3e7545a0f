/**
 * The control-plane HTTPS API inside the gateway process (fastify): status, users and tokens,
 * metrics and health; the web UI and the CLI use nothing else.
 *
 * Constraints:
 * - Secure by default: HTTPS with the configured or a generated certificate (./tls.ts); plain HTTP
 *   only when configured, and only on a loopback address unless `api.allowPlainHttpOnNetwork`. Every
 *   route declares its access (./auth.ts); without an admin, a one-time setup token is issued
 *   (./identity/setup-token.ts) and there is no default password.
 * - Schemas on every route (zod, through fastify-type-provider-zod): bodies are strict objects, so
 *   unknown fields are refused; OpenAPI is generated from the same schemas (`/api/v1/openapi.json`,
 *   for logged-in users).
 * - Bad input never changes state: bodies above 1 MiB get 413, other content types 415, JSON with
 *   `__proto__` or `constructor.prototype` keys 400 (fastify's secure JSON parser, set to error); slow
 *   clients are cut by the TLS handshake (10 s), header (10 s) and request (30 s) timeouts.
 * - The API never stops the data path: it runs beside it, and a failure to listen is a start error
 *   the caller logs (the gateway keeps running without the API, see gateway/cli/main.ts).
 * - The web UI (./routes/ui.ts) is static files only, served public with a strict CSP; it reads
 *   everything through the routes here, as any client does.
 * - Errors answer `{ error: <code>, message }` with the status of their code (ERROR_STATUS); an
 *   unexpected error is logged and answered 500 without its message.
 */
import path from 'node:path';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import secureJson from 'secure-json-parse';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import type { LoadedConfig } from '../config/load.js';
import type { RecordBuffer } from '../buffer/types.js';
import { ApiInternalError, ApiInvalidRequestError, ApiNotFoundError, ApiTlsError, LayerGateError } from '../plugin-api/errors.js';
import { type Access, accessHook, assertDeclaresAccess } from './auth.js';
import type { ApiDeps, GatewayControl } from './deps.js';
import { removeEndpoint, writeEndpoint } from './endpoint.js';
import type { GatewayData } from './gateway-data.js';
import { ensureSetupToken } from './identity/setup-token.js';
import { IdentityStore } from './identity/store.js';
import { issueLocalToken } from './local-credential.js';
import { auditRoutes } from './routes/audit.js';
import { bufferRoutes } from './routes/buffer.js';
import { alertRoutes } from './routes/alerts.js';
import { configRoutes } from './routes/config.js';
import { explainRoutes } from './routes/explain.js';
import { frameRoutes } from './routes/frames.js';
import { healthRoutes } from './routes/health.js';
import { metricsRoutes } from './routes/metrics.js';
import { pluginActionRoutes } from './routes/plugin-actions.js';
import { quarantineRoutes } from './routes/quarantine.js';
import { sessionRoutes } from './routes/session.js';
import { signalRoutes } from './routes/signals.js';
import { statusRoutes } from './routes/status.js';
import { uiRoutes } from './routes/ui.js';
import { userRoutes } from './routes/users.js';
import type { GatewayIngest } from './grpc/deps.js';
import { GrpcServer } from './grpc/server.js';
import type { ApiConfig } from './schema.js';
import { type StatusSource, StatusSampler } from './status.js';
import { loadTls, type TlsMaterial } from './tls.js';

export const BODY_LIMIT_BYTES = 1024 * 1024;
/** slow or half-open clients: the TLS handshake, then the request headers, each within this */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
export const HEADERS_TIMEOUT_MS = 10_000;

/** A route as registered: what the access tests walk (the server's own table, not a hand-kept list). */
export interface ApiRoute {
  method: string;
  url: string;
  access: Access;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** every route registered, with its access */
    apiRoutes: ApiRoute[];
  }
}

/** HTTP status per error code of the catalog (gateway/plugin-api/errors.ts). */
const ERROR_STATUS: Record<string, number> = {
  LG_API_UNAUTHENTICATED: 401,
  LG_API_FORBIDDEN: 403,
  LG_API_CSRF: 403,
  LG_API_SETUP: 403,
  LG_API_NOT_FOUND: 404,
  LG_API_CONFLICT: 409,
  LG_API_LOCKED_OUT: 429,
  // a candidate configuration that does not parse, hold or start: the request's content is at fault
  LG_CONFIG_INVALID: 422,
  LG_CONFIG_APPLY_FAILED: 422,
  LG_BUFFER_SINK_LISTED: 409,
  LG_BUFFER_UNKNOWN_SINK: 404,
};

export function apiDir(dataDir: string): string {
  return path.join(dataDir, 'api');
}

export interface ControlPlaneOptions {
  config: ApiConfig;
  dataDir: string;
  log: Logger;
  audit: AuditLog;
  source: StatusSource;
  metrics(): Promise<{ contentType: string; text: string }>;
  /** the configuration the gateway runs with, for GET /api/v1/config (absent: it answers 404) */
  loaded?: (() => LoadedConfig) | undefined;
  /** the running buffer, for GET /api/v1/buffer and /losses (absent: they answer 404) */
  buffer?: (() => Pick<RecordBuffer, 'stats' | 'losses'>) | undefined;
  /** the gateway's quarantine, buffer and policy, for the audit, quarantine and signal reads (absent: those answer 404) */
  data?: GatewayData | undefined;
  /** configuration apply and rollback, removed outputs' sinks (absent: those answer 404) */
  control?: GatewayControl | undefined;
  /** the data path the gRPC API's Store and StreamRecords use (absent: those answer NOT_FOUND) */
  ingest?: GatewayIngest | undefined;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

export class ControlPlane {
  private constructor(
    readonly app: FastifyInstance,
    readonly identity: IdentityStore,
    private readonly sampler: StatusSampler,
    /** where it listens, e.g. https://0.0.0.0:8443 */
    readonly url: string,
    readonly port: number,
    readonly tls: TlsMaterial | undefined,
    private readonly dir: string,
    /** the gRPC API (proto/layergate/v1/gateway.proto); undefined when off or when it could not listen */
    readonly grpc: GrpcServer | undefined,
  ) {}

  /** Build the API and listen. Throws ApiTlsError for a TLS setup it refuses, or the listen error. */
  static async start(opts: ControlPlaneOptions): Promise<ControlPlane> {
    const { config, log } = opts;
    const dir = apiDir(opts.dataDir);
    if (!config.tls.enabled && !LOOPBACK.test(config.host) && !config.allowPlainHttpOnNetwork) {
      throw new ApiTlsError(
        `api: plain HTTP (api.tls.enabled: false) on ${config.host} would send passwords in clear; use a loopback host, keep TLS on, or set api.allowPlainHttpOnNetwork`,
      );
    }
    const tls = config.tls.enabled ? await loadTls(dir, config.tls) : undefined;
    const identity = new IdentityStore(dir);
    const sampler = new StatusSampler(opts.source, config.statusInterval, (active) => identity.alertAcks(active));
    let app: FastifyInstance | undefined;
    try {
      app = await buildApi({
        config,
        apiDir: dir,
        identity,
        audit: opts.audit,
        log: log.child({ component: 'api' }),
        status: sampler,
        ready: () => opts.source.ready(),
        buffer: opts.buffer,
        data: opts.data,
        loaded: opts.loaded,
        control: opts.control,
        metrics: opts.metrics,
        secureCookies: tls !== undefined,
        https: tls && { cert: tls.cert, key: tls.key },
      });
      // before listening: the previous start's local token is refused from the first request on
      issueLocalCredential(identity, dir, log);
      await app.listen({ host: config.host, port: config.port });
      const address = app.server.address();
      const port = typeof address === 'object' && address ? address.port : config.port;
      const url = `${tls ? 'https' : 'http'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
      if (tls)
        log.info(
          { url, fingerprint: tls.fingerprint, certificate: tls.certFile, source: tls.source },
          'api listening (HTTPS); check the certificate fingerprint on first visit',
        );
      else log.warn({ url }, 'api listening on plain HTTP');
      if (!identity.hasAdmin()) {
        const token = ensureSetupToken(dir);
        log.warn(
          { setupToken: token, file: path.join(dir, 'setup-token') },
          `api: no admin yet; create the first admin at ${url} with this setup token, or run \`layergate users add <name> --role admin\``,
        );
      }
      const grpcServer = config.grpc.enabled ? await startGrpc(opts, identity, sampler, tls, dir) : undefined;
      writeEndpoint(dir, {
        url,
        port,
        pid: process.pid,
        fingerprint: tls?.fingerprint ?? null,
        startedAt: new Date().toISOString(),
        grpc: grpcServer ? grpcServer.target : null,
      });
      return new ControlPlane(app, identity, sampler, url, port, tls, dir, grpcServer);
    } catch (err) {
      sampler.stop();
      await app?.close().catch(() => undefined);
      identity.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    removeEndpoint(this.dir);
    this.sampler.stop();
    await this.grpc?.close();
    await this.app.close();
    this.identity.close();
  }
}

/**
 * The gRPC API beside the HTTPS API, with its certificate and identity store. A failure to listen is
 * logged and the HTTPS API runs on without it (the data path never depends on either).
 */
async function startGrpc(
  opts: ControlPlaneOptions,
  identity: IdentityStore,
  status: StatusSampler,
  tls: TlsMaterial | undefined,
  dir: string,
): Promise<GrpcServer | undefined> {
  const { config, log } = opts;
  try {
    return await GrpcServer.start({
      config,
      identity,
      log,
      status,
      data: opts.data,
      ingest: opts.ingest,
      loaded: opts.loaded,
      control: opts.control,
      apiDir: dir,
      host: config.grpc.host ?? config.host,
      port: config.grpc.port,
      tls: tls && { cert: tls.cert, key: tls.key },
    });
  } catch (err) {
    log.error({ err, port: config.grpc.port }, 'grpc api: could not listen; the HTTPS API and the data path run on without it');
    return undefined;
  }
}

/** The local CLI's token (./local-credential.ts); without it the API serves all else, the CLI says why it cannot read. */
function issueLocalCredential(identity: IdentityStore, dir: string, log: Logger): void {
  try {
    issueLocalToken(identity, dir);
  } catch (err) {
    log.warn({ err }, 'api: the local CLI token could not be written; `layergate buffer stats|losses` cannot read the running gateway');
  }
}

/** The fastify app with every route, not listening yet (tests inject into it or listen themselves). */
export async function buildApi(deps: ApiDeps & { https?: { cert: string; key: string } | undefined }): Promise<FastifyInstance> {
  const app = Fastify({
    // a client that opens a connection and never completes the TLS handshake is cut after 10 s (node's default: 120 s)
    // (node checks the header and request timeouts every connectionsCheckingInterval: 30 s by default)
    ...(deps.https ? { https: { ...deps.https, handshakeTimeout: HANDSHAKE_TIMEOUT_MS, connectionsCheckingInterval: 1_000 } } : {}),
    logger: false,
    bodyLimit: BODY_LIMIT_BYTES,
    requestTimeout: 30_000,
    connectionTimeout: 60_000,
    keepAliveTimeout: 5_000,
    // fastify's router answers a path with a trailing slash like the one without; nothing else is lenient
    routerOptions: { ignoreTrailingSlash: true },
    trustProxy: false,
  }) as unknown as FastifyInstance;
  app.server.headersTimeout = HEADERS_TIMEOUT_MS;
  // JSON only: fastify's text/plain parser would hand a string to the schema (400); other types are
  // 415. The JSON parser is fastify's (secure-json-parse) with its reason kept in the answer.
  app.removeContentTypeParser(['text/plain', 'application/json']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, secureJson.parse(body as string, { protoAction: 'error', constructorAction: 'error' }));
    } catch (err) {
      done(Object.assign(new Error(`the body is not acceptable JSON: ${(err as Error).message}`), { statusCode: 400 }), undefined);
    }
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const routes: ApiRoute[] = [];
  app.decorate('apiRoutes', routes);
  app.addHook('onRoute', (route) => {
    assertDeclaresAccess(route);
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, access: route.config!.access! });
  });
  await app.register(cookie);
  await app.register(rateLimit, { global: false });
  await app.register(swagger, {
    openapi: { info: { title: 'LayerGate control-plane API', version: '1' }, components: { securitySchemes: { token: { type: 'http', scheme: 'bearer' } } } },
    transform: jsonSchemaTransform,
  });
  app.addHook('onRequest', accessHook({ identity: deps.identity, sessionIdleMs: deps.config.sessionIdle, metricsAllow: deps.config.metricsAllow }));
  app.addHook('onSend', async (_req, reply, payload) => {
    // data is never cached; only the UI's static files say otherwise (./routes/ui.ts)
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
    return payload;
  });
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof LayerGateError) {
      const status = ERROR_STATUS[err.code] ?? 500;
      return reply.code(status).send({ error: err.code, message: err.message });
    }
    // fastify's own 4xx first (413, 415, poisoned JSON: some are RangeErrors), then schema
    // validation and a RangeError of ours (a value out of range)
    if (err.statusCode === 415) {
      return reply
        .code(415)
        .send({ error: ApiInvalidRequestError.code, message: `the body must be application/json, not ${req.headers['content-type'] ?? 'untyped'}` });
    }
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.code(err.statusCode).send({ error: ApiInvalidRequestError.code, message: err.message });
    }
    if (err.validation || err instanceof RangeError) return reply.code(400).send({ error: ApiInvalidRequestError.code, message: err.message });
    deps.log.error({ err, method: req.method, url: req.url }, 'api: request failed');
    return reply.code(500).send({ error: ApiInternalError.code, message: 'internal error (logged by the gateway)' });
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: ApiNotFoundError.code, message: 'no such route' }));

  healthRoutes(app, deps);
  sessionRoutes(app, deps);
  userRoutes(app, deps);
  statusRoutes(app, deps);
  metricsRoutes(app, deps);
  configRoutes(app, deps);
  alertRoutes(app, deps);
  bufferRoutes(app, deps);
  auditRoutes(app, deps);
  quarantineRoutes(app, deps);
  signalRoutes(app, deps);
  frameRoutes(app, deps);
  pluginActionRoutes(app, deps);
  explainRoutes(app, deps);
  await uiRoutes(app, { uiDir: deps.uiDir });
  app.get('/api/v1/openapi.json', { config: { access: 'viewer' }, schema: { hide: true } }, async () => app.swagger());
  await app.ready();
  return app;
}
