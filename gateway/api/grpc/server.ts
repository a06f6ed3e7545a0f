/**
 * The gRPC API (proto/layergate/v1/gateway.proto) on @grpc/grpc-js, started beside the HTTPS API by
 * the control plane (../server.ts) with its certificate and its identity store.
 *
 * Constraints:
 * - Secure by default: TLS with the API's certificate (generated or configured); plain only when the
 *   HTTPS API is plain too (loopback unless `api.allowPlainHttpOnNetwork`, checked there). Every RPC
 *   of `layergate.v1.Gateway` is registered through ./auth.ts with the role it needs (`register`
 *   refuses a handler that is not), so every call needs an API token; only the standard health service
 *   (grpc.health.v1) and server reflection answer without one: they tell nothing of the data.
 * - Messages up to 8 MiB each way (a Store payload up to 4 MiB plus its header; larger payloads stream
 *   in chunks), keepalive pings answered and sent, so a vanished client's streams end.
 * - Never stops the data path: a failure to listen is logged by the caller, and the gateway runs on.
 */
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import type { FrameHeader__Output } from '../../../wire/generated/grpc/layergate/v1/FrameHeader.js';
import type { GatewayHandlers } from '../../../wire/generated/grpc/layergate/v1/Gateway.js';
import type { StoreHeader__Output } from '../../../wire/generated/grpc/layergate/v1/StoreHeader.js';
import { ApiNotFoundError, ApiUnauthenticatedError } from '../../plugin-api/errors.js';
import { clientStream, type GuardOptions, ROLE_OF, serverStream, unary } from './auth.js';
import { applyResult, explain, listVersions, runningConfig, validateConfig } from './config.js';
import type { GrpcDeps } from './deps.js';
import { LiveFeed } from './live-feed.js';
import { getBlob, queryRecords, streamRecords } from './records.js';
import { checkSize, frameDraft, readChunks, type StoreOptions, storeDraft, storeOne } from './store.js';
import { StoreQueue } from './store-queue.js';
import { GATEWAY_SERVICE, gatewayProto } from './service.js';
import { statusMessage } from './status-message.js';

export const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

export interface GrpcServerOptions extends GrpcDeps {
  host: string;
  port: number;
  tls: { cert: string; key: string } | undefined;
}

export class GrpcServer {
  private constructor(
    private readonly server: grpc.Server,
    private readonly health: HealthImplementation,
    /** host:port as a client names it */
    readonly target: string,
    readonly port: number,
  ) {}

  static async start(opts: GrpcServerOptions): Promise<GrpcServer> {
    const server = new grpc.Server({
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_ping_interval_without_data_ms': 5_000,
    });
    const { definition, proto } = gatewayProto();
    server.addService(proto.layergate.v1.Gateway.service, handlers(opts) as unknown as grpc.UntypedServiceImplementation);
    const health = new HealthImplementation({ '': 'SERVING', [GATEWAY_SERVICE]: 'SERVING' });
    health.addToServer(server);
    new ReflectionService(definition).addToServer(server);
    const creds = opts.tls
      ? grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(opts.tls.key), cert_chain: Buffer.from(opts.tls.cert) }], false)
      : grpc.ServerCredentials.createInsecure();
    const address = `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`;
    const port = await new Promise<number>((resolve, reject) => server.bindAsync(address, creds, (err, p) => (err ? reject(err) : resolve(p))));
    const target = `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`;
    opts.log.info({ target, tls: opts.tls !== undefined }, 'grpc api listening');
    return new GrpcServer(server, health, target, port);
  }

  /** Stop taking calls; end running streams after `graceMs`. */
  async close(graceMs = 2_000): Promise<void> {
    this.health.setStatus('', 'NOT_SERVING');
    this.health.setStatus(GATEWAY_SERVICE, 'NOT_SERVING');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** Every RPC of the service, each guarded with its role (./auth.ts). */
function handlers(deps: GrpcDeps): GatewayHandlers {
  const g: GuardOptions = { identity: deps.identity, log: deps.log.child({ component: 'grpc' }) };
  const data = () => {
    if (!deps.data) throw new ApiNotFoundError('this API is not attached to a running gateway');
    return deps.data;
  };
  let storing: StoreOptions | undefined;
  /** the Store calls' input context and queue, made at the first Store */
  const store = (): StoreOptions => {
    if (!deps.ingest) throw new ApiNotFoundError('this API cannot store into a gateway');
    if (storing === undefined) {
      const input = deps.ingest.context(deps.config.grpc.input);
      storing = { input, queue: new StoreQueue(input), data: data(), maxStoreBytes: deps.config.grpc.maxStoreBytes };
    }
    return storing;
  };
  const control = () => {
    if (!deps.control) throw new ApiNotFoundError('this API cannot change a gateway');
    return deps.control;
  };
  let live: LiveFeed | undefined;
  /** one feed for every stream at the head, made at the first stream */
  const feed = (): LiveFeed | undefined => {
    if (live === undefined && deps.data && deps.ingest) live = new LiveFeed(deps.data.bufferDir, deps.data.unseal, deps.ingest.onAppend);
    return live;
  };
  const loaded = () => {
    const l = deps.loaded?.();
    if (!l) throw new ApiNotFoundError('this API serves no gateway configuration');
    return l;
  };
  const h: GatewayHandlers = {
    GetStatus: unary(g, 'GetStatus', 'viewer', () => ({ status: statusMessage(deps.status.status()) })),
    WatchStatus: serverStream(g, 'WatchStatus', 'viewer', async (call, ctx) => {
      const closed = new Promise<void>((resolve) => call.once('cancelled', () => resolve()));
      while (!call.cancelled) {
        // the token is checked again at every status: a revoked one ends the stream
        if (!ctx.stillValid()) throw new ApiUnauthenticatedError('the API token was revoked or expired while the stream ran');
        call.write({ status: statusMessage(deps.status.status()) });
        await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, deps.config.statusInterval).unref())]);
      }
    }),
    StreamRecords: serverStream(g, 'StreamRecords', 'viewer', (call, ctx) =>
      streamRecords(call, ctx, { data: data(), feed: feed(), maxStreamLag: deps.config.grpc.maxStreamLag }),
    ),
    QueryRecords: unary(g, 'QueryRecords', 'viewer', (req, ctx) => queryRecords(req, ctx, data()) as never),
    GetBlob: serverStream(g, 'GetBlob', 'viewer', (call, ctx) => getBlob(call, ctx, data())),
    Store: unary(g, 'Store', 'operator', async (req) => {
      const s = store();
      checkSize(req.data, s.maxStoreBytes);
      return { result: await storeOne(storeDraft(req.header, req.data), s) };
    }),
    StoreStream: clientStream(g, 'StoreStream', 'operator', async (call) => {
      const s = store();
      const { header, data: bytes, sha256 } = await readChunks<StoreHeader__Output>(call as never, s.maxStoreBytes, (hd) => hd.sha256);
      return { result: await storeOne(storeDraft(header, bytes), s, sha256) };
    }),
    UploadFrame: clientStream(g, 'UploadFrame', 'operator', async (call) => {
      const s = store();
      const { header, data: bytes, sha256 } = await readChunks<FrameHeader__Output>(call as never, s.maxStoreBytes, () => undefined);
      return { result: await storeOne(frameDraft(header, bytes), s, sha256) };
    }),
    Explain: unary(g, 'Explain', 'viewer', (req) => explain(req, data())),
    GetConfig: unary(g, 'GetConfig', 'admin', () => runningConfig(loaded())),
    ValidateConfig: unary(g, 'ValidateConfig', 'admin', (req) => validateConfig(req.yaml)),
    ApplyConfig: unary(g, 'ApplyConfig', 'admin', async (req, ctx) =>
      applyResult(await control().apply(req.yaml, { author: ctx.principal.name, comment: req.comment.slice(0, 500) })),
    ),
    ListVersions: unary(g, 'ListVersions', 'admin', () => ({ versions: listVersions(deps.apiDir) })),
    Rollback: unary(g, 'Rollback', 'admin', async (req, ctx) =>
      applyResult(
        await control().rollback(req.version, { author: ctx.principal.name, comment: req.comment.slice(0, 500) || `rollback to version ${req.version}` }),
      ),
    ),
  };
  for (const [name, fn] of Object.entries(h)) {
    if ((fn as { [ROLE_OF]?: string })[ROLE_OF] === undefined) throw new Error(`grpc: ${name} is registered without a role`);
  }
  return h;
}
